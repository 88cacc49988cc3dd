// Applies fork and exit events as they happen, between requests, so that a
// cgroup emptied by an exit is released without anyone reading it.
#pragma once

#include <atomic>
#include <functional>
#include <thread>

#include "engine/engine.h"

namespace cgemu {

class TaskWatcher {
 public:
  // every_period, if given, runs after the periodic work, with the engine's
  // mutex held.
  TaskWatcher(Engine& engine, TaskEvents& events, int poll_interval_ms, std::function<void()> every_period = {});
  ~TaskWatcher();
  TaskWatcher(const TaskWatcher&) = delete;
  TaskWatcher& operator=(const TaskWatcher&) = delete;

 private:
  void loop();

  Engine& engine_;
  TaskEvents& events_;
  int poll_interval_ms_;
  std::function<void()> every_period_;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace cgemu
