// The pids controller (kernel/cgroup/pids.c): a hierarchical count of the
// tasks (threads) of each cgroup's subtree, its limit, high-water mark and
// fork-failure events.
//
// The emulator learns of a fork after it happened, so it cannot make fork()
// fail with EAGAIN. A fork that the kernel would have refused (it takes the
// cgroup or an ancestor past pids.max) is counted in pids.events of the
// cgroup where it happened, and the first one per cgroup is logged with the
// kernel's message. What happens to the child is the `pids.enforce` setting:
//   count (default)  the child lives and is charged: pids.current may exceed
//                    pids.max;
//   kill             a new process is killed (SIGKILL) at once and never
//                    charged, as if its fork had failed; a new thread, which
//                    cannot be killed alone, is charged as in `count`.
// Charges are released when the task is reaped, as the kernel does: a
// zombie process still counts until its parent waits for it (a thread is
// released at exit, as the kernel releases threads).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "engine/controller.h"

namespace cgemu {

class PidsCss : public Css {
 public:
  static constexpr int64_t kMax = 4194304 + 1LL;  // PIDS_MAX: PID_MAX_LIMIT + 1

  int64_t counter = 0;
  int64_t limit = kMax;
  int64_t watermark = 0;
  int64_t fork_failures = 0;  // events_local[PIDCG_FORKFAIL]: pids.events in v1
};

// What the pids controller asks of the host.
class PidsHost {
 public:
  virtual ~PidsHost() = default;
  // True once the task is reaped: /proc/<tid> is gone or names another task.
  virtual bool reaped(pid_t tid, uint64_t start_time) = 0;
  // The task's start time, or 0 if there is no task tid.
  virtual uint64_t start_time(pid_t tid) = 0;
  // Kills the process (tid is its leader), if it is still that task.
  // A start time of 0 (not known) matches any.
  virtual void kill(pid_t tid, uint64_t start_time) = 0;
};

std::unique_ptr<PidsHost> make_proc_pids_host();

class PidsController : public Controller {
 public:
  enum class Enforce { kCount, kKill };

  PidsController(Enforce enforce, std::unique_ptr<PidsHost> host);

  std::unique_ptr<Css> css_alloc(Cgroup& cgroup, Css* parent) override;
  void css_offline(Css& css) override;
  std::span<const ControlFile> legacy_files() const override;
  int can_attach(TaskSet& tset) override;
  void cancel_attach(TaskSet& tset) override;
  void fork(const Task& task) override;
  void exit(const Task& task) override;

  // Releases the charges of zombies that have been reaped since.
  void release_reaped();
  Enforce enforce() const { return enforce_; }

 private:
  struct Zombie {
    pid_t tid;
    uint64_t start_time;
    PidsCss* css;
  };

  PidsCss* css_of(const CssSet& cset) const;

  Enforce enforce_;
  std::unique_ptr<PidsHost> host_;
  std::vector<Zombie> zombies_;
  // Processes killed for a fork past the limit: never charged. Events come
  // in order, so the pid names the rejected task until its exit.
  std::set<pid_t> rejected_;
};

// Subsystem::make. Settings: "enforce=count" (the default) or "enforce=kill".
std::unique_ptr<Controller> make_pids(const std::vector<std::string>& settings);

}  // namespace cgemu
