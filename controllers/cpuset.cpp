// The v1 cpuset controller, after kernel/cgroup/cpuset.c and cpuset-v1.c
// (cpuset1_files, validate_change, cpuset1_validate_change, update_cpumask,
// update_nodemask, cpuset_update_flag, cpuset_css_online, cpuset_can_attach,
// cpuset_attach).
//
// The real effect is the CPU affinity of member tasks: attach sets each
// moving task's affinity to its new cpuset's effective CPUs (all possible
// CPUs at the root), and a change of cpuset.cpus re-applies it to the members
// of every cpuset whose effective CPUs changed. Memory nodes, spread flags
// and memory migration are validated and stored only: a process's memory
// policy can only be set from inside it.
#include "controllers/cpuset.h"

#include <sched.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <fstream>
#include <optional>
#include <stdexcept>

#include <unistd.h>

#include <spdlog/spdlog.h>

#include "engine/cgroup.h"
#include "engine/css_set.h"
#include "engine/engine.h"
#include "engine/kernel_parse.h"

namespace cgemu {
namespace {

using Mask = std::vector<bool>;

bool mask_test(const Mask& m, size_t i) { return i < m.size() && m[i]; }
bool mask_empty(const Mask& m) { return std::none_of(m.begin(), m.end(), [](bool b) { return b; }); }
bool mask_subset(const Mask& a, const Mask& b) {
  for (size_t i = 0; i < a.size(); ++i)
    if (a[i] && !mask_test(b, i)) return false;
  return true;
}
bool mask_equal(const Mask& a, const Mask& b) { return mask_subset(a, b) && mask_subset(b, a); }
bool mask_intersects(const Mask& a, const Mask& b) {
  for (size_t i = 0; i < a.size(); ++i)
    if (a[i] && mask_test(b, i)) return true;
  return false;
}
Mask mask_and(const Mask& a, const Mask& b) {
  Mask out(a.size(), false);
  for (size_t i = 0; i < a.size(); ++i) out[i] = a[i] && mask_test(b, i);
  return out;
}
Mask mask_resized(Mask m, size_t n) {
  m.resize(n, false);
  return m;
}

// struct cpuset, the v1 part.
struct CpusetCss : Css {
  Mask cpus_allowed, effective_cpus, mems_allowed, effective_mems;
  bool cpu_exclusive = false;
  bool mem_exclusive = false;
  bool mem_hardwall = false;
  bool sched_load_balance = true;
  bool memory_migrate = false;
  bool spread_page = false;
  bool spread_slab = false;
  int relax_domain_level = -1;
};

// The masks and flags validate_change compares (a trial cpuset).
struct Trial {
  Mask cpus_allowed, mems_allowed;
  bool cpu_exclusive, mem_exclusive;
  static Trial of(const CpusetCss& cs) { return {cs.cpus_allowed, cs.mems_allowed, cs.cpu_exclusive, cs.mem_exclusive}; }
};

// is_cpuset_subset(p, q).
template <class P, class Q>
bool is_cpuset_subset(const P& p, const Q& q) {
  return mask_subset(p.cpus_allowed, q.cpus_allowed) && mask_subset(p.mems_allowed, q.mems_allowed) &&
         p.cpu_exclusive <= q.cpu_exclusive && p.mem_exclusive <= q.mem_exclusive;
}

class CpusetController : public Controller {
 public:
  CpusetController(CpusetTopology topology, std::unique_ptr<CpusetHost> host);

  std::unique_ptr<Css> css_alloc(Cgroup& cgroup, Css* parent) override;
  std::span<const ControlFile> legacy_files() const override { return files_; }
  int can_attach(TaskSet& tset) override;
  void attach(TaskSet& tset) override;

  static CpusetController& of(const FileCall& call);
  CpusetCss& cs(const Cgroup& cgroup) const { return static_cast<CpusetCss&>(*cgroup.css(ssid())); }
  CpusetCss* cs(const CssSet& cset) const { return static_cast<CpusetCss*>(cset.css(*this)); }

  const CpusetTopology& topology() const { return topo_; }
  bool memory_pressure_enabled = false;

  int validate_change(const FileCall& call, CpusetCss& cur, const Trial& trial);
  int write_cpus(const FileCall& call, std::string_view input);
  int write_mems(const FileCall& call, std::string_view input);

 private:
  // update_cpumasks_hier / update_nodemasks_hier.
  void update_cpus_hier(const FileCall& call, CpusetCss& cs);
  void update_mems_hier(CpusetCss& cs);
  // The affinity a member of cs gets (guarantee_online_cpus; the root: all
  // possible CPUs).
  Mask task_cpus(const CpusetCss& cs) const;
  void set_members_affinity(const FileCall& call, CpusetCss& cs);

  CpusetTopology topo_;
  std::unique_ptr<CpusetHost> host_;
  std::vector<ControlFile> files_;
};

CpusetController& CpusetController::of(const FileCall& call) {
  const Hierarchy& h = call.cgroup.hierarchy();
  for (int ssid = 0; ssid < kMaxSubsys; ++ssid)
    if (h.has_subsys(ssid))
      if (auto* c = dynamic_cast<CpusetController*>(call.engine.controller(ssid))) return *c;
  throw std::logic_error("cpuset file in a hierarchy without cpuset");
}

std::unique_ptr<Css> CpusetController::css_alloc(Cgroup& cgroup, Css* parent_css) {
  auto css = std::make_unique<CpusetCss>();
  const unsigned nodes = topo_.max_numnodes;
  if (!parent_css) {
    // top_cpuset: exclusive and load-balancing; cpuset_bind copies the
    // online CPUs and memory nodes into cpus/mems (v2 mode: all possible).
    css->cpu_exclusive = css->mem_exclusive = true;
    css->effective_cpus = topo_.online_cpus;
    css->effective_mems = topo_.memory_nodes;
    css->cpus_allowed = topo_.v2_mode ? topo_.possible_cpus : topo_.online_cpus;
    css->mems_allowed = topo_.memory_nodes;
    return css;
  }
  const CpusetCss& parent = *static_cast<const CpusetCss*>(parent_css);
  css->cpus_allowed.assign(topo_.nr_cpu_ids, false);
  css->effective_cpus.assign(topo_.nr_cpu_ids, false);
  css->mems_allowed.assign(nodes, false);
  css->effective_mems.assign(nodes, false);
  // cpuset_css_online.
  css->spread_page = parent.spread_page;
  css->spread_slab = parent.spread_slab;
  if (topo_.v2_mode) {
    css->effective_cpus = parent.effective_cpus;
    css->effective_mems = parent.effective_mems;
  }
  // CGRP_CPUSET_CLONE_CHILDREN: the new cgroup's flag, copied from its
  // parent's at mkdir. Refused when a sibling is exclusive.
  if (cgroup.clone_children) {
    for (const auto& [name, sibling] : cgroup.parent()->children()) {
      const CpusetCss& s = cs(*sibling);
      if (s.cpu_exclusive || s.mem_exclusive) return css;
    }
    css->mems_allowed = css->effective_mems = parent.mems_allowed;
    css->cpus_allowed = css->effective_cpus = parent.cpus_allowed;
  }
  return css;
}


// validate_change with cpuset1_validate_change, for v1 hierarchies. The
// SCHED_DEADLINE bandwidth check (cpuset_cpumask_can_shrink) is left out:
// deadline tasks' bandwidth is not visible from user space.
int CpusetController::validate_change(const FileCall& call, CpusetCss& cur, const Trial& trial) {
  if (!topo_.v2_mode) {
    // Each of our children must be a subset of us.
    for (const auto& [name, child] : cur.cgroup->children())
      if (!is_cpuset_subset(cs(*child), trial)) return -EBUSY;
    // We must be a subset of our parent.
    if (cur.parent && !is_cpuset_subset(trial, *static_cast<CpusetCss*>(cur.parent))) return -EACCES;
  }
  if (!cur.parent) return 0;  // the rest does not apply to the top cpuset

  // A cpuset with tasks cannot lose all its CPUs or nodes.
  const bool empties = (!mask_empty(cur.cpus_allowed) && mask_empty(trial.cpus_allowed)) ||
                       (!mask_empty(cur.mems_allowed) && mask_empty(trial.mems_allowed));
  if (empties && call.engine.populated(*cur.cgroup)) return -ENOSPC;

  // If either I or a sibling is exclusive, we cannot overlap.
  for (const auto& [name, sibling] : cur.cgroup->parent()->children()) {
    if (sibling.get() == cur.cgroup) continue;
    const CpusetCss& c = cs(*sibling);
    if ((trial.cpu_exclusive || c.cpu_exclusive) && mask_intersects(trial.cpus_allowed, c.cpus_allowed))
      return -EINVAL;
    if ((trial.mem_exclusive || c.mem_exclusive) && mask_intersects(trial.mems_allowed, c.mems_allowed))
      return -EINVAL;
  }
  return 0;
}

// update_cpumask.
int CpusetController::write_cpus(const FileCall& call, std::string_view input) {
  CpusetCss& cur = cs(call.cgroup);
  const std::string_view buf = strstrip(input);
  // The top cpuset follows the online CPUs; it is read-only.
  if (!cur.parent) return -EACCES;
  Trial trial = Trial::of(cur);
  if (buf.empty()) {
    trial.cpus_allowed.assign(topo_.nr_cpu_ids, false);
  } else {
    if (int err = bitmap_parselist(buf, topo_.nr_cpu_ids, &trial.cpus_allowed)) return err;
    if (!mask_subset(trial.cpus_allowed, cs(call.cgroup.hierarchy().root()).cpus_allowed)) return -EINVAL;
  }
  if (mask_equal(cur.cpus_allowed, trial.cpus_allowed)) return 0;
  if (int err = validate_change(call, cur, trial)) return err;
  cur.cpus_allowed = trial.cpus_allowed;
  update_cpus_hier(call, cur);
  return 0;
}

// update_nodemask.
int CpusetController::write_mems(const FileCall& call, std::string_view input) {
  CpusetCss& cur = cs(call.cgroup);
  const std::string_view buf = strstrip(input);
  if (!cur.parent) return -EACCES;
  Trial trial = Trial::of(cur);
  if (buf.empty()) {
    trial.mems_allowed.assign(topo_.max_numnodes, false);
  } else {
    if (int err = bitmap_parselist(buf, topo_.max_numnodes, &trial.mems_allowed)) return err;
    if (!mask_subset(trial.mems_allowed, cs(call.cgroup.hierarchy().root()).mems_allowed)) return -EINVAL;
  }
  if (mask_equal(cur.mems_allowed, trial.mems_allowed)) return 0;
  if (int err = validate_change(call, cur, trial)) return err;
  cur.mems_allowed = trial.mems_allowed;
  update_mems_hier(cur);
  return 0;
}

void CpusetController::update_cpus_hier(const FileCall& call, CpusetCss& cp) {
  const CpusetCss& parent = *static_cast<CpusetCss*>(cp.parent);
  Mask eff = mask_and(cp.cpus_allowed, parent.effective_cpus);
  if (topo_.v2_mode && mask_empty(eff)) eff = parent.effective_cpus;
  // Skip the whole subtree if the mask remains the same.
  if (mask_equal(eff, cp.effective_cpus)) return;
  cp.effective_cpus = eff;
  set_members_affinity(call, cp);
  for (const auto& [name, child] : cp.cgroup->children()) update_cpus_hier(call, cs(*child));
}

void CpusetController::update_mems_hier(CpusetCss& cp) {
  const CpusetCss& parent = *static_cast<CpusetCss*>(cp.parent);
  Mask eff = mask_and(cp.mems_allowed, parent.effective_mems);
  if (topo_.v2_mode && mask_empty(eff)) eff = parent.effective_mems;
  if (mask_equal(eff, cp.effective_mems)) return;
  cp.effective_mems = eff;
  for (const auto& [name, child] : cp.cgroup->children()) update_mems_hier(cs(*child));
}

Mask CpusetController::task_cpus(const CpusetCss& cs) const {
  if (!cs.parent) return topo_.possible_cpus;
  // guarantee_online_cpus: the nearest cpuset, upwards, with an online CPU.
  const Mask pmask = mask_and(topo_.possible_cpus, topo_.online_cpus);
  const CpusetCss* c = &cs;
  while (c->parent && !mask_intersects(c->effective_cpus, pmask)) c = static_cast<const CpusetCss*>(c->parent);
  return mask_and(pmask, c->effective_cpus);
}

// cpuset_update_tasks_cpumask: best effort, as the kernel's cannot fail; a
// member that could move in can normally be updated.
void CpusetController::set_members_affinity(const FileCall& call, CpusetCss& cs) {
  const Mask cpus = task_cpus(cs);
  for (const Engine::Member& m : call.engine.members(*cs.cgroup)) {
    const int err = host_->set_affinity(m.tid, cpus);
    if (err && err != -ESRCH)
      spdlog::warn("cpuset {}: cannot set the CPU affinity of task {}: {}", cs.cgroup->path(), m.tid, strerror(-err));
  }
}

// cpuset_can_attach: the destination must have CPUs and (v1) nodes, and the
// emulator must be allowed to change each task's affinity (the kernel's
// security_task_setscheduler check), so that attach cannot half-apply.
int CpusetController::can_attach(TaskSet& tset) {
  if (tset.moves.empty()) return 0;
  const CpusetCss& dst = *cs(*tset.moves.front().dst);
  if (mask_empty(dst.effective_cpus) || (!topo_.v2_mode && mask_empty(dst.mems_allowed))) return -ENOSPC;
  for (const TaskMove& m : tset.moves)
    if (int err = host_->may_set_affinity(m.task->tid)) return err;
  return 0;
}

// cpuset_attach_task: the task's affinity is replaced by the cpuset's.
void CpusetController::attach(TaskSet& tset) {
  for (const TaskMove& m : tset.moves) {
    const CpusetCss& dst = *cs(*m.dst);
    const int err = host_->set_affinity(m.task->tid, task_cpus(dst));
    if (err && err != -ESRCH)
      spdlog::warn("cpuset {}: cannot set the CPU affinity of task {}: {}", dst.cgroup->path(), m.task->tid,
                   strerror(-err));
  }
}

// ---- control files -----------------------------------------------------------

std::string mask_line(const Mask& m) { return bitmap_print(m) + "\n"; }

template <Mask CpusetCss::*Field>
int read_mask(const FileCall& call, std::string& out) {
  out = mask_line(CpusetController::of(call).cs(call.cgroup).*Field);
  return 0;
}

template <bool CpusetCss::*Flag>
int read_flag(const FileCall& call, std::string& out) {
  out = (CpusetController::of(call).cs(call.cgroup).*Flag) ? "1\n" : "0\n";
  return 0;
}

// cpuset_write_u64 -> cpuset_update_flag(bit, cs, int turning_on): the u64
// is narrowed to an int, so 4294967296 turns a flag off.
template <bool CpusetCss::*Flag>
int write_flag(const FileCall& call, std::string_view input) {
  unsigned long long value;
  if (int err = kstrtoull(input, 0, &value)) return err;
  CpusetController& self = CpusetController::of(call);
  CpusetCss& cur = self.cs(call.cgroup);
  const bool on = static_cast<int>(static_cast<unsigned>(value)) != 0;
  Trial trial = Trial::of(cur);
  if constexpr (Flag == &CpusetCss::cpu_exclusive) trial.cpu_exclusive = on;
  if constexpr (Flag == &CpusetCss::mem_exclusive) trial.mem_exclusive = on;
  if (int err = self.validate_change(call, cur, trial)) return err;
  cur.*Flag = on;
  return 0;
}

int read_relax_domain_level(const FileCall& call, std::string& out) {
  out = std::to_string(CpusetController::of(call).cs(call.cgroup).relax_domain_level) + "\n";
  return 0;
}

// update_relax_domain_level.
int write_relax_domain_level(const FileCall& call, std::string_view input) {
  long long value;
  if (int err = kstrtoll(input, 0, &value)) return err;
  CpusetController& self = CpusetController::of(call);
  if (value < -1 || value > self.topology().sched_domain_level_max + 1) return -EINVAL;
  self.cs(call.cgroup).relax_domain_level = static_cast<int>(value);
  return 0;
}

// The frequency meter of direct reclaims in the cpuset: reclaim events are
// not visible from user space, so it stays 0.
int read_memory_pressure(const FileCall&, std::string& out) {
  out = "0\n";
  return 0;
}

int read_pressure_enabled(const FileCall& call, std::string& out) {
  out = CpusetController::of(call).memory_pressure_enabled ? "1\n" : "0\n";
  return 0;
}

int write_pressure_enabled(const FileCall& call, std::string_view input) {
  unsigned long long value;
  if (int err = kstrtoull(input, 0, &value)) return err;
  CpusetController::of(call).memory_pressure_enabled = value != 0;
  return 0;
}

CpusetController::CpusetController(CpusetTopology topology, std::unique_ptr<CpusetHost> host)
    : topo_(std::move(topology)), host_(std::move(host)) {
  topo_.nr_cpu_ids = std::max(1u, topo_.nr_cpu_ids);
  topo_.max_numnodes = std::max(1u, topo_.max_numnodes);
  topo_.possible_cpus = mask_resized(topo_.possible_cpus, topo_.nr_cpu_ids);
  topo_.online_cpus = mask_resized(topo_.online_cpus, topo_.nr_cpu_ids);
  topo_.memory_nodes = mask_resized(topo_.memory_nodes, topo_.max_numnodes);
  files_ = {
      {.name = "cpus",
       .read = read_mask<&CpusetCss::cpus_allowed>,
       .write = [](const FileCall& c, std::string_view in) { return CpusetController::of(c).write_cpus(c, in); },
       .max_write_len = 100 + 6 * size_t{topo_.nr_cpus_config}},
      {.name = "mems",
       .read = read_mask<&CpusetCss::mems_allowed>,
       .write = [](const FileCall& c, std::string_view in) { return CpusetController::of(c).write_mems(c, in); },
       .max_write_len = 100 + 6 * size_t{topo_.max_numnodes}},
      {.name = "effective_cpus", .read = read_mask<&CpusetCss::effective_cpus>},
      {.name = "effective_mems", .read = read_mask<&CpusetCss::effective_mems>},
      {.name = "cpu_exclusive",
       .read = read_flag<&CpusetCss::cpu_exclusive>,
       .write = write_flag<&CpusetCss::cpu_exclusive>},
      {.name = "mem_exclusive",
       .read = read_flag<&CpusetCss::mem_exclusive>,
       .write = write_flag<&CpusetCss::mem_exclusive>},
      {.name = "mem_hardwall", .read = read_flag<&CpusetCss::mem_hardwall>, .write = write_flag<&CpusetCss::mem_hardwall>},
      {.name = "sched_load_balance",
       .read = read_flag<&CpusetCss::sched_load_balance>,
       .write = write_flag<&CpusetCss::sched_load_balance>},
      {.name = "sched_relax_domain_level", .read = read_relax_domain_level, .write = write_relax_domain_level},
      {.name = "memory_migrate",
       .read = read_flag<&CpusetCss::memory_migrate>,
       .write = write_flag<&CpusetCss::memory_migrate>},
      {.name = "memory_pressure", .read = read_memory_pressure},
      {.name = "memory_spread_page",
       .read = read_flag<&CpusetCss::spread_page>,
       .write = write_flag<&CpusetCss::spread_page>},
      {.name = "memory_spread_slab",
       .read = read_flag<&CpusetCss::spread_slab>,
       .write = write_flag<&CpusetCss::spread_slab>},
      {.name = "memory_pressure_enabled",
       .flags = kCftOnlyOnRoot,
       .read = read_pressure_enabled,
       .write = write_pressure_enabled},
  };
}

// ---- the host ------------------------------------------------------------------

std::string read_first_line(const std::string& path) {
  std::ifstream f(path);
  std::string line;
  std::getline(f, line);
  return line;
}

// A sysfs list ("0-3,8"), or nullopt if absent or unparsable.
std::optional<Mask> read_list(const std::string& path, unsigned nbits) {
  std::ifstream f(path);
  if (!f) return std::nullopt;
  std::string line;
  std::getline(f, line);
  Mask m;
  if (bitmap_parselist(line, nbits, &m)) return std::nullopt;
  return m;
}

class HostCpusetOps : public CpusetHost {
 public:
  explicit HostCpusetOps(unsigned nr_cpu_ids) : ncpus_(std::max(nr_cpu_ids, 1024u)) {}

  int may_set_affinity(pid_t tid) override {
    // Writing back the task's own mask changes nothing the task can see,
    // and fails exactly as a real change would for lack of rights.
    CpuSet set(ncpus_);
    if (sched_getaffinity(tid, set.size, set.set) != 0) return errno == ESRCH ? 0 : -errno;
    if (sched_setaffinity(tid, set.size, set.set) != 0) return errno == ESRCH ? 0 : -errno;
    return 0;
  }

  int set_affinity(pid_t tid, const Mask& cpus) override {
    CpuSet set(ncpus_);
    for (size_t i = 0; i < cpus.size() && i < ncpus_; ++i)
      if (cpus[i]) CPU_SET_S(i, set.size, set.set);
    return sched_setaffinity(tid, set.size, set.set) == 0 ? 0 : -errno;
  }

 private:
  struct CpuSet {
    explicit CpuSet(size_t n) : set(CPU_ALLOC(n)), size(CPU_ALLOC_SIZE(n)) {
      if (!set) throw std::bad_alloc();
      CPU_ZERO_S(size, set);
    }
    ~CpuSet() { CPU_FREE(set); }
    CpuSet(const CpuSet&) = delete;
    CpuSet& operator=(const CpuSet&) = delete;
    cpu_set_t* set;
    size_t size;
  };
  size_t ncpus_;
};

// sched_domain_level_max is the depth of the scheduler-domain levels the
// kernel built, which only debugfs shows. Guess it from CPU 0's topology:
// one level per distinct nested CPU mask (SMT, cluster, core group,
// package), and one more for NUMA; levels count from 0.
int guess_sched_domain_level_max(unsigned nr_cpu_ids) {
  const std::string base = "/sys/devices/system/cpu/cpu0/topology/";
  std::vector<Mask> levels;
  for (const char* name : {"thread_siblings_list", "cluster_cpus_list", "core_siblings_list", "package_cpus_list"}) {
    auto m = read_list(base + name, nr_cpu_ids);
    if (!m || mask_empty(*m)) continue;
    if (levels.empty() || !mask_equal(levels.back(), *m)) levels.push_back(*m);
  }
  auto nodes = read_list("/sys/devices/system/node/has_cpu", 1024);
  if (nodes && std::count(nodes->begin(), nodes->end(), true) > 1) levels.emplace_back();
  return std::max(0, static_cast<int>(levels.size()) - 1);
}

}  // namespace

CpusetTopology CpusetTopology::from_host() {
  CpusetTopology t;
  constexpr unsigned kProbeBits = 1u << 16;
  if (auto possible = read_list("/sys/devices/system/cpu/possible", kProbeBits)) {
    unsigned last = 0;
    for (unsigned i = 0; i < possible->size(); ++i)
      if ((*possible)[i]) last = i;
    t.nr_cpu_ids = last + 1;
    t.possible_cpus = mask_resized(*possible, t.nr_cpu_ids);
  } else {
    long n = sysconf(_SC_NPROCESSORS_CONF);
    t.nr_cpu_ids = n > 0 ? static_cast<unsigned>(n) : 1;
    t.possible_cpus.assign(t.nr_cpu_ids, true);
  }
  t.online_cpus = read_list("/sys/devices/system/cpu/online", t.nr_cpu_ids).value_or(t.possible_cpus);
  const std::string kernel_max = read_first_line("/sys/devices/system/cpu/kernel_max");
  unsigned long long max_cpu;
  if (!kernel_max.empty() && kstrtoull(kernel_max, 10, &max_cpu) == 0 && max_cpu < kProbeBits)
    t.nr_cpus_config = static_cast<unsigned>(max_cpu) + 1;
  // MAX_NUMNODES is not exported; 1 << CONFIG_NODES_SHIFT is 1024 on the
  // usual x86-64 kernels.
  t.max_numnodes = 1024;
  std::optional<Mask> mems = read_list("/sys/devices/system/node/has_memory", t.max_numnodes);
  if (!mems || mask_empty(*mems)) mems = read_list("/sys/devices/system/node/online", t.max_numnodes);
  if (!mems || mask_empty(*mems)) {
    mems = Mask(t.max_numnodes, false);
    (*mems)[0] = true;
  }
  t.memory_nodes = *mems;
  t.sched_domain_level_max = guess_sched_domain_level_max(t.nr_cpu_ids);
  return t;
}

std::unique_ptr<CpusetHost> make_host_cpuset_ops(unsigned nr_cpu_ids) {
  return std::make_unique<HostCpusetOps>(nr_cpu_ids);
}

std::unique_ptr<Controller> make_cpuset_controller(CpusetTopology topology, std::unique_ptr<CpusetHost> host) {
  return std::make_unique<CpusetController>(std::move(topology), std::move(host));
}

std::unique_ptr<Controller> make_cpuset(const std::vector<std::string>& settings) {
  CpusetTopology topology = CpusetTopology::from_host();
  for (const std::string& s : settings) {
    long long level;
    if (s == "v2_mode") {
      topology.v2_mode = true;
    } else if (s.rfind("sched_domain_level_max=", 0) == 0 &&
               kstrtoll(std::string_view(s).substr(23), 10, &level) == 0 && level >= 0 && level < 64) {
      topology.sched_domain_level_max = static_cast<int>(level);
    } else {
      throw std::invalid_argument("unknown or bad cpuset setting '" + s +
                                  "' (known: v2_mode, sched_domain_level_max=N)");
    }
  }
  const unsigned n = topology.nr_cpu_ids;
  return make_cpuset_controller(std::move(topology), make_host_cpuset_ops(n));
}

}  // namespace cgemu
