// An in-memory host for engine tests: tasks are added, killed and reused at will.
#pragma once

#include <map>

#include "engine/task_source.h"

namespace cgemu::testing {

class FakeTaskSource : public TaskSource {
 public:
  // Adds a live task; start times are unique, as the kernel's are.
  TaskInfo& add(pid_t tid, pid_t tgid, uid_t uid = 1000) {
    TaskInfo t;
    t.tid = tid;
    t.tgid = tgid;
    t.ruid = t.euid = t.suid = uid;
    t.start_time = ++clock_;
    t.state = 'S';
    remove(tid);
    ++nr_threads_[tgid];
    return tasks_[tid] = t;
  }
  void zombie(pid_t tid) { tasks_.at(tid).state = 'Z'; }
  void remove(pid_t tid) {
    auto it = tasks_.find(tid);
    if (it == tasks_.end()) return;
    if (--nr_threads_[it->second.tgid] == 0) nr_threads_.erase(it->second.tgid);
    tasks_.erase(it);
  }

  std::optional<TaskInfo> task(pid_t tid) override {
    auto it = tasks_.find(tid);
    if (it == tasks_.end()) return std::nullopt;
    TaskInfo t = it->second;
    t.num_threads = nr_threads_.at(t.tgid);
    return t;
  }
  std::optional<TaskInfo> task_without_credentials(pid_t tid) override { return task(tid); }
  std::optional<TaskInfo> thread(pid_t tgid, pid_t tid) override {
    auto t = task(tid);
    if (!t || t->tgid != tgid) return std::nullopt;
    return t;
  }
  bool alive(pid_t tid, uint64_t start_time) override {
    auto it = tasks_.find(tid);
    return it != tasks_.end() && it->second.start_time == start_time && !it->second.dying();
  }
  bool thread_exists(pid_t tgid, pid_t tid) override {
    auto it = tasks_.find(tid);
    return it != tasks_.end() && it->second.tgid == tgid && !(tid == tgid && it->second.dying());
  }
  std::vector<pid_t> threads(pid_t tgid) override {
    ++listings;
    return thread_ids(tgid);
  }
  std::vector<pid_t> thread_ids(pid_t tgid) const {
    std::vector<pid_t> out;
    for (auto& [tid, t] : tasks_)
      if (t.tgid == tgid) out.push_back(tid);
    return out;
  }
  void for_each_live_task(const std::function<void(pid_t, pid_t)>& fn) override {
    for (auto& [tid, t] : tasks_)
      if (!t.dying()) fn(tid, t.tgid);
  }
  void scan(const std::function<void(const ScannedTask&)>& fn) override {
    for (auto& [tid, t] : tasks_) {
      const TaskInfo& leader = tasks_.count(t.tgid) ? tasks_.at(t.tgid) : t;
      fn({tid, t.tgid, leader.ppid, t.start_time, t.dying()});
    }
  }
  int listings = 0;  // calls of threads(): listings of /proc/<tgid>/task on a real host

  // Now: every task added from here on starts later.
  uint64_t clock() override { return clock_; }

 private:
  std::map<pid_t, TaskInfo> tasks_;
  std::map<pid_t, long> nr_threads_;  // by tgid
  uint64_t clock_ = 1000;
};

}  // namespace cgemu::testing
