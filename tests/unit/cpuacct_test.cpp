// The cpuacct controller on the engine with a fake host: formats, the root's
// host-wide numbers, charging only while a member (parents included), the
// per-CPU and user/system split, resets, exits and forks.
#include "controllers/cpuacct.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <deque>
#include <map>
#include <string>

#include "engine/engine.h"
#include "engine/task_events.h"
#include "engine_helpers.h"
#include "fake_task_source.h"

namespace cgemu {
namespace {

using testing::FakeTaskSource;

constexpr int kCpuacct = 2;
constexpr uint64_t kTick = 10000000;  // ns per USER_HZ tick

class FakeCpuacctHost : public CpuacctHost {
 public:
  std::optional<TaskCputime> task_cputime(pid_t tid, pid_t) override {
    auto it = times.find(tid);
    if (it == times.end()) return std::nullopt;
    return it->second;
  }
  std::vector<CpuTimes> host_cpustat() override { return host; }
  std::vector<unsigned> possible_cpus() override { return {0, 1}; }
  uint64_t ns_per_tick() override { return kTick; }

  // Task tid ran `ns` more on `cpu`, `user_ticks`/`sys_ticks` of it.
  void run(pid_t tid, uint64_t ns, int cpu, uint64_t user_ticks = 0, uint64_t sys_ticks = 0) {
    TaskCputime& t = times[tid];
    t.runtime_ns += ns;
    t.cpu = cpu;
    t.utime_ticks += user_ticks;
    t.stime_ticks += sys_ticks;
  }
  std::map<pid_t, TaskCputime> times;
  std::vector<CpuTimes> host = {CpuTimes{}, CpuTimes{}};
};

// Forks and exits, fed by the test.
class FakeEvents : public TaskEvents {
 public:
  std::string_view name() const override { return "fake"; }
  void drain(std::vector<TaskEvent>& out) override {
    out.insert(out.end(), queue.begin(), queue.end());
    queue.clear();
  }
  void wait(int) override {}
  std::deque<TaskEvent> queue;
};

class CpuacctTest : public ::testing::Test {
 protected:
  void build() {
    auto fake = std::make_unique<FakeCpuacctHost>();
    host = fake.get();
    Controllers controllers;
    controllers[kCpuacct] = make_cpuacct_controller(std::move(fake));
    acct = controllers[kCpuacct].get();
    engine = std::make_unique<Engine>(tasks, std::move(controllers),
                                      std::vector<HierarchyConfig>{{"", 1u << kCpuacct, false, ""}});
  }
  Cgroup& root() { return engine->hierarchies()[0]->root(); }
  Cgroup& mkdir(Cgroup& parent, const char* name) {
    return testing::make_cgroup(*engine, parent, name);
  }
  const ControlFile* file(std::string_view name) {
    for (const ControlFile& f : acct->legacy_files())
      if (f.name == name) return &f;
    return nullptr;
  }
  std::string read(Cgroup& cg, std::string_view name) {
    const ControlFile* f = file(name);
    if (!f) return "ENOFILE";
    FileCall call{*engine, cg, opener, 1};
    std::string out;
    if (int err = f->read(call, out)) return "E" + std::to_string(-err);
    return out;
  }
  int write(Cgroup& cg, std::string_view name, std::string_view input) {
    const ControlFile* f = file(name);
    if (!f || !f->write) return -EINVAL;
    FileCall call{*engine, cg, opener, 1};
    return f->write(call, input);
  }
  int move(Cgroup& dst, pid_t pid, bool threadgroup = true) {
    return testing::move_task(*engine, dst, pid, threadgroup);
  }
  // A task of the fake host that has already run `ns`.
  void add_task(pid_t tid, pid_t tgid, uint64_t ns) {
    const TaskInfo& info = tasks.add(tid, tgid);
    host->times[tid].start_time = info.start_time;
    host->run(tid, ns, 0);
  }

  FakeTaskSource tasks;
  FakeCpuacctHost* host = nullptr;
  Controller* acct = nullptr;
  std::unique_ptr<Engine> engine;
  FileOpener opener;
};

TEST_F(CpuacctTest, FilesAndModes) {
  build();
  std::map<std::string, unsigned> seen;
  for (const ControlFile& f : acct->legacy_files()) {
    seen[std::string(f.name)] = f.mode();
    // No flags but kCftNotSaved: usage is a statistic, not a setting to save.
    EXPECT_EQ(f.flags & ~kCftNotSaved, 0u);
  }
  EXPECT_EQ(seen, (std::map<std::string, unsigned>{{"usage", 0644},
                                                   {"usage_user", 0444},
                                                   {"usage_sys", 0444},
                                                   {"usage_percpu", 0444},
                                                   {"usage_percpu_user", 0444},
                                                   {"usage_percpu_sys", 0444},
                                                   {"usage_all", 0444},
                                                   {"stat", 0444}}));
}

TEST_F(CpuacctTest, EmptyChildFormats) {
  build();
  Cgroup& a = mkdir(root(), "a");
  EXPECT_EQ(read(a, "usage"), "0\n");
  EXPECT_EQ(read(a, "usage_user"), "0\n");
  EXPECT_EQ(read(a, "usage_sys"), "0\n");
  EXPECT_EQ(read(a, "usage_percpu"), "0 0 \n");
  EXPECT_EQ(read(a, "usage_percpu_user"), "0 0 \n");
  EXPECT_EQ(read(a, "usage_percpu_sys"), "0 0 \n");
  EXPECT_EQ(read(a, "usage_all"), "cpu user system\n0 0 0\n1 0 0\n");
  EXPECT_EQ(read(a, "stat"), "user 0\nsystem 0\n");
}

TEST_F(CpuacctTest, RootShowsTheHost) {
  build();
  host->host = {{300 * kTick, 100 * kTick}, {50 * kTick, 20 * kTick}};
  EXPECT_EQ(read(root(), "usage"), std::to_string(470 * kTick) + "\n");
  EXPECT_EQ(read(root(), "usage_user"), std::to_string(350 * kTick) + "\n");
  EXPECT_EQ(read(root(), "usage_sys"), std::to_string(120 * kTick) + "\n");
  EXPECT_EQ(read(root(), "usage_percpu"), std::to_string(400 * kTick) + " " + std::to_string(70 * kTick) + " \n");
  EXPECT_EQ(read(root(), "usage_all"), "cpu user system\n0 " + std::to_string(300 * kTick) + " " +
                                           std::to_string(100 * kTick) + "\n1 " + std::to_string(50 * kTick) + " " +
                                           std::to_string(20 * kTick) + "\n");
  EXPECT_EQ(read(root(), "stat"), "user 350\nsystem 120\n");
  // The root's reset succeeds and changes nothing; only 0 is accepted.
  EXPECT_EQ(write(root(), "usage", "0"), 0);
  EXPECT_EQ(read(root(), "usage"), std::to_string(470 * kTick) + "\n");
  EXPECT_EQ(write(root(), "usage", "1"), -EINVAL);
}

TEST_F(CpuacctTest, ChargedOnlyWhileAMemberAndToEveryAncestor) {
  tasks.add(1, 1);
  build();
  add_task(100, 100, 5000);  // ran before joining: not counted
  Cgroup& a = mkdir(root(), "a");
  Cgroup& b = mkdir(a, "b");
  ASSERT_EQ(move(b, 100), 0);
  EXPECT_EQ(read(b, "usage"), "0\n");
  host->run(100, 1000, 1);
  EXPECT_EQ(read(b, "usage"), "1000\n");
  EXPECT_EQ(read(a, "usage"), "1000\n");  // parents include their children
  EXPECT_EQ(read(b, "usage_percpu"), "0 1000 \n");
  host->run(100, 500, 0);
  // Moving out charges the group it leaves, up to the move.
  ASSERT_EQ(move(a, 100), 0);
  EXPECT_EQ(read(b, "usage"), "1500\n");
  EXPECT_EQ(read(b, "usage_percpu"), "500 1000 \n");
  host->run(100, 200, 0);
  EXPECT_EQ(read(a, "usage"), "1700\n");
  EXPECT_EQ(read(b, "usage"), "1500\n");
  // Leaving for the root: the time is kept, nothing more is added.
  ASSERT_EQ(move(root(), 100), 0);
  host->run(100, 10000, 0);
  EXPECT_EQ(read(a, "usage"), "1700\n");
  EXPECT_EQ(read(b, "usage"), "1500\n");
  // A removed child's time stays in its parent.
  ASSERT_EQ(engine->rmdir(b), 0);
  EXPECT_EQ(read(a, "usage"), "1700\n");
}

TEST_F(CpuacctTest, UserSystemSplitAndStat) {
  build();
  add_task(100, 100, 0);
  Cgroup& a = mkdir(root(), "a");
  ASSERT_EQ(move(a, 100), 0);
  host->run(100, 30 * kTick, 1, /*user=*/20, /*sys=*/10);
  EXPECT_EQ(read(a, "usage_user"), std::to_string(20 * kTick) + "\n");
  EXPECT_EQ(read(a, "usage_sys"), std::to_string(10 * kTick) + "\n");
  EXPECT_EQ(read(a, "usage_percpu_user"), "0 " + std::to_string(20 * kTick) + " \n");
  EXPECT_EQ(read(a, "usage_percpu_sys"), "0 " + std::to_string(10 * kTick) + " \n");
  EXPECT_EQ(read(a, "usage_all"),
            "cpu user system\n0 0 0\n1 " + std::to_string(20 * kTick) + " " + std::to_string(10 * kTick) + "\n");
  EXPECT_EQ(read(a, "stat"), "user 20\nsystem 10\n");
  // The runtime scales the split (cputime_adjust): 60 ticks of runtime,
  // the ticks say 2:1.
  host->run(100, 30 * kTick, 1);
  EXPECT_EQ(read(a, "stat"), "user 40\nsystem 20\n");
}

TEST_F(CpuacctTest, ResetRules) {
  build();
  add_task(100, 100, 0);
  Cgroup& a = mkdir(root(), "a");
  Cgroup& b = mkdir(a, "b");
  ASSERT_EQ(move(b, 100), 0);
  host->run(100, 30 * kTick, 0, 20, 10);
  EXPECT_EQ(read(a, "stat"), "user 20\nsystem 10\n");
  EXPECT_EQ(write(a, "usage", "1"), -EINVAL);
  EXPECT_EQ(write(a, "usage", " 0"), -EINVAL);
  EXPECT_EQ(write(a, "usage", "0 "), -EINVAL);
  EXPECT_EQ(write(a, "usage", "-0"), -EINVAL);
  EXPECT_EQ(write(a, "usage", "0x0"), 0);
  EXPECT_EQ(write(a, "usage", "00"), 0);
  EXPECT_EQ(write(a, "usage", "0\n"), 0);
  EXPECT_EQ(read(a, "usage"), "0\n");
  EXPECT_EQ(read(a, "usage_user"), "0\n");
  EXPECT_EQ(read(a, "usage_percpu"), "0 0 \n");
  EXPECT_EQ(read(b, "usage"), std::to_string(30 * kTick) + "\n");  // the child keeps its own
  // cpuacct.stat stays monotonic: it shows the old split until the new
  // runtime passes it.
  EXPECT_EQ(read(a, "stat"), "user 20\nsystem 10\n");
  host->run(100, 10 * kTick, 0, 10, 0);
  EXPECT_EQ(read(a, "stat"), "user 20\nsystem 10\n");
  host->run(100, 40 * kTick, 0, 40, 0);
  EXPECT_EQ(read(a, "stat"), "user 40\nsystem 10\n");
}

TEST_F(CpuacctTest, ExitTakesAFinalSampleWhenTheTaskIsStillVisible) {
  build();
  add_task(100, 100, 0);
  add_task(200, 200, 0);
  Cgroup& a = mkdir(root(), "a");
  ASSERT_EQ(move(a, 100), 0);
  ASSERT_EQ(move(a, 200), 0);
  host->run(100, 1000, 0);
  host->run(200, 2000, 0);
  // 100 exits but /proc still shows it (a zombie); 200 is gone at once.
  tasks.remove(100);
  tasks.remove(200);
  host->times.erase(200);
  EXPECT_EQ(read(a, "usage"), "1000\n");
  host->run(100, 5000, 0);  // a new task may reuse the pid: nothing more
  EXPECT_EQ(read(a, "usage"), "1000\n");
}

TEST_F(CpuacctTest, ForkedTasksCountFromZeroAndPidReuseIsNotCharged) {
  build();
  FakeEvents events;
  engine->set_task_events(&events);
  add_task(100, 100, 0);
  Cgroup& a = mkdir(root(), "a");
  ASSERT_EQ(move(a, 100), 0);
  // 100 forks 300, which has run 700 ns by the time the event is applied.
  add_task(300, 300, 700);
  events.queue.push_back({TaskEvent::Kind::kFork, 300, 300, 100, tasks.task(300)->start_time});
  EXPECT_EQ(read(a, "usage"), "700\n");
  // 300 exits and its pid is reused by another task before a sample.
  host->run(300, 100, 0);
  events.queue.push_back({TaskEvent::Kind::kExit, 300, 300, 0, 0});
  tasks.remove(300);
  host->times[300] = {};
  host->times[300].start_time = 999999;
  host->times[300].runtime_ns = 1000000;
  EXPECT_EQ(read(a, "usage"), "700\n");
}

}  // namespace
}  // namespace cgemu
