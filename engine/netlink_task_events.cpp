#include "engine/netlink_task_events.h"

#include <linux/cn_proc.h>
#include <linux/connector.h>
#include <linux/netlink.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace cgemu {
namespace {

// Big enough for a fork storm while a long request holds the engine; the
// kernel caps it at rmem_max unless we may force it.
constexpr int kReceiveBuffer = 64 << 20;

struct __attribute__((packed)) ListenRequest {
  nlmsghdr header;
  struct {
    __u32 idx, val, seq, ack;
    __u16 len, flags;
  } connector;
  proc_cn_mcast_op op;
};

bool send_listen(int fd, proc_cn_mcast_op op) {
  ListenRequest request{};
  request.header.nlmsg_len = sizeof request;
  request.header.nlmsg_type = NLMSG_DONE;
  request.header.nlmsg_pid = 0;
  request.connector.idx = CN_IDX_PROC;
  request.connector.val = CN_VAL_PROC;
  request.connector.len = sizeof(proc_cn_mcast_op);
  request.op = op;
  return send(fd, &request, sizeof request, 0) == static_cast<ssize_t>(sizeof request);
}

}  // namespace

std::unique_ptr<NetlinkTaskEvents> NetlinkTaskEvents::open(std::string* why_not) {
  int fd = socket(PF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_CONNECTOR);
  if (fd < 0) {
    *why_not = std::string("netlink connector socket: ") + strerror(errno);
    return nullptr;
  }
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &kReceiveBuffer, sizeof kReceiveBuffer) != 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &kReceiveBuffer, sizeof kReceiveBuffer);
  sockaddr_nl address{};
  address.nl_family = AF_NETLINK;
  address.nl_groups = CN_IDX_PROC;
  if (bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 || !send_listen(fd, PROC_CN_MCAST_LISTEN)) {
    *why_not = std::string("process events connector: ") + strerror(errno);
    close(fd);
    return nullptr;
  }
  // The kernel acknowledges the request; a refusal comes back as an error
  // in the acknowledgement, or as no acknowledgement at all.
  pollfd p{fd, POLLIN, 0};
  alignas(nlmsghdr) char buf[4096];
  for (int tries = 0; tries < 64; ++tries) {
    if (poll(&p, 1, 1000) != 1) break;
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    for (auto* nl = reinterpret_cast<nlmsghdr*>(buf); NLMSG_OK(nl, static_cast<unsigned>(n)); nl = NLMSG_NEXT(nl, n)) {
      auto* cn = static_cast<cn_msg*>(NLMSG_DATA(nl));
      auto* ev = reinterpret_cast<proc_event*>(cn->data);
      if (ev->what != proc_event::PROC_EVENT_NONE) continue;
      if (ev->event_data.ack.err != 0) {
        *why_not = std::string("process events connector refused: ") + strerror(static_cast<int>(ev->event_data.ack.err));
        close(fd);
        return nullptr;
      }
      return std::unique_ptr<NetlinkTaskEvents>(new NetlinkTaskEvents(fd));
    }
  }
  *why_not = "process events connector did not acknowledge";
  close(fd);
  return nullptr;
}

NetlinkTaskEvents::~NetlinkTaskEvents() {
  send_listen(fd_, PROC_CN_MCAST_IGNORE);
  close(fd_);
}

void NetlinkTaskEvents::drain(std::vector<TaskEvent>& out) {
  alignas(nlmsghdr) char buf[64 * 1024];
  while (true) {
    sockaddr_nl from{};
    socklen_t from_len = sizeof from;
    ssize_t n = recvfrom(fd_, buf, sizeof buf, MSG_DONTWAIT, reinterpret_cast<sockaddr*>(&from), &from_len);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == ENOBUFS) {  // the socket overflowed: events were dropped
        out.push_back({TaskEvent::Kind::kLost});
        continue;
      }
      return;  // EAGAIN: nothing more
    }
    if (from.nl_pid != 0) continue;  // only the kernel speaks for processes
    for (auto* nl = reinterpret_cast<nlmsghdr*>(buf); NLMSG_OK(nl, static_cast<unsigned>(n)); nl = NLMSG_NEXT(nl, n)) {
      if (nl->nlmsg_type == NLMSG_ERROR || nl->nlmsg_type == NLMSG_NOOP) continue;
      auto* cn = static_cast<cn_msg*>(NLMSG_DATA(nl));
      if (cn->id.idx != CN_IDX_PROC || cn->id.val != CN_VAL_PROC) continue;
      auto* ev = reinterpret_cast<const proc_event*>(cn->data);
      switch (ev->what) {
        case proc_event::PROC_EVENT_FORK: {
          const auto& f = ev->event_data.fork;
          TaskEvent e{TaskEvent::Kind::kFork, f.child_pid, f.child_tgid};
          // For a process the kernel names the forking thread; for a thread,
          // the process's parent, which says nothing about its creator.
          if (f.child_pid == f.child_tgid) e.parent_tid = f.parent_pid;
          out.push_back(e);
          break;
        }
        case proc_event::PROC_EVENT_EXIT:
          out.push_back({TaskEvent::Kind::kExit, ev->event_data.exit.process_pid, ev->event_data.exit.process_tgid});
          break;
        default:
          break;
      }
    }
  }
}

void NetlinkTaskEvents::wait(int timeout_ms) {
  pollfd p{fd_, POLLIN, 0};
  poll(&p, 1, timeout_ms);
}

}  // namespace cgemu
