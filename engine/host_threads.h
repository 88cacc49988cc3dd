// Every thread of the host by process, learnt from fork and exit events, so
// that moving a whole process need not list /proc/<pid>/task (a listing of
// 10000 threads costs milliseconds of dentry work in the kernel). Events
// can be late, lost or silent (a non-leader exec swaps tids without one),
// so a caller trusts a process's set only when its size is the thread count
// the kernel reports and it holds the leader; otherwise it lists /proc.
#pragma once

#include <sys/types.h>

#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "engine/task_source.h"

namespace cgemu {

class HostThreads {
 public:
  // Starts over from a scan of the host (at start, and after lost events).
  void reset(TaskSource& tasks);
  void add(pid_t tid, pid_t tgid);
  void remove(pid_t tid);
  // What a listing of /proc/<tgid>/task found, which is taken over whole.
  void replace(pid_t tgid, const std::vector<pid_t>& tids);
  // The threads of process tgid, or nullptr if none are known.
  const std::unordered_set<pid_t>* threads(pid_t tgid) const;
  // True if the set known for tgid can stand for /proc/<tgid>/task when
  // the kernel counts num_threads threads in it.
  bool matches(pid_t tgid, long num_threads) const;

 private:
  std::unordered_map<pid_t, pid_t> tgid_of_;
  std::unordered_map<pid_t, std::unordered_set<pid_t>> by_process_;
};

}  // namespace cgemu
