// Where the engine learns about the host's real tasks. The /proc
// implementation serves the daemon; tests use a fake.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

namespace cgemu {

// Task flags as /proc/<tid>/stat shows them (include/linux/sched.h).
inline constexpr unsigned kPfExiting = 0x00000004;
inline constexpr unsigned kPfKthread = 0x00200000;
inline constexpr unsigned kPfNoSetaffinity = 0x04000000;

struct TaskInfo {
  pid_t tid = 0;
  pid_t tgid = 0;
  pid_t ppid = 0;  // the parent process
  uid_t ruid = 0;
  uid_t euid = 0;
  uid_t suid = 0;
  // Clock ticks after boot. A pid is reused, (tid, start_time) never is.
  uint64_t start_time = 0;
  unsigned flags = 0;
  char state = 'R';
  long num_threads = 1;  // in its thread group
  // The kernel's no_cgroup_migration: set for kthreadd, which /proc shows
  // only as the kernel thread without a parent.
  bool no_cgroup_migration = false;

  // Exited or exiting: the kernel hides such tasks from every list and
  // skips them in migration.
  bool dying() const { return state == 'Z' || state == 'X' || (flags & kPfExiting); }
};

// One task of a whole-host scan.
struct ScannedTask {
  pid_t tid;
  pid_t tgid;
  pid_t ppid;  // the parent process
  uint64_t start_time;
  bool dying;
};

class TaskSource {
 public:
  virtual ~TaskSource() = default;
  // The task with this thread id, or nullopt if there is none.
  virtual std::optional<TaskInfo> task(pid_t tid) = 0;
  // As task(), but the uids are left 0: cheaper where they do not matter.
  virtual std::optional<TaskInfo> task_without_credentials(pid_t tid) = 0;
  // Thread tid of group tgid: state, flags and start time (uids left 0).
  virtual std::optional<TaskInfo> thread(pid_t tgid, pid_t tid) = 0;
  // True if the task (tid, start_time) still exists and is not dying.
  virtual bool alive(pid_t tid, uint64_t start_time) = 0;
  // True if thread tid of group tgid exists and, for a leader, is not a
  // zombie. Cheaper than alive() for threads, and blind to pid reuse.
  virtual bool thread_exists(pid_t tgid, pid_t tid) = 0;
  // Thread ids of a thread group (empty if it is gone).
  virtual std::vector<pid_t> threads(pid_t tgid) = 0;
  // Calls fn(tid, tgid) for every live, non-dying task on the host.
  virtual void for_each_live_task(const std::function<void(pid_t tid, pid_t tgid)>& fn) = 0;
  // Every task on the host, dying ones included, with its parent and start
  // time (one stat read per task: for scanning, not for hot paths).
  virtual void scan(const std::function<void(const ScannedTask&)>& fn) = 0;
  // Now, on the clock of TaskInfo::start_time.
  virtual uint64_t clock() = 0;
};

}  // namespace cgemu
