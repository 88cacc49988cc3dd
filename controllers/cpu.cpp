// The v1 cpu controller, after kernel/sched/core.c (cpu_legacy_files,
// cpu_cgroup_can_attach, cpu_shares_write_u64, cpu_idle_write_s64,
// tg_set_bandwidth, tg_cfs_schedulable_down), fair.c
// (sched_group_set_shares, sched_group_set_idle) and rt.c
// (sched_group_set_rt_runtime/period, tg_set_rt_bandwidth,
// tg_rt_schedulable, sched_rt_can_attach), as in Linux 6.18 with
// CONFIG_RT_GROUP_SCHED.
//
// Shares, idle and bandwidth are validated and stored; they do not change how
// the host schedules the members (cpu.stat counts no throttling). Attaching a
// real-time task to a group whose rt_runtime_us is 0 is refused with EINVAL,
// and rt_runtime_us cannot drop to 0 under a real-time member (EBUSY).
#include "controllers/cpu.h"

#include <sched.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdint>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "engine/cgroup.h"
#include "engine/css_set.h"
#include "engine/engine.h"
#include "engine/kernel_parse.h"

namespace cgemu {
namespace {

constexpr uint64_t kRuntimeInf = ~0ULL;  // RUNTIME_INF
constexpr int kBwShift = 20;
constexpr uint64_t kBwUnit = 1ULL << kBwShift;
constexpr uint64_t kMaxBw = (1ULL << (64 - kBwShift)) - 1;  // MAX_BW
constexpr uint64_t kNsecPerUsec = 1000;
constexpr uint64_t kMaxUsec = UINT64_MAX / kNsecPerUsec;
constexpr uint64_t kMinBwPeriodUs = 1000;     // min_bw_quota_period_us
constexpr uint64_t kMaxBwPeriodUs = 1000000;  // max_bw_quota_period_us
constexpr uint64_t kDefaultPeriodUs = 100000;
constexpr uint64_t kMinShares = 2;
constexpr uint64_t kMaxShares = 1ULL << 18;
constexpr uint64_t kNice0Shares = 1024;
constexpr uint64_t kIdleShares = 3;  // WEIGHT_IDLEPRIO
constexpr int kShiftLoad = 10;       // SCHED_FIXEDPOINT_SHIFT (64-bit)

// to_ratio (core.c).
uint64_t to_ratio(uint64_t period, uint64_t runtime) {
  if (runtime == kRuntimeInf) return kBwUnit;
  if (period == 0) return 0;
  return (runtime << kBwShift) / period;
}

// struct task_group, what the v1 files show.
struct CpuCss : Css {
  uint64_t shares = kNice0Shares;  // scale_load_down(tg->shares)
  int idle = 0;
  uint64_t period_us = kDefaultPeriodUs;
  uint64_t quota_us = kRuntimeInf;
  uint64_t burst_us = 0;
  int64_t hierarchical_quota = -1;  // RUNTIME_INF as s64
  uint64_t rt_period_ns = 0;
  uint64_t rt_runtime_ns = 0;
  uint64_t seq = 0;  // creation order: the kernel lists newer children first
};

class CpuController : public Controller {
 public:
  explicit CpuController(std::unique_ptr<CpuHost> host);

  std::unique_ptr<Css> css_alloc(Cgroup& cgroup, Css* parent) override;
  std::span<const ControlFile> legacy_files() const override { return files_; }
  int can_attach(TaskSet& tset) override;

  static CpuController& of(const FileCall& call);
  CpuCss& tg(const Cgroup& cgroup) const { return static_cast<CpuCss&>(*cgroup.css(ssid())); }
  CpuHost& host() { return *host_; }

  int set_shares(CpuCss& tg, unsigned long long shares);
  int set_idle(CpuCss& tg, long long idle);
  int set_bandwidth(const FileCall& call, CpuCss& tg, uint64_t period_us, uint64_t quota_us, uint64_t burst_us);
  int set_rt_bandwidth(const FileCall& call, CpuCss& tg, uint64_t period_ns, uint64_t runtime_ns);

 private:
  // walk_tg_tree: pre-order, children newest first.
  template <class Fn>
  int walk(const Cgroup& cgroup, Fn&& down);
  std::vector<const Cgroup*> children_newest_first(const Cgroup& cgroup) const;
  bool has_rt_tasks(const FileCall& call, const CpuCss& tg);

  std::unique_ptr<CpuHost> host_;
  std::vector<ControlFile> files_;
  uint64_t next_seq_ = 0;
};

CpuController& CpuController::of(const FileCall& call) {
  const Hierarchy& h = call.cgroup.hierarchy();
  for (int ssid = 0; ssid < kMaxSubsys; ++ssid)
    if (h.has_subsys(ssid))
      if (auto* c = dynamic_cast<CpuController*>(call.engine.controller(ssid))) return *c;
  throw std::logic_error("cpu file in a hierarchy without cpu");
}

uint64_t global_rt_runtime_ns(const CpuHost::RtGlobals& g) {
  return g.runtime_us < 0 ? kRuntimeInf : static_cast<uint64_t>(g.runtime_us) * kNsecPerUsec;
}
uint64_t global_rt_period_ns(const CpuHost::RtGlobals& g) {
  return static_cast<uint64_t>(g.period_us) * kNsecPerUsec;
}

std::unique_ptr<Css> CpuController::css_alloc(Cgroup&, Css* parent) {
  auto tg = std::make_unique<CpuCss>();
  const CpuHost::RtGlobals g = host_->rt_globals();
  tg->seq = next_seq_++;
  tg->rt_period_ns = global_rt_period_ns(g);
  // The root group has the global RT bandwidth, a new group none.
  tg->rt_runtime_ns = parent ? 0 : global_rt_runtime_ns(g);
  // init_cfs_bandwidth: the parent's hierarchical quota.
  if (parent) tg->hierarchical_quota = static_cast<CpuCss*>(parent)->hierarchical_quota;
  return tg;
}

std::vector<const Cgroup*> CpuController::children_newest_first(const Cgroup& cgroup) const {
  std::vector<const Cgroup*> out;
  for (const auto& [name, child] : cgroup.children()) out.push_back(child.get());
  std::sort(out.begin(), out.end(), [&](const Cgroup* a, const Cgroup* b) { return tg(*a).seq > tg(*b).seq; });
  return out;
}

template <class Fn>
int CpuController::walk(const Cgroup& cgroup, Fn&& down) {
  if (int err = down(cgroup)) return err;
  for (const Cgroup* child : children_newest_first(cgroup))
    if (int err = walk(*child, down)) return err;
  return 0;
}

// sched_group_set_shares.
int CpuController::set_shares(CpuCss& tg, unsigned long long shares) {
  if (shares > (ULONG_MAX >> kShiftLoad)) shares = kMaxShares;
  if (tg.idle > 0) return -EINVAL;
  if (!tg.parent) return -EINVAL;  // the root's weight cannot change
  tg.shares = std::clamp<uint64_t>(shares, kMinShares, kMaxShares);
  return 0;
}

// sched_group_set_idle: idle groups have the minimum weight; leaving idle
// restores the default weight.
int CpuController::set_idle(CpuCss& tg, long long idle) {
  if (!tg.parent) return -EINVAL;
  if (idle < 0 || idle > 1) return -EINVAL;
  if (tg.idle == idle) return 0;
  tg.idle = static_cast<int>(idle);
  tg.shares = idle ? kIdleShares : kNice0Shares;
  return 0;
}

// tg_set_bandwidth, then __cfs_schedulable (tg_cfs_schedulable_down, v1).
int CpuController::set_bandwidth(const FileCall& call, CpuCss& tg, uint64_t period_us, uint64_t quota_us,
                                 uint64_t burst_us) {
  if (!tg.parent) return -EINVAL;
  // Values should survive translation to nsec.
  if (period_us > kMaxUsec || (quota_us != kRuntimeInf && quota_us > kMaxUsec) || burst_us > kMaxUsec)
    return -EINVAL;
  if (quota_us < kMinBwPeriodUs || period_us < kMinBwPeriodUs) return -EINVAL;
  if (period_us > kMaxBwPeriodUs) return -EINVAL;
  if (quota_us != kRuntimeInf && quota_us > kMaxBw) return -EINVAL;
  if (quota_us != kRuntimeInf && (burst_us > quota_us || burst_us + quota_us > kMaxBw)) return -EINVAL;

  // A child's quota/period ratio may not exceed its nearest limited
  // ancestor's. The kernel walks every group from the root.
  const int err = walk(call.cgroup.hierarchy().root(), [&](const Cgroup& c) {
    CpuCss& t = this->tg(c);
    if (!t.parent) {
      t.hierarchical_quota = -1;
      return 0;
    }
    const uint64_t period = &t == &tg ? period_us : t.period_us;
    const uint64_t quota = &t == &tg ? quota_us : t.quota_us;
    int64_t q = quota == kRuntimeInf ? -1 : static_cast<int64_t>(to_ratio(period, quota));
    const int64_t parent_quota = static_cast<CpuCss*>(t.parent)->hierarchical_quota;
    if (q == -1)
      q = parent_quota;
    else if (parent_quota != -1 && q > parent_quota)
      return -EINVAL;
    t.hierarchical_quota = q;
    return 0;
  });
  if (err) return err;
  tg.period_us = period_us;
  tg.quota_us = quota_us;
  tg.burst_us = burst_us;
  return 0;
}

// tg_has_rt_tasks: the group's own members (not its descendants').
bool CpuController::has_rt_tasks(const FileCall& call, const CpuCss& tg) {
  for (const Engine::Member& m : call.engine.members(*tg.cgroup))
    if (host_->is_rt(m.tid)) return true;
  return false;
}

// tg_set_rt_bandwidth with __rt_schedulable (tg_rt_schedulable).
int CpuController::set_rt_bandwidth(const FileCall& call, CpuCss& tg, uint64_t period_ns, uint64_t runtime_ns) {
  // Disallowing the root group RT runtime would stop the kernel's own RT threads.
  if (!tg.parent && runtime_ns == 0) return -EINVAL;
  if (period_ns == 0) return -EINVAL;
  if (runtime_ns != kRuntimeInf && runtime_ns > kMaxBw) return -EINVAL;  // max_rt_runtime

  const CpuHost::RtGlobals g = host_->rt_globals();
  const uint64_t global_ratio = to_ratio(global_rt_period_ns(g), global_rt_runtime_ns(g));
  const bool rt_bandwidth_enabled = g.runtime_us >= 0;
  auto bw = [&](const CpuCss& t, uint64_t* period, uint64_t* runtime) {
    *period = &t == &tg ? period_ns : t.rt_period_ns;
    *runtime = &t == &tg ? runtime_ns : t.rt_runtime_ns;
  };
  const int err = walk(call.cgroup.hierarchy().root(), [&](const Cgroup& c) {
    const CpuCss& t = this->tg(c);
    uint64_t period, runtime;
    bw(t, &period, &runtime);
    // Cannot have more runtime than the period.
    if (runtime > period && runtime != kRuntimeInf) return -EINVAL;
    // Do not starve existing RT tasks if runtime turns zero.
    if (rt_bandwidth_enabled && runtime == 0 && t.rt_runtime_ns != 0 && has_rt_tasks(call, t)) return -EBUSY;
    const uint64_t total = to_ratio(period, runtime);
    // Nobody can have more than the global setting allows.
    if (total > global_ratio) return -EINVAL;
    // The sum of our children's runtime should not exceed our own.
    uint64_t sum = 0;
    for (const auto& [name, child] : c.children()) {
      uint64_t child_period, child_runtime;
      bw(this->tg(*child), &child_period, &child_runtime);
      sum += to_ratio(child_period, child_runtime);
    }
    return sum > total ? -EINVAL : 0;
  });
  if (err) return err;
  tg.rt_period_ns = period_ns;
  tg.rt_runtime_ns = runtime_ns;
  return 0;
}

// cpu_cgroup_can_attach -> sched_rt_can_attach: no real-time task into a
// group that has no RT runtime. All or nothing: one such task refuses the move.
int CpuController::can_attach(TaskSet& tset) {
  for (const TaskMove& m : tset.moves) {
    const CpuCss& dst = *static_cast<CpuCss*>(m.dst->css(*this));
    if (dst.rt_runtime_ns == 0 && host_->is_rt(m.task->tid)) return -EINVAL;
  }
  return 0;
}

// ---- control files -----------------------------------------------------------

int out_u64(std::string& out, uint64_t v) {
  out = std::to_string(v) + "\n";
  return 0;
}
int out_s64(std::string& out, int64_t v) {
  out = std::to_string(v) + "\n";
  return 0;
}

int read_shares(const FileCall& c, std::string& out) { return out_u64(out, CpuController::of(c).tg(c.cgroup).shares); }
int write_shares(const FileCall& c, std::string_view in) {
  unsigned long long v;
  if (int err = kstrtoull(in, 0, &v)) return err;
  CpuController& self = CpuController::of(c);
  return self.set_shares(self.tg(c.cgroup), v);
}

int read_idle(const FileCall& c, std::string& out) { return out_s64(out, CpuController::of(c).tg(c.cgroup).idle); }
int write_idle(const FileCall& c, std::string_view in) {
  long long v;
  if (int err = kstrtoll(in, 0, &v)) return err;
  CpuController& self = CpuController::of(c);
  return self.set_idle(self.tg(c.cgroup), v);
}

int read_quota(const FileCall& c, std::string& out) {
  const CpuCss& tg = CpuController::of(c).tg(c.cgroup);
  return out_s64(out, tg.quota_us == kRuntimeInf ? -1 : static_cast<int64_t>(tg.quota_us));
}
int write_quota(const FileCall& c, std::string_view in) {
  long long v;
  if (int err = kstrtoll(in, 0, &v)) return err;
  CpuController& self = CpuController::of(c);
  CpuCss& tg = self.tg(c.cgroup);
  const uint64_t quota = v < 0 ? kRuntimeInf : static_cast<uint64_t>(v);
  return self.set_bandwidth(c, tg, tg.period_us, quota, tg.burst_us);
}

int read_period(const FileCall& c, std::string& out) { return out_u64(out, CpuController::of(c).tg(c.cgroup).period_us); }
int write_period(const FileCall& c, std::string_view in) {
  unsigned long long v;
  if (int err = kstrtoull(in, 0, &v)) return err;
  CpuController& self = CpuController::of(c);
  CpuCss& tg = self.tg(c.cgroup);
  return self.set_bandwidth(c, tg, v, tg.quota_us, tg.burst_us);
}

int read_burst(const FileCall& c, std::string& out) { return out_u64(out, CpuController::of(c).tg(c.cgroup).burst_us); }
int write_burst(const FileCall& c, std::string_view in) {
  unsigned long long v;
  if (int err = kstrtoull(in, 0, &v)) return err;
  CpuController& self = CpuController::of(c);
  CpuCss& tg = self.tg(c.cgroup);
  return self.set_bandwidth(c, tg, tg.period_us, tg.quota_us, v);
}

// cpu_cfs_stat_show: nothing is throttled.
int read_stat(const FileCall& c, std::string& out) {
  out = "nr_periods 0\nnr_throttled 0\nthrottled_time 0\n";
  if (!c.cgroup.is_root() && CpuController::of(c).host().schedstats()) out += "wait_sum 0\n";
  out += "nr_bursts 0\nburst_time 0\n";
  return 0;
}

int read_stat_local(const FileCall&, std::string& out) {
  out = "throttled_time 0\n";
  return 0;
}

// sched_group_rt_runtime / sched_group_set_rt_runtime.
int read_rt_runtime(const FileCall& c, std::string& out) {
  const CpuCss& tg = CpuController::of(c).tg(c.cgroup);
  return out_s64(out, tg.rt_runtime_ns == kRuntimeInf ? -1 : static_cast<int64_t>(tg.rt_runtime_ns / kNsecPerUsec));
}
int write_rt_runtime(const FileCall& c, std::string_view in) {
  long long v;
  if (int err = kstrtoll(in, 0, &v)) return err;
  CpuController& self = CpuController::of(c);
  CpuCss& tg = self.tg(c.cgroup);
  uint64_t runtime = static_cast<uint64_t>(v) * kNsecPerUsec;
  if (v < 0)
    runtime = kRuntimeInf;
  else if (static_cast<uint64_t>(v) > kMaxUsec)
    return -EINVAL;
  return self.set_rt_bandwidth(c, tg, tg.rt_period_ns, runtime);
}

int read_rt_period(const FileCall& c, std::string& out) {
  return out_u64(out, CpuController::of(c).tg(c.cgroup).rt_period_ns / kNsecPerUsec);
}
int write_rt_period(const FileCall& c, std::string_view in) {
  unsigned long long v;
  if (int err = kstrtoull(in, 0, &v)) return err;
  if (v > kMaxUsec) return -EINVAL;
  CpuController& self = CpuController::of(c);
  CpuCss& tg = self.tg(c.cgroup);
  return self.set_rt_bandwidth(c, tg, v * kNsecPerUsec, tg.rt_runtime_ns);
}

CpuController::CpuController(std::unique_ptr<CpuHost> host) : host_(std::move(host)) {
  files_ = {
      {.name = "shares", .read = read_shares, .write = write_shares},
      {.name = "idle", .read = read_idle, .write = write_idle},
      {.name = "cfs_period_us", .read = read_period, .write = write_period},
      {.name = "cfs_quota_us", .read = read_quota, .write = write_quota},
      {.name = "cfs_burst_us", .read = read_burst, .write = write_burst},
      {.name = "stat", .read = read_stat},
      {.name = "stat.local", .read = read_stat_local},
      {.name = "rt_runtime_us", .read = read_rt_runtime, .write = write_rt_runtime},
      {.name = "rt_period_us", .read = read_rt_period, .write = write_rt_period},
  };
}

// ---- the host ------------------------------------------------------------------

bool read_ll(const std::string& path, long long* out) {
  std::ifstream f(path);
  std::string line;
  if (!std::getline(f, line)) return false;
  return kstrtoll(strstrip(line), 10, out) == 0;
}

class HostCpuOps : public CpuHost {
 public:
  // The priority field of /proc/<tid>/stat is p->prio - MAX_RT_PRIO, the
  // effective priority rt_task() tests: -100..-2 for real-time tasks
  // (including priority-inheritance boosts), -101 for SCHED_DEADLINE.
  bool is_rt(pid_t tid) override {
    std::ifstream f("/proc/" + std::to_string(tid) + "/stat");
    std::string line;
    if (std::getline(f, line)) {
      const size_t paren = line.rfind(')');
      if (paren != std::string::npos) {
        std::istringstream fields(line.substr(paren + 1));
        std::string field;
        for (int i = 3; i <= 18 && fields >> field; ++i) {
          if (i != 18) continue;
          long long prio;
          if (kstrtoll(field, 10, &prio) == 0) return prio >= -100 && prio < 0;
        }
      }
    }
    const int policy = sched_getscheduler(tid);
    if (policy < 0) return false;
    const int base = policy & ~SCHED_RESET_ON_FORK;
    return base == SCHED_FIFO || base == SCHED_RR;
  }

  RtGlobals rt_globals() override {
    RtGlobals g;
    long long v;
    if (read_ll("/proc/sys/kernel/sched_rt_period_us", &v) && v > 0) g.period_us = v;
    if (read_ll("/proc/sys/kernel/sched_rt_runtime_us", &v)) g.runtime_us = v;
    return g;
  }

  bool schedstats() override {
    long long v;
    return read_ll("/proc/sys/kernel/sched_schedstats", &v) && v == 1;
  }
};

}  // namespace

std::unique_ptr<CpuHost> make_host_cpu_ops() { return std::make_unique<HostCpuOps>(); }

std::unique_ptr<Controller> make_cpu_controller(std::unique_ptr<CpuHost> host) {
  return std::make_unique<CpuController>(std::move(host));
}

std::unique_ptr<Controller> make_cpu(const std::vector<std::string>& settings) {
  if (!settings.empty()) throw std::invalid_argument("the cpu controller has no settings ('" + settings.front() + "')");
  return make_cpu_controller(make_host_cpu_ops());
}

}  // namespace cgemu
