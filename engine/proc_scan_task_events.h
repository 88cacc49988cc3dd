// Fork and exit events found by comparing successive scans of /proc: the
// fallback where the process events connector is refused. Exits are always
// found (every drain rescans), but a creator is known only as the parent
// process, and a task whose parent exited before the scan that would have
// seen it (a double fork) is taken for a child of its new parent.
#pragma once

#include <unordered_map>

#include "engine/proc_task_source.h"
#include "engine/task_events.h"

namespace cgemu {

class ProcScanTaskEvents : public TaskEvents {
 public:
  explicit ProcScanTaskEvents(ProcTaskSource& tasks);

  std::string_view name() const override { return "procscan"; }
  void drain(std::vector<TaskEvent>& out) override;
  void wait(int timeout_ms) override;
  bool misses_unseen_exits() const override { return true; }

 private:
  using Snapshot = std::unordered_map<pid_t, ScannedTask>;
  Snapshot scan();

  ProcTaskSource& tasks_;
  Snapshot known_;
};

}  // namespace cgemu
