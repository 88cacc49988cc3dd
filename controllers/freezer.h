// The v1 freezer (kernel/cgroup/legacy_freezer.c): freezer.state with the
// FREEZING/FROZEN state machine (FROZEN is found lazily, on read, bottom-up),
// freezer.self_freezing and freezer.parent_freezing; and the real effect:
// the tasks of a freezing cgroup are stopped so that they run no code.
//
// How tasks are stopped is a TaskStopper. The emulator's is ptrace-based
// (make_ptrace_stopper): a dedicated thread seizes each task (each thread of
// a process on its own) with PTRACE_SEIZE and stops it with
// PTRACE_INTERRUPT; thawing detaches, which resumes it. Unlike SIGSTOP this
// is invisible to the task's parent (waitpid(WUNTRACED) reports nothing, a
// shell does not see a stopped job), a SIGCONT from anyone does not wake the
// task, and a single thread can be frozen while its siblings run. Signals
// sent to a frozen task wait, and are delivered when it is thawed; SIGKILL
// still kills it. While frozen, the task cannot be traced by a debugger; a
// task already being traced cannot be frozen. If the emulator exits, its
// frozen tasks are released by the kernel and run again.
//
// A task the daemon may not trace (another user's, when it runs
// unprivileged; a traced one; any under Yama's ptrace_scope >= 1 without
// CAP_SYS_PTRACE) is not stopped: a warning names it and its cgroup stays
// FREEZING until thawed, as a kernel cgroup does with a task that cannot
// freeze. Kernel threads, the daemon's own threads and the processes it
// starts are never stopped and do not hold FROZEN back. FROZEN is reported
// only once every other task is seen stopped in /proc (state t).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "engine/controller.h"

namespace cgemu {

class Engine;

class TaskStopper {
 public:
  enum class State {
    kRunning,  // may run code
    kStopped,  // runs no code: stopped by this stopper, or exited
    kExempt,   // never frozen and does not hold a cgroup back (kernel threads, as PF_NOFREEZE)
  };

  virtual ~TaskStopper() = default;
  // Both are idempotent and asynchronous, and never block on the task.
  virtual void stop(pid_t tid, uint64_t start_time) = 0;
  virtual void resume(pid_t tid, uint64_t start_time) = 0;
  // The task exited.
  virtual void forget(pid_t tid, uint64_t start_time) = 0;
  virtual State state(pid_t tid, uint64_t start_time) = 0;
};

std::unique_ptr<TaskStopper> make_ptrace_stopper();

class FreezerCss : public Css {
 public:
  enum : unsigned {
    kOnline = 1u << 0,
    kFreezingSelf = 1u << 1,
    kFreezingParent = 1u << 2,
    kFrozen = 1u << 3,
    kFreezing = kFreezingSelf | kFreezingParent,
  };
  unsigned state = 0;
};

class FreezerController : public Controller {
 public:
  explicit FreezerController(std::unique_ptr<TaskStopper> stopper);
  ~FreezerController() override;

  std::unique_ptr<Css> css_alloc(Cgroup& cgroup, Css* parent) override;
  void css_offline(Css& css) override;
  std::span<const ControlFile> legacy_files() const override;
  void attach(TaskSet& tset) override;
  void fork(const Task& task) override;
  void exit(const Task& task) override;

  // freezer.state: freezer_read and freezer_write.
  int read_state(Engine& engine, Cgroup& cgroup, std::string& out);
  int write_state(Engine& engine, Cgroup& cgroup, std::string_view input);

  TaskStopper& stopper() { return *stopper_; }

 private:
  FreezerCss* css_of(Cgroup& cgroup) const;
  void update_if_frozen(Engine& engine, FreezerCss& freezer);
  void change_state(Engine& engine, FreezerCss& freezer, bool freeze);
  void apply_state(Engine& engine, FreezerCss& freezer, bool freeze, unsigned flag);
  void stop_task(const Task& task, FreezerCss& freezer);

  std::unique_ptr<TaskStopper> stopper_;
  bool warned_imperfect_ = false;
};

// Subsystem::make. The freezer has no settings.
std::unique_ptr<Controller> make_freezer(const std::vector<std::string>& settings);

}  // namespace cgemu
