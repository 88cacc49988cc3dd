// The pids controller on a fake host with scripted fork and exit events:
// counting through fork, exit, reap and migration, limits, events, peaks.
#include "controllers/pids.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "controllers/subsystems.h"
#include "engine/engine.h"
#include "engine_helpers.h"
#include "fake_task_source.h"
#include "scripted_events.h"

namespace cgemu {
namespace {

using testing::FakeTaskSource;

const int kPids = *subsystem_id("pids");
constexpr int kRefuser = 13;  // a later ssid in the same hierarchy

using testing::ScriptedEvents;

// Reaped means gone from the fake host; kills are recorded and the victim
// dies (a zombie until the test reaps it).
class FakePidsHost : public PidsHost {
 public:
  explicit FakePidsHost(FakeTaskSource& host) : host_(host) {}
  bool reaped(pid_t tid, uint64_t start_time) override {
    auto t = host_.task(tid);
    return !t || t->start_time != start_time;
  }
  uint64_t start_time(pid_t tid) override {
    auto t = host_.task(tid);
    return t ? t->start_time : 0;
  }
  void kill(pid_t tid, uint64_t start_time) override { killed.push_back(tid); }
  std::vector<pid_t> killed;

 private:
  FakeTaskSource& host_;
};

class Refuser : public Controller {
 public:
  int can_attach(TaskSet&) override { return refuse; }
  int refuse = 0;
};

class PidsTest : public ::testing::Test {
 protected:
  void build(PidsController::Enforce enforce = PidsController::Enforce::kCount) {
    Controllers controllers;
    auto fake = std::make_unique<FakePidsHost>(host);
    pids_host = fake.get();
    controllers[kPids] = std::make_unique<PidsController>(enforce, std::move(fake));
    controllers[kRefuser] = std::make_unique<Refuser>();
    refuser = static_cast<Refuser*>(controllers[kRefuser].get());
    std::vector<HierarchyConfig> configs = {{"", (1u << kPids) | (1u << kRefuser), false, ""},
                                            {"other", 0, false, ""}};
    engine = std::make_unique<Engine>(host, std::move(controllers), configs);
    engine->set_task_events(&events);
  }
  Cgroup& root() { return engine->hierarchies()[0]->root(); }
  Cgroup& mkdir(Cgroup& parent, const char* name) {
    return testing::make_cgroup(*engine, parent, name);
  }
  const ControlFile& file(std::string_view name) {
    for (const ControlFile& f : engine->controller(kPids)->legacy_files())
      if (f.name == name) return f;
    throw std::runtime_error("no such file");
  }
  std::string read(Cgroup& c, std::string_view name) {
    FileOpener opener;
    FileCall call{*engine, c, opener, 1};
    std::string out;
    const int err = file(name).read(call, out);
    return err ? std::string("<") + strerrorname_np(-err) + ">" : out;
  }
  int write(Cgroup& c, std::string_view name, std::string_view text) {
    FileOpener opener;
    FileCall call{*engine, c, opener, 1};
    return file(name).write(call, text);
  }
  long current(Cgroup& c) { return std::stol(read(c, "current")); }
  long peak(Cgroup& c) { return std::stol(read(c, "peak")); }
  std::string events_of(Cgroup& c) { return read(c, "events"); }
  int move(Cgroup& dst, pid_t pid, bool threadgroup) {
    return testing::move_task(*engine, dst, pid, threadgroup);
  }
  void fork(pid_t parent_tid, pid_t tid, pid_t tgid) {
    host.add(tid, tgid);
    TaskEvent e{TaskEvent::Kind::kFork, tid, tgid};
    if (tid == tgid) e.parent_tid = parent_tid;
    events.queued.push_back(e);
  }
  // The task exits; a process stays a zombie until reap().
  void exit(pid_t tid) {
    auto t = host.task(tid);
    if (t && t->tid == t->tgid)
      host.zombie(tid);
    else
      host.remove(tid);
    events.queued.push_back({TaskEvent::Kind::kExit, tid, t ? t->tgid : tid});
  }
  void reap(pid_t tid) { host.remove(tid); }

  FakeTaskSource host;
  ScriptedEvents events;
  FakePidsHost* pids_host = nullptr;
  Refuser* refuser = nullptr;
  std::unique_ptr<Engine> engine;
};

TEST_F(PidsTest, FilesAndDefaults) {
  build();
  std::map<std::string, unsigned> modes;
  for (const ControlFile& f : engine->controller(kPids)->legacy_files()) {
    modes[std::string(f.name)] = f.mode();
    EXPECT_TRUE(f.flags & kCftNotOnRoot) << f.name;
  }
  EXPECT_EQ(modes, (std::map<std::string, unsigned>{{"max", 0644}, {"current", 0444}, {"peak", 0444}, {"events", 0444}}));
  Cgroup& c = mkdir(root(), "c");
  EXPECT_EQ(read(c, "max"), "max\n");
  EXPECT_EQ(read(c, "current"), "0\n");
  EXPECT_EQ(read(c, "peak"), "0\n");
  EXPECT_EQ(read(c, "events"), "max 0\n");
}

TEST_F(PidsTest, MaxIsParsedAsTheKernelParsesIt) {
  build();
  Cgroup& c = mkdir(root(), "c");
  struct {
    const char* input;
    int err;
    const char* reads;
  } cases[] = {
      {"5", 0, "5\n"},        {"max", 0, "max\n"},     {"0", 0, "0\n"},
      {"4194304", 0, "4194304\n"}, {"4194305", -EINVAL, "4194304\n"},
      {"-1", -EINVAL, nullptr},   {"MAX", -EINVAL, nullptr}, {"abc", -EINVAL, nullptr},
      {"\n", -EINVAL, nullptr},   {"5 6", -EINVAL, nullptr}, {"max max", -EINVAL, nullptr},
      {"99999999999999999999", -ERANGE, nullptr}, {"-99999999999999999999", -ERANGE, nullptr},
      {"0x10", 0, "16\n"},       {"010", 0, "8\n"},        {"+5", 0, "5\n"},
      {"  7 \n", 0, "7\n"},      {"\tmax\n\n", 0, "max\n"}, {"08", -EINVAL, nullptr},
      {"1.5", -EINVAL, nullptr},
  };
  std::string last = "max\n";
  for (const auto& tc : cases) {
    SCOPED_TRACE(tc.input);
    EXPECT_EQ(write(c, "max", tc.input), tc.err);
    if (tc.reads) last = tc.reads;
    EXPECT_EQ(read(c, "max"), last);
  }
}

TEST_F(PidsTest, ThreadsAreCountedHierarchicallyThroughMigration) {
  build();
  Cgroup& p = mkdir(root(), "p");
  Cgroup& c = mkdir(p, "c");
  host.add(100, 100);
  host.add(101, 100);
  host.add(102, 100);
  ASSERT_EQ(move(c, 100, true), 0);
  EXPECT_EQ(current(c), 3);
  EXPECT_EQ(current(p), 3);
  ASSERT_EQ(move(p, 101, false), 0);
  EXPECT_EQ(current(c), 2);
  EXPECT_EQ(current(p), 3);
  ASSERT_EQ(move(root(), 100, true), 0);
  EXPECT_EQ(current(c), 0);
  EXPECT_EQ(current(p), 0);
  EXPECT_EQ(peak(p), 4);  // 101 was charged to P before C gave it up
  EXPECT_EQ(peak(c), 3);
}

TEST_F(PidsTest, MigrationIgnoresTheLimit) {
  build();
  Cgroup& c = mkdir(root(), "c");
  ASSERT_EQ(write(c, "max", "1"), 0);
  for (pid_t pid : {100, 200, 300}) {
    host.add(pid, pid);
    ASSERT_EQ(move(c, pid, true), 0);
  }
  EXPECT_EQ(current(c), 3);
  EXPECT_EQ(events_of(c), "max 0\n");
}

TEST_F(PidsTest, PeakSeesTheChargeBeforeTheUncharge) {
  // pids_can_attach charges the destination, then uncharges the source:
  // the common parent counts the moving task twice for a moment.
  build();
  Cgroup& p = mkdir(root(), "p");
  Cgroup& a = mkdir(p, "a");
  Cgroup& b = mkdir(p, "b");
  host.add(100, 100);
  ASSERT_EQ(move(a, 100, true), 0);
  EXPECT_EQ(peak(p), 1);
  ASSERT_EQ(move(b, 100, true), 0);
  EXPECT_EQ(peak(p), 2);
  EXPECT_EQ(current(p), 1);
  EXPECT_EQ(peak(a), 1);
  EXPECT_EQ(peak(b), 1);
}

TEST_F(PidsTest, ARefusedMoveLeavesTheCountsAsTheyWere) {
  build();
  Cgroup& a = mkdir(root(), "a");
  Cgroup& b = mkdir(root(), "b");
  host.add(100, 100);
  host.add(101, 100);
  ASSERT_EQ(move(a, 100, true), 0);
  refuser->refuse = -ENOSPC;
  EXPECT_EQ(move(b, 100, true), -ENOSPC);
  EXPECT_EQ(current(a), 2);
  EXPECT_EQ(current(b), 0);
  EXPECT_EQ(peak(b), 2);  // cancel_attach undoes the charge, not the peak
}

TEST_F(PidsTest, ForksAndExitsAreCountedAndProcessesReleasedAtReap) {
  build();
  Cgroup& c = mkdir(root(), "c");
  host.add(100, 100);
  ASSERT_EQ(move(c, 100, true), 0);
  fork(100, 200, 200);  // a process
  fork(0, 201, 200);    // a thread of it
  EXPECT_EQ(current(c), 3);
  exit(201);  // a thread is released as it exits
  EXPECT_EQ(current(c), 2);
  exit(200);  // a zombie counts until its parent waits for it
  EXPECT_EQ(current(c), 2);
  EXPECT_TRUE(engine->members(c).size() == 1);
  reap(200);
  EXPECT_EQ(current(c), 1);
  EXPECT_EQ(peak(c), 3);
}

TEST_F(PidsTest, AZombieOfARemovedCgroupStaysChargedToItsParent) {
  build();
  Cgroup& p = mkdir(root(), "p");
  std::shared_ptr<Cgroup> c;
  ASSERT_EQ(engine->mkdir(p, "c", &c), 0);
  host.add(100, 100);
  ASSERT_EQ(move(*c, 100, true), 0);
  exit(100);
  engine->sync();
  ASSERT_EQ(engine->rmdir(*c), 0);  // a zombie does not keep it busy
  EXPECT_EQ(current(p), 1);
  reap(100);
  EXPECT_EQ(current(p), 0);
}

TEST_F(PidsTest, AForkPastALimitIsCountedWhereItHappened) {
  build();
  Cgroup& p = mkdir(root(), "p");
  Cgroup& c = mkdir(p, "c");
  ASSERT_EQ(write(p, "max", "2"), 0);
  host.add(100, 100);
  ASSERT_EQ(move(c, 100, true), 0);
  fork(100, 200, 200);
  EXPECT_EQ(events_of(c), "max 0\n");
  fork(100, 300, 300);  // P's limit is hit; the fork happened in C
  EXPECT_EQ(events_of(c), "max 1\n");
  EXPECT_EQ(events_of(p), "max 0\n");
  // The emulator learns of the fork afterwards: by default the child lives
  // and is counted.
  EXPECT_EQ(current(c), 3);
  EXPECT_EQ(current(p), 3);
  EXPECT_TRUE(pids_host->killed.empty());
  fork(0, 101, 100);  // threads too
  EXPECT_EQ(events_of(c), "max 2\n");
}

TEST_F(PidsTest, AZombieStillCountsAgainstTheLimit) {
  build();
  Cgroup& c = mkdir(root(), "c");
  ASSERT_EQ(write(c, "max", "2"), 0);
  host.add(100, 100);
  ASSERT_EQ(move(c, 100, true), 0);
  fork(100, 200, 200);
  exit(200);
  fork(100, 300, 300);
  EXPECT_EQ(events_of(c), "max 1\n");
  exit(300);
  reap(200);
  reap(300);
  fork(100, 400, 400);
  EXPECT_EQ(events_of(c), "max 1\n");
}

TEST_F(PidsTest, EnforceKillKillsANewProcessAndNeverChargesIt) {
  build(PidsController::Enforce::kKill);
  Cgroup& c = mkdir(root(), "c");
  ASSERT_EQ(write(c, "max", "2"), 0);
  host.add(100, 100);
  ASSERT_EQ(move(c, 100, true), 0);
  fork(100, 200, 200);
  fork(100, 300, 300);
  EXPECT_EQ(current(c), 2);
  EXPECT_EQ(events_of(c), "max 1\n");
  EXPECT_EQ(pids_host->killed, std::vector<pid_t>{300});
  exit(300);
  reap(300);
  EXPECT_EQ(current(c), 2);
  // A new thread cannot be killed alone: it is counted and charged.
  fork(0, 101, 100);
  EXPECT_EQ(events_of(c), "max 2\n");
  EXPECT_EQ(pids_host->killed, std::vector<pid_t>{300});
  EXPECT_EQ(current(c), 3);
}

TEST_F(PidsTest, AKilledChildThatMovesIsStillNotCharged) {
  build(PidsController::Enforce::kKill);
  Cgroup& a = mkdir(root(), "a");
  Cgroup& b = mkdir(root(), "b");
  ASSERT_EQ(write(a, "max", "1"), 0);
  host.add(100, 100);
  ASSERT_EQ(move(a, 100, true), 0);
  fork(100, 200, 200);
  engine->sync();
  ASSERT_EQ(move(b, 200, true), 0);  // before it died
  EXPECT_EQ(current(a), 1);
  EXPECT_EQ(current(b), 0);
  exit(200);
  reap(200);
  EXPECT_EQ(current(b), 0);
}

TEST_F(PidsTest, TheRootCountsNothingAndForksThereAreFree) {
  build();
  host.add(100, 100);
  Cgroup& other = mkdir(engine->hierarchies()[1]->root(), "o");
  ASSERT_EQ(move(other, 100, true), 0);  // tracked, but in the pids root
  fork(100, 200, 200);
  exit(200);
  reap(200);
  engine->sync();
  EXPECT_TRUE(pids_host->killed.empty());
}

TEST(PidsSettings, EnforceIsCountOrKill) {
  EXPECT_EQ(static_cast<PidsController*>(make_pids({}).get())->enforce(), PidsController::Enforce::kCount);
  EXPECT_EQ(static_cast<PidsController*>(make_pids({"enforce=kill"}).get())->enforce(),
            PidsController::Enforce::kKill);
  EXPECT_EQ(static_cast<PidsController*>(make_pids({"enforce=count"}).get())->enforce(),
            PidsController::Enforce::kCount);
  EXPECT_THROW(make_pids({"enforce=panic"}), std::invalid_argument);
  EXPECT_THROW(make_pids({"max=5"}), std::invalid_argument);
}

}  // namespace
}  // namespace cgemu
