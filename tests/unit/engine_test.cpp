#include "engine/engine.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cerrno>
#include <set>
#include <string>
#include <vector>

#include "engine_helpers.h"
#include "fake_task_source.h"

namespace cgemu {
namespace {

using testing::FakeTaskSource;

constexpr int kSsidA = 1;
constexpr int kSsidB = 2;

// A controller that counts its callbacks and refuses when told to.
class RecordingController : public Controller {
 public:
  RecordingController(int* log_can, int* log_cancel, int* log_attach, int refuse)
      : can_(log_can), cancel_(log_cancel), attach_(log_attach), refuse_(refuse) {}
  int can_attach(TaskSet& tset) override {
    ++*can_;
    last_moves = tset.moves.size();
    return refuse_;
  }
  void cancel_attach(TaskSet&) override { ++*cancel_; }
  void attach(TaskSet&) override { ++*attach_; }
  size_t last_moves = 0;

 private:
  int* can_;
  int* cancel_;
  int* attach_;
  int refuse_;
};

struct Counters {
  int can = 0, cancel = 0, attach = 0;
};

class EngineTest : public ::testing::Test {
 protected:
  // Two hierarchies: "ab" binds controllers A and B (like cpu,cpuacct), and
  // a named one with none.
  void build(int refuse_a = 0, int refuse_b = 0) {
    Controllers controllers;
    controllers[kSsidA] = std::make_unique<RecordingController>(&a.can, &a.cancel, &a.attach, refuse_a);
    controllers[kSsidB] = std::make_unique<RecordingController>(&b.can, &b.cancel, &b.attach, refuse_b);
    std::vector<HierarchyConfig> configs = {
        {"", (1u << kSsidA) | (1u << kSsidB), false, ""},
        {"named", 0, false, ""},
    };
    engine = std::make_unique<Engine>(host, std::move(controllers), configs);
  }
  Hierarchy& ab() { return *engine->hierarchies()[0]; }
  Hierarchy& named() { return *engine->hierarchies()[1]; }
  Cgroup& mkdir(Cgroup& parent, const char* name) {
    return testing::make_cgroup(*engine, parent, name);
  }
  int move(Cgroup& dst, pid_t pid, bool threadgroup) {
    return testing::move_task(*engine, dst, pid, threadgroup);
  }
  std::set<pid_t> tids(Cgroup& c) {
    std::set<pid_t> out;
    for (auto m : engine->members(c)) out.insert(m.tid);
    return out;
  }

  FakeTaskSource host;
  Counters a, b;
  std::unique_ptr<Engine> engine;
};

TEST_F(EngineTest, UntrackedTasksAreInEveryRoot) {
  host.add(100, 100);
  host.add(101, 100);
  build();
  EXPECT_EQ(tids(ab().root()), (std::set<pid_t>{100, 101}));
  EXPECT_EQ(tids(named().root()), (std::set<pid_t>{100, 101}));
  EXPECT_EQ(engine->nr_tracked_tasks(), 0u);
  EXPECT_EQ(engine->nr_css_sets(), 1u);
}

TEST_F(EngineTest, ThreadgroupMoveTakesEveryThreadAndLeavesOtherHierarchies) {
  host.add(100, 100);
  host.add(101, 100);
  host.add(200, 200);
  build();
  Cgroup& x = mkdir(ab().root(), "x");
  ASSERT_EQ(move(x, 101, true), 0);  // a non-leader tid moves its whole group
  EXPECT_EQ(tids(x), (std::set<pid_t>{100, 101}));
  EXPECT_EQ(tids(ab().root()), (std::set<pid_t>{200}));
  EXPECT_EQ(tids(named().root()), (std::set<pid_t>{100, 101, 200}));
  EXPECT_EQ(a.can, 1);
  EXPECT_EQ(a.attach, 1);
  EXPECT_EQ(b.attach, 1);
}

TEST_F(EngineTest, SingleThreadMoveSplitsAThreadGroup) {
  host.add(100, 100);
  host.add(101, 100);
  build();
  Cgroup& x = mkdir(ab().root(), "x");
  ASSERT_EQ(move(x, 101, false), 0);
  EXPECT_EQ(tids(x), (std::set<pid_t>{101}));
  EXPECT_EQ(tids(ab().root()), (std::set<pid_t>{100}));
}

TEST_F(EngineTest, TasksWithTheSameMembershipShareOneCssSetWhichIsFreedWhenUnused) {
  host.add(100, 100);
  host.add(200, 200);
  build();
  Cgroup& x = mkdir(ab().root(), "x");
  Cgroup& y = mkdir(named().root(), "y");
  ASSERT_EQ(move(x, 100, true), 0);
  ASSERT_EQ(move(x, 200, true), 0);
  EXPECT_EQ(engine->tracked_task(100)->cset, engine->tracked_task(200)->cset);
  EXPECT_EQ(engine->nr_css_sets(), 2u);  // init + {x, root}
  ASSERT_EQ(move(y, 100, true), 0);
  EXPECT_NE(engine->tracked_task(100)->cset, engine->tracked_task(200)->cset);
  EXPECT_EQ(engine->nr_css_sets(), 3u);
  ASSERT_EQ(move(y, 200, true), 0);
  EXPECT_EQ(engine->nr_css_sets(), 2u);  // {x, root} was freed: only {x, y} and init
  ASSERT_EQ(move(ab().root(), 100, true), 0);
  ASSERT_EQ(move(named().root(), 100, true), 0);
  EXPECT_EQ(engine->tracked_task(100), nullptr);  // back in every root: untracked
  ASSERT_EQ(move(ab().root(), 200, true), 0);
  ASSERT_EQ(move(named().root(), 200, true), 0);
  EXPECT_EQ(engine->nr_css_sets(), 1u);
  EXPECT_EQ(engine->nr_tracked_tasks(), 0u);
}

TEST_F(EngineTest, RefusedMoveLeavesEveryTaskAndCssSetAsItWas) {
  host.add(100, 100);
  host.add(101, 100);
  build(/*refuse_a=*/0, /*refuse_b=*/-ENOSPC);
  Cgroup& x = mkdir(ab().root(), "x");
  Cgroup& y = mkdir(named().root(), "y");
  // Thread 101 already sits elsewhere, so the group spans two css_sets.
  {
    TaskInfo t = *host.task(101);
    ASSERT_EQ(engine->attach(y, t, false), 0);
  }
  const CssSet* before = engine->tracked_task(101)->cset;
  const size_t csets_before = engine->nr_css_sets();

  EXPECT_EQ(move(x, 100, true), -ENOSPC);
  EXPECT_EQ(a.can, 1);
  EXPECT_EQ(a.cancel, 1);  // A had passed: it is told to undo
  EXPECT_EQ(b.can, 1);
  EXPECT_EQ(b.cancel, 0);  // the refusing controller is not
  EXPECT_EQ(a.attach + b.attach, 0);
  EXPECT_TRUE(tids(x).empty());
  EXPECT_EQ(tids(ab().root()), (std::set<pid_t>{100, 101}));
  EXPECT_EQ(tids(y), (std::set<pid_t>{101}));
  EXPECT_EQ(engine->tracked_task(100), nullptr);
  EXPECT_EQ(engine->tracked_task(101)->cset, before);
  EXPECT_EQ(engine->nr_css_sets(), csets_before);
  EXPECT_EQ(engine->rmdir(x), 0);  // nothing holds x
}

TEST_F(EngineTest, MoveIntoTheCurrentCgroupIsASilentSuccess) {
  host.add(100, 100);
  build();
  Cgroup& x = mkdir(ab().root(), "x");
  ASSERT_EQ(move(x, 100, true), 0);
  a.can = 0;
  EXPECT_EQ(move(x, 100, true), 0);
  EXPECT_EQ(a.can, 0);  // nothing to migrate: no callbacks
}

TEST_F(EngineTest, ExitedTasksAreNotListedAndDoNotKeepACgroupBusy) {
  host.add(100, 100);
  host.add(200, 200);
  build();
  Cgroup& x = mkdir(ab().root(), "x");
  ASSERT_EQ(move(x, 100, true), 0);
  ASSERT_EQ(move(x, 200, true), 0);
  EXPECT_EQ(engine->rmdir(x), -EBUSY);
  host.zombie(100);
  host.remove(200);
  EXPECT_TRUE(tids(x).empty());
  EXPECT_EQ(engine->rmdir(x), 0);
  EXPECT_EQ(engine->nr_tracked_tasks(), 0u);
  EXPECT_EQ(engine->nr_css_sets(), 1u);
}

TEST_F(EngineTest, AReusedPidIsANewTask) {
  host.add(100, 100);
  build();
  Cgroup& x = mkdir(ab().root(), "x");
  ASSERT_EQ(move(x, 100, true), 0);
  host.remove(100);
  host.add(100, 100);  // the pid comes back, as another process
  EXPECT_TRUE(tids(x).empty());
  EXPECT_EQ(tids(ab().root()), (std::set<pid_t>{100}));
  EXPECT_EQ(engine->rmdir(x), 0);
}

TEST_F(EngineTest, ZombieTargetIsSkippedWithoutError) {
  host.add(100, 100);
  build();
  Cgroup& x = mkdir(ab().root(), "x");
  host.zombie(100);
  EXPECT_EQ(move(x, 100, true), 0);
  EXPECT_TRUE(tids(x).empty());
  EXPECT_EQ(a.can, 0);
}

TEST_F(EngineTest, TargetsAreFoundAsTheKernelFindsThem) {
  host.add(100, 100);
  host.add(101, 100);
  host.add(2, 2).no_cgroup_migration = true;  // kthreadd
  host.add(3, 3).flags = kPfKthread | kPfNoSetaffinity;  // a per-CPU kernel thread
  host.add(4, 4).flags = kPfKthread;  // an unbound one: root may move it
  build();
  TaskInfo t;
  EXPECT_EQ(engine->find_migration_target(999, 0, false, &t), -ESRCH);
  EXPECT_EQ(engine->find_migration_target(2, 0, true, &t), -EINVAL);
  EXPECT_EQ(engine->find_migration_target(3, 0, false, &t), -EINVAL);
  EXPECT_EQ(engine->find_migration_target(4, 0, false, &t), 0);
  ASSERT_EQ(engine->find_migration_target(0, 101, false, &t), 0);
  EXPECT_EQ(t.tid, 101);  // 0 is the writing thread
  ASSERT_EQ(engine->find_migration_target(101, 0, true, &t), 0);
  EXPECT_EQ(t.tid, 100);  // a thread group is named by its leader
}

TEST_F(EngineTest, DirectoryRules) {
  build();
  Cgroup& x = mkdir(ab().root(), "x");
  mkdir(x, "child");
  std::shared_ptr<Cgroup> dummy;
  EXPECT_EQ(engine->mkdir(ab().root(), "x", &dummy), -EEXIST);
  EXPECT_EQ(engine->mkdir(ab().root(), "a\nb", &dummy), -EINVAL);
  EXPECT_EQ(engine->rmdir(x), -EBUSY);
  EXPECT_EQ(engine->rmdir(ab().root()), -EBUSY);
  Cgroup& y = mkdir(ab().root(), "y");
  EXPECT_EQ(engine->rename(*x.child("child"), y, "child"), -EIO);
  EXPECT_EQ(engine->rename(x, ab().root(), "y"), -EEXIST);
  EXPECT_EQ(engine->rename(x, named().root(), "z"), -EXDEV);
  EXPECT_EQ(engine->rename(x, ab().root(), "bad\n"), -EINVAL);
  EXPECT_EQ(engine->rename(x, ab().root(), "x"), 0);
  EXPECT_EQ(engine->rename(x, ab().root(), "z"), 0);
  EXPECT_EQ(x.path(), "/z");
  EXPECT_EQ(x.child("child")->path(), "/z/child");
  EXPECT_EQ(ab().nr_cgroups(), 4u);
}

TEST_F(EngineTest, ControllersAreBoundAndEachCssKnowsItsCgroup) {
  class StatefulController : public Controller {
   public:
    std::unique_ptr<Css> css_alloc(Cgroup&, Css*) override { return std::make_unique<Css>(); }
    void css_offline(Css& css) override { offlined.push_back(&css); }
    std::vector<Css*> offlined;
  };
  Controllers controllers;
  controllers[kSsidB] = std::make_unique<StatefulController>();
  auto* controller = static_cast<StatefulController*>(controllers[kSsidB].get());
  std::vector<HierarchyConfig> configs = {{"named", 0, false, ""}, {"", 1u << kSsidB, false, ""}};
  Engine e(host, std::move(controllers), configs);
  EXPECT_EQ(controller->ssid(), kSsidB);
  EXPECT_EQ(controller->hierarchy_index(), 1);
  Cgroup& root = e.hierarchies()[1]->root();
  std::shared_ptr<Cgroup> child;
  ASSERT_EQ(e.mkdir(root, "c", &child), 0);
  Css* css = child->css(kSsidB);
  ASSERT_NE(css, nullptr);
  EXPECT_EQ(css->cgroup, child.get());
  EXPECT_EQ(css->parent, root.css(kSsidB));
  EXPECT_EQ(e.init_css_set().css(*controller), root.css(kSsidB));
  ASSERT_EQ(e.rmdir(*child), 0);
  EXPECT_EQ(controller->offlined, std::vector<Css*>{css});
}

TEST_F(EngineTest, ChildrenInheritFlagsAtMkdir) {
  build();
  ab().root().notify_on_release = true;
  ab().root().clone_children = true;
  Cgroup& x = mkdir(ab().root(), "x");
  EXPECT_TRUE(x.notify_on_release);
  EXPECT_TRUE(x.clone_children);
}

TEST_F(EngineTest, ReleaseCheckFiresWhenTheLastTaskLeavesOrTheLastChildGoes) {
  host.add(100, 100);
  build();
  std::vector<std::string> released;
  engine->on_release = [&](Cgroup& c) { released.push_back(c.path()); };
  Cgroup& a_ = mkdir(ab().root(), "A");
  a_.notify_on_release = true;
  Cgroup& b_ = mkdir(a_, "B");  // inherits notify_on_release
  ASSERT_EQ(move(b_, 100, true), 0);
  EXPECT_TRUE(released.empty());
  ASSERT_EQ(move(ab().root(), 100, true), 0);
  EXPECT_EQ(released, (std::vector<std::string>{"/A/B"}));  // A still has child B
  ASSERT_EQ(engine->rmdir(b_), 0);
  EXPECT_EQ(released, (std::vector<std::string>{"/A/B", "/A"}));
}

// ---- crash recovery: placements saved by one engine, restored by the next ----

// What a state file keeps of placements: cgroup paths, not pointers.
struct SavedPlacement {
  Engine::Placement placement;
  std::vector<std::string> paths;
};

std::vector<SavedPlacement> save(Engine& engine) {
  std::vector<SavedPlacement> out;
  for (Engine::Placement& p : engine.placements()) {
    SavedPlacement s{p, {}};
    for (Cgroup* c : p.cgroups) s.paths.push_back(c->path());
    s.placement.cgroups.clear();
    out.push_back(std::move(s));
  }
  return out;
}

std::vector<Engine::Placement> resolve(Engine& engine, const std::vector<SavedPlacement>& saved) {
  std::vector<Engine::Placement> out;
  for (const SavedPlacement& s : saved) {
    Engine::Placement p = s.placement;
    for (size_t h = 0; h < s.paths.size(); ++h) {
      Cgroup* c = &engine.hierarchies()[h]->root();
      for (size_t at = 1; c && at < s.paths[h].size();) {
        const size_t end = std::min(s.paths[h].find('/', at), s.paths[h].size());
        c = c->child(s.paths[h].substr(at, end - at));
        at = end + 1;
      }
      p.cgroups.push_back(c);
    }
    out.push_back(std::move(p));
  }
  return out;
}

TEST_F(EngineTest, PlacementsComeBackInANewEngineMinusExitedAndReusedTasks) {
  host.add(100, 100);
  host.add(101, 100);
  host.add(200, 200);
  host.add(300, 300);
  build();
  Cgroup& x = mkdir(ab().root(), "x");
  Cgroup& n = mkdir(named().root(), "n");
  ASSERT_EQ(move(x, 100, true), 0);
  ASSERT_EQ(move(n, 101, false), 0);
  ASSERT_EQ(move(x, 200, true), 0);
  ASSERT_EQ(move(x, 300, true), 0);
  const std::vector<SavedPlacement> saved = save(*engine);
  ASSERT_EQ(saved.size(), 4u);
  const uint64_t saved_at = host.clock();

  host.remove(200);    // exited
  host.remove(300);
  host.add(300, 300);  // its pid reused by a new process
  a = {};
  build();  // the next emulator
  Cgroup& x2 = mkdir(ab().root(), "x");
  Cgroup& n2 = mkdir(named().root(), "n");
  const Engine::RestoreCounts counts = engine->restore_placements(resolve(*engine, saved), saved_at);
  EXPECT_EQ(counts.restored, 2u);
  EXPECT_EQ(counts.exited, 2u);
  EXPECT_EQ(counts.inherited, 0u);
  EXPECT_EQ(tids(x2), (std::set<pid_t>{100, 101}));
  EXPECT_EQ(tids(n2), (std::set<pid_t>{101}));
  EXPECT_EQ(tids(ab().root()), (std::set<pid_t>{300}));
  EXPECT_EQ(a.attach, 1) << "one migration into x, through the controllers";
}

TEST_F(EngineTest, TasksBornSinceTheSaveFollowTheirParentsOlderOnesStayInTheRoot) {
  host.add(100, 100);
  host.add(150, 150).ppid = 100;  // older than the save, left in the root
  build();
  Cgroup& x = mkdir(ab().root(), "x");
  ASSERT_EQ(move(x, 100, true), 0);
  const std::vector<SavedPlacement> saved = save(*engine);
  const uint64_t saved_at = host.clock();
  host.add(160, 160).ppid = 100;  // born while no emulator ran
  host.add(161, 160);             // its thread
  host.add(170, 170).ppid = 160;  // and its child
  host.add(180, 180).ppid = 150;  // the child of a root task
  host.add(101, 100);             // a new thread of the saved process

  build();
  Cgroup& x2 = mkdir(ab().root(), "x");
  const Engine::RestoreCounts counts = engine->restore_placements(resolve(*engine, saved), saved_at);
  EXPECT_EQ(counts.restored, 1u);
  EXPECT_EQ(counts.inherited, 4u);
  EXPECT_EQ(tids(x2), (std::set<pid_t>{100, 101, 160, 161, 170}));
  EXPECT_EQ(tids(ab().root()), (std::set<pid_t>{150, 180}));
}

TEST_F(EngineTest, ARefusedRestoreLeavesTheTasksInTheRoot) {
  host.add(100, 100);
  build();
  Cgroup& x = mkdir(ab().root(), "x");
  ASSERT_EQ(move(x, 100, true), 0);
  const std::vector<SavedPlacement> saved = save(*engine);
  build(-ENOSPC);
  Cgroup& x2 = mkdir(ab().root(), "x");
  const Engine::RestoreCounts counts = engine->restore_placements(resolve(*engine, saved), host.clock());
  EXPECT_EQ(counts.refused, 1u);
  EXPECT_EQ(counts.restored, 0u);
  EXPECT_EQ(tids(x2), (std::set<pid_t>{}));
  EXPECT_EQ(engine->nr_css_sets(), 1u);
}

}  // namespace
}  // namespace cgemu
