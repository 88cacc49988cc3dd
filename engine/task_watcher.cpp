#include "engine/task_watcher.h"

namespace cgemu {

TaskWatcher::TaskWatcher(Engine& engine, TaskEvents& events, int poll_interval_ms)
    : engine_(engine), events_(events), poll_interval_ms_(poll_interval_ms), thread_([this] { loop(); }) {}

TaskWatcher::~TaskWatcher() {
  stopping_ = true;
  thread_.join();
}

void TaskWatcher::loop() {
  while (!stopping_) {
    events_.wait(poll_interval_ms_);
    std::lock_guard lock(engine_.mutex());
    engine_.sync();
    engine_.sweep();
  }
}

}  // namespace cgemu
