// The cpuset controller (kernel/cgroup/cpuset.c, cpuset-v1.c): CPU and
// memory-node placement, with the v1 hierarchy rules (subset of the parent,
// exclusivity, clone_children) and a real effect: member tasks' CPU affinity
// follows their cpuset's effective CPUs.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "engine/controller.h"

namespace cgemu {

// What the kernel knows of the machine when the hierarchy is mounted. Bitmaps
// hold one bool per CPU or node.
struct CpusetTopology {
  unsigned nr_cpu_ids = 1;          // bits of a cpumask: highest possible CPU + 1
  std::vector<bool> possible_cpus;  // cpu_possible_mask
  std::vector<bool> online_cpus;    // the top cpuset's cpus (cpu_active_mask)
  unsigned max_numnodes = 1024;     // MAX_NUMNODES: bits of a nodemask
  std::vector<bool> memory_nodes;   // the top cpuset's mems (node_states[N_MEMORY])
  unsigned nr_cpus_config = 8192;   // NR_CPUS: cpuset.cpus takes 100 + 6 * NR_CPUS bytes
  int sched_domain_level_max = 0;   // cpuset.sched_relax_domain_level <= this + 1
  bool v2_mode = false;             // the cpuset_v2_mode mount option

  // From /sys/devices/system/cpu and /sys/devices/system/node.
  static CpusetTopology from_host();
};

// The real effect, on the host's tasks, with the emulator's own rights.
class CpusetHost {
 public:
  virtual ~CpusetHost() = default;
  // 0 if the emulator may change the task's CPU affinity (0 too for a task
  // that is gone), else the errno the kernel gives (-EPERM, -EACCES).
  virtual int may_set_affinity(pid_t tid) = 0;
  // sched_setaffinity(tid, cpus): 0 or -errno.
  virtual int set_affinity(pid_t tid, const std::vector<bool>& cpus) = 0;
};

// sched_getaffinity/sched_setaffinity on the host.
std::unique_ptr<CpusetHost> make_host_cpuset_ops(unsigned nr_cpu_ids);

std::unique_ptr<Controller> make_cpuset_controller(CpusetTopology topology, std::unique_ptr<CpusetHost> host);

// The registry's factory. Settings: "v2_mode" (what the cpuset_v2_mode mount
// option means), "sched_domain_level_max=N" (the host's scheduler-domain
// depth, which user space cannot read; guessed from the CPU topology).
std::unique_ptr<Controller> make_cpuset(const std::vector<std::string>& settings);

}  // namespace cgemu
