// Where the engine learns that tasks were created and have exited, so that
// a child is placed where its creator is (v1 inheritance) and an exited
// task leaves its cgroup at once. Implementations: the kernel's process
// events connector (netlink_task_events.h) and /proc scanning
// (proc_scan_task_events.h).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace cgemu {

class ProcTaskSource;

struct TaskEvent {
  enum class Kind {
    kFork,  // tid/tgid was created by parent_tid (a thread of parent_tgid)
    kExit,  // tid exited
    kLost,  // events were lost: membership must be re-checked against /proc
  };
  Kind kind;
  pid_t tid = 0;
  pid_t tgid = 0;
  // For kFork: the creating thread when known. For a new thread the kernel's
  // connector names the process's parent instead, so it is left 0.
  pid_t parent_tid = 0;
  uint64_t start_time = 0;  // 0 if the source does not know it
};

class TaskEvents {
 public:
  virtual ~TaskEvents() = default;
  virtual std::string_view name() const = 0;
  // Appends, in order, every event that happened before this call.
  // Called with the engine's mutex held.
  virtual void drain(std::vector<TaskEvent>& out) = 0;
  // Returns when events may be pending or after timeout_ms. Called without
  // the engine's mutex, by the thread that applies events between requests.
  virtual void wait(int timeout_ms) = 0;
  // True if a task the source never saw (one a migration recorded between
  // two scans) can exit without an event: the engine then sweeps its
  // records now and then.
  virtual bool misses_unseen_exits() const { return false; }
};

enum class TrackerKind { kAuto, kNetlink, kProcScan };

// The mechanism asked for; kAuto takes the connector and falls back to
// /proc scanning. Returns nullptr if the one asked for cannot run here;
// `refusal` then says why, or, for kAuto, why the connector was passed over.
std::unique_ptr<TaskEvents> make_task_events(TrackerKind kind, ProcTaskSource& tasks, std::string* refusal);

}  // namespace cgemu
