#include "engine/task_watcher.h"

#include <chrono>

namespace cgemu {

TaskWatcher::TaskWatcher(Engine& engine, TaskEvents& events, int poll_interval_ms,
                         std::function<void()> every_period)
    : engine_(engine),
      events_(events),
      poll_interval_ms_(poll_interval_ms),
      every_period_(std::move(every_period)),
      thread_([this] { loop(); }) {}

TaskWatcher::~TaskWatcher() {
  stopping_ = true;
  thread_.join();
}

void TaskWatcher::loop() {
  using Clock = std::chrono::steady_clock;
  const auto period = std::chrono::milliseconds(poll_interval_ms_);
  auto next_tick = Clock::now() + period;
  while (!stopping_) {
    events_.wait(poll_interval_ms_);
    std::lock_guard lock(engine_.mutex());
    engine_.sync();
    // Events can wake the watcher many times a second on a busy host; the
    // periodic work runs once per period whatever the wake-ups.
    if (Clock::now() >= next_tick) {
      engine_.sweep();
      engine_.tick();
      if (every_period_) every_period_();
      next_tick = Clock::now() + period;
    }
  }
}

}  // namespace cgemu
