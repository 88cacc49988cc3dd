// Applies fork and exit events as they happen, between requests, so that a
// cgroup emptied by an exit is released without anyone reading it.
#pragma once

#include <atomic>
#include <thread>

#include "engine/engine.h"

namespace cgemu {

class TaskWatcher {
 public:
  TaskWatcher(Engine& engine, TaskEvents& events, int poll_interval_ms);
  ~TaskWatcher();
  TaskWatcher(const TaskWatcher&) = delete;
  TaskWatcher& operator=(const TaskWatcher&) = delete;

 private:
  void loop();

  Engine& engine_;
  TaskEvents& events_;
  int poll_interval_ms_;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace cgemu
