// Reads the host's tasks from /proc (the daemon's pid namespace).
#pragma once

#include "engine/task_source.h"

namespace cgemu {

class ProcTaskSource : public TaskSource {
 public:
  explicit ProcTaskSource(const char* proc_root = "/proc");
  ~ProcTaskSource() override;
  ProcTaskSource(const ProcTaskSource&) = delete;
  ProcTaskSource& operator=(const ProcTaskSource&) = delete;

  std::optional<TaskInfo> task(pid_t tid) override;
  std::optional<TaskInfo> task_without_credentials(pid_t tid) override;
  std::optional<TaskInfo> thread(pid_t tgid, pid_t tid) override;
  bool alive(pid_t tid, uint64_t start_time) override;
  bool thread_exists(pid_t tgid, pid_t tid) override;
  std::vector<pid_t> threads(pid_t tgid) override;
  void for_each_live_task(const std::function<void(pid_t tid, pid_t tgid)>& fn) override;

  void scan(const std::function<void(const ScannedTask&)>& fn) override;
  uint64_t clock() override;

 private:
  struct Stat {
    char state;
    pid_t ppid;
    unsigned flags;
    long num_threads;
    uint64_t start_time;
  };
  // Fields of /proc/<tid>/task/<tid>/stat (the thread's own view:
  // /proc/<tid>/stat sums over the whole group on every read); nullopt if
  // the task is gone.
  std::optional<Stat> read_stat(pid_t tid);
  // task() with or without the uids (and the tgid, which a single-threaded
  // task does not need /proc/<tid>/status for).
  std::optional<TaskInfo> read_task(pid_t tid, bool credentials);
  void for_each_process(const std::function<void(pid_t tgid)>& fn);
  int proc_fd_;
};

}  // namespace cgemu
