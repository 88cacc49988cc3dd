// The freezer's state machine on a fake host, with a fake stopper that
// records what it is asked and reports tasks stopped when the test says so.
#include "controllers/freezer.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "controllers/subsystems.h"
#include "engine/engine.h"
#include "engine_helpers.h"
#include "fake_task_source.h"
#include "scripted_events.h"

namespace cgemu {
namespace {

using testing::FakeTaskSource;

const int kFreezer = *subsystem_id("freezer");

using testing::ScriptedEvents;

// Asked-for state per task; a task reads as stopped only once the test has
// let it "reach" its stop (settle()), as a real task takes a moment to stop.
class FakeStopper : public TaskStopper {
 public:
  void stop(pid_t tid, uint64_t) override {
    wanted[tid] = true;
    log.push_back("stop " + std::to_string(tid));
  }
  void resume(pid_t tid, uint64_t) override {
    wanted[tid] = false;
    stopped.erase(tid);
    log.push_back("resume " + std::to_string(tid));
  }
  void forget(pid_t tid, uint64_t) override {
    wanted.erase(tid);
    stopped.erase(tid);
    log.push_back("forget " + std::to_string(tid));
  }
  State state(pid_t tid, uint64_t) override {
    if (exempt.count(tid)) return State::kExempt;
    return stopped.count(tid) ? State::kStopped : State::kRunning;
  }
  // Every task asked to stop (and allowed to) is now stopped.
  void settle() {
    for (auto& [tid, want] : wanted)
      if (want && !unstoppable.count(tid)) stopped.insert(tid);
  }
  std::map<pid_t, bool> wanted;
  std::set<pid_t> stopped, exempt, unstoppable;
  std::vector<std::string> log;
};

class FreezerTest : public ::testing::Test {
 protected:
  FreezerTest() {
    Controllers controllers;
    auto fake = std::make_unique<FakeStopper>();
    stopper = fake.get();
    controllers[kFreezer] = std::make_unique<FreezerController>(std::move(fake));
    std::vector<HierarchyConfig> configs = {{"", 1u << kFreezer, false, ""}};
    engine = std::make_unique<Engine>(host, std::move(controllers), configs);
    engine->set_task_events(&events);
  }
  Cgroup& root() { return engine->hierarchies()[0]->root(); }
  Cgroup& mkdir(Cgroup& parent, const char* name) {
    return testing::make_cgroup(*engine, parent, name);
  }
  const ControlFile& file(std::string_view name) {
    for (const ControlFile& f : engine->controller(kFreezer)->legacy_files())
      if (f.name == name) return f;
    throw std::runtime_error("no such file");
  }
  std::string read(Cgroup& c, std::string_view name = "state") {
    FileOpener opener;
    FileCall call{*engine, c, opener, 1};
    std::string out;
    const int err = file(name).read(call, out);
    return err ? std::string("<") + strerrorname_np(-err) + ">" : out;
  }
  int write(Cgroup& c, std::string_view text) {
    FileOpener opener;
    FileCall call{*engine, c, opener, 1};
    return file("state").write(call, text);
  }
  int move(Cgroup& dst, pid_t pid, bool threadgroup) {
    return testing::move_task(*engine, dst, pid, threadgroup);
  }
  void fork(pid_t parent_tid, pid_t tid, pid_t tgid) {
    host.add(tid, tgid);
    TaskEvent e{TaskEvent::Kind::kFork, tid, tgid};
    if (tid == tgid) e.parent_tid = parent_tid;
    events.queued.push_back(e);
  }
  void exit(pid_t tid) {
    auto t = host.task(tid);
    host.remove(tid);
    events.queued.push_back({TaskEvent::Kind::kExit, tid, t ? t->tgid : tid});
  }
  std::string flags(Cgroup& c) { return read(c, "self_freezing") + read(c, "parent_freezing"); }

  FakeTaskSource host;
  ScriptedEvents events;
  FakeStopper* stopper = nullptr;
  std::unique_ptr<Engine> engine;
};

TEST_F(FreezerTest, FilesAreTheKernels) {
  std::map<std::string, unsigned> modes;
  for (const ControlFile& f : engine->controller(kFreezer)->legacy_files()) {
    modes[std::string(f.name)] = f.mode();
    EXPECT_TRUE(f.flags & kCftNotOnRoot) << f.name;
  }
  EXPECT_EQ(modes,
            (std::map<std::string, unsigned>{{"state", 0644}, {"self_freezing", 0444}, {"parent_freezing", 0444}}));
  Cgroup& c = mkdir(root(), "c");
  EXPECT_EQ(read(c), "THAWED\n");
  EXPECT_EQ(flags(c), "0\n0\n");
}

TEST_F(FreezerTest, OnlyThawedAndFrozenAreAccepted) {
  Cgroup& c = mkdir(root(), "c");
  for (const char* bad : {"FREEZING", "frozen", "THAW", "\n", "", "FROZEN THAWED", "FROZENX", "Frozen", "thawed"}) {
    SCOPED_TRACE(bad);
    EXPECT_EQ(write(c, bad), -EINVAL);
  }
  EXPECT_EQ(read(c), "THAWED\n");
  EXPECT_EQ(write(c, "  FROZEN\n\t"), 0);
  EXPECT_EQ(read(c), "FROZEN\n");
  EXPECT_EQ(write(c, "THAWED\n"), 0);
  EXPECT_EQ(read(c), "THAWED\n");
}

TEST_F(FreezerTest, AnEmptyCgroupIsFrozenAtOnce) {
  Cgroup& c = mkdir(root(), "c");
  ASSERT_EQ(write(c, "FROZEN"), 0);
  EXPECT_EQ(read(c), "FROZEN\n");
  EXPECT_EQ(flags(c), "1\n0\n");
  EXPECT_TRUE(stopper->log.empty());
}

TEST_F(FreezerTest, FrozenOnlyOnceEveryTaskIsReallyStopped) {
  Cgroup& c = mkdir(root(), "c");
  host.add(100, 100);
  host.add(101, 100);
  ASSERT_EQ(move(c, 100, true), 0);
  ASSERT_EQ(write(c, "FROZEN"), 0);
  EXPECT_EQ(stopper->wanted, (std::map<pid_t, bool>{{100, true}, {101, true}}));
  EXPECT_EQ(read(c), "FREEZING\n");
  stopper->unstoppable = {101};
  stopper->settle();
  EXPECT_EQ(read(c), "FREEZING\n");
  stopper->unstoppable.clear();
  stopper->settle();
  EXPECT_EQ(read(c), "FROZEN\n");
  ASSERT_EQ(write(c, "THAWED"), 0);
  EXPECT_EQ(read(c), "THAWED\n");
  EXPECT_EQ(stopper->wanted, (std::map<pid_t, bool>{{100, false}, {101, false}}));
}

TEST_F(FreezerTest, KernelThreadsDoNotHoldFreezingBack) {
  Cgroup& c = mkdir(root(), "c");
  host.add(100, 100);
  host.add(2, 2);
  ASSERT_EQ(move(c, 100, true), 0);
  ASSERT_EQ(move(c, 2, true), 0);
  stopper->exempt = {2};
  ASSERT_EQ(write(c, "FROZEN"), 0);
  stopper->unstoppable = {2};
  stopper->settle();
  EXPECT_EQ(read(c), "FROZEN\n");
}

TEST_F(FreezerTest, FreezingReachesDescendantsAndFrozenIsFoundBottomUp) {
  Cgroup& p = mkdir(root(), "p");
  Cgroup& c = mkdir(p, "c");
  Cgroup& g = mkdir(c, "g");
  host.add(100, 100);
  host.add(200, 200);
  ASSERT_EQ(move(p, 100, true), 0);
  ASSERT_EQ(move(g, 200, true), 0);
  ASSERT_EQ(write(p, "FROZEN"), 0);
  EXPECT_EQ(flags(p), "1\n0\n");
  EXPECT_EQ(flags(c), "0\n1\n");
  EXPECT_EQ(flags(g), "0\n1\n");
  EXPECT_EQ(read(c), "FREEZING\n");  // g's task runs
  EXPECT_EQ(read(p), "FREEZING\n");
  stopper->stopped.insert(200);
  EXPECT_EQ(read(c), "FROZEN\n");  // g found frozen on the way
  EXPECT_EQ(read(p), "FREEZING\n");
  stopper->settle();
  EXPECT_EQ(read(p), "FROZEN\n");
  EXPECT_EQ(read(g), "FROZEN\n");
}

TEST_F(FreezerTest, AChildOfAFrozenParentStaysFrozenWhenThawedItself) {
  Cgroup& p = mkdir(root(), "p");
  Cgroup& c = mkdir(p, "c");
  host.add(200, 200);
  ASSERT_EQ(move(c, 200, true), 0);
  ASSERT_EQ(write(p, "FROZEN"), 0);
  stopper->settle();
  ASSERT_EQ(read(p), "FROZEN\n");
  ASSERT_EQ(write(c, "THAWED"), 0);  // clears only FREEZING_SELF, which it lacks
  EXPECT_EQ(read(c), "FROZEN\n");
  EXPECT_EQ(flags(c), "0\n1\n");
  EXPECT_TRUE(stopper->wanted[200]);
  ASSERT_EQ(write(c, "FROZEN"), 0);  // now frozen on its own too
  EXPECT_EQ(flags(c), "1\n1\n");
  ASSERT_EQ(write(p, "THAWED"), 0);
  EXPECT_EQ(read(p), "THAWED\n");
  EXPECT_EQ(read(c), "FROZEN\n");  // self-frozen children stay frozen
  EXPECT_EQ(flags(c), "1\n0\n");
  EXPECT_TRUE(stopper->wanted[200]);
  ASSERT_EQ(write(c, "THAWED"), 0);
  EXPECT_EQ(read(c), "THAWED\n");
  EXPECT_FALSE(stopper->wanted[200]);
}

TEST_F(FreezerTest, ThawingTheParentThawsChildrenThatOnlyFollowedIt) {
  Cgroup& p = mkdir(root(), "p");
  Cgroup& c = mkdir(p, "c");
  host.add(200, 200);
  ASSERT_EQ(move(c, 200, true), 0);
  ASSERT_EQ(write(p, "FROZEN"), 0);
  stopper->settle();
  ASSERT_EQ(write(p, "THAWED"), 0);
  EXPECT_EQ(read(c), "THAWED\n");
  EXPECT_EQ(flags(c), "0\n0\n");
  EXPECT_FALSE(stopper->wanted[200]);
}

TEST_F(FreezerTest, ANewCgroupUnderAFreezingParentStartsFrozen) {
  Cgroup& p = mkdir(root(), "p");
  host.add(100, 100);
  ASSERT_EQ(move(p, 100, true), 0);
  ASSERT_EQ(write(p, "FROZEN"), 0);
  ASSERT_EQ(read(p), "FREEZING\n");
  Cgroup& c = mkdir(p, "c");
  EXPECT_EQ(read(c), "FROZEN\n");
  EXPECT_EQ(flags(c), "0\n1\n");
  Cgroup& g = mkdir(c, "g");
  EXPECT_EQ(read(g), "FROZEN\n");
  ASSERT_EQ(write(p, "THAWED"), 0);
  EXPECT_EQ(read(g), "THAWED\n");
}

TEST_F(FreezerTest, ATaskMovedInIsStoppedAndFrozenDropsUpwards) {
  Cgroup& p = mkdir(root(), "p");
  Cgroup& c = mkdir(p, "c");
  ASSERT_EQ(write(p, "FROZEN"), 0);
  ASSERT_EQ(read(p), "FROZEN\n");
  host.add(100, 100);
  ASSERT_EQ(move(c, 100, true), 0);
  EXPECT_TRUE(stopper->wanted[100]);
  auto* pf = static_cast<FreezerCss*>(p.css(kFreezer));
  auto* cf = static_cast<FreezerCss*>(c.css(kFreezer));
  EXPECT_FALSE(pf->state & FreezerCss::kFrozen);
  EXPECT_FALSE(cf->state & FreezerCss::kFrozen);
  EXPECT_EQ(read(p), "FREEZING\n");
  stopper->settle();
  EXPECT_EQ(read(p), "FROZEN\n");
}

TEST_F(FreezerTest, ATaskMovedOutToAThawedCgroupResumes) {
  Cgroup& a = mkdir(root(), "a");
  Cgroup& b = mkdir(root(), "b");
  host.add(100, 100);
  ASSERT_EQ(move(a, 100, true), 0);
  ASSERT_EQ(write(a, "FROZEN"), 0);
  stopper->settle();
  ASSERT_EQ(move(b, 100, true), 0);
  EXPECT_FALSE(stopper->wanted[100]);
  EXPECT_EQ(read(a), "FROZEN\n");
  ASSERT_EQ(move(a, 100, true), 0);
  EXPECT_TRUE(stopper->wanted[100]);
  ASSERT_EQ(move(root(), 100, true), 0);
  EXPECT_FALSE(stopper->wanted[100]);
}

TEST_F(FreezerTest, OneThreadCanBeFrozenAlone) {
  Cgroup& a = mkdir(root(), "a");
  host.add(100, 100);
  host.add(101, 100);
  ASSERT_EQ(write(a, "FROZEN"), 0);
  ASSERT_EQ(move(a, 101, false), 0);
  EXPECT_EQ(stopper->wanted, (std::map<pid_t, bool>{{101, true}}));
}

TEST_F(FreezerTest, ChildrenForkedInAFreezingCgroupAreStopped) {
  Cgroup& c = mkdir(root(), "c");
  host.add(100, 100);
  ASSERT_EQ(move(c, 100, true), 0);
  ASSERT_EQ(write(c, "FROZEN"), 0);
  stopper->settle();
  ASSERT_EQ(read(c), "FROZEN\n");
  // A fork learnt after FROZEN was found (it happened just before the
  // parent stopped): the child is stopped and FROZEN waits for it.
  fork(100, 200, 200);
  fork(0, 101, 100);
  EXPECT_EQ(read(c), "FREEZING\n");
  EXPECT_TRUE(stopper->wanted[200]);
  EXPECT_TRUE(stopper->wanted[101]);
  stopper->settle();
  EXPECT_EQ(read(c), "FROZEN\n");
  Cgroup& t = mkdir(root(), "t");
  host.add(300, 300);
  ASSERT_EQ(move(t, 300, true), 0);
  fork(300, 301, 301);
  engine->sync();
  EXPECT_FALSE(stopper->wanted.count(301));  // thawed cgroups leave forks alone
}

TEST_F(FreezerTest, ExitedTasksAreForgottenAndNoLongerCount) {
  Cgroup& c = mkdir(root(), "c");
  host.add(100, 100);
  host.add(200, 200);
  ASSERT_EQ(move(c, 100, true), 0);
  ASSERT_EQ(move(c, 200, true), 0);
  ASSERT_EQ(write(c, "FROZEN"), 0);
  stopper->unstoppable = {200};
  stopper->settle();
  EXPECT_EQ(read(c), "FREEZING\n");
  exit(200);
  EXPECT_EQ(read(c), "FROZEN\n");
  EXPECT_EQ(stopper->log.back(), "forget 200");
}

TEST_F(FreezerTest, ARemovedCgroupGoesOfflineAndNoLongerHoldsItsParent) {
  Cgroup& p = mkdir(root(), "p");
  std::shared_ptr<Cgroup> c;
  ASSERT_EQ(engine->mkdir(p, "c", &c), 0);
  host.add(100, 100);
  ASSERT_EQ(move(p, 100, true), 0);
  ASSERT_EQ(write(p, "FROZEN"), 0);
  stopper->settle();
  ASSERT_EQ(engine->rmdir(*c), 0);
  EXPECT_EQ(static_cast<FreezerCss*>(c->css(kFreezer))->state, 0u);
  EXPECT_EQ(read(p), "FROZEN\n");
}

TEST(FreezerSettings, NoneAreAccepted) {
  EXPECT_NE(make_freezer({}), nullptr);
  EXPECT_THROW(make_freezer({"method=signal"}), std::invalid_argument);
}

}  // namespace
}  // namespace cgemu
