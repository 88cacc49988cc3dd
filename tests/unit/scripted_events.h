// A fork/exit event source for engine tests: the test queues events, the
// engine drains them in order.
#pragma once

#include <vector>

#include "engine/task_events.h"

namespace cgemu::testing {

class ScriptedEvents : public TaskEvents {
 public:
  std::string_view name() const override { return "scripted"; }
  void drain(std::vector<TaskEvent>& out) override {
    out.insert(out.end(), queued.begin(), queued.end());
    queued.clear();
  }
  void wait(int) override {}
  std::vector<TaskEvent> queued;
};

}  // namespace cgemu::testing
