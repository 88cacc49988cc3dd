// The cpu controller (kernel/sched/core.c cpu_legacy_files, fair.c, rt.c):
// CFS shares, idle, bandwidth (quota, period, burst) and RT group bandwidth,
// validated and stored as the kernel does. The real effect is the kernel's
// attach rule: a real-time task cannot join a group without RT runtime.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "engine/controller.h"

namespace cgemu {

class CpuHost {
 public:
  virtual ~CpuHost() = default;
  // rt_task(): the task runs at a real-time priority (SCHED_FIFO/SCHED_RR,
  // or boosted to one). False for a task that is gone.
  virtual bool is_rt(pid_t tid) = 0;
  // /proc/sys/kernel/sched_rt_period_us and sched_rt_runtime_us (-1:
  // unlimited), which bound every group's RT bandwidth.
  struct RtGlobals {
    long long period_us = 1000000;
    long long runtime_us = 950000;
  };
  virtual RtGlobals rt_globals() = 0;
  // schedstats are on (cpu.stat then has a wait_sum line).
  virtual bool schedstats() = 0;
};

// /proc on the host.
std::unique_ptr<CpuHost> make_host_cpu_ops();

std::unique_ptr<Controller> make_cpu_controller(std::unique_ptr<CpuHost> host);

// The registry's factory; the cpu controller has no settings.
std::unique_ptr<Controller> make_cpu(const std::vector<std::string>& settings);

}  // namespace cgemu
