// The cpu and cpuacct controllers' files (controllers/cpu.cpp, cpuacct.cpp),
// mounted together, on the fake host of controller_world.h: the u64 and s64
// files (shares, idle, CFS period/quota/burst, RT runtime/period, the usage
// reset).
//
// Header: [h0]. h0 & 3: the host's RT bandwidth (sched_rt_period_us,
// sched_rt_runtime_us): (1000000, 950000), (1000000, -1), (1000000, 0),
// (100000, 50000); bit 2: schedstats on; bits 3-4: the possible CPUs ({0},
// {0,1}, {0,2,3}, {1,3}). Host changes: a task takes or leaves a real-time
// policy (refused, as sched_setscheduler refuses it, in a group without RT
// runtime), a task runs (CPU time on some CPU). A forked task inherits its
// parent's policy.
//
// Checks, besides controller_world.h's:
//   - a value kstrtoull/kstrtoll (engine/kernel_parse.h, itself fuzzed
//     against lib/kstrtox.c by kernel_parse) refuses is refused with the same
//     errno;
//   - cpu.shares clamps to 2..262144 (MAX_SHARES above ULONG_MAX >> 10) and
//     reads back so; cpu.idle takes 0 or 1, an idle group's weight is 3 and
//     leaving idle gives 1024; the root takes neither;
//   - CFS bandwidth: the kernel's range rules (tg_set_cfs_bandwidth, in
//     microseconds) and the v1 hierarchy rule (tg_cfs_schedulable_down: a
//     limited group's quota/period ratio within its nearest limited
//     ancestor's), computed from what the files read, decide the errno; a
//     success reads back (a negative quota as -1);
//   - RT bandwidth: tg_rt_schedulable's rules from what the files read
//     (runtime within the period, within the global ratio, children within
//     their parent, EBUSY for a group with real-time tasks losing its
//     runtime) decide the errno; a success reads back;
//   - cpuacct.usage takes only 0, and the group's usage then reads 0;
//   - after every step, those rules hold over the whole tree, no real-time
//     task sits in a group without RT runtime (when RT bandwidth is
//     enforced), and cpuacct's totals are the sums of its per-CPU numbers.
#include <cerrno>
#include <climits>
#include <set>
#include <string>
#include <vector>

#include "controller_world.h"
#include "controllers/cpu.h"
#include "controllers/cpuacct.h"
#include "engine/kernel_parse.h"

namespace cgemu::fuzz {
namespace {

const int kCpu = *subsystem_id("cpu");
const int kCpuacct = *subsystem_id("cpuacct");

constexpr uint64_t kInf = ~0ULL;  // RUNTIME_INF
constexpr uint64_t kBwUnit = 1ULL << 20;
constexpr uint64_t kMaxBw = (1ULL << 44) - 1;
constexpr uint64_t kMaxUsec = UINT64_MAX / 1000;

uint64_t to_ratio(uint64_t period, uint64_t runtime) {
  if (runtime == kInf) return kBwUnit;
  if (period == 0) return 0;
  return (runtime << 20) / period;
}

class CpuWorld : public ControllerWorld {
 public:
  CpuWorld(Input& in, std::string what) : ControllerWorld(std::move(what)) {
    const uint8_t h0 = in.next();
    static constexpr CpuHost::RtGlobals kGlobals[] = {{1000000, 950000}, {1000000, -1}, {1000000, 0}, {100000, 50000}};
    globals_ = kGlobals[h0 & 3];
    schedstats_ = h0 & 4;
    static const std::vector<unsigned> kCpus[] = {{0}, {0, 1}, {0, 2, 3}, {1, 3}};
    cpus_ = kCpus[(h0 >> 3) & 3];
    Controllers controllers;
    controllers[kCpu] = make_cpu_controller(std::make_unique<FakeCpuHost>(this));
    controllers[kCpuacct] = make_cpuacct_controller(std::make_unique<FakeCpuacctHost>(this));
    host_.on_fork = [this](pid_t child, pid_t parent) {
      if (rt_.count(parent)) rt_.insert(child);
    };
    init(std::move(controllers), {{"", (1u << kCpu) | (1u << kCpuacct), false, ""}},
         {"cpu.shares", "cpu.idle", "cpu.cfs_period_us", "cpu.cfs_quota_us", "cpu.cfs_burst_us", "cpu.rt_runtime_us",
          "cpu.rt_period_us", "cpuacct.usage"});
  }
  ~CpuWorld() override { destroy_engine(); }

 private:
  class FakeCpuHost : public CpuHost {
   public:
    explicit FakeCpuHost(CpuWorld* w) : w_(w) {}
    bool is_rt(pid_t tid) override {
      check_fake_pid(tid, "CpuHost::is_rt");
      return w_->rt_.count(tid) > 0;
    }
    RtGlobals rt_globals() override { return w_->globals_; }
    bool schedstats() override { return w_->schedstats_; }

   private:
    CpuWorld* w_;
  };

  class FakeCpuacctHost : public CpuacctHost {
   public:
    explicit FakeCpuacctHost(CpuWorld* w) : w_(w) {}
    std::optional<TaskCputime> task_cputime(pid_t tid, pid_t tgid) override {
      check_fake_pid(tid, "CpuacctHost::task_cputime");
      auto t = w_->host_.tasks.task(tid);
      if (!t || t->tgid != tgid) return std::nullopt;
      TaskCputime c = w_->times_[tid];
      c.start_time = t->start_time;
      return c;
    }
    std::vector<CpuTimes> host_cpustat() override {
      std::vector<CpuTimes> out;
      for (unsigned cpu : w_->cpus_) out.push_back({(cpu + 1) * 7000000000ULL, (cpu + 1) * 3000000000ULL});
      return out;
    }
    std::vector<unsigned> possible_cpus() override { return w_->cpus_; }
    uint64_t ns_per_tick() override { return 10000000; }

   private:
    CpuWorld* w_;
  };

  const Cgroup& root() const { return engine_->hierarchies()[0]->root(); }

  unsigned long long u64(const Snapshot& s, const Cgroup& c, const char* file) {
    const std::string& t = text(s, c, file);
    unsigned long long v = 0;
    FUZZ_CHECK(kstrtoull(t, 10, &v) == 0, "not a u64: '" + printable(t) + "' in " + key(c, file) + "; " + what_);
    return v;
  }
  long long s64(const Snapshot& s, const Cgroup& c, const char* file) {
    const std::string& t = text(s, c, file);
    long long v = 0;
    FUZZ_CHECK(kstrtoll(t, 10, &v) == 0, "not an s64: '" + printable(t) + "' in " + key(c, file) + "; " + what_);
    return v;
  }

  struct Cfs {
    uint64_t period, quota, burst;  // us; quota kInf for none
  };
  Cfs cfs(const Snapshot& s, const Cgroup& c) {
    const long long q = s64(s, c, "cpu.cfs_quota_us");
    FUZZ_CHECK(q >= -1, "cfs_quota_us below -1 in " + key(c) + "; " + what_);
    return {u64(s, c, "cpu.cfs_period_us"), q < 0 ? kInf : static_cast<uint64_t>(q), u64(s, c, "cpu.cfs_burst_us")};
  }
  struct Rt {
    uint64_t period, runtime;  // ns; runtime kInf for none
  };
  Rt rt(const Snapshot& s, const Cgroup& c) {
    const long long r = s64(s, c, "cpu.rt_runtime_us");
    FUZZ_CHECK(r >= -1, "rt_runtime_us below -1 in " + key(c) + "; " + what_);
    return {u64(s, c, "cpu.rt_period_us") * 1000, r < 0 ? kInf : static_cast<uint64_t>(r) * 1000};
  }

  // tg_cfs_schedulable_down over the whole tree, with `changed` at `trial`:
  // 0 or -EINVAL.
  int cfs_schedulable(const Snapshot& s, const Cgroup* changed, const Cfs& trial) {
    std::function<int(const Cgroup&, int64_t)> walk = [&](const Cgroup& c, int64_t parent_quota) -> int {
      int64_t q = -1;
      if (!c.is_root()) {
        const Cfs b = &c == changed ? trial : cfs(s, c);
        q = b.quota == kInf ? -1 : static_cast<int64_t>(to_ratio(b.period, b.quota));
        if (q == -1)
          q = parent_quota;
        else if (parent_quota != -1 && q > parent_quota)
          return -EINVAL;
      }
      for (const auto& [name, child] : c.children())
        if (int err = walk(*child, q)) return err;
      return 0;
    };
    return walk(root(), -1);
  }

  // The range rules of tg_set_cfs_bandwidth (and of the us-to-ns
  // conversions before it).
  static bool cfs_in_range(const Cfs& b) {
    if (b.period > kMaxUsec || (b.quota != kInf && b.quota > kMaxUsec) || b.burst > kMaxUsec) return false;
    if (b.quota < 1000 || b.period < 1000 || b.period > 1000000) return false;
    if (b.quota != kInf && (b.quota > kMaxBw || b.burst > b.quota || b.burst + b.quota > kMaxBw)) return false;
    return true;
  }

  bool has_rt_tasks(const Snapshot& s, const Cgroup& c) {
    for (pid_t tid : s.members.at(key(c)))
      if (rt_.count(tid)) return true;
    return false;
  }
  uint64_t global_ratio() const {
    const uint64_t runtime = globals_.runtime_us < 0 ? kInf : static_cast<uint64_t>(globals_.runtime_us) * 1000;
    return to_ratio(static_cast<uint64_t>(globals_.period_us) * 1000, runtime);
  }

  // tg_set_rt_bandwidth with tg_rt_schedulable, `changed` at `trial`.
  int rt_schedulable(const Snapshot& s, const Cgroup& changed, const Rt& trial) {
    if (changed.is_root() && trial.runtime == 0) return -EINVAL;
    if (trial.period == 0) return -EINVAL;
    if (trial.runtime != kInf && trial.runtime > kMaxBw) return -EINVAL;
    auto bw = [&](const Cgroup& c) { return &c == &changed ? trial : rt(s, c); };
    // Only the changed group and its parent can break a rule that held; the
    // parent is walked first.
    if (!changed.is_root()) {
      const Cgroup& p = *changed.parent();
      uint64_t sum = 0;
      for (const auto& [name, child] : p.children()) sum += to_ratio(bw(*child).period, bw(*child).runtime);
      if (sum > to_ratio(bw(p).period, bw(p).runtime)) return -EINVAL;
    }
    if (trial.runtime > trial.period && trial.runtime != kInf) return -EINVAL;
    if (globals_.runtime_us >= 0 && trial.runtime == 0 && rt(s, changed).runtime != 0 && has_rt_tasks(s, changed))
      return -EBUSY;
    const uint64_t total = to_ratio(trial.period, trial.runtime);
    if (total > global_ratio()) return -EINVAL;
    uint64_t sum = 0;
    for (const auto& [name, child] : changed.children()) sum += to_ratio(bw(*child).period, bw(*child).runtime);
    return sum > total ? -EINVAL : 0;
  }

  void check_write(const Write& w) override {
    const std::string& name = w.file.name;
    const Snapshot& before = w.before;
    const Cgroup& c = w.cgroup;
    unsigned long long u = 0;
    long long v = 0;
    const bool signed_file = name == "cpu.idle" || name == "cpu.cfs_quota_us" || name == "cpu.rt_runtime_us";
    if (const int err = signed_file ? kstrtoll(w.input, 0, &v) : kstrtoull(w.input, 0, &u)) {
      FUZZ_CHECK(w.err == err, "kstrto* gives " + errno_name(err) + "; " + w.what);
      return;
    }
    auto reads = [&](const std::string& file, const std::string& want) {
      const std::string got = text(w.after, c, file);
      FUZZ_CHECK(got == want + "\n", file + " reads '" + printable(got) + "', not '" + want + "'; " + w.what);
    };
    if (name == "cpu.shares") {
      const bool idle = text(before, c, "cpu.idle") == "1\n";
      FUZZ_CHECK(w.err == (c.is_root() || idle ? -EINVAL : 0), "cpu.shares; " + w.what);
      const unsigned long long shares = u > (ULONG_MAX >> 10) ? 1ULL << 18 : u;
      if (!w.err) reads(name, std::to_string(std::clamp<unsigned long long>(shares, 2, 1ULL << 18)));
    } else if (name == "cpu.idle") {
      FUZZ_CHECK(w.err == (c.is_root() || v < 0 || v > 1 ? -EINVAL : 0), "cpu.idle; " + w.what);
      if (w.err) return;
      reads(name, std::to_string(v));
      if (text(before, c, "cpu.idle") != std::to_string(v) + "\n") reads("cpu.shares", v ? "3" : "1024");
    } else if (name == "cpu.cfs_period_us" || name == "cpu.cfs_quota_us" || name == "cpu.cfs_burst_us") {
      if (c.is_root()) {
        FUZZ_CHECK(w.err == -EINVAL, "the root's bandwidth cannot be set; " + w.what);
        return;
      }
      Cfs trial = cfs(before, c);
      if (name == "cpu.cfs_period_us") trial.period = u;
      if (name == "cpu.cfs_quota_us") trial.quota = v < 0 ? kInf : static_cast<uint64_t>(v);
      if (name == "cpu.cfs_burst_us") trial.burst = u;
      const int want = cfs_in_range(trial) ? cfs_schedulable(before, &c, trial) : -EINVAL;
      FUZZ_CHECK(w.err == want, "tg_set_cfs_bandwidth gives " + errno_name(want) + "; " + w.what);
      if (w.err) return;
      if (name == "cpu.cfs_period_us") reads(name, std::to_string(u));
      if (name == "cpu.cfs_quota_us") reads(name, v < 0 ? "-1" : std::to_string(v));
      if (name == "cpu.cfs_burst_us") reads(name, std::to_string(u));
    } else if (name == "cpu.rt_runtime_us" || name == "cpu.rt_period_us") {
      Rt trial = rt(before, c);
      int want = 0;
      if (name == "cpu.rt_runtime_us") {
        if (v >= 0 && static_cast<unsigned long long>(v) > kMaxUsec) want = -EINVAL;
        trial.runtime = v < 0 ? kInf : static_cast<uint64_t>(v) * 1000;
      } else {
        if (u > kMaxUsec) want = -EINVAL;
        trial.period = u * 1000;
      }
      if (!want) want = rt_schedulable(before, c, trial);
      FUZZ_CHECK(w.err == want, "tg_set_rt_bandwidth gives " + errno_name(want) + "; " + w.what);
      if (w.err) return;
      if (name == "cpu.rt_runtime_us") reads(name, v < 0 ? "-1" : std::to_string(v));
      if (name == "cpu.rt_period_us") reads(name, std::to_string(u));
    } else if (name == "cpuacct.usage") {
      FUZZ_CHECK(w.err == (u ? -EINVAL : 0), "only 0 resets cpuacct.usage; " + w.what);
      if (w.err || c.is_root()) return;
      reads(name, "0");
      std::string zeros;
      for (size_t i = 0; i < cpus_.size(); ++i) zeros += "0 ";
      reads("cpuacct.usage_percpu", zeros);
    }
  }

  void check_state(const Snapshot& s) override {
    const bool rt_enforced = globals_.runtime_us >= 0;
    FUZZ_CHECK(cfs_schedulable(s, nullptr, {}) == 0, "the CFS quotas break tg_cfs_schedulable_down; " + what_);
    for (Cgroup* c : cgroups_) {
      const std::string where = key(*c) + "; " + what_;
      const unsigned long long shares = u64(s, *c, "cpu.shares");
      const long long idle = s64(s, *c, "cpu.idle");
      FUZZ_CHECK(shares >= 2 && shares <= (1ULL << 18), "cpu.shares out of range in " + where);
      FUZZ_CHECK(idle == 0 || idle == 1, "cpu.idle out of range in " + where);
      if (idle) FUZZ_CHECK(shares == 3, "an idle group's weight is not 3 in " + where);
      const Cfs b = cfs(s, *c);
      if (c->is_root())
        FUZZ_CHECK(b.period == 100000 && b.quota == kInf && b.burst == 0 && shares == 1024 && !idle,
                   "the root's cpu settings changed; " + where);
      else
        FUZZ_CHECK(cfs_in_range(b), "CFS bandwidth out of range in " + where);
      const Rt r = rt(s, *c);
      FUZZ_CHECK(r.runtime == kInf || r.runtime <= r.period, "RT runtime above the period in " + where);
      FUZZ_CHECK(to_ratio(r.period, r.runtime) <= global_ratio(), "RT ratio above the host's in " + where);
      uint64_t sum = 0;
      for (const auto& [name, child] : c->children()) sum += to_ratio(rt(s, *child).period, rt(s, *child).runtime);
      FUZZ_CHECK(sum <= to_ratio(r.period, r.runtime), "children's RT ratios above their parent's in " + where);
      if (rt_enforced && r.runtime == 0 && !c->is_root())
        FUZZ_CHECK(!has_rt_tasks(s, *c), "a real-time task in a group without RT runtime: " + where);
      // cpuacct: totals are sums of the per-CPU numbers.
      for (const char* which : {"", "_user", "_sys"}) {
        const std::string total = std::string("cpuacct.usage") + which;
        const std::string& percpu = text(s, *c, std::string("cpuacct.usage_percpu") + which);
        unsigned long long sum_percpu = 0, v;
        size_t n = 0;
        for (size_t at = 0; at < percpu.size();) {
          const size_t sp = percpu.find(' ', at);
          if (sp == std::string::npos) break;
          FUZZ_CHECK(kstrtoull(percpu.substr(at, sp - at), 10, &v) == 0,
                     "cpuacct.usage_percpu" + std::string(which) + " reads '" + printable(percpu) + "' in " + where);
          sum_percpu += v;
          ++n;
          at = sp + 1;
        }
        FUZZ_CHECK(n == cpus_.size() && percpu.ends_with(" \n"),
                   "cpuacct.usage_percpu" + std::string(which) + " reads '" + printable(percpu) + "' in " + where);
        FUZZ_CHECK(u64(s, *c, total.c_str()) == sum_percpu, total + " is not the sum of its per-CPU numbers in " + where);
      }
    }
  }

  void change_host(int kind, uint8_t arg) override {
    const std::vector<pid_t> live = host_.live_tids();
    const pid_t tid = live[arg % live.size()];
    if (kind == 1) {
      CpuacctHost::TaskCputime& t = times_[tid];
      t.runtime_ns += (arg + 1) * 1000003ULL;
      t.utime_ticks += arg & 3;
      t.stime_ticks += (arg >> 2) & 3;
      t.cpu = static_cast<int>(cpus_[arg % cpus_.size()]);
      return;
    }
    if (rt_.erase(tid)) return;
    // sched_setscheduler: no real-time policy in a group without RT runtime.
    Cgroup& c = engine_->cgroup_of(tid, *engine_->hierarchies()[0]);
    if (globals_.runtime_us >= 0 && read(c, "cpu.rt_runtime_us") == "0\n") return;
    rt_.insert(tid);
  }

  CpuHost::RtGlobals globals_;
  bool schedstats_ = false;
  std::vector<unsigned> cpus_;
  std::set<pid_t> rt_;
  std::map<pid_t, CpuacctHost::TaskCputime> times_;
};

}  // namespace

int CpuFiles(const uint8_t* data, size_t size) { return run_world<CpuWorld>(data, size); }

}  // namespace cgemu::fuzz
