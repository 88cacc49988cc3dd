// Saving and restoring where tasks are, for crash recovery: the engine's
// half of it, free of any file format.
#include <cstring>
#include <functional>
#include <unordered_map>
#include <unordered_set>

#include <spdlog/spdlog.h>

#include "engine/engine.h"
#include "engine/migration.h"

namespace cgemu {

std::vector<Engine::Placement> Engine::placements() {
  sync();
  std::vector<Placement> out;
  out.reserve(registry_.size());
  // A process is named by its leader's start time: known for a leader that
  // was moved by itself or forked, read once per process otherwise.
  std::unordered_map<pid_t, uint64_t> group_start;
  for (auto& [tid, task] : registry_) {
    auto [it, fresh] = group_start.try_emplace(task->tgid, 0);
    if (fresh) {
      auto leader = registry_.find(task->tgid);
      it->second = leader != registry_.end() && leader->second->start_time ? leader->second->start_time
                                                                            : start_time_of(task->tgid, task->tgid);
    }
    if (it->second == 0) continue;  // the whole process is gone: its exit events follow
    out.push_back({tid, task->tgid, task->start_time, it->second, task->cset->cgroups});
  }
  return out;
}

Engine::RestoreCounts Engine::restore_placements(const std::vector<Placement>& saved, uint64_t saved_at) {
  sync();
  RestoreCounts counts;
  std::unordered_map<pid_t, ScannedTask> host;
  tasks_.scan([&](const ScannedTask& t) { host.emplace(t.tid, t); });

  // The saved tasks that are still the same tasks.
  std::unordered_map<pid_t, const std::vector<Cgroup*>*> placed;
  for (const Placement& p : saved) {
    auto task = host.find(p.tid);
    auto leader = host.find(p.tgid);
    const bool same = task != host.end() && !task->second.dying && task->second.tgid == p.tgid &&
                      leader != host.end() && leader->second.start_time == p.group_start_time &&
                      (p.start_time == 0 || task->second.start_time == p.start_time);
    if (same) placed.emplace(p.tid, &p.cgroups);
    else ++counts.exited;
  }
  counts.restored = placed.size();

  // Tasks born since the save, placed as a fork would have placed them: a
  // process as its parent process's leader, a thread as its own leader.
  // Older tasks that were not saved were in every root. Start times count
  // clock ticks: one born in the tick of the save is taken as older (it may
  // have been moved to a root already); were it newer and unsaved, the
  // watcher's next save (within a period) would have caught it.
  std::unordered_map<pid_t, const std::vector<Cgroup*>*> inherited;
  std::unordered_set<pid_t> visiting;
  std::function<const std::vector<Cgroup*>*(pid_t)> placement_of = [&](pid_t tid) -> const std::vector<Cgroup*>* {
    if (auto it = placed.find(tid); it != placed.end()) return it->second;
    if (auto it = inherited.find(tid); it != inherited.end()) return it->second;
    auto task = host.find(tid);
    if (task == host.end() || task->second.start_time <= saved_at || !visiting.insert(tid).second) return nullptr;
    const pid_t creator = task->second.tid == task->second.tgid ? task->second.ppid : task->second.tgid;
    const std::vector<Cgroup*>* from = placement_of(creator);
    visiting.erase(tid);
    inherited.emplace(tid, from);
    return from;
  };
  for (auto& [tid, task] : host)
    if (!task.dying && !placed.count(tid)) placement_of(tid);
  for (auto it = inherited.begin(); it != inherited.end();) {
    if (it->second && !host.at(it->first).dying) {
      placed.emplace(it->first, it->second);
      ++counts.inherited;
      ++it;
    } else {
      it = inherited.erase(it);
    }
  }

  // One migration per destination cgroup, hierarchy by hierarchy, so that
  // every controller attaches its tasks as for a write to cgroup.procs.
  std::unordered_set<pid_t> refused;
  for (const auto& h : hierarchies_) {
    std::unordered_map<Cgroup*, std::vector<pid_t>> by_cgroup;
    for (auto& [tid, cgroups] : placed) {
      Cgroup* dst = (*cgroups)[h->index_];
      if (dst && !dst->is_root() && !dst->dead_) by_cgroup[dst].push_back(tid);
    }
    for (auto& [dst, tids] : by_cgroup) {
      Migration migration(*this, *dst);
      int err = 0;
      for (pid_t tid : tids) {
        const ScannedTask& t = host.at(tid);
        TaskInfo info;
        info.tid = t.tid;
        info.tgid = t.tgid;
        info.ppid = t.ppid;
        info.start_time = t.start_time;
        if ((err = migration.add_task(info))) break;
      }
      if (!err) err = migration.prepare_dst();
      if (!err) err = migration.execute();
      if (err) {
        spdlog::warn("could not restore {} task(s) into {}:{}: {}", tids.size(), h->id(), dst->path(),
                     strerror(-err));
        refused.insert(tids.begin(), tids.end());
      }
    }
  }
  counts.refused = refused.size();
  for (pid_t tid : refused) {
    if (inherited.count(tid)) --counts.inherited;
    else --counts.restored;
  }
  return counts;
}

}  // namespace cgemu
