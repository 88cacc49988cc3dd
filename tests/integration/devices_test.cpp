// The devices controller mounted for real (-o devices): files, modes, the
// CAP_SYS_ADMIN rule, and the whitelist engine compared with the host's own
// devices hierarchy (/sys/fs/cgroup/devices): the same sequences of writes
// run in a zz-prefixed child of each root, and every answer and every
// devices.list must be the same. The emulator does not enforce the list.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <memory>
#include <string>
#include <vector>

#include "mount_harness.h"

namespace itest {
namespace {

const char* const kKernelDevices = "/sys/fs/cgroup/devices";
std::atomic<int> g_seq{0};

struct Step {
  const char* op;  // allow, deny, list, mkdir, rmdir
  const char* path;
  const char* arg;
};
struct Case {
  const char* name;
  std::vector<Step> steps;
};

const std::vector<Case> kCases = {
    {"parse_allow_mode",
     {
         {"deny", "", ""},
         {"deny", "", "x"},
         {"deny", "", "c"},
         {"deny", "", "c1:3 r"},
         {"deny", "", "c  1:3 r"},
         {"deny", "", "c 1:3"},
         {"deny", "", "c 1:3 "},
         {"deny", "", "c 1 :3 r"},
         {"deny", "", "c 1:3 rx"},
         {"deny", "", "c 1:3 x"},
         {"deny", "", "C 1:3 r"},
         {"deny", "", "c -1:3 r"},
         {"deny", "", "c +1:3 r"},
         {"deny", "", "c 0x1:3 r"},
         {"deny", "", "c 1:3:4 r"},
         {"deny", "", "c 4294967296:1 r"},
         {"deny", "", "c 000000000001:1 r"},
         {"deny", "", "c 1:99999999999 r"},
         {"deny", "", "c 1:3 \x0b""r"},
         {"deny", "", "d 1:3 r"},
         {"list", "", ""},
     }},
    {"parse_deny_mode",
     {
         {"deny", "", "a"},
         {"allow", "", "c 1:3 rwmx"},
         {"allow", "", "c 1:4 rrr"},
         {"allow", "", "c *:* m"},
         {"allow", "", "c 4294967295:1 r"},
         {"allow", "", "c 00000000001:2 w"},
         {"allow", "", "b 8:0 w"},
         {"allow", "", "c\t1:5\tr"},
         {"allow", "", "c 1:6 \nr"},
         {"allow", "", "  c 1:7 wr  \n"},
         {"allow", "", "c 1:8 r\nw"},
         {"allow", "", "c\xa0""1:9 m"},
         {"allow", "", "c 1:10 mw"},
         {"allow", "", "c 1:3\n"},
         {"allow", "", "c 12:4294967295 r"},
         {"allow", "", "b *:3 rw"},
         {"list", "", ""},
     }},
    {"a_variants",
     {
         {"deny", "", "all"},
         {"list", "", ""},
         {"allow", "", "abc"},
         {"list", "", ""},
         {"deny", "", "az x"},
         {"list", "", ""},
         {"allow", "", "a\n"},
         {"list", "", ""},
     }},
    {"deny_mode_add_merge_remove",
     {
         {"deny", "", "a"},
         {"allow", "", "c 1:3 r"},
         {"allow", "", "c 1:3 w"},
         {"list", "", ""},
         {"deny", "", "c 1:3 r"},
         {"list", "", ""},
         {"deny", "", "c 1:* rwm"},
         {"list", "", ""},
         {"allow", "", "c 1:* r"},
         {"allow", "", "c 1:4 m"},
         {"list", "", ""},
         {"deny", "", "c 1:3 w"},
         {"list", "", ""},
         {"deny", "", "c 1:* rwm"},
         {"deny", "", "b 1:4 m"},
         {"list", "", ""},
         {"deny", "", "c 1:4 m"},
         {"list", "", ""},
     }},
    {"allow_mode_hidden_exceptions",
     {
         {"deny", "", "c 1:3 rw"},
         {"list", "", ""},
         {"allow", "", "c 1:3 r"},
         {"list", "", ""},
         {"deny", "", "a"},
         {"list", "", ""},
         {"allow", "", "a"},
         {"list", "", ""},
     }},
    {"child_of_whitelist",
     {
         {"deny", "", "a"},
         {"allow", "", "c 1:3 rw"},
         {"allow", "", "b 8:* r"},
         {"mkdir", "x", ""},
         {"list", "x", ""},
         {"allow", "x", "c 1:3 rw"},
         {"allow", "x", "c 1:3 rwm"},
         {"allow", "x", "c 1:7 r"},
         {"allow", "x", "c *:* r"},
         {"allow", "x", "b 8:1 r"},
         {"allow", "x", "b 8:1 w"},
         {"allow", "x", "a"},
         {"deny", "x", "a"},
         {"list", "x", ""},
         {"allow", "x", "c 1:3 r"},
         {"allow", "x", "b 8:2 r"},
         {"list", "x", ""},
         {"allow", "", "a"},
         {"deny", "", "a"},
         {"rmdir", "x", ""},
         {"allow", "", "a"},
         {"list", "", ""},
         {"deny", "", "a"},
         {"list", "", ""},
     }},
    {"deny_propagates_to_allow_children",
     {
         {"mkdir", "x", ""},
         {"mkdir", "x/y", ""},
         {"deny", "", "c 1:3 rw"},
         {"allow", "x", "c 1:3 r"},
         {"allow", "x", "c 1:4 r"},
         {"allow", "x/y", "c 1:3 w"},
         {"allow", "x/y", "c 1:* m"},
         {"deny", "x", "a"},
         {"deny", "x/y", "a"},
         {"list", "x/y", ""},
         {"allow", "x/y", "c 1:3 r"},
         {"allow", "x/y", "c 1:5 r"},
         {"list", "x/y", ""},
         {"allow", "x/y", "a"},
         {"list", "x/y", ""},
         {"allow", "x/y", "c 1:3 m"},
     }},
    {"deny_revalidates_deny_children",
     {
         {"deny", "", "a"},
         {"allow", "", "c *:* rwm"},
         {"allow", "", "c 1:4 r"},
         {"mkdir", "x", ""},
         {"mkdir", "x/y", ""},
         {"allow", "x", "c 1:3 r"},
         {"allow", "x/y", "c 1:3 r"},
         {"list", "x", ""},
         {"list", "x/y", ""},
         {"deny", "", "c *:* w"},
         {"list", "", ""},
         {"list", "x", ""},
         {"list", "x/y", ""},
         {"deny", "", "c 1:4 r"},
         {"list", "", ""},
         {"list", "x", ""},
         {"deny", "", "c *:* r"},
         {"list", "", ""},
         {"list", "x", ""},
         {"list", "x/y", ""},
     }},
    {"allow_parent_deny_child",
     {
         {"mkdir", "x", ""},
         {"deny", "x", "a"},
         {"allow", "x", "c 1:3 r"},
         {"allow", "x", "b 1:3 r"},
         {"list", "x", ""},
         {"deny", "", "c 1:* r"},
         {"list", "", ""},
         {"list", "x", ""},
         {"allow", "x", "c 1:3 r"},
         {"allow", "x", "c 1:3 w"},
         {"allow", "x", "c 2:3 r"},
         {"allow", "x", "c *:3 w"},
         {"allow", "x", "c *:3 r"},
         {"list", "x", ""},
     }},
    {"allow_a_copies_parent",
     {
         {"deny", "", "c 1:3 r"},
         {"mkdir", "x", ""},
         {"deny", "x", "a"},
         {"allow", "x", "a"},
         {"allow", "x", "c 1:3 r"},
         {"allow", "x", "c 1:3 w"},
         {"allow", "x", "c 1:4 r"},
         {"deny", "x", "c 1:5 r"},
         {"mkdir", "x/y", ""},
         {"allow", "x/y", "c 1:5 r"},
         {"allow", "x/y", "c 1:3 m"},
         {"deny", "x/y", "a"},
         {"allow", "x/y", "c 1:3 m"},
         {"allow", "x/y", "c 1:3 r"},
         {"allow", "x/y", "c 1:5 w"},
         {"allow", "x/y", "c 1:5 r"},
         {"list", "x/y", ""},
     }},
    {"a_with_children",
     {
         {"mkdir", "x", ""},
         {"deny", "", "a"},
         {"allow", "", "a"},
         {"deny", "x", "a"},
         {"deny", "", "a"},
         {"rmdir", "x", ""},
         {"deny", "", "a"},
         {"allow", "", "c 1:3 r"},
         {"mkdir", "x", ""},
         {"allow", "", "a"},
         {"allow", "x", "a"},
         {"deny", "x", "a"},
         {"list", "x", ""},
         {"rmdir", "x", ""},
         {"allow", "", "a"},
         {"list", "", ""},
     }},
    {"siblings_and_depth",
     {
         {"mkdir", "x", ""},        {"mkdir", "x/y", ""},          {"mkdir", "z", ""},
         {"deny", "z", "a"},        {"allow", "z", "c 1:3 r"},     {"deny", "", "b *:* w"},
         {"list", "z", ""},         {"list", "x/y", ""},           {"deny", "x", "c 5:1 r"},
         {"deny", "x/y", "a"},      {"allow", "x/y", "c 5:1 r"},   {"allow", "x/y", "c 5:2 r"},
         {"allow", "x/y", "b 7:0 w"}, {"allow", "x/y", "b 7:0 r"}, {"allow", "z", "b 7:0 rw"},
         {"deny", "", "c *:* m"},   {"list", "x/y", ""},           {"list", "z", ""},
         {"allow", "x", "c 5:1 r"}, {"allow", "x", "b 1:1 w"},     {"deny", "x", "c *:* rwm"},
         {"list", "x/y", ""},       {"allow", "x/y", "c 5:2 r"},   {"list", "x/y", ""},
     }},
    {"deep_whitelist",
     {
         {"deny", "", "a"},          {"allow", "", "c 1:* rw"},   {"allow", "", "b 8:0 rwm"},
         {"mkdir", "x", ""},         {"mkdir", "x/y", ""},        {"mkdir", "x/y/w", ""},
         {"deny", "x", "c 1:* w"},   {"list", "x", ""},           {"list", "x/y/w", ""},
         {"allow", "x/y", "c 1:* w"}, {"allow", "x/y", "c 1:5 r"}, {"list", "x/y", ""},
         {"deny", "", "c 1:* r"},    {"list", "", ""},            {"list", "x", ""},
         {"list", "x/y", ""},        {"list", "x/y/w", ""},       {"allow", "x/y/w", "b 8:0 m"},
         {"deny", "", "b 8:0 r"},    {"list", "x/y/w", ""},       {"allow", "", "b 8:0 r"},
         {"list", "x/y/w", ""},      {"allow", "x/y/w", "b 8:0 r"},
     }},
};

// A zz child of the emulator's root or of the host's devices root.
class Tree {
 public:
  static std::unique_ptr<Tree> Make(Backend backend, const std::string& name, std::string* skip, std::string* error,
                                    CgroupMount* mount = nullptr) {
    auto t = std::unique_ptr<Tree>(new Tree());
    t->backend_ = backend;
    if (backend == Backend::kEmulator) {
      if (!mount) {
        t->mount_ = CgroupMount::Make(backend, std::string("devices"), skip, error);
        if (!t->mount_) return nullptr;
        mount = t->mount_.get();
      }
      t->root_ = mount->dir();
    } else {
      if (std::string why = KernelHierarchyUnavailable(kKernelDevices, "devices"); !why.empty()) {
        *skip = why;
        return nullptr;
      }
      t->root_ = kKernelDevices;
    }
    t->base_ = t->root_ + "/zz_itest_dev_" + std::to_string(getpid()) + "_" + std::to_string(g_seq++) + "_" + name;
    if (mkdir(t->base_.c_str(), 0755) != 0) {
      *error = "mkdir " + t->base_ + ": " + ErrName(errno);
      return nullptr;
    }
    return t;
  }
  ~Tree() {
    std::vector<std::string> dirs = {base_};
    for (size_t i = 0; i < dirs.size(); ++i)
      for (const std::string& e : ListDirSorted(dirs[i]))
        if (auto st = Lstat(dirs[i] + "/" + e); st && S_ISDIR(st->st_mode)) dirs.push_back(dirs[i] + "/" + e);
    for (auto it = dirs.rbegin(); it != dirs.rend(); ++it)
      for (int i = 0; i < 100 && rmdir(it->c_str()) != 0 && errno == EBUSY; ++i) SleepMs(10);
  }
  std::string P(const std::string& rel = "") const { return rel.empty() ? base_ : base_ + "/" + rel; }
  Backend backend() const { return backend_; }

 private:
  Tree() = default;
  Backend backend_ = Backend::kEmulator;
  std::unique_ptr<CgroupMount> mount_;
  std::string root_, base_;
};

std::string Shown(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (c == '\n') {
      out += "\\n";
    } else if (c < 32 || c > 126) {
      char b[8];
      snprintf(b, sizeof b, "\\x%02x", c);
      out += b;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

// Runs one case and returns its transcript. After an rmdir the kernel takes
// the child offline asynchronously (an `a` rule meanwhile gives EINVAL for
// a moment); the kernel side retries such a write, boundedly, so that both
// sides are compared in the settled state.
std::vector<std::string> RunCase(const Tree& t, const Case& c) {
  std::vector<std::string> out;
  bool after_rmdir = false;
  for (const Step& s : c.steps) {
    const std::string op = s.op;
    std::string line = op + " '" + s.path + "' '" + Shown(s.arg) + "' -> ";
    if (op == "mkdir") {
      line += ErrName(Errno(mkdir(t.P(s.path).c_str(), 0755)));
    } else if (op == "rmdir") {
      line += ErrName(Errno(rmdir(t.P(s.path).c_str())));
      after_rmdir = true;
    } else if (op == "list") {
      line += Shown(ReadOrErr(t.P(s.path) + "/devices.list"));
    } else {
      const std::string file = t.P(s.path) + "/devices." + op;
      int err = WriteStr(file, s.arg);
      for (int i = 0; err == EINVAL && after_rmdir && t.backend() == Backend::kKernel && s.arg[0] == 'a' && i < 50; ++i) {
        SleepMs(10);
        err = WriteStr(file, s.arg);
      }
      line += ErrName(err);
    }
    out.push_back(line);
  }
  return out;
}

TEST(DevicesKernelDiff, RuleSequences) {
  if (std::string why = KernelHierarchyUnavailable(kKernelDevices, "devices"); !why.empty()) GTEST_SKIP() << why;
  std::string skip, err;
  auto mount = CgroupMount::Make(Backend::kEmulator, std::string("devices"), &skip, &err);
  if (!mount) {
    if (!skip.empty()) GTEST_SKIP() << skip;
    FAIL() << err;
  }
  for (const Case& c : kCases) {
    SCOPED_TRACE(c.name);
    auto kt = Tree::Make(Backend::kKernel, c.name, &skip, &err);
    ASSERT_TRUE(kt) << skip << err;
    auto et = Tree::Make(Backend::kEmulator, c.name, &skip, &err, mount.get());
    ASSERT_TRUE(et) << skip << err;
    const std::vector<std::string> kernel = RunCase(*kt, c);
    const std::vector<std::string> emulator = RunCase(*et, c);
    ASSERT_EQ(kernel.size(), emulator.size());
    for (size_t i = 0; i < kernel.size(); ++i) EXPECT_EQ(emulator[i], kernel[i]) << "step " << i;
  }
}

// Writing needs CAP_SYS_ADMIN, even in a file chowned to the writer; a
// file not chowned is refused at open by its mode.
std::vector<std::string> PermissionScript(const Tree& t) {
  std::vector<std::string> out;
  const std::string allow = t.P() + "/devices.allow";
  const std::string deny = t.P() + "/devices.deny";
  auto as_nobody = [&](const std::string& path, const char* rule) {
    return ErrName(RunInChild([&] { return WriteStr(path, rule); }, kNobody));
  };
  out.push_back("nobody deny -> " + as_nobody(deny, "c 1:3 r"));
  out.push_back("chown -> " + ErrName(Errno(chown(allow.c_str(), kNobody, kNobody))) +
                ErrName(Errno(chown(deny.c_str(), kNobody, kNobody))));
  out.push_back("nobody deny chowned -> " + as_nobody(deny, "c 1:3 r"));
  out.push_back("nobody allow chowned -> " + as_nobody(allow, "a"));
  out.push_back("nobody bad rule -> " + as_nobody(deny, "garbage"));
  out.push_back("nobody reads list -> " + ErrName(RunInChild([&] { return ReadAll(t.P() + "/devices.list").err; }, kNobody)));
  out.push_back("root reads allow -> " + ReadOrErr(allow));
  out.push_back("list -> " + Shown(ReadOrErr(t.P() + "/devices.list")));
  out.push_back("root deny a -> " + ErrName(WriteStr(deny, "a")));
  out.push_back("list -> " + Shown(ReadOrErr(t.P() + "/devices.list")));
  out.push_back("write list -> " + ErrName(WriteStr(t.P() + "/devices.list", "a")));
  return out;
}

TEST(DevicesKernelDiff, NeedsSysAdmin) {
  if (std::string why = KernelHierarchyUnavailable(kKernelDevices, "devices"); !why.empty()) GTEST_SKIP() << why;
  std::string skip, err;
  auto kt = Tree::Make(Backend::kKernel, "perm", &skip, &err);
  ASSERT_TRUE(kt) << skip << err;
  auto et = Tree::Make(Backend::kEmulator, "perm", &skip, &err);
  if (!et) {
    if (!skip.empty()) GTEST_SKIP() << skip;
    FAIL() << err;
  }
  const std::vector<std::string> kernel = PermissionScript(*kt);
  const std::vector<std::string> emulator = PermissionScript(*et);
  ASSERT_EQ(kernel.size(), emulator.size());
  for (size_t i = 0; i < kernel.size(); ++i) EXPECT_EQ(emulator[i], kernel[i]) << "step " << i;
}

TEST(DevicesEmulator, FilesAndModes) {
  ITEST_MOUNT_OR_SKIP(m, Backend::kEmulator, std::string("devices"));
  EXPECT_EQ(ReadOrErr(m->Path("devices.list")), "a *:* rwm\n");
  EXPECT_EQ(PermBits(*Stat(m->Path("devices.allow"))), 0200u);
  EXPECT_EQ(PermBits(*Stat(m->Path("devices.deny"))), 0200u);
  EXPECT_EQ(PermBits(*Stat(m->Path("devices.list"))), 0444u);
  ASSERT_EQ(mkdir(m->Path("c").c_str(), 0755), 0);
  EXPECT_EQ(ReadOrErr(m->Path("c/devices.allow")), "<EINVAL>");
  EXPECT_EQ(ReadOrErr(m->Path("c/devices.list")), "a *:* rwm\n");
  EXPECT_EQ(WriteStr(m->Path("devices.deny"), "a"), EINVAL);  // the root has a child
  ASSERT_EQ(rmdir(m->Path("c").c_str()), 0);
  EXPECT_EQ(WriteStr(m->Path("devices.deny"), "a"), 0);  // the root may deny all
  EXPECT_EQ(ReadOrErr(m->Path("devices.list")), "");
  EXPECT_EQ(WriteStr(m->Path("devices.allow"), "a"), 0);
}

// Unprivileged, the emulator's own user stands in for CAP_SYS_ADMIN.
TEST(DevicesEmulator, AnUnprivilegedEmulatorsUserAdministersIt) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to run the emulator as another user";
  EmulatorConfig config;
  config.options = "devices";
  config.run_as = kNobody;
  std::string skip, err;
  auto m = CgroupMount::MakeEmulator(config, &skip, &err);
  if (!m) {
    if (!skip.empty()) GTEST_SKIP() << skip;
    FAIL() << err;
  }
  ASSERT_EQ(RunInChild([&] { return mkdir(m->Path("c").c_str(), 0755) == 0 ? 0 : errno; }, kNobody), 0);
  EXPECT_EQ(RunInChild([&] { return WriteStr(m->Path("c/devices.deny"), "a"); }, kNobody), 0);
  EXPECT_EQ(ReadOrErr(m->Path("c/devices.list")), "");
  EXPECT_EQ(WriteStr(m->Path("c/devices.allow"), "a"), EPERM);  // root is not the emulator's admin
}

}  // namespace
}  // namespace itest
