// The devices controller's whitelist engine on a fake host: every rule
// sequence below was run on a real cgroup v1 devices hierarchy (kernel
// 6.18), each in a fresh cgroup under the root, and its answers recorded
// (after an rmdir the kernel takes a moment to take the child offline; the
// answers are the settled ones). tests/integration/devices_test.cpp replays
// the same kind of sequences against the live kernel.
#include "controllers/devices.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "controllers/subsystems.h"
#include "engine/engine.h"
#include "fake_task_source.h"

namespace cgemu {
namespace {

using testing::FakeTaskSource;

const int kDevices = *subsystem_id("devices");

struct Step {
  const char* op;    // allow, deny, list, mkdir, rmdir
  const char* path;  // relative to the case's cgroup; "" is the cgroup itself
  const char* arg;   // the rule written
  const char* expect;  // OK or an errno name; for list, the content
};

struct Case {
  const char* name;
  std::vector<Step> steps;
};

const std::vector<Case> kCases = {
    {"parse_allow_mode",
     {
         {"deny", "", "", "OK"},
         {"deny", "", "x", "EINVAL"},
         {"deny", "", "c", "EINVAL"},
         {"deny", "", "c1:3 r", "EINVAL"},
         {"deny", "", "c  1:3 r", "EINVAL"},
         {"deny", "", "c 1:3", "EINVAL"},
         {"deny", "", "c 1:3 ", "EINVAL"},
         {"deny", "", "c 1 :3 r", "EINVAL"},
         {"deny", "", "c 1:3 rx", "EINVAL"},
         {"deny", "", "c 1:3 x", "EINVAL"},
         {"deny", "", "C 1:3 r", "EINVAL"},
         {"deny", "", "c -1:3 r", "EINVAL"},
         {"deny", "", "c +1:3 r", "EINVAL"},
         {"deny", "", "c 0x1:3 r", "EINVAL"},
         {"deny", "", "c 1:3:4 r", "EINVAL"},
         {"deny", "", "c 4294967296:1 r", "EINVAL"},
         {"deny", "", "c 000000000001:1 r", "EINVAL"},
         {"deny", "", "c 1:99999999999 r", "EINVAL"},
         {"deny", "", "c 1:3 \x0b""r", "EINVAL"},
         {"deny", "", "d 1:3 r", "EINVAL"},
         {"list", "", "", "a *:* rwm\n"},
     }},
    {"parse_deny_mode",
     {
         {"deny", "", "a", "OK"},
         {"allow", "", "c 1:3 rwmx", "OK"},
         {"allow", "", "c 1:4 rrr", "OK"},
         {"allow", "", "c *:* m", "OK"},
         {"allow", "", "c 4294967295:1 r", "OK"},
         {"allow", "", "c 00000000001:2 w", "OK"},
         {"allow", "", "b 8:0 w", "OK"},
         {"allow", "", "c\t1:5\tr", "OK"},
         {"allow", "", "c 1:6 \nr", "OK"},
         {"allow", "", "  c 1:7 wr  \n", "OK"},
         {"allow", "", "c 1:8 r\nw", "OK"},
         {"allow", "", "c\xa0""1:9 m", "OK"},
         {"allow", "", "c 1:10 mw", "OK"},
         {"allow", "", "c 1:3\n", "EINVAL"},
         {"allow", "", "c 12:4294967295 r", "OK"},
         {"allow", "", "b *:3 rw", "OK"},
         {"list", "", "", "c 1:3 rwm\nc 1:4 r\nc *:* m\nc *:1 r\nc 1:2 w\nb 8:0 w\nc 1:5 r\nc 1:6 \nc 1:7 rw\nc 1:8 r\nc 1:9 m\nc 1:10 wm\nc 12:* r\nb *:3 rw\n"},
     }},
    {"a_variants",
     {
         {"deny", "", "all", "OK"},
         {"list", "", "", ""},
         {"allow", "", "abc", "OK"},
         {"list", "", "", "a *:* rwm\n"},
         {"deny", "", "az x", "OK"},
         {"list", "", "", ""},
         {"allow", "", "a\n", "OK"},
         {"list", "", "", "a *:* rwm\n"},
     }},
    {"deny_mode_add_merge_remove",
     {
         {"deny", "", "a", "OK"},
         {"allow", "", "c 1:3 r", "OK"},
         {"allow", "", "c 1:3 w", "OK"},
         {"list", "", "", "c 1:3 rw\n"},
         {"deny", "", "c 1:3 r", "OK"},
         {"list", "", "", "c 1:3 w\n"},
         {"deny", "", "c 1:* rwm", "OK"},
         {"list", "", "", "c 1:3 w\n"},
         {"allow", "", "c 1:* r", "OK"},
         {"allow", "", "c 1:4 m", "OK"},
         {"list", "", "", "c 1:3 w\nc 1:* r\nc 1:4 m\n"},
         {"deny", "", "c 1:3 w", "OK"},
         {"list", "", "", "c 1:* r\nc 1:4 m\n"},
         {"deny", "", "c 1:* rwm", "OK"},
         {"deny", "", "b 1:4 m", "OK"},
         {"list", "", "", "c 1:4 m\n"},
         {"deny", "", "c 1:4 m", "OK"},
         {"list", "", "", ""},
     }},
    {"allow_mode_hidden_exceptions",
     {
         {"deny", "", "c 1:3 rw", "OK"},
         {"list", "", "", "a *:* rwm\n"},
         {"allow", "", "c 1:3 r", "OK"},
         {"list", "", "", "a *:* rwm\n"},
         {"deny", "", "a", "OK"},
         {"list", "", "", ""},
         {"allow", "", "a", "OK"},
         {"list", "", "", "a *:* rwm\n"},
     }},
    {"child_of_whitelist",
     {
         {"deny", "", "a", "OK"},
         {"allow", "", "c 1:3 rw", "OK"},
         {"allow", "", "b 8:* r", "OK"},
         {"mkdir", "x", "", "OK"},
         {"list", "x", "", "c 1:3 rw\nb 8:* r\n"},
         {"allow", "x", "c 1:3 rw", "OK"},
         {"allow", "x", "c 1:3 rwm", "EPERM"},
         {"allow", "x", "c 1:7 r", "EPERM"},
         {"allow", "x", "c *:* r", "EPERM"},
         {"allow", "x", "b 8:1 r", "OK"},
         {"allow", "x", "b 8:1 w", "EPERM"},
         {"allow", "x", "a", "EPERM"},
         {"deny", "x", "a", "OK"},
         {"list", "x", "", ""},
         {"allow", "x", "c 1:3 r", "OK"},
         {"allow", "x", "b 8:2 r", "OK"},
         {"list", "x", "", "c 1:3 r\nb 8:2 r\n"},
         {"allow", "", "a", "EINVAL"},
         {"deny", "", "a", "EINVAL"},
         {"rmdir", "x", "", "OK"},
         {"allow", "", "a", "OK"},
         {"list", "", "", "a *:* rwm\n"},
         {"deny", "", "a", "OK"},
         {"list", "", "", ""},
     }},
    {"deny_propagates_to_allow_children",
     {
         {"mkdir", "x", "", "OK"},
         {"mkdir", "x/y", "", "OK"},
         {"deny", "", "c 1:3 rw", "OK"},
         {"allow", "x", "c 1:3 r", "EPERM"},
         {"allow", "x", "c 1:4 r", "OK"},
         {"allow", "x/y", "c 1:3 w", "EPERM"},
         {"allow", "x/y", "c 1:* m", "OK"},
         {"deny", "x", "a", "EINVAL"},
         {"deny", "x/y", "a", "OK"},
         {"list", "x/y", "", ""},
         {"allow", "x/y", "c 1:3 r", "EPERM"},
         {"allow", "x/y", "c 1:5 r", "OK"},
         {"list", "x/y", "", "c 1:5 r\n"},
         {"allow", "x/y", "a", "OK"},
         {"list", "x/y", "", "a *:* rwm\n"},
         {"allow", "x/y", "c 1:3 m", "OK"},
     }},
    {"deny_revalidates_deny_children",
     {
         {"deny", "", "a", "OK"},
         {"allow", "", "c *:* rwm", "OK"},
         {"allow", "", "c 1:4 r", "OK"},
         {"mkdir", "x", "", "OK"},
         {"mkdir", "x/y", "", "OK"},
         {"allow", "x", "c 1:3 r", "OK"},
         {"allow", "x/y", "c 1:3 r", "OK"},
         {"list", "x", "", "c *:* rwm\nc 1:4 r\nc 1:3 r\n"},
         {"list", "x/y", "", "c *:* rwm\nc 1:4 r\nc 1:3 r\n"},
         {"deny", "", "c *:* w", "OK"},
         {"list", "", "", "c *:* rm\nc 1:4 r\n"},
         {"list", "x", "", "c *:* rm\nc 1:4 r\nc 1:3 r\n"},
         {"list", "x/y", "", "c *:* rm\nc 1:4 r\nc 1:3 r\n"},
         {"deny", "", "c 1:4 r", "OK"},
         {"list", "", "", "c *:* rm\n"},
         {"list", "x", "", "c *:* rm\nc 1:3 r\n"},
         {"deny", "", "c *:* r", "OK"},
         {"list", "", "", "c *:* m\n"},
         {"list", "x", "", "c *:* m\n"},
         {"list", "x/y", "", "c *:* m\n"},
     }},
    {"allow_parent_deny_child",
     {
         {"mkdir", "x", "", "OK"},
         {"deny", "x", "a", "OK"},
         {"allow", "x", "c 1:3 r", "OK"},
         {"allow", "x", "b 1:3 r", "OK"},
         {"list", "x", "", "c 1:3 r\nb 1:3 r\n"},
         {"deny", "", "c 1:* r", "OK"},
         {"list", "", "", "a *:* rwm\n"},
         {"list", "x", "", "b 1:3 r\n"},
         {"allow", "x", "c 1:3 r", "EPERM"},
         {"allow", "x", "c 1:3 w", "OK"},
         {"allow", "x", "c 2:3 r", "OK"},
         {"allow", "x", "c *:3 w", "OK"},
         {"allow", "x", "c *:3 r", "EPERM"},
         {"list", "x", "", "b 1:3 r\nc 1:3 w\nc 2:3 r\nc *:3 w\n"},
     }},
    {"allow_a_copies_parent",
     {
         {"deny", "", "c 1:3 r", "OK"},
         {"mkdir", "x", "", "OK"},
         {"deny", "x", "a", "OK"},
         {"allow", "x", "a", "OK"},
         {"allow", "x", "c 1:3 r", "EPERM"},
         {"allow", "x", "c 1:3 w", "OK"},
         {"allow", "x", "c 1:4 r", "OK"},
         {"deny", "x", "c 1:5 r", "OK"},
         {"mkdir", "x/y", "", "OK"},
         {"allow", "x/y", "c 1:5 r", "EPERM"},
         {"allow", "x/y", "c 1:3 m", "OK"},
         {"deny", "x/y", "a", "OK"},
         {"allow", "x/y", "c 1:3 m", "OK"},
         {"allow", "x/y", "c 1:3 r", "EPERM"},
         {"allow", "x/y", "c 1:5 w", "OK"},
         {"allow", "x/y", "c 1:5 r", "EPERM"},
         {"list", "x/y", "", "c 1:3 m\nc 1:5 w\n"},
     }},
    {"a_with_children",
     {
         {"mkdir", "x", "", "OK"},
         {"deny", "", "a", "EINVAL"},
         {"allow", "", "a", "EINVAL"},
         {"deny", "x", "a", "OK"},
         {"deny", "", "a", "EINVAL"},
         {"rmdir", "x", "", "OK"},
         {"deny", "", "a", "OK"},
         {"allow", "", "c 1:3 r", "OK"},
         {"mkdir", "x", "", "OK"},
         {"allow", "", "a", "EINVAL"},
         {"allow", "x", "a", "EPERM"},
         {"deny", "x", "a", "OK"},
         {"list", "x", "", ""},
         {"rmdir", "x", "", "OK"},
         {"allow", "", "a", "OK"},
         {"list", "", "", "a *:* rwm\n"},
     }},
};

class DevicesTest : public ::testing::Test {
 protected:
  DevicesTest() {
    Controllers controllers;
    controllers[kDevices] = make_devices({});
    std::vector<HierarchyConfig> configs = {{"", 1u << kDevices, false, ""}};
    engine = std::make_unique<Engine>(host, std::move(controllers), configs);
  }
  Cgroup& root() { return engine->hierarchies()[0]->root(); }
  const ControlFile& file(std::string_view name) {
    for (const ControlFile& f : engine->controller(kDevices)->legacy_files())
      if (f.name == name) return f;
    throw std::runtime_error("no such file");
  }
  Cgroup* lookup(Cgroup& base, std::string_view rel) {
    Cgroup* c = &base;
    while (!rel.empty()) {
      const size_t slash = rel.find('/');
      c = c->child(rel.substr(0, slash));
      if (!c) return nullptr;
      rel = slash == std::string_view::npos ? std::string_view() : rel.substr(slash + 1);
    }
    return c;
  }
  // As the filesystem calls it: an empty write does nothing, a NUL ends the text.
  int write(Cgroup& cgroup, std::string_view name, std::string_view text, bool admin = true) {
    if (text.empty()) return 0;
    FileOpener opener;
    opener.sys_admin = admin;
    FileCall call{*engine, cgroup, opener, 1};
    return file(name).write(call, text.substr(0, text.find('\0')));
  }
  std::string list(Cgroup& cgroup) {
    FileOpener opener;
    FileCall call{*engine, cgroup, opener, 1};
    std::string out;
    EXPECT_EQ(file("list").read(call, out), 0);
    return out;
  }
  std::string run(Cgroup& base, const Step& s) {
    auto name = [](int err) { return err ? std::string(strerrorname_np(-err)) : std::string("OK"); };
    const std::string op = s.op;
    if (op == "mkdir") {
      std::string rel = s.path;
      const size_t slash = rel.rfind('/');
      Cgroup* parent = slash == std::string::npos ? &base : lookup(base, rel.substr(0, slash));
      return name(engine->mkdir(*parent, slash == std::string::npos ? rel : rel.substr(slash + 1), nullptr));
    }
    Cgroup* c = lookup(base, s.path);
    if (!c) return "no cgroup";
    if (op == "rmdir") return name(engine->rmdir(*c));
    if (op == "list") return list(*c);
    return name(write(*c, op, s.arg));
  }

  FakeTaskSource host;
  std::unique_ptr<Engine> engine;
};

TEST_F(DevicesTest, FilesAreTheKernels) {
  std::map<std::string, unsigned> modes;
  for (const ControlFile& f : engine->controller(kDevices)->legacy_files()) {
    modes[std::string(f.name)] = f.mode();
    EXPECT_FALSE(f.flags & (kCftNotOnRoot | kCftOnlyOnRoot)) << f.name;
  }
  EXPECT_EQ(modes, (std::map<std::string, unsigned>{{"allow", 0200}, {"deny", 0200}, {"list", 0444}}));
  EXPECT_TRUE(file("allow").flags & kCftCapturesAdmin);
  EXPECT_TRUE(file("deny").flags & kCftCapturesAdmin);
  EXPECT_EQ(list(root()), "a *:* rwm\n");
}

TEST_F(DevicesTest, RuleSequencesAnswerAsTheKernel) {
  for (const Case& c : kCases) {
    SCOPED_TRACE(c.name);
    std::shared_ptr<Cgroup> base;
    ASSERT_EQ(engine->mkdir(root(), std::string("zz_") + c.name, &base), 0);
    for (size_t i = 0; i < c.steps.size(); ++i) {
      const Step& s = c.steps[i];
      EXPECT_EQ(run(*base, s), s.expect) << "step " << i << ": " << s.op << " '" << s.path << "' '" << s.arg << "'";
    }
  }
}

TEST_F(DevicesTest, WritingNeedsSysAdmin) {
  std::shared_ptr<Cgroup> c;
  ASSERT_EQ(engine->mkdir(root(), "c", &c), 0);
  EXPECT_EQ(write(*c, "deny", "a", false), -EPERM);
  EXPECT_EQ(write(*c, "allow", "c 1:3 r", false), -EPERM);
  EXPECT_EQ(write(*c, "deny", "garbage", false), -EPERM);  // before parsing, as capable() is
  EXPECT_EQ(list(*c), "a *:* rwm\n");
  EXPECT_EQ(write(*c, "deny", "a", true), 0);
  EXPECT_EQ(list(*c), "");
}

TEST_F(DevicesTest, TheRootFollowsTheSameRules) {
  EXPECT_EQ(write(root(), "deny", "c 1:3 r"), 0);  // hidden: the root allows all
  EXPECT_EQ(list(root()), "a *:* rwm\n");
  EXPECT_EQ(write(root(), "deny", "a"), 0);         // no children yet
  EXPECT_EQ(list(root()), "");
  EXPECT_EQ(write(root(), "allow", "c *:* rwm"), 0);  // no parent to cover it
  std::shared_ptr<Cgroup> c;
  ASSERT_EQ(engine->mkdir(root(), "c", &c), 0);
  EXPECT_EQ(list(*c), "c *:* rwm\n");
  EXPECT_EQ(write(root(), "allow", "a"), -EINVAL);  // online child
  EXPECT_EQ(write(*c, "allow", "a"), -EPERM);       // parent is a whitelist
  ASSERT_EQ(engine->rmdir(*c), 0);
  EXPECT_EQ(write(root(), "allow", "a"), 0);  // the child went offline at once
  EXPECT_EQ(list(root()), "a *:* rwm\n");
}

TEST_F(DevicesTest, ARemovedChildNoLongerReceivesRules) {
  std::shared_ptr<Cgroup> p, c;
  ASSERT_EQ(engine->mkdir(root(), "p", &p), 0);
  ASSERT_EQ(engine->mkdir(*p, "c", &c), 0);
  ASSERT_EQ(write(*p, "deny", "c 1:3 r"), 0);
  ASSERT_EQ(engine->rmdir(*c), 0);  // c stays allocated while held
  ASSERT_EQ(write(*p, "deny", "c 1:4 r"), 0);
  auto* devcg = static_cast<DevCgroup*>(c->css(kDevices));
  EXPECT_EQ(devcg->behavior, DevBehavior::kNone);
  EXPECT_EQ(devcg->exceptions.size(), 1u);  // only what it had when removed
}

TEST_F(DevicesTest, ListShowsStarsAndAccessInRwmOrder) {
  std::shared_ptr<Cgroup> c;
  ASSERT_EQ(engine->mkdir(root(), "c", &c), 0);
  ASSERT_EQ(write(*c, "deny", "a"), 0);
  ASSERT_EQ(write(*c, "allow", "b 4294967295:4294967295 mwr"), 0);
  ASSERT_EQ(write(*c, "allow", "c 0:0 m"), 0);
  ASSERT_EQ(write(*c, "allow", "c 4294967294:7 wm"), 0);
  EXPECT_EQ(list(*c), "b *:* rwm\nc 0:0 m\nc 4294967294:7 wm\n");
}

TEST(DevicesSettings, NoneAreAccepted) {
  EXPECT_NE(make_devices({}), nullptr);
  EXPECT_THROW(make_devices({"enforce"}), std::invalid_argument);
}

}  // namespace
}  // namespace cgemu
