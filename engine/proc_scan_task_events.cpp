#include "engine/proc_scan_task_events.h"

#include <algorithm>
#include <chrono>
#include <thread>

namespace cgemu {

ProcScanTaskEvents::ProcScanTaskEvents(ProcTaskSource& tasks) : tasks_(tasks), known_(scan()) {}

ProcScanTaskEvents::Snapshot ProcScanTaskEvents::scan() {
  Snapshot snapshot;
  tasks_.scan([&](const ScannedTask& t) { snapshot.emplace(t.tid, t); });
  return snapshot;
}

void ProcScanTaskEvents::drain(std::vector<TaskEvent>& out) {
  Snapshot now = scan();
  // Exits first, so that a reused pid's old task leaves before the new one
  // is placed.
  for (const auto& [tid, was] : known_) {
    auto it = now.find(tid);
    const bool gone = it == now.end() || it->second.start_time != was.start_time;
    if (gone ? !was.dying : (it->second.dying && !was.dying)) out.push_back({TaskEvent::Kind::kExit, tid, was.tgid});
  }
  std::vector<const ScannedTask*> born;
  for (const auto& [tid, t] : now) {
    auto it = known_.find(tid);
    if (!t.dying && (it == known_.end() || it->second.start_time != t.start_time)) born.push_back(&t);
  }
  // Oldest first, so that a parent is placed before its children.
  std::sort(born.begin(), born.end(), [](auto* a, auto* b) {
    return a->start_time != b->start_time ? a->start_time < b->start_time : a->tid < b->tid;
  });
  for (const auto* t : born) {
    TaskEvent e{TaskEvent::Kind::kFork, t->tid, t->tgid};
    e.parent_tid = t->tid == t->tgid ? t->ppid : 0;
    e.start_time = t->start_time;
    out.push_back(e);
  }
  known_ = std::move(now);
}

void ProcScanTaskEvents::wait(int timeout_ms) { std::this_thread::sleep_for(std::chrono::milliseconds(timeout_ms)); }

}  // namespace cgemu
