// The cpu controller on the engine with a fake host: shares, idle, CFS
// bandwidth and RT bandwidth rules, and the refusal of real-time tasks into a
// group without RT runtime, alone and comounted with cpuacct.
#include "controllers/cpu.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <map>
#include <set>
#include <string>

#include "controllers/cpuacct.h"
#include "engine/engine.h"
#include "engine_helpers.h"
#include "fake_task_source.h"

namespace cgemu {
namespace {

using testing::FakeTaskSource;

constexpr int kCpu = 1;
constexpr int kCpuacct = 2;

class FakeCpuHost : public CpuHost {
 public:
  bool is_rt(pid_t tid) override { return rt.count(tid) > 0; }
  RtGlobals rt_globals() override { return globals; }
  bool schedstats() override { return schedstats_on; }
  std::set<pid_t> rt;
  RtGlobals globals;
  bool schedstats_on = false;
};

// A cpuacct host where every task has run 1 ms on CPU 0.
class StillCpuacctHost : public CpuacctHost {
 public:
  std::optional<TaskCputime> task_cputime(pid_t tid, pid_t) override {
    ++samples;
    TaskCputime t;
    t.runtime_ns = 1000000;
    return t;
  }
  std::vector<CpuTimes> host_cpustat() override { return {CpuTimes{}}; }
  std::vector<unsigned> possible_cpus() override { return {0}; }
  uint64_t ns_per_tick() override { return 10000000; }
  int samples = 0;
};

class CpuTest : public ::testing::Test {
 protected:
  void build(bool with_cpuacct = false) {
    auto fake = std::make_unique<FakeCpuHost>();
    host = fake.get();
    Controllers controllers;
    controllers[kCpu] = make_cpu_controller(std::move(fake));
    cpu = controllers[kCpu].get();
    uint32_t mask = 1u << kCpu;
    if (with_cpuacct) {
      auto acct = std::make_unique<StillCpuacctHost>();
      acct_host = acct.get();
      controllers[kCpuacct] = make_cpuacct_controller(std::move(acct));
      mask |= 1u << kCpuacct;
    }
    engine = std::make_unique<Engine>(tasks, std::move(controllers),
                                      std::vector<HierarchyConfig>{{"", mask, false, ""}});
  }
  Cgroup& root() { return engine->hierarchies()[0]->root(); }
  Cgroup& mkdir(Cgroup& parent, const char* name) {
    return testing::make_cgroup(*engine, parent, name);
  }
  const ControlFile* file(Controller* c, std::string_view name) {
    for (const ControlFile& f : c->legacy_files())
      if (f.name == name) return &f;
    return nullptr;
  }
  std::string read(Cgroup& cg, std::string_view name, Controller* c = nullptr) {
    const ControlFile* f = file(c ? c : cpu, name);
    if (!f) return "ENOFILE";
    FileCall call{*engine, cg, opener, 1};
    std::string out;
    if (int err = f->read(call, out)) return "E" + std::to_string(-err);
    return out;
  }
  int write(Cgroup& cg, std::string_view name, std::string_view input) {
    const ControlFile* f = file(cpu, name);
    if (!f || !f->write) return -EINVAL;
    FileCall call{*engine, cg, opener, 1};
    return f->write(call, input);
  }
  // The value after the write, or "E<errno>".
  std::string set(Cgroup& cg, std::string_view name, std::string_view input) {
    if (int err = write(cg, name, input)) return "E" + std::to_string(-err);
    std::string v = read(cg, name);
    if (!v.empty() && v.back() == '\n') v.pop_back();
    return v;
  }
  int move(Cgroup& dst, pid_t pid, bool threadgroup = true) {
    return testing::move_task(*engine, dst, pid, threadgroup);
  }
  std::set<pid_t> tids(Cgroup& c) {
    std::set<pid_t> out;
    for (auto m : engine->members(c)) out.insert(m.tid);
    return out;
  }

  FakeTaskSource tasks;
  FakeCpuHost* host = nullptr;
  StillCpuacctHost* acct_host = nullptr;
  Controller* cpu = nullptr;
  std::unique_ptr<Engine> engine;
  FileOpener opener;
  const std::string kEINVAL = "E" + std::to_string(EINVAL);
  const std::string kEBUSY = "E" + std::to_string(EBUSY);
};

TEST_F(CpuTest, FilesAndModes) {
  build();
  std::map<std::string, unsigned> seen;
  for (const ControlFile& f : cpu->legacy_files()) {
    seen[std::string(f.name)] = f.mode();
    EXPECT_EQ(f.flags, 0u) << f.name;  // at the root and in children
  }
  EXPECT_EQ(seen, (std::map<std::string, unsigned>{{"shares", 0644},
                                                   {"idle", 0644},
                                                   {"cfs_period_us", 0644},
                                                   {"cfs_quota_us", 0644},
                                                   {"cfs_burst_us", 0644},
                                                   {"stat", 0444},
                                                   {"stat.local", 0444},
                                                   {"rt_runtime_us", 0644},
                                                   {"rt_period_us", 0644}}));
}

TEST_F(CpuTest, Defaults) {
  build();
  Cgroup& a = mkdir(root(), "a");
  for (Cgroup* c : {&root(), &a}) {
    EXPECT_EQ(read(*c, "shares"), "1024\n");
    EXPECT_EQ(read(*c, "idle"), "0\n");
    EXPECT_EQ(read(*c, "cfs_quota_us"), "-1\n");
    EXPECT_EQ(read(*c, "cfs_period_us"), "100000\n");
    EXPECT_EQ(read(*c, "cfs_burst_us"), "0\n");
    EXPECT_EQ(read(*c, "rt_period_us"), "1000000\n");
    EXPECT_EQ(read(*c, "stat"), "nr_periods 0\nnr_throttled 0\nthrottled_time 0\nnr_bursts 0\nburst_time 0\n");
    EXPECT_EQ(read(*c, "stat.local"), "throttled_time 0\n");
  }
  EXPECT_EQ(read(root(), "rt_runtime_us"), "950000\n");
  EXPECT_EQ(read(a, "rt_runtime_us"), "0\n");
  // With schedstats, children show their wait time.
  host->schedstats_on = true;
  EXPECT_EQ(read(a, "stat"),
            "nr_periods 0\nnr_throttled 0\nthrottled_time 0\nwait_sum 0\nnr_bursts 0\nburst_time 0\n");
  EXPECT_EQ(read(root(), "stat"), "nr_periods 0\nnr_throttled 0\nthrottled_time 0\nnr_bursts 0\nburst_time 0\n");
}

TEST_F(CpuTest, RootRefusesWeightAndBandwidth) {
  build();
  EXPECT_EQ(set(root(), "shares", "1024"), kEINVAL);
  EXPECT_EQ(set(root(), "idle", "0"), kEINVAL);
  EXPECT_EQ(set(root(), "cfs_quota_us", "-1"), kEINVAL);
  EXPECT_EQ(set(root(), "cfs_period_us", "100000"), kEINVAL);
  EXPECT_EQ(set(root(), "cfs_burst_us", "0"), kEINVAL);
  EXPECT_EQ(set(root(), "rt_runtime_us", "0"), kEINVAL);
  EXPECT_EQ(set(root(), "rt_runtime_us", "900000"), "900000");
  EXPECT_EQ(set(root(), "stat", "0"), kEINVAL);
}

TEST_F(CpuTest, SharesClampAndIdle) {
  build();
  Cgroup& a = mkdir(root(), "a");
  EXPECT_EQ(set(a, "shares", "0"), "2");
  EXPECT_EQ(set(a, "shares", "1"), "2");
  EXPECT_EQ(set(a, "shares", "262145"), "262144");
  EXPECT_EQ(set(a, "shares", "18446744073709551615"), "262144");
  EXPECT_EQ(set(a, "shares", "0x10"), "16");
  EXPECT_EQ(set(a, "shares", "-1"), kEINVAL);
  EXPECT_EQ(set(a, "shares", " 5"), kEINVAL);
  EXPECT_EQ(set(a, "shares", "5"), "5");
  EXPECT_EQ(set(a, "idle", "1"), "1");
  EXPECT_EQ(read(a, "shares"), "3\n");
  EXPECT_EQ(set(a, "shares", "100"), kEINVAL);
  EXPECT_EQ(set(a, "idle", "1"), "1");
  EXPECT_EQ(set(a, "idle", "0"), "0");
  EXPECT_EQ(read(a, "shares"), "1024\n");  // back to the default weight
  EXPECT_EQ(set(a, "idle", "2"), kEINVAL);
  EXPECT_EQ(set(a, "idle", "-1"), kEINVAL);
  EXPECT_EQ(set(a, "idle", "-0"), "0");
}

TEST_F(CpuTest, CfsBandwidthLimits) {
  build();
  Cgroup& a = mkdir(root(), "a");
  EXPECT_EQ(set(a, "cfs_quota_us", "999"), kEINVAL);
  EXPECT_EQ(set(a, "cfs_quota_us", "0"), kEINVAL);
  EXPECT_EQ(set(a, "cfs_quota_us", "1000"), "1000");
  EXPECT_EQ(set(a, "cfs_quota_us", "-5"), "-1");
  EXPECT_EQ(set(a, "cfs_quota_us", "17592186044415"), "17592186044415");  // MAX_BW
  EXPECT_EQ(set(a, "cfs_quota_us", "17592186044416"), kEINVAL);
  EXPECT_EQ(set(a, "cfs_quota_us", "9223372036854775807"), kEINVAL);
  EXPECT_EQ(set(a, "cfs_quota_us", "500000"), "500000");  // more than the period
  EXPECT_EQ(set(a, "cfs_quota_us", "50000"), "50000");
  EXPECT_EQ(set(a, "cfs_burst_us", "50001"), kEINVAL);
  EXPECT_EQ(set(a, "cfs_burst_us", "-1"), kEINVAL);
  EXPECT_EQ(set(a, "cfs_burst_us", "50000"), "50000");
  EXPECT_EQ(set(a, "cfs_quota_us", "40000"), kEINVAL);  // below the burst
  EXPECT_EQ(set(a, "cfs_burst_us", "0"), "0");
  EXPECT_EQ(set(a, "cfs_period_us", "999"), kEINVAL);
  EXPECT_EQ(set(a, "cfs_period_us", "1000001"), kEINVAL);
  EXPECT_EQ(set(a, "cfs_period_us", "1000000"), "1000000");
  EXPECT_EQ(set(a, "cfs_period_us", "1000"), "1000");
  EXPECT_EQ(set(a, "cfs_period_us", "-1"), kEINVAL);
  // Unlimited quota: any burst that survives the conversion to ns.
  EXPECT_EQ(set(a, "cfs_quota_us", "-1"), "-1");
  EXPECT_EQ(set(a, "cfs_burst_us", "5000"), "5000");
  EXPECT_EQ(set(a, "cfs_burst_us", "18446744073709552"), kEINVAL);
}

TEST_F(CpuTest, CfsHierarchicalQuota) {
  build();
  Cgroup& p = mkdir(root(), "p");
  Cgroup& c = mkdir(p, "c");
  Cgroup& g = mkdir(c, "g");
  ASSERT_EQ(set(p, "cfs_quota_us", "50000"), "50000");
  EXPECT_EQ(set(c, "cfs_quota_us", "60000"), kEINVAL);
  EXPECT_EQ(set(c, "cfs_quota_us", "50000"), "50000");
  EXPECT_EQ(set(p, "cfs_quota_us", "40000"), kEINVAL);
  EXPECT_EQ(set(c, "cfs_period_us", "200000"), "200000");
  EXPECT_EQ(set(c, "cfs_period_us", "50000"), kEINVAL);  // ratio 1 > 0.5
  // An unlimited middle group passes its parent's limit down.
  ASSERT_EQ(set(c, "cfs_quota_us", "-1"), "-1");
  EXPECT_EQ(set(g, "cfs_quota_us", "60000"), kEINVAL);
  EXPECT_EQ(set(g, "cfs_quota_us", "40000"), "40000");
  EXPECT_EQ(set(p, "cfs_quota_us", "30000"), kEINVAL);
  EXPECT_EQ(set(p, "cfs_quota_us", "-1"), "-1");
  EXPECT_EQ(set(g, "cfs_quota_us", "900000"), "900000");
}

TEST_F(CpuTest, RtBandwidthRules) {
  build();
  Cgroup& p = mkdir(root(), "p");
  Cgroup& c = mkdir(p, "c");
  EXPECT_EQ(set(p, "rt_runtime_us", "10000"), "10000");
  EXPECT_EQ(set(c, "rt_runtime_us", "20000"), kEINVAL);  // children exceed the parent
  EXPECT_EQ(set(c, "rt_runtime_us", "5000"), "5000");
  EXPECT_EQ(set(p, "rt_runtime_us", "1000"), kEINVAL);
  EXPECT_EQ(set(p, "rt_runtime_us", "-1"), kEINVAL);  // above the global limit
  EXPECT_EQ(set(c, "rt_runtime_us", "0"), "0");
  EXPECT_EQ(set(p, "rt_runtime_us", "960000"), kEINVAL);
  EXPECT_EQ(set(p, "rt_runtime_us", "950000"), "950000");
  EXPECT_EQ(set(p, "rt_runtime_us", "0"), "0");
  EXPECT_EQ(set(p, "rt_period_us", "0"), kEINVAL);
  EXPECT_EQ(set(p, "rt_period_us", "5000"), "5000");
  EXPECT_EQ(set(p, "rt_runtime_us", "6000"), kEINVAL);  // more than the period
  EXPECT_EQ(set(p, "rt_period_us", "1000000"), "1000000");
  EXPECT_EQ(set(p, "rt_runtime_us", "18446744073709552"), kEINVAL);
  EXPECT_EQ(set(p, "rt_period_us", "18446744073709552"), kEINVAL);
  EXPECT_EQ(set(p, "rt_runtime_us", " 1"), kEINVAL);
  // Siblings share their parent's bandwidth.
  Cgroup& q = mkdir(root(), "q");
  ASSERT_EQ(set(p, "rt_runtime_us", "500000"), "500000");
  EXPECT_EQ(set(q, "rt_runtime_us", "500000"), kEINVAL);
  EXPECT_EQ(set(q, "rt_runtime_us", "450000"), "450000");
  EXPECT_EQ(set(root(), "rt_runtime_us", "900000"), kEINVAL);
  // An unlimited global runtime lifts the limit.
  host->globals.runtime_us = -1;
  EXPECT_EQ(set(c, "rt_runtime_us", "-1"), kEINVAL);  // still more than p
  EXPECT_EQ(set(root(), "rt_runtime_us", "-1"), "-1");
}

TEST_F(CpuTest, RtRuntimeCannotDropToZeroUnderARealTimeMember) {
  tasks.add(100, 100);
  build();
  Cgroup& a = mkdir(root(), "a");
  ASSERT_EQ(set(a, "rt_runtime_us", "10000"), "10000");
  ASSERT_EQ(move(a, 100), 0);
  host->rt.insert(100);
  EXPECT_EQ(set(a, "rt_runtime_us", "0"), kEBUSY);
  EXPECT_EQ(set(a, "rt_runtime_us", "5000"), "5000");
  host->rt.clear();
  EXPECT_EQ(set(a, "rt_runtime_us", "0"), "0");
}

TEST_F(CpuTest, RealTimeTaskRefusedWithoutRtRuntimeAllOrNothing) {
  tasks.add(100, 100);
  tasks.add(101, 100);
  tasks.add(200, 200);
  build();
  Cgroup& a = mkdir(root(), "a");
  host->rt.insert(101);  // one RT thread
  EXPECT_EQ(move(a, 100), -EINVAL);
  EXPECT_EQ(tids(a), std::set<pid_t>{});
  EXPECT_EQ(move(a, 100, false), 0);  // the leader alone is not RT
  EXPECT_EQ(move(a, 101, false), -EINVAL);
  EXPECT_EQ(move(a, 200), 0);
  EXPECT_EQ(tids(a), (std::set<pid_t>{100, 200}));
  // With RT runtime the thread may join.
  ASSERT_EQ(set(a, "rt_runtime_us", "10000"), "10000");
  EXPECT_EQ(move(a, 101, false), 0);
  // Moving to the root is always allowed.
  EXPECT_EQ(move(root(), 100), 0);
}

TEST_F(CpuTest, ComountedWithCpuacctARefusalLeavesNoTrace) {
  tasks.add(100, 100);
  build(/*with_cpuacct=*/true);
  Cgroup& a = mkdir(root(), "a");
  host->rt.insert(100);
  EXPECT_EQ(move(a, 100), -EINVAL);
  EXPECT_EQ(acct_host->samples, 0);  // cpuacct's attach never ran
  EXPECT_EQ(tids(a), std::set<pid_t>{});
  host->rt.clear();
  EXPECT_EQ(move(a, 100), 0);
  EXPECT_EQ(acct_host->samples, 1);  // the baseline of the task joining
}

}  // namespace
}  // namespace cgemu
