// The cpuacct controller (kernel/sched/cpuacct.c): the CPU time of the
// member tasks, counted while they are members and charged to every ancestor,
// from the kernel's per-task accounting in /proc.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/controller.h"

namespace cgemu {

class CpuacctHost {
 public:
  virtual ~CpuacctHost() = default;

  // What the kernel exposes of one task's CPU time: /proc/<tgid>/task/<tid>/
  // stat (utime, stime in clock ticks, start time, last CPU) and schedstat
  // (the runtime in ns).
  struct TaskCputime {
    uint64_t start_time = 0;  // clock ticks after boot, as TaskInfo's
    uint64_t runtime_ns = 0;  // se.sum_exec_runtime
    uint64_t utime_ticks = 0;
    uint64_t stime_ticks = 0;
    int cpu = 0;  // the CPU it last ran on
  };
  // nullopt if the task is gone.
  virtual std::optional<TaskCputime> task_cputime(pid_t tid, pid_t tgid) = 0;

  // The whole host per possible CPU (/proc/stat): user = user + nice,
  // system = system + irq + softirq, in ns. The root cgroup's numbers.
  struct CpuTimes {
    uint64_t user_ns = 0;
    uint64_t system_ns = 0;
  };
  virtual std::vector<CpuTimes> host_cpustat() = 0;

  // The possible CPUs (/sys/devices/system/cpu/possible), in order: the
  // per-CPU files have one entry for each, and host_cpustat() follows it.
  virtual std::vector<unsigned> possible_cpus() = 0;
  // NSEC_PER_SEC / USER_HZ.
  virtual uint64_t ns_per_tick() = 0;
};

// /proc and /sys on the host.
std::unique_ptr<CpuacctHost> make_host_cpuacct_ops();

std::unique_ptr<Controller> make_cpuacct_controller(std::unique_ptr<CpuacctHost> host);

// The registry's factory; cpuacct has no settings.
std::unique_ptr<Controller> make_cpuacct(const std::vector<std::string>& settings);

}  // namespace cgemu
