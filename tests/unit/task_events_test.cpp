// The engine applying fork and exit events (issue 3), on a fake host and a
// scripted event stream.
#include <gtest/gtest.h>

#include <algorithm>
#include <cerrno>
#include <set>

#include "engine/engine.h"
#include "engine_helpers.h"
#include "fake_task_source.h"
#include "scripted_events.h"

namespace cgemu {
namespace {

using testing::FakeTaskSource;

using testing::ScriptedEvents;

class TaskEventsTest : public ::testing::Test {
 protected:
  TaskEventsTest() {
    std::vector<HierarchyConfig> configs = {{"a", 0, false, ""}, {"b", 0, false, ""}};
    engine = std::make_unique<Engine>(host, Controllers{}, configs);
    engine->set_task_events(&events);
    std::shared_ptr<Cgroup> c;
    engine->mkdir(engine->hierarchies()[0]->root(), "x", &c);
    x = c.get();
    engine->mkdir(engine->hierarchies()[1]->root(), "y", &c);
    y = c.get();
  }
  // A fork the kernel reports: the child exists on the host and its event is queued.
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
  int move(Cgroup& dst, pid_t pid, bool threadgroup) {
    return testing::move_task(*engine, dst, pid, threadgroup);
  }
  std::set<pid_t> tids(Cgroup& c) {
    std::set<pid_t> out;
    for (auto m : engine->members(c)) out.insert(m.tid);
    return out;
  }

  FakeTaskSource host;
  ScriptedEvents events;
  std::unique_ptr<Engine> engine;
  Cgroup* x;
  Cgroup* y;
};

TEST_F(TaskEventsTest, AChildJoinsItsCreatorsCgroupInEveryHierarchy) {
  host.add(100, 100);
  ASSERT_EQ(move(*x, 100, true), 0);
  ASSERT_EQ(move(*y, 100, true), 0);
  fork(100, 200, 200);
  EXPECT_EQ(tids(*x), (std::set<pid_t>{100, 200}));
  EXPECT_EQ(tids(*y), (std::set<pid_t>{100, 200}));
  EXPECT_EQ(engine->tracked_task(200)->cset, engine->tracked_task(100)->cset);
}

TEST_F(TaskEventsTest, TheForkingThreadDecidesNotTheLeader) {
  host.add(100, 100);
  host.add(101, 100);
  ASSERT_EQ(move(*x, 101, false), 0);  // only thread 101 sits in x
  fork(101, 200, 200);                 // thread 101 forks
  fork(100, 300, 300);                 // the leader forks
  EXPECT_EQ(tids(*x), (std::set<pid_t>{101, 200}));
}

TEST_F(TaskEventsTest, ANewThreadJoinsItsLeader) {
  host.add(100, 100);
  ASSERT_EQ(move(*x, 100, true), 0);
  fork(0, 102, 100);
  EXPECT_EQ(tids(*x), (std::set<pid_t>{100, 102}));
}

TEST_F(TaskEventsTest, ADoubleForkWhoseMiddleExitedIsFollowed) {
  host.add(100, 100);
  ASSERT_EQ(move(*x, 100, true), 0);
  fork(100, 200, 200);
  fork(200, 300, 300);
  exit(200);  // gone before the engine saw any of it
  EXPECT_EQ(tids(*x), (std::set<pid_t>{100, 300}));
  EXPECT_EQ(engine->tracked_task(200), nullptr);
}

TEST_F(TaskEventsTest, ExitsLeaveAtOnceAndFreeTheCgroup) {
  host.add(100, 100);
  ASSERT_EQ(move(*x, 100, true), 0);
  std::vector<std::string> released;
  engine->on_release = [&](Cgroup& c) { released.push_back(c.path()); };
  x->notify_on_release = true;
  exit(100);
  engine->sync();
  EXPECT_EQ(released, (std::vector<std::string>{"/x"}));
  EXPECT_TRUE(tids(*x).empty());
  EXPECT_EQ(engine->rmdir(*x), 0);
  EXPECT_EQ(engine->nr_tracked_tasks(), 0u);
}

TEST_F(TaskEventsTest, AReusedPidFollowsItsOwnParent) {
  host.add(100, 100);
  host.add(50, 50);  // stays in the roots
  ASSERT_EQ(move(*x, 100, true), 0);
  fork(100, 200, 200);
  exit(200);
  fork(50, 200, 200);  // pid 200 again, from a parent outside x
  EXPECT_EQ(tids(*x), (std::set<pid_t>{100}));
  EXPECT_EQ(engine->tracked_task(200), nullptr);
}

TEST_F(TaskEventsTest, ATaskAMigrationSawBeforeItsForkEventStaysWhereItWasPut) {
  host.add(100, 100);
  ASSERT_EQ(move(*x, 100, true), 0);
  host.add(101, 100);  // a new thread, its event not applied yet
  TaskInfo leader = *host.task(100);
  events.queued.push_back({TaskEvent::Kind::kFork, 101, 100});
  // The migration drains first, so the thread is placed by its event, then
  // moved with its group.
  ASSERT_EQ(engine->attach(engine->hierarchies()[0]->root(), leader, true), 0);
  EXPECT_TRUE(tids(*x).empty());
  // And a record made by a migration is kept when a late event names it.
  ASSERT_EQ(engine->attach(*x, leader, true), 0);
  events.queued.push_back({TaskEvent::Kind::kFork, 101, 100});
  EXPECT_EQ(tids(*x), (std::set<pid_t>{100, 101}));
}

TEST_F(TaskEventsTest, ThreadsCreatedDuringAGroupMoveEndInTheDestination) {
  host.add(100, 100);
  host.add(101, 100);
  TaskInfo leader = *host.task(100);
  // Thread 102 is created after the migration listed the group: its event
  // is applied after the commit and it joins the leader, now in x.
  class LateThread : public ScriptedEvents {
   public:
    FakeTaskSource* host = nullptr;
    int drains = 0;
    void drain(std::vector<TaskEvent>& out) override {
      if (++drains == 2) {
        host->add(102, 100);
        queued.push_back({TaskEvent::Kind::kFork, 102, 100});
      }
      ScriptedEvents::drain(out);
    }
  } late;
  late.host = &host;
  engine->set_task_events(&late);
  ASSERT_EQ(engine->attach(*x, leader, true), 0);
  EXPECT_EQ(tids(*x), (std::set<pid_t>{100, 101, 102}));
  engine->set_task_events(nullptr);
}

TEST(TaskEventsControllers, OnlyBoundControllersHearForksAndExits) {
  class Counting : public Controller {
   public:
    void fork(const Task&) override { ++forks; }
    void exit(const Task&) override { ++exits; }
    int forks = 0, exits = 0;
  };
  FakeTaskSource host;
  ScriptedEvents events;
  Controllers controllers;
  controllers[1] = std::make_unique<Counting>();
  controllers[2] = std::make_unique<Counting>();  // bound by no hierarchy
  auto* bound = static_cast<Counting*>(controllers[1].get());
  auto* unbound = static_cast<Counting*>(controllers[2].get());
  Engine engine(host, std::move(controllers), {{"", 1u << 1, false, ""}});
  engine.set_task_events(&events);
  std::shared_ptr<Cgroup> x;
  ASSERT_EQ(engine.mkdir(engine.hierarchies()[0]->root(), "x", &x), 0);
  host.add(100, 100);
  ASSERT_EQ(engine.attach(*x, *host.task(100), true), 0);
  host.add(200, 200);
  TaskEvent fork_event{TaskEvent::Kind::kFork, 200, 200};
  fork_event.parent_tid = 100;
  events.queued = {fork_event, {TaskEvent::Kind::kExit, 200, 200}};
  engine.sync();
  EXPECT_EQ(bound->forks, 1);
  EXPECT_EQ(bound->exits, 1);
  EXPECT_EQ(unbound->forks + unbound->exits, 0);
}

TEST_F(TaskEventsTest, LostEventsRecheckExitsAgainstTheHost) {
  host.add(100, 100);
  ASSERT_EQ(move(*x, 100, true), 0);
  host.remove(100);  // its exit event was dropped
  events.queued.push_back({TaskEvent::Kind::kLost});
  EXPECT_TRUE(tids(*x).empty());
  EXPECT_EQ(engine->rmdir(*x), 0);
}

// A group move takes the threads the events told of when they are as many
// as the kernel counts (no /proc listing); otherwise it lists /proc and
// puts its record right from the listing.
TEST_F(TaskEventsTest, AGroupMoveListsProcOnlyWhenTheEventsDisagreeWithTheKernel) {
  fork(1, 100, 100);
  for (pid_t tid = 101; tid < 200; ++tid) fork(100, tid, 100);
  ASSERT_EQ(move(*x, 100, true), 0);
  EXPECT_EQ(host.listings, 0);
  EXPECT_EQ(tids(*x).size(), 100u);

  host.remove(150);  // gone, its exit event not queued yet
  EXPECT_FALSE(tids(*x).count(150)) << "a process of many threads whose count disagrees is probed thread by thread";
  ASSERT_EQ(move(*y, 100, true), 0);
  EXPECT_EQ(host.listings, 1);
  EXPECT_EQ(tids(*y).size(), 99u);
  EXPECT_FALSE(tids(*y).count(150));
  ASSERT_EQ(move(*engine->hierarchies()[1]->root().children().begin()->second, 100, true), 0);
  ASSERT_EQ(move(engine->hierarchies()[1]->root(), 100, true), 0);
  EXPECT_EQ(host.listings, 1) << "the listing put the record right";
  EXPECT_EQ(tids(*y).size(), 0u);
}

// In a process of many threads whose events agree with the kernel's count,
// members are not probed one by one; a member the events do not know is.
TEST_F(TaskEventsTest, MembersOfALargeProcessAreTakenFromTheEventsWhenTheCountsAgree) {
  fork(1, 100, 100);
  for (pid_t tid = 101; tid < 200; ++tid) fork(100, tid, 100);
  ASSERT_EQ(move(*x, 100, true), 0);
  exit(150);
  fork(100, 250, 100);
  EXPECT_EQ(tids(*x).size(), 100u);
  EXPECT_TRUE(tids(*x).count(250));
  EXPECT_FALSE(tids(*x).count(150));
}

}  // namespace
}  // namespace cgemu
