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
  bool alive(pid_t tid, uint64_t start_time) override;
  std::vector<pid_t> threads(pid_t tgid) override;
  void for_each_live_task(const std::function<void(pid_t tid, pid_t tgid)>& fn) override;

 private:
  struct Stat {
    char state;
    pid_t ppid;
    unsigned flags;
    long num_threads;
    uint64_t start_time;
  };
  // Fields of /proc/<tid>/stat; nullopt if the task is gone.
  std::optional<Stat> read_stat(pid_t tid);
  int proc_fd_;
};

}  // namespace cgemu
