// The v1 cpuacct controller, after kernel/sched/cpuacct.c (files,
// cpuacct_charge, cpuacct_account_field, cpuusage_write, cpuacct_stats_show)
// and kernel/sched/cputime.c (cputime_adjust).
//
// The kernel charges a task's runtime to its cpuacct group and every
// ancestor as it runs. The emulator samples each member task's own
// accounting instead: /proc/<tgid>/task/<tid>/schedstat (runtime in ns) and
// stat (utime and stime in clock ticks, the CPU it last ran on). A task's
// time since its previous sample is charged to the group it is in, and to
// every ancestor below the root, when
//   - a cpuacct file of that group or of an ancestor is read or reset,
//   - the task moves to another group (charged to the group it leaves),
//   - its exit is applied (the final sample, if /proc still shows the task).
// A task that joins a group starts from its time at the move; a task forked
// inside a group starts from zero. The root shows the whole host
// (/proc/stat), as the kernel's root shows kernel_cpustat.
#include "controllers/cpuacct.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <unordered_map>

#include "engine/cgroup.h"
#include "engine/css_set.h"
#include "engine/engine.h"
#include "engine/kernel_parse.h"

namespace cgemu {
namespace {

// struct cpuacct: per possible CPU (in possible_cpus order), the precise
// runtime and the user/system split; and the cgroup's prev_cputime.
struct CpuacctCss : Css {
  std::vector<uint64_t> usage, user, system;
  uint64_t prev_utime = 0, prev_stime = 0;
};

struct Counters {
  std::vector<uint64_t> usage, user, system;
};

uint64_t sum(const std::vector<uint64_t>& v) {
  uint64_t s = 0;
  for (uint64_t x : v) s += x;
  return s;
}

// cputime_adjust: scales utime/stime so that they add up to rtime, and
// keeps both monotonic through prev.
void cputime_adjust(uint64_t utime, uint64_t stime, uint64_t rtime, uint64_t* prev_utime, uint64_t* prev_stime) {
  // rtime is not monotonic after a reset: show the previous split.
  if (*prev_stime + *prev_utime >= rtime) return;
  if (stime == 0) {
    // all runtime is user time
  } else if (utime == 0) {
    stime = rtime;
  } else {
    stime = static_cast<uint64_t>(static_cast<unsigned __int128>(stime) * rtime / (stime + utime));
    if (stime > rtime) stime = rtime;
  }
  // Neither goes backwards.
  if (stime < *prev_stime) stime = *prev_stime;
  utime = rtime - stime;
  if (utime < *prev_utime) {
    utime = *prev_utime;
    stime = rtime - utime;
  }
  *prev_stime = stime;
  *prev_utime = utime;
}

class CpuacctController : public Controller {
 public:
  explicit CpuacctController(std::unique_ptr<CpuacctHost> host);

  std::unique_ptr<Css> css_alloc(Cgroup& cgroup, Css* parent) override;
  std::span<const ControlFile> legacy_files() const override { return files_; }
  void attach(TaskSet& tset) override;
  void fork(const Task& task) override;
  void exit(const Task& task) override;

  static CpuacctController& of(const FileCall& call);
  CpuacctCss& ca(const Cgroup& cgroup) const { return static_cast<CpuacctCss&>(*cgroup.css(ssid())); }
  CpuacctCss& ca(const CssSet& cset) const { return *static_cast<CpuacctCss*>(cset.css(*this)); }

  // Applies exits and charges the members below (and at) the cgroup.
  void refresh(const FileCall& call);
  Counters counters(const Cgroup& cgroup);
  void reset(CpuacctCss& ca);
  const std::vector<unsigned>& cpus() const { return cpus_; }
  uint64_t ns_per_tick() const { return ns_per_tick_; }

 private:
  // What a task had run when it was last sampled.
  struct Baseline {
    pid_t tgid = 0;
    uint64_t start_time = 0;  // 0: not known yet
    uint64_t runtime_ns = 0;
    uint64_t utime_ticks = 0;
    uint64_t stime_ticks = 0;
  };
  // Charges what the task ran since its baseline to ca and its ancestors
  // below the root, and moves the baseline. False if the task is gone or
  // its pid names another task (that time is lost).
  bool sample(pid_t tid, Baseline& b, CpuacctCss& ca);
  Baseline baseline_now(pid_t tid, pid_t tgid, uint64_t start_time, bool* alive);
  size_t cpu_index(int cpu) const;

  std::unique_ptr<CpuacctHost> host_;
  std::vector<unsigned> cpus_;
  uint64_t ns_per_tick_;
  // The tracked tasks in a cgroup below the root, by tid.
  std::unordered_map<pid_t, Baseline> tasks_;
  std::vector<ControlFile> files_;
};

CpuacctController& CpuacctController::of(const FileCall& call) {
  const Hierarchy& h = call.cgroup.hierarchy();
  for (int ssid = 0; ssid < kMaxSubsys; ++ssid)
    if (h.has_subsys(ssid))
      if (auto* c = dynamic_cast<CpuacctController*>(call.engine.controller(ssid))) return *c;
  throw std::logic_error("cpuacct file in a hierarchy without cpuacct");
}

std::unique_ptr<Css> CpuacctController::css_alloc(Cgroup&, Css*) {
  auto ca = std::make_unique<CpuacctCss>();
  ca->usage.assign(cpus_.size(), 0);
  ca->user.assign(cpus_.size(), 0);
  ca->system.assign(cpus_.size(), 0);
  return ca;
}

size_t CpuacctController::cpu_index(int cpu) const {
  auto it = std::find(cpus_.begin(), cpus_.end(), static_cast<unsigned>(cpu));
  return it == cpus_.end() ? 0 : static_cast<size_t>(it - cpus_.begin());
}

bool CpuacctController::sample(pid_t tid, Baseline& b, CpuacctCss& ca) {
  const std::optional<CpuacctHost::TaskCputime> now = host_->task_cputime(tid, b.tgid);
  if (!now) return false;
  if (b.start_time && now->start_time != b.start_time) return false;
  b.start_time = now->start_time;
  auto delta = [](uint64_t now_value, uint64_t* then) {
    const uint64_t d = now_value > *then ? now_value - *then : 0;
    *then = std::max(*then, now_value);
    return d;
  };
  const uint64_t run = delta(now->runtime_ns, &b.runtime_ns);
  const uint64_t user = delta(now->utime_ticks, &b.utime_ticks) * ns_per_tick_;
  const uint64_t system = delta(now->stime_ticks, &b.stime_ticks) * ns_per_tick_;
  if (cpus_.empty()) return true;
  const size_t cpu = cpu_index(now->cpu);
  // cpuacct_charge and cpuacct_account_field: the group and its ancestors;
  // the root's numbers come from the host.
  for (CpuacctCss* c = &ca; c && c->parent; c = static_cast<CpuacctCss*>(c->parent)) {
    c->usage[cpu] += run;
    c->user[cpu] += user;
    c->system[cpu] += system;
  }
  return true;
}

CpuacctController::Baseline CpuacctController::baseline_now(pid_t tid, pid_t tgid, uint64_t start_time,
                                                             bool* alive) {
  Baseline b;
  b.tgid = tgid;
  b.start_time = start_time;
  const std::optional<CpuacctHost::TaskCputime> now = host_->task_cputime(tid, tgid);
  *alive = now && (!start_time || now->start_time == start_time);
  if (*alive) {
    b.start_time = now->start_time;
    b.runtime_ns = now->runtime_ns;
    b.utime_ticks = now->utime_ticks;
    b.stime_ticks = now->stime_ticks;
  }
  return b;
}

// cpuacct has no attach callback in the kernel, where charging is
// continuous; here a move is where the task's time is split between the
// group it leaves and the one it joins.
void CpuacctController::attach(TaskSet& tset) {
  for (const TaskMove& m : tset.moves) {
    const pid_t tid = m.task->tid;
    CpuacctCss& src = ca(*m.src);
    CpuacctCss& dst = ca(*m.dst);
    auto it = tasks_.find(tid);
    if (it != tasks_.end() && src.parent && !sample(tid, it->second, src)) {
      tasks_.erase(it);
      it = tasks_.end();
    }
    if (!dst.parent) {
      if (it != tasks_.end()) tasks_.erase(it);
      continue;
    }
    if (it == tasks_.end()) {
      bool alive;
      Baseline b = baseline_now(tid, m.task->tgid, m.task->start_time, &alive);
      if (alive) tasks_[tid] = b;
    }
  }
}

// A task created in a group: all its time is the group's.
void CpuacctController::fork(const Task& task) {
  if (!ca(*task.cset).parent) return;
  Baseline b;
  b.tgid = task.tgid;
  b.start_time = task.start_time;
  tasks_[task.tid] = b;
}

// The final sample, when /proc still shows the task (a zombie does; a
// thread, which the kernel reaps at once, usually does not).
void CpuacctController::exit(const Task& task) {
  auto it = tasks_.find(task.tid);
  if (it == tasks_.end()) return;
  CpuacctCss& c = ca(*task.cset);
  if (c.parent) sample(task.tid, it->second, c);
  tasks_.erase(it);
}

void CpuacctController::refresh(const FileCall& call) {
  if (call.cgroup.is_root()) return;  // the host's numbers
  // Applies the exits below the cgroup (their final samples).
  call.engine.populated(call.cgroup);
  const CpuacctCss& target = ca(call.cgroup);
  for (auto it = tasks_.begin(); it != tasks_.end();) {
    const Task* task = call.engine.tracked_task(it->first);
    if (!task || (it->second.start_time && task->start_time && task->start_time != it->second.start_time)) {
      it = tasks_.erase(it);  // forgotten without an exit
      continue;
    }
    CpuacctCss& c = ca(*task->cset);
    if (!c.parent) {
      it = tasks_.erase(it);
      continue;
    }
    bool below = false;
    for (const Css* p = &c; p && !below; p = p->parent) below = p == &target;
    // A task that is gone but whose exit is not applied yet keeps its
    // record: its exit takes the final sample.
    if (below) sample(it->first, it->second, c);
    ++it;
  }
}

Counters CpuacctController::counters(const Cgroup& cgroup) {
  const CpuacctCss& c = ca(cgroup);
  if (!cgroup.is_root()) return {c.usage, c.user, c.system};
  // The root's cpustat is kernel_cpustat; its usage, the runtime of every
  // task, is taken as user + system.
  Counters out{std::vector<uint64_t>(cpus_.size(), 0), std::vector<uint64_t>(cpus_.size(), 0),
               std::vector<uint64_t>(cpus_.size(), 0)};
  const std::vector<CpuacctHost::CpuTimes> host = host_->host_cpustat();
  for (size_t i = 0; i < cpus_.size() && i < host.size(); ++i) {
    out.user[i] = host[i].user_ns;
    out.system[i] = host[i].system_ns;
    out.usage[i] = host[i].user_ns + host[i].system_ns;
  }
  return out;
}

// cpuacct_cpuusage_write; the root's counters (the host's) are not reset.
void CpuacctController::reset(CpuacctCss& c) {
  if (!c.parent) return;
  std::fill(c.usage.begin(), c.usage.end(), 0);
  std::fill(c.user.begin(), c.user.end(), 0);
  std::fill(c.system.begin(), c.system.end(), 0);
}

// ---- control files -----------------------------------------------------------

enum class Which { kUsage, kUser, kSystem };

const std::vector<uint64_t>& pick(const Counters& c, Which w) {
  return w == Which::kUser ? c.user : w == Which::kSystem ? c.system : c.usage;
}

template <Which W>
int read_total(const FileCall& call, std::string& out) {
  CpuacctController& self = CpuacctController::of(call);
  self.refresh(call);
  out = std::to_string(sum(pick(self.counters(call.cgroup), W))) + "\n";
  return 0;
}

// "%llu " per possible CPU, then "\n".
template <Which W>
int read_percpu(const FileCall& call, std::string& out) {
  CpuacctController& self = CpuacctController::of(call);
  self.refresh(call);
  const Counters c = self.counters(call.cgroup);
  for (uint64_t v : pick(c, W)) out += std::to_string(v) + " ";
  out += "\n";
  return 0;
}

int read_all(const FileCall& call, std::string& out) {
  CpuacctController& self = CpuacctController::of(call);
  self.refresh(call);
  const Counters c = self.counters(call.cgroup);
  out = "cpu user system\n";
  for (size_t i = 0; i < self.cpus().size(); ++i)
    out += std::to_string(self.cpus()[i]) + " " + std::to_string(c.user[i]) + " " + std::to_string(c.system[i]) + "\n";
  return 0;
}

// cpuacct_stats_show: user and system scaled to the runtime by
// cputime_adjust, in USER_HZ ticks.
int read_stat(const FileCall& call, std::string& out) {
  CpuacctController& self = CpuacctController::of(call);
  self.refresh(call);
  const Counters c = self.counters(call.cgroup);
  CpuacctCss& css = self.ca(call.cgroup);
  cputime_adjust(sum(c.user), sum(c.system), sum(c.usage), &css.prev_utime, &css.prev_stime);
  const uint64_t tick = self.ns_per_tick() ? self.ns_per_tick() : 1;
  out = "user " + std::to_string(css.prev_utime / tick) + "\nsystem " + std::to_string(css.prev_stime / tick) + "\n";
  return 0;
}

// cpuusage_write: only 0 resets.
int write_usage(const FileCall& call, std::string_view input) {
  unsigned long long value;
  if (int err = kstrtoull(input, 0, &value)) return err;
  if (value) return -EINVAL;
  CpuacctController& self = CpuacctController::of(call);
  // Time run before the reset is charged before it.
  self.refresh(call);
  self.reset(self.ca(call.cgroup));
  return 0;
}

CpuacctController::CpuacctController(std::unique_ptr<CpuacctHost> host)
    : host_(std::move(host)), cpus_(host_->possible_cpus()), ns_per_tick_(host_->ns_per_tick()) {
  files_ = {
      {.name = "usage", .flags = kCftNotSaved, .read = read_total<Which::kUsage>, .write = write_usage},
      {.name = "usage_user", .read = read_total<Which::kUser>},
      {.name = "usage_sys", .read = read_total<Which::kSystem>},
      {.name = "usage_percpu", .read = read_percpu<Which::kUsage>},
      {.name = "usage_percpu_user", .read = read_percpu<Which::kUser>},
      {.name = "usage_percpu_sys", .read = read_percpu<Which::kSystem>},
      {.name = "usage_all", .read = read_all},
      {.name = "stat", .read = read_stat},
  };
}

// ---- the host ------------------------------------------------------------------

// The fields after "(comm)" of a /proc stat line; fields[0] is field 3.
std::vector<std::string> stat_fields(const std::string& path) {
  std::ifstream f(path);
  std::string line;
  std::vector<std::string> fields;
  if (!std::getline(f, line)) return fields;
  const size_t paren = line.rfind(')');
  if (paren == std::string::npos) return fields;
  std::istringstream ss(line.substr(paren + 1));
  for (std::string w; ss >> w;) fields.push_back(w);
  return fields;
}

uint64_t to_u64(const std::string& s) {
  unsigned long long v = 0;
  return kstrtoull(s, 10, &v) == 0 ? v : 0;
}

class HostCpuacctOps : public CpuacctHost {
 public:
  HostCpuacctOps() {
    const long hz = sysconf(_SC_CLK_TCK);
    ns_per_tick_ = 1000000000ULL / static_cast<uint64_t>(hz > 0 ? hz : 100);
    std::ifstream f("/sys/devices/system/cpu/possible");
    std::string line;
    std::vector<bool> mask;
    if (std::getline(f, line) && bitmap_parselist(line, 1u << 16, &mask) == 0)
      for (unsigned i = 0; i < mask.size(); ++i)
        if (mask[i]) cpus_.push_back(i);
    if (cpus_.empty()) {
      const long n = sysconf(_SC_NPROCESSORS_CONF);
      for (long i = 0; i < std::max(1L, n); ++i) cpus_.push_back(static_cast<unsigned>(i));
    }
  }

  std::optional<TaskCputime> task_cputime(pid_t tid, pid_t tgid) override {
    const std::string base = "/proc/" + std::to_string(tgid) + "/task/" + std::to_string(tid) + "/";
    const std::vector<std::string> fields = stat_fields(base + "stat");
    if (fields.size() < 37) return std::nullopt;
    TaskCputime t;
    t.utime_ticks = to_u64(fields[14 - 3]);
    t.stime_ticks = to_u64(fields[15 - 3]);
    t.start_time = to_u64(fields[22 - 3]);
    t.cpu = static_cast<int>(to_u64(fields[39 - 3]));
    std::ifstream sched(base + "schedstat");
    unsigned long long runtime = 0;
    if (sched >> runtime && runtime)
      t.runtime_ns = runtime;
    else  // no sched_info: the tick-based times
      t.runtime_ns = (t.utime_ticks + t.stime_ticks) * ns_per_tick_;
    return t;
  }

  std::vector<CpuTimes> host_cpustat() override {
    std::vector<CpuTimes> out(cpus_.size());
    std::ifstream f("/proc/stat");
    for (std::string line; std::getline(f, line);) {
      if (line.rfind("cpu", 0) != 0 || line.size() < 4 || line[3] < '0' || line[3] > '9') continue;
      std::istringstream ss(line.substr(3));
      unsigned cpu;
      unsigned long long user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0;
      if (!(ss >> cpu >> user >> nice >> system >> idle >> iowait >> irq >> softirq)) continue;
      auto it = std::find(cpus_.begin(), cpus_.end(), cpu);
      if (it == cpus_.end()) continue;
      CpuTimes& t = out[static_cast<size_t>(it - cpus_.begin())];
      t.user_ns = (user + nice) * ns_per_tick_;
      t.system_ns = (system + irq + softirq) * ns_per_tick_;
    }
    return out;
  }

  std::vector<unsigned> possible_cpus() override { return cpus_; }
  uint64_t ns_per_tick() override { return ns_per_tick_; }

 private:
  std::vector<unsigned> cpus_;
  uint64_t ns_per_tick_;
};

}  // namespace

std::unique_ptr<CpuacctHost> make_host_cpuacct_ops() { return std::make_unique<HostCpuacctOps>(); }

std::unique_ptr<Controller> make_cpuacct_controller(std::unique_ptr<CpuacctHost> host) {
  return std::make_unique<CpuacctController>(std::move(host));
}

std::unique_ptr<Controller> make_cpuacct(const std::vector<std::string>& settings) {
  if (!settings.empty())
    throw std::invalid_argument("the cpuacct controller has no settings ('" + settings.front() + "')");
  return make_cpuacct_controller(make_host_cpuacct_ops());
}

}  // namespace cgemu
