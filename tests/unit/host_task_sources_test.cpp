// The real task source and event sources, on real processes of this test.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <thread>

#include "engine/netlink_task_events.h"
#include "engine/proc_scan_task_events.h"
#include "engine/proc_task_source.h"

namespace cgemu {
namespace {

pid_t gettid_() { return static_cast<pid_t>(syscall(SYS_gettid)); }

// A child that sleeps until killed.
struct SleepingChild {
  SleepingChild() : pid(fork()) {
    if (pid == 0) {
      pause();
      _exit(0);
    }
  }
  void reap() {
    if (pid <= 0) return;
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
    pid = -1;
  }
  ~SleepingChild() { reap(); }
  pid_t pid;
};

TEST(ProcTaskSource, ReadsThisProcessAndItsThreads) {
  ProcTaskSource source;
  auto me = source.task(getpid());
  ASSERT_TRUE(me);
  EXPECT_EQ(me->tgid, getpid());
  EXPECT_EQ(me->ruid, getuid());
  EXPECT_EQ(me->euid, geteuid());
  EXPECT_FALSE(me->dying());
  EXPECT_TRUE(source.alive(getpid(), me->start_time));
  EXPECT_FALSE(source.alive(getpid(), me->start_time + 1));

  std::atomic<pid_t> tid{0};
  std::atomic<bool> stop{false};
  std::thread t([&] {
    tid = gettid_();
    while (!stop) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  });
  while (!tid) std::this_thread::yield();
  auto thread = source.task(tid);
  ASSERT_TRUE(thread);
  EXPECT_EQ(thread->tgid, getpid());
  auto threads = source.threads(getpid());
  EXPECT_NE(std::find(threads.begin(), threads.end(), tid.load()), threads.end());
  bool listed = false;
  source.for_each_live_task([&](pid_t t, pid_t g) { listed |= t == tid && g == getpid(); });
  EXPECT_TRUE(listed);
  stop = true;
  t.join();
}

TEST(ProcTaskSource, AZombieIsDyingAndNotListed) {
  ProcTaskSource source;
  pid_t pid = fork();
  if (pid == 0) _exit(0);
  // Not reaped yet: a zombie until waitpid.
  std::optional<TaskInfo> zombie;
  for (int i = 0; i < 500 && !(zombie && zombie->dying()); ++i) {
    zombie = source.task(pid);
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  ASSERT_TRUE(zombie && zombie->dying());
  EXPECT_FALSE(source.alive(pid, zombie->start_time));
  bool listed = false;
  source.for_each_live_task([&](pid_t t, pid_t) { listed |= t == pid; });
  EXPECT_FALSE(listed);
  waitpid(pid, nullptr, 0);
  EXPECT_FALSE(source.task(pid));
}

TEST(ProcTaskSource, KthreaddCannotMigrate) {
  ProcTaskSource source;
  auto kthreadd = source.task(2);
  if (!kthreadd || !(kthreadd->flags & kPfKthread)) GTEST_SKIP() << "pid 2 is not kthreadd in this pid namespace";
  EXPECT_TRUE(kthreadd->no_cgroup_migration);
  auto me = source.task(getpid());
  EXPECT_FALSE(me->no_cgroup_migration);
}

bool has_event(const std::vector<TaskEvent>& events, TaskEvent::Kind kind, pid_t tid, pid_t parent_tid = -1) {
  return std::any_of(events.begin(), events.end(), [&](const TaskEvent& e) {
    return e.kind == kind && e.tid == tid && (parent_tid == -1 || e.parent_tid == parent_tid);
  });
}

// Drains until `done` holds or a bounded wait runs out: the connector's
// events are queued synchronously, /proc scans need no waiting either, so
// the loop only guards against a broken source hanging the test.
template <typename Done>
std::vector<TaskEvent> drain_until(TaskEvents& events, Done done) {
  std::vector<TaskEvent> all;
  for (int i = 0; i < 200 && !done(all); ++i) {
    events.drain(all);
    if (!done(all)) events.wait(10);
  }
  return all;
}

TEST(NetlinkTaskEvents, ReportsAForkWithTheForkingThread) {
  std::string why;
  auto events = NetlinkTaskEvents::open(&why);
  if (!events) GTEST_SKIP() << "process events connector unavailable: " << why;
  std::vector<TaskEvent> ignored;
  events->drain(ignored);
  SleepingChild child;
  auto seen = drain_until(*events, [&](auto& e) { return has_event(e, TaskEvent::Kind::kFork, child.pid); });
  EXPECT_TRUE(has_event(seen, TaskEvent::Kind::kFork, child.pid, gettid_()));
}

TEST(NetlinkTaskEvents, ReportsExits) {
  std::string why;
  auto events = NetlinkTaskEvents::open(&why);
  if (!events) GTEST_SKIP() << "process events connector unavailable: " << why;
  SleepingChild child;
  const pid_t pid = child.pid;
  std::vector<TaskEvent> ignored;
  events->drain(ignored);
  child.reap();
  auto seen = drain_until(*events, [&](auto& e) { return has_event(e, TaskEvent::Kind::kExit, pid); });
  EXPECT_TRUE(has_event(seen, TaskEvent::Kind::kExit, pid));
}

TEST(ProcScanTaskEvents, ReportsNewProcessesWithTheirParentAndExits) {
  ProcTaskSource source;
  ProcScanTaskEvents events(source);
  SleepingChild child;
  const pid_t pid = child.pid;
  std::vector<TaskEvent> seen;
  events.drain(seen);
  EXPECT_TRUE(has_event(seen, TaskEvent::Kind::kFork, pid, getpid()));
  auto fork_event = std::find_if(seen.begin(), seen.end(), [&](auto& e) { return e.tid == pid; });
  ASSERT_NE(fork_event, seen.end());
  EXPECT_NE(fork_event->start_time, 0u);
  child.reap();
  seen.clear();
  events.drain(seen);
  EXPECT_TRUE(has_event(seen, TaskEvent::Kind::kExit, pid));
}

}  // namespace
}  // namespace cgemu
