#include "engine/task_events.h"

#include "engine/netlink_task_events.h"
#include "engine/proc_scan_task_events.h"

namespace cgemu {

std::unique_ptr<TaskEvents> make_task_events(TrackerKind kind, ProcTaskSource& tasks, std::string* refusal) {
  if (kind != TrackerKind::kProcScan) {
    if (auto netlink = NetlinkTaskEvents::open(refusal)) return netlink;
    if (kind == TrackerKind::kNetlink) return nullptr;
  }
  return std::make_unique<ProcScanTaskEvents>(tasks);
}

}  // namespace cgemu
