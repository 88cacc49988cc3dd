// Fork and exit events from the kernel's process events connector
// (NETLINK_CONNECTOR, CN_IDX_PROC). The kernel queues a fork event before
// the child first runs and an exit event in do_exit, before the task can be
// reaped and its pid reused, so draining the socket before answering a
// request gives an exact, ordered picture.
#pragma once

#include <optional>
#include <string>

#include "engine/task_events.h"

namespace cgemu {

class NetlinkTaskEvents : public TaskEvents {
 public:
  // nullopt, with a reason, if the connector refuses this process.
  static std::unique_ptr<NetlinkTaskEvents> open(std::string* why_not);
  ~NetlinkTaskEvents() override;

  std::string_view name() const override { return "netlink"; }
  void drain(std::vector<TaskEvent>& out) override;
  void wait(int timeout_ms) override;

 private:
  explicit NetlinkTaskEvents(int fd) : fd_(fd) {}
  int fd_;
};

}  // namespace cgemu
