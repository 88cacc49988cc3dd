#include "engine/host_threads.h"

namespace cgemu {

void HostThreads::reset(TaskSource& tasks) {
  tgid_of_.clear();
  by_process_.clear();
  tasks.for_each_live_task([&](pid_t tid, pid_t tgid) { add(tid, tgid); });
}

void HostThreads::add(pid_t tid, pid_t tgid) {
  auto [it, fresh] = tgid_of_.try_emplace(tid, tgid);
  if (!fresh && it->second != tgid) {  // a missed exit: the tid is another process's now
    remove(tid);
    tgid_of_.emplace(tid, tgid);
  }
  by_process_[tgid].insert(tid);
}

void HostThreads::remove(pid_t tid) {
  auto it = tgid_of_.find(tid);
  if (it == tgid_of_.end()) return;
  auto group = by_process_.find(it->second);
  if (group != by_process_.end()) {
    group->second.erase(tid);
    if (group->second.empty()) by_process_.erase(group);
  }
  tgid_of_.erase(it);
}

void HostThreads::replace(pid_t tgid, const std::vector<pid_t>& tids) {
  if (auto group = by_process_.find(tgid); group != by_process_.end()) {
    for (pid_t tid : group->second) tgid_of_.erase(tid);
    by_process_.erase(group);
  }
  for (pid_t tid : tids) add(tid, tgid);
}

const std::unordered_set<pid_t>* HostThreads::threads(pid_t tgid) const {
  auto it = by_process_.find(tgid);
  return it == by_process_.end() ? nullptr : &it->second;
}

bool HostThreads::matches(pid_t tgid, long num_threads) const {
  const auto* set = threads(tgid);
  return set && static_cast<long>(set->size()) == num_threads && set->count(tgid);
}

}  // namespace cgemu
