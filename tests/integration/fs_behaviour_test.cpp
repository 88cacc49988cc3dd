// Generic file-system behaviour of a `none,name=...` hierarchy (spec §1, §2,
// §4, §6.3), checked against the emulator and the real kernel.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "fs_fixture.h"

namespace itest {
namespace {

class FsLayoutTest : public FsTest {};
class FsCoreFilesTest : public FsTest {};
class FsDirOpsTest : public FsTest {};
class FsFileOpsTest : public FsTest {};

const std::vector<std::string> kRootFiles = {"cgroup.clone_children", "cgroup.procs",
                                             "cgroup.sane_behavior",  "notify_on_release",
                                             "release_agent",         "tasks"};
const std::vector<std::string> kChildFiles = {"cgroup.clone_children", "cgroup.procs",
                                              "notify_on_release", "tasks"};

struct UmaskGuard {
  explicit UmaskGuard(mode_t m) : old(umask(m)) {}
  ~UmaskGuard() { umask(old); }
  mode_t old;
};

// ---------------------------------------------------------------- layout

TEST_P(FsLayoutTest, RootListingHasExactlyTheCoreFiles) {
  EXPECT_EQ(ListDirSorted(P()), kRootFiles);
}

TEST_P(FsLayoutTest, ChildListingHasNoRootOnlyFiles) {
  ASSERT_EQ(Mkdir("a"), 0);
  EXPECT_EQ(ListDirSorted(P("a")), kChildFiles);
  ASSERT_EQ(Mkdir("a/b"), 0);
  EXPECT_EQ(ListDirSorted(P("a/b")), kChildFiles);
  std::vector<std::string> with_child = kChildFiles;
  with_child.push_back("b");
  std::sort(with_child.begin(), with_child.end());
  EXPECT_EQ(ListDirSorted(P("a")), with_child);
  // Root-only files do not exist in children.
  EXPECT_EQ(ReadAll(P("a/release_agent")).err, ENOENT);
  EXPECT_EQ(ReadAll(P("a/cgroup.sane_behavior")).err, ENOENT);
  EXPECT_FALSE(Stat(P("a/release_agent")).has_value());
}

TEST_P(FsLayoutTest, ModesOwnersSizesLinks) {
  UmaskGuard um(022);
  auto root = Stat(P());
  ASSERT_TRUE(root);
  EXPECT_TRUE(S_ISDIR(root->st_mode));
  EXPECT_EQ(PermBits(*root), 0555u) << std::oct << PermBits(*root);
  EXPECT_EQ(root->st_nlink, 2u);
  EXPECT_EQ(root->st_size, 0);
  EXPECT_EQ(root->st_ino, 1u);
  for (auto& f : kRootFiles) {
    auto st = Stat(P(f));
    ASSERT_TRUE(st) << f;
    EXPECT_TRUE(S_ISREG(st->st_mode)) << f;
    mode_t want = f == "cgroup.sane_behavior" ? 0444 : 0644;
    EXPECT_EQ(PermBits(*st), want) << f << " mode " << std::oct << PermBits(*st);
    EXPECT_EQ(st->st_size, 0) << f;
    EXPECT_EQ(st->st_nlink, 1u) << f;
    EXPECT_EQ(st->st_blocks, 0) << f;
    if (IsRoot()) {
      EXPECT_EQ(st->st_uid, 0u) << f;
      EXPECT_EQ(st->st_gid, 0u) << f;
    }
  }
  ASSERT_EQ(Mkdir("a", 0755), 0);
  ASSERT_EQ(Mkdir("b", 0700), 0);
  auto a = Stat(P("a"));
  ASSERT_TRUE(a);
  EXPECT_TRUE(S_ISDIR(a->st_mode));
  EXPECT_EQ(PermBits(*a), 0755u) << std::oct << PermBits(*a);
  EXPECT_EQ(PermBits(*Stat(P("b"))), 0700u);
  EXPECT_EQ(a->st_nlink, 2u);
  EXPECT_EQ(a->st_size, 0);
  if (IsRoot()) {
    EXPECT_EQ(a->st_uid, 0u);
    EXPECT_EQ(a->st_gid, 0u);
  }
  for (auto& f : kChildFiles) {
    auto st = Stat(P("a/" + f));
    ASSERT_TRUE(st) << f;
    EXPECT_EQ(PermBits(*st), 0644u) << f;
    EXPECT_EQ(st->st_size, 0) << f;
    EXPECT_EQ(st->st_nlink, 1u) << f;
    if (IsRoot()) {
      EXPECT_EQ(st->st_uid, 0u) << f;
    }
  }
  EXPECT_EQ(Stat(P())->st_nlink, 4u);  // 2 + a + b
  ASSERT_EQ(Mkdir("a/c"), 0);
  EXPECT_EQ(Stat(P("a"))->st_nlink, 3u);
  EXPECT_EQ(Stat(P())->st_nlink, 4u);
  ASSERT_EQ(Rmdir("b"), 0);
  EXPECT_EQ(Stat(P())->st_nlink, 3u);
}

TEST_P(FsLayoutTest, MkdirModeKeepsSpecialBitsAndAppliesUmask) {
  UmaskGuard um(022);
  ASSERT_EQ(Mkdir("s", 01777), 0);
  auto st = Stat(P("s"));
  ASSERT_TRUE(st);
  EXPECT_EQ(PermBits(*st), 01755u) << std::oct << PermBits(*st);
  // The VFS keeps only the sticky bit of mkdir's mode (vfs_mkdir masks it
  // with S_IRWXUGO|S_ISVTX): setgid/setuid are dropped (observed on 6.18).
  ASSERT_EQ(Mkdir("g", 02770), 0);
  EXPECT_EQ(PermBits(*Stat(P("g"))), 0750u) << std::oct << PermBits(*Stat(P("g")));
  ASSERT_EQ(Mkdir("u", 04755), 0);
  EXPECT_EQ(PermBits(*Stat(P("u"))), 0755u) << std::oct << PermBits(*Stat(P("u")));
}

TEST_P(FsLayoutTest, ReaddirOrderIsKernfsHashOrder) {
  std::vector<std::string> dirs = {"a",   "b",          "zz",    "cgroup.foo", "0",
                                   "x y", "a.b-c_d",    "tasks2", "UPPER",     "tab\tname",
                                   "c:,", "devices.foo", "1234567890"};
  for (auto& d : dirs) ASSERT_EQ(Mkdir(d), 0) << d;
  std::vector<std::string> names = kRootFiles;
  names.insert(names.end(), dirs.begin(), dirs.end());
  std::vector<std::string> want = {".", ".."};
  for (auto& n : KernfsOrder(names)) want.push_back(n);
  EXPECT_EQ(ListDirRaw(P()), want);

  std::vector<std::string> sub = {"q", "notify", "procs", "m1", "m2"};
  for (auto& d : sub) ASSERT_EQ(Mkdir("a/" + d), 0) << d;
  names = kChildFiles;
  names.insert(names.end(), sub.begin(), sub.end());
  want = {".", ".."};
  for (auto& n : KernfsOrder(names)) want.push_back(n);
  EXPECT_EQ(ListDirRaw(P("a")), want);
}

// ------------------------------------------------------------- core files

TEST_P(FsCoreFilesTest, DefaultValues) {
  ASSERT_EQ(Mkdir("a"), 0);
  for (std::string d : {"", "a/"}) {
    EXPECT_EQ(Read(d + "notify_on_release"), "0\n") << d;
    EXPECT_EQ(Read(d + "cgroup.clone_children"), "0\n") << d;
    // The root lists every host task (which come and go); a new cgroup none.
    if (d.empty())
      EXPECT_TRUE(Contains(ParsePids(Read("tasks")), getpid()));
    else
      EXPECT_EQ(Read(d + "tasks"), "");
  }
  EXPECT_EQ(Read("cgroup.sane_behavior"), "0\n");
  EXPECT_EQ(Read("release_agent"), "\n");
}

TEST_P(FsCoreFilesTest, U64FlagFilesParseLikeKstrtoull) {
  ASSERT_EQ(Mkdir("a"), 0);
  struct Case {
    std::string in;
    int err;
    std::string after;  // expected content after the write
  };
  const std::vector<Case> cases = {
      {"1", 0, "1\n"},
      {"0", 0, "0\n"},
      {"2", 0, "1\n"},
      {"0\n", 0, "0\n"},
      {"0x1", 0, "1\n"},
      {"0", 0, "0\n"},
      {"+1", 0, "1\n"},
      {"0", 0, "0\n"},
      {"010", 0, "1\n"},  // octal 8
      {"0", 0, "0\n"},
      {"1\n", 0, "1\n"},
      {" 1", EINVAL, "1\n"},
      {"0 ", EINVAL, "1\n"},
      {"1 ", EINVAL, "1\n"},
      {"0\n\n", EINVAL, "1\n"},
      {"-1", EINVAL, "1\n"},
      {"\n", EINVAL, "1\n"},
      {"abc", EINVAL, "1\n"},
      {"09", EINVAL, "1\n"},
      {"0x", EINVAL, "1\n"},
      {"99999999999999999999999", ERANGE, "1\n"},
      {"18446744073709551616", ERANGE, "1\n"},
      {"18446744073709551615", 0, "1\n"},
      {"0", 0, "0\n"},
      {std::string("1\0junk", 6), 0, "1\n"},
      {"0", 0, "0\n"},
  };
  for (std::string file : {"notify_on_release", "cgroup.clone_children", "a/notify_on_release",
                           "a/cgroup.clone_children"}) {
    for (auto& c : cases) {
      ssize_t n = -2;
      EXPECT_EQ(ErrName(Write(file, c.in, &n)), ErrName(c.err)) << file << " <- '" << c.in << "'";
      if (c.err == 0) {
        EXPECT_EQ(n, static_cast<ssize_t>(c.in.size())) << file << " <- '" << c.in << "'";
      }
      EXPECT_EQ(Read(file), c.after) << file << " after '" << c.in << "'";
    }
    ssize_t n = -2;
    EXPECT_EQ(Write(file, "", &n), 0) << file;
    EXPECT_EQ(n, 0) << file;
    EXPECT_EQ(Read(file), "0\n") << file;
    // More than 4096 bytes: E2BIG (4096 bytes of a valid value is OK).
    EXPECT_EQ(ErrName(Write(file, std::string(4097, '0'))), "E2BIG") << file;
    EXPECT_EQ(ErrName(Write(file, std::string(4095, '0') + "1")), "OK") << file;
    EXPECT_EQ(Read(file), "1\n") << file;
    EXPECT_EQ(Write(file, "0"), 0);
  }
}

TEST_P(FsCoreFilesTest, FlagsAreInheritedAtMkdir) {
  ASSERT_EQ(Write("notify_on_release", "1"), 0);
  ASSERT_EQ(Write("cgroup.clone_children", "1"), 0);
  ASSERT_EQ(Mkdir("a"), 0);
  EXPECT_EQ(Read("a/notify_on_release"), "1\n");
  EXPECT_EQ(Read("a/cgroup.clone_children"), "1\n");
  ASSERT_EQ(Write("a/notify_on_release", "0"), 0);
  ASSERT_EQ(Mkdir("a/b"), 0);
  EXPECT_EQ(Read("a/b/notify_on_release"), "0\n");
  EXPECT_EQ(Read("a/b/cgroup.clone_children"), "1\n");
  // Later changes of the parent do not propagate.
  ASSERT_EQ(Write("cgroup.clone_children", "0"), 0);
  EXPECT_EQ(Read("a/cgroup.clone_children"), "1\n");
  ASSERT_EQ(Mkdir("c"), 0);
  EXPECT_EQ(Read("c/cgroup.clone_children"), "0\n");
  EXPECT_EQ(Read("c/notify_on_release"), "1\n");
  ASSERT_EQ(Write("notify_on_release", "0"), 0);
}

TEST_P(FsCoreFilesTest, SaneBehaviorIsReadOnly) {
  EXPECT_EQ(Read("cgroup.sane_behavior"), "0\n");
  if (!IsRoot()) GTEST_SKIP() << "writing a 0444 file needs root";
  EXPECT_EQ(ErrName(Write("cgroup.sane_behavior", "0")), "EINVAL");
  EXPECT_EQ(ErrName(Write("cgroup.sane_behavior", "1")), "EINVAL");
  EXPECT_EQ(Read("cgroup.sane_behavior"), "0\n");
}

TEST_P(FsCoreFilesTest, ReleaseAgentStoresStrippedString) {
  if (!IsRoot()) GTEST_SKIP() << "release_agent writes need CAP_SYS_ADMIN";
  EXPECT_EQ(Read("release_agent"), "\n");
  ssize_t n = -2;
  EXPECT_EQ(Write("release_agent", "/x y z \n", &n), 0);
  EXPECT_EQ(n, 8);
  EXPECT_EQ(Read("release_agent"), "/x y z\n");
  EXPECT_EQ(Write("release_agent", "\t relative/agent\t"), 0);
  EXPECT_EQ(Read("release_agent"), "relative/agent\n");
  EXPECT_EQ(Write("release_agent", std::string("/a\0junk", 7)), 0);
  EXPECT_EQ(Read("release_agent"), "/a\n");
  EXPECT_EQ(Write("release_agent", "   "), 0);
  EXPECT_EQ(Read("release_agent"), "\n");
  EXPECT_EQ(Write("release_agent", "/y"), 0);
  n = -2;
  EXPECT_EQ(Write("release_agent", "", &n), 0);
  EXPECT_EQ(n, 0);
  EXPECT_EQ(Read("release_agent"), "/y\n");
  // Limits: 4095 bytes OK, 4096 E2BIG.
  std::string p4095 = "/" + std::string(4094, 'a');
  EXPECT_EQ(ErrName(Write("release_agent", p4095)), "OK");
  EXPECT_EQ(Read("release_agent"), p4095 + "\n");
  EXPECT_EQ(ErrName(Write("release_agent", p4095 + "b")), "E2BIG");
  EXPECT_EQ(Read("release_agent"), p4095 + "\n");
  EXPECT_EQ(ErrName(Write("release_agent", p4095 + "\n")), "E2BIG");
  EXPECT_EQ(Write("release_agent", "\n"), 0);
  EXPECT_EQ(Read("release_agent"), "\n");
}

TEST_P(FsCoreFilesTest, MountOptionsReleaseAgentAndCloneChildren) {
  std::string skip, err;
  auto m2 = CgroupMount::Make(GetParam(), NamedOptions("release_agent=/sbin/itest_agent,clone_children"),
                              &skip, &err);
  if (!m2) {
    if (!skip.empty()) GTEST_SKIP() << skip;
    FAIL() << err;
  }
  EXPECT_EQ(ReadOrErr(m2->Path("release_agent")), "/sbin/itest_agent\n");
  EXPECT_EQ(ReadOrErr(m2->Path("cgroup.clone_children")), "1\n");
  EXPECT_EQ(ReadOrErr(m2->Path("notify_on_release")), "0\n");
  ASSERT_EQ(Errno(mkdir(m2->Path("k").c_str(), 0755)), 0);
  EXPECT_EQ(ReadOrErr(m2->Path("k/cgroup.clone_children")), "1\n");
}

TEST_P(FsCoreFilesTest, OneByteReadsAndPread) {
  auto s = SpawnSleeper(5);
  ASSERT_TRUE(s);
  ASSERT_EQ(Mkdir("a"), 0);
  ASSERT_EQ(Write("a/cgroup.procs", std::to_string(s->pid)), 0);
  std::string full = Read("a/tasks");
  ASSERT_EQ(ParsePids(full).size(), 6u) << full;
  EXPECT_EQ(ReadBytewise(P("a/tasks")).data, full);
  EXPECT_EQ(ReadBytewise(P("a/cgroup.procs")).data, std::to_string(s->pid) + "\n");
  EXPECT_EQ(ReadBytewise(P("a/notify_on_release")).data, "0\n");
  EXPECT_EQ(ReadBytewise(P("release_agent")).data, "\n");
  ReadResult r = PreadAt(P("a/tasks"), 3, 4096);
  EXPECT_EQ(r.err, 0);
  EXPECT_EQ(r.data, full.substr(3));
  r = PreadAt(P("a/tasks"), static_cast<off_t>(full.size()), 100);
  EXPECT_EQ(r.err, 0);
  EXPECT_EQ(r.data, "");
  r = PreadAt(P("a/notify_on_release"), 1, 100);
  EXPECT_EQ(r.data, "\n");
}

// ---------------------------------------------------------------- dir ops

TEST_P(FsDirOpsTest, MkdirErrors) {
  ASSERT_EQ(Mkdir("a"), 0);
  EXPECT_EQ(ErrName(Mkdir("a")), "EEXIST");
  EXPECT_EQ(ErrName(Mkdir("tasks")), "EEXIST");
  EXPECT_EQ(ErrName(Mkdir("release_agent")), "EEXIST");
  EXPECT_EQ(ErrName(Mkdir("a/tasks")), "EEXIST");
  EXPECT_EQ(ErrName(Mkdir("a/cgroup.procs")), "EEXIST");
  EXPECT_EQ(ErrName(Mkdir("bad\nname")), "EINVAL");
  EXPECT_EQ(ErrName(Mkdir("\n")), "EINVAL");
  EXPECT_EQ(ErrName(Mkdir(".")), "EEXIST");
  EXPECT_EQ(ErrName(Mkdir("a/..")), "EEXIST");
  EXPECT_EQ(ErrName(Mkdir("nonexistent/x")), "ENOENT");
  // Allowed names: no reserved prefixes; root-only file names in children.
  for (const std::string& n :
       std::vector<std::string>{"cgroup.foo", "cgroup.procs2", "with space", "col:on", "com,ma",
                                "a/release_agent", "a/cgroup.sane_behavior", std::string(256, 'n')}) {
    EXPECT_EQ(ErrName(Mkdir(n)), "OK") << n;
  }
  EXPECT_EQ(ListDirSorted(P()).size(), kRootFiles.size() + 7);
}

TEST_P(FsDirOpsTest, RmdirErrors) {
  ASSERT_EQ(Mkdir("a"), 0);
  ASSERT_EQ(Mkdir("a/b"), 0);
  EXPECT_EQ(ErrName(Rmdir("a")), "EBUSY");  // live child: EBUSY, not ENOTEMPTY
  EXPECT_EQ(ErrName(Rmdir("a/tasks")), "ENOTDIR");
  EXPECT_EQ(ErrName(Rmdir("tasks")), "ENOTDIR");
  EXPECT_EQ(ErrName(Rmdir("nope")), "ENOENT");
  EXPECT_EQ(ErrName(Rmdir("")), "EBUSY");  // the hierarchy root (mount point)
  auto s = SpawnSleeper();
  ASSERT_TRUE(s);
  ASSERT_EQ(Write("a/b/tasks", std::to_string(s->pid)), 0);
  EXPECT_EQ(ErrName(Rmdir("a/b")), "EBUSY");
  ASSERT_EQ(Write("tasks", std::to_string(s->pid)), 0);
  EXPECT_EQ(ErrName(Rmdir("a/b")), "OK");
  EXPECT_EQ(ErrName(Rmdir("a")), "OK");
  EXPECT_EQ(ListDirSorted(P()), kRootFiles);
}

TEST_P(FsDirOpsTest, Rename) {
  ASSERT_EQ(Mkdir("a"), 0);
  ASSERT_EQ(Mkdir("b"), 0);
  ASSERT_EQ(Mkdir("a/x"), 0);
  EXPECT_EQ(ErrName(Errno(rename(P("a").c_str(), P("a").c_str()))), "OK");
  EXPECT_EQ(ErrName(Errno(rename(P("a").c_str(), P("a2").c_str()))), "OK");
  EXPECT_FALSE(Stat(P("a")));
  EXPECT_TRUE(Stat(P("a2/x")));
  EXPECT_EQ(ListDirSorted(P("a2")), (std::vector<std::string>{"cgroup.clone_children",
                                                              "cgroup.procs", "notify_on_release",
                                                              "tasks", "x"}));
  EXPECT_EQ(ErrName(Errno(rename(P("a2/x").c_str(), P("b/x").c_str()))), "EIO");
  EXPECT_EQ(ErrName(Errno(rename(P("a2/x").c_str(), P("x").c_str()))), "EIO");
  EXPECT_EQ(ErrName(Errno(rename(P("b").c_str(), P("a2").c_str()))), "EEXIST");
  EXPECT_EQ(ErrName(Errno(rename(P("a2/tasks").c_str(), P("a2/tasks2").c_str()))), "ENOTDIR");
  EXPECT_EQ(ErrName(Errno(rename(P("b").c_str(), P("bad\nname").c_str()))), "EINVAL");
  EXPECT_EQ(ErrName(Errno(rename(P("b").c_str(), P("tasks").c_str()))), "ENOTDIR");
  EXPECT_EQ(ErrName(Errno(renameat2(AT_FDCWD, P("b").c_str(), AT_FDCWD, P("c").c_str(),
                                    RENAME_NOREPLACE))),
            "EINVAL");
  EXPECT_EQ(ErrName(Errno(renameat2(AT_FDCWD, P("b").c_str(), AT_FDCWD, P("a2").c_str(),
                                    RENAME_EXCHANGE))),
            "EINVAL");
  EXPECT_EQ(ListDirSorted(P()).size(), kRootFiles.size() + 2);
  // The renamed cgroup keeps working.
  auto s = SpawnSleeper();
  ASSERT_TRUE(s);
  EXPECT_EQ(Write("a2/x/tasks", std::to_string(s->pid)), 0);
  EXPECT_EQ(Pids("a2/x/tasks"), std::vector<pid_t>{s->pid});
}

TEST_P(FsDirOpsTest, RenameAcrossHierarchiesIsEXDEV) {
  std::string skip, err;
  auto m2 = CgroupMount::Make(GetParam(), NamedOptions(), &skip, &err);
  if (!m2) {
    if (!skip.empty()) GTEST_SKIP() << skip;
    FAIL() << err;
  }
  ASSERT_EQ(Mkdir("a"), 0);
  EXPECT_EQ(ErrName(Errno(rename(P("a").c_str(), m2->Path("a").c_str()))), "EXDEV");
}

// --------------------------------------------------------------- file ops

TEST_P(FsFileOpsTest, UnsupportedOperations) {
  ASSERT_EQ(Mkdir("a"), 0);
  EXPECT_EQ(ErrName(Errno(unlink(P("tasks").c_str()))), "EPERM");
  EXPECT_EQ(ErrName(Errno(unlink(P("a/notify_on_release").c_str()))), "EPERM");
  EXPECT_EQ(ErrName(Errno(unlink(P("a").c_str()))), "EISDIR");
  EXPECT_EQ(ErrName(Errno(open(P("newfile").c_str(), O_CREAT | O_WRONLY, 0644))), "EACCES");
  EXPECT_EQ(ErrName(Errno(open(P("a/newfile").c_str(), O_CREAT | O_RDWR, 0644))), "EACCES");
  EXPECT_EQ(ErrName(Errno(symlink("tasks", P("lnk").c_str()))), "EPERM");
  EXPECT_EQ(ErrName(Errno(link(P("tasks").c_str(), P("tasks_link").c_str()))), "EPERM");
  EXPECT_EQ(ErrName(Errno(link(P("tasks").c_str(), P("a/tasks").c_str()))), "EEXIST");
  EXPECT_EQ(ErrName(Errno(mknod(P("fifo").c_str(), S_IFIFO | 0644, 0))), "EPERM");
  EXPECT_EQ(ErrName(Errno(mkfifo(P("a/fifo").c_str(), 0644))), "EPERM");
  EXPECT_EQ(ErrName(Errno(mknod(P("reg").c_str(), S_IFREG | 0644, 0))), "EACCES");
  // O_CREAT of an existing control file opens it; with O_EXCL: EEXIST.
  int fd = open(P("tasks").c_str(), O_CREAT | O_WRONLY, 0644);
  EXPECT_GE(fd, 0) << ErrName(errno);
  if (fd >= 0) close(fd);
  fd = open(P("a/tasks").c_str(), O_CREAT | O_RDONLY, 0644);
  EXPECT_GE(fd, 0) << ErrName(errno);
  if (fd >= 0) close(fd);
  EXPECT_EQ(ErrName(Errno(open(P("tasks").c_str(), O_CREAT | O_EXCL | O_WRONLY, 0644))),
            "EEXIST");
  EXPECT_EQ(ErrName(Errno(open(P("a").c_str(), O_CREAT | O_EXCL | O_WRONLY, 0644))), "EEXIST");
  EXPECT_EQ(ListDirSorted(P("a")), kChildFiles);
}

TEST_P(FsFileOpsTest, TruncAppendTruncateAndOffsetWrites) {
  ASSERT_EQ(Mkdir("a"), 0);
  ASSERT_EQ(Mkdir("b"), 0);
  auto s = SpawnSleeper();
  ASSERT_TRUE(s);
  std::string pid = std::to_string(s->pid);
  EXPECT_EQ(ErrName(WriteStr(P("a/tasks"), pid, nullptr, O_TRUNC)), "OK");
  EXPECT_EQ(Pids("a/tasks"), std::vector<pid_t>{s->pid});
  EXPECT_EQ(ErrName(WriteStr(P("b/tasks"), pid, nullptr, O_APPEND)), "OK");
  EXPECT_EQ(Pids("b/tasks"), std::vector<pid_t>{s->pid});
  EXPECT_EQ(Read("a/tasks"), "");
  EXPECT_EQ(ErrName(WriteStr(P("a/notify_on_release"), "1", nullptr, O_TRUNC | O_APPEND)), "OK");
  EXPECT_EQ(Read("a/notify_on_release"), "1\n");
  EXPECT_EQ(ErrName(Errno(truncate(P("a/tasks").c_str(), 0))), "OK");
  EXPECT_EQ(ErrName(Errno(truncate(P("a/notify_on_release").c_str(), 100))), "OK");
  EXPECT_EQ(Stat(P("a/notify_on_release"))->st_size, 0);
  EXPECT_EQ(Read("a/notify_on_release"), "1\n");
  int fd = open(P("a/tasks").c_str(), O_WRONLY);
  ASSERT_GE(fd, 0);
  EXPECT_EQ(ErrName(Errno(ftruncate(fd, 0))), "OK");
  ssize_t n = pwrite(fd, pid.data(), pid.size(), 12345);
  EXPECT_EQ(n, static_cast<ssize_t>(pid.size())) << ErrName(errno);
  EXPECT_EQ(Pids("a/tasks"), std::vector<pid_t>{s->pid});
  close(fd);
}

TEST_P(FsFileOpsTest, NoAccumulationAcrossWrites) {
  ASSERT_EQ(Mkdir("a"), 0);
  int fd = open(P("a/notify_on_release").c_str(), O_WRONLY);
  ASSERT_GE(fd, 0);
  EXPECT_EQ(ErrName(WriteFd(fd, "1")), "OK");
  EXPECT_EQ(ErrName(WriteFd(fd, " ")), "EINVAL");
  EXPECT_EQ(ErrName(WriteFd(fd, "0")), "OK");
  EXPECT_EQ(ErrName(WriteFd(fd, "\n")), "EINVAL");
  close(fd);
  EXPECT_EQ(Read("a/notify_on_release"), "0\n");
}

TEST_P(FsFileOpsTest, ChmodChownUtimeAreStored) {
  if (!IsRoot()) GTEST_SKIP() << "chown needs root";
  ASSERT_EQ(Mkdir("a"), 0);
  EXPECT_EQ(ErrName(Errno(chmod(P("a/notify_on_release").c_str(), 0600))), "OK");
  EXPECT_EQ(PermBits(*Stat(P("a/notify_on_release"))), 0600u);
  EXPECT_EQ(ErrName(Errno(chown(P("a/tasks").c_str(), kNobody, kNobody))), "OK");
  auto st = Stat(P("a/tasks"));
  EXPECT_EQ(st->st_uid, kNobody);
  EXPECT_EQ(st->st_gid, kNobody);
  EXPECT_EQ(PermBits(*st), 0644u);
  EXPECT_EQ(ErrName(Errno(chmod(P("a").c_str(), 0711))), "OK");
  EXPECT_EQ(PermBits(*Stat(P("a"))), 0711u);
  EXPECT_EQ(ErrName(Errno(chown(P("a").c_str(), kNobody, 0))), "OK");
  EXPECT_EQ(Stat(P("a"))->st_uid, kNobody);
  EXPECT_EQ(Stat(P("a"))->st_gid, 0u);
  EXPECT_EQ(ErrName(Errno(chmod(P("release_agent").c_str(), 0640))), "OK");
  EXPECT_EQ(PermBits(*Stat(P("release_agent"))), 0640u);
  struct timespec ts[2] = {{0, 0}, {0, 0}};
  EXPECT_EQ(ErrName(Errno(utimensat(AT_FDCWD, P("a/cgroup.procs").c_str(), ts, 0))), "OK");
  EXPECT_EQ(Stat(P("a/cgroup.procs"))->st_mtime, 0);
  // A write to a control file does not change its mtime.
  EXPECT_EQ(Write("a/cgroup.procs", ""), 0);
  EXPECT_EQ(Write("a/notify_on_release", "1"), 0);
  EXPECT_EQ(Stat(P("a/cgroup.procs"))->st_mtime, 0);
  // A non-owner cannot chmod.
  EXPECT_EQ(ErrName(RunInChild([&] { return Errno(chmod(P("a/notify_on_release").c_str(), 0666)); },
                               kNobody)),
            "EPERM");
  // The owner (nobody, for a/tasks) can.
  EXPECT_EQ(ErrName(RunInChild([&] { return Errno(chmod(P("a/tasks").c_str(), 0664)); }, kNobody)),
            "OK");
  EXPECT_EQ(PermBits(*Stat(P("a/tasks"))), 0664u);
}

TEST_P(FsFileOpsTest, UserXattrs) {
  ASSERT_EQ(Mkdir("a"), 0);
  for (std::string f : {"a/tasks", "a", "", "notify_on_release"}) {
    EXPECT_EQ(ErrName(Errno(setxattr(P(f).c_str(), "user.itest", "val", 3, 0))), "OK") << f;
    char buf[64] = {};
    ssize_t n = getxattr(P(f).c_str(), "user.itest", buf, sizeof buf);
    EXPECT_EQ(n, 3) << f << " " << ErrName(errno);
    EXPECT_EQ(std::string(buf, n > 0 ? static_cast<size_t>(n) : 0), "val") << f;
  }
  if (IsRoot()) {
    EXPECT_EQ(ErrName(Errno(setxattr(P("a").c_str(), "trusted.itest", "t", 1, 0))), "OK");
  }
}

ITEST_INSTANTIATE_BACKENDS(FsLayoutTest);
ITEST_INSTANTIATE_BACKENDS(FsCoreFilesTest);
ITEST_INSTANTIATE_BACKENDS(FsDirOpsTest);
ITEST_INSTANTIATE_BACKENDS(FsFileOpsTest);

}  // namespace
}  // namespace itest
