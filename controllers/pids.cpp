#include "controllers/pids.h"

#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <stdexcept>

#include <spdlog/spdlog.h>

#include "controllers/subsystems.h"
#include "engine/cgroup.h"
#include "engine/css_set.h"
#include "engine/engine.h"
#include "engine/kernel_parse.h"
#include "engine/proc_task_source.h"

namespace cgemu {
namespace {

const int kSsid = *subsystem_id("pids");

PidsCss* parent_pids(const PidsCss* p) { return static_cast<PidsCss*>(p->parent); }

// pids_charge / pids_uncharge: every level but the root, which is not counted.
void charge(PidsCss* pids, int64_t num) {
  for (PidsCss* p = pids; p && parent_pids(p); p = parent_pids(p)) {
    p->counter += num;
    p->watermark = std::max(p->watermark, p->counter);
  }
}

void uncharge(PidsCss* pids, int64_t num) {
  for (PidsCss* p = pids; p && parent_pids(p); p = parent_pids(p)) p->counter -= num;
}

PidsCss* pids_of(Cgroup& cgroup) { return static_cast<PidsCss*>(cgroup.css(kSsid)); }
PidsController* controller_of(Engine& engine) { return static_cast<PidsController*>(engine.controller(kSsid)); }

// pids_max_write.
int write_max(const FileCall& call, std::string_view input) {
  PidsCss* pids = pids_of(call.cgroup);
  if (!pids) return -EINVAL;
  std::string_view buf = strstrip(input);
  if (buf == "max") {
    pids->limit = PidsCss::kMax;
    return 0;
  }
  long long limit;
  if (int err = kstrtoll(buf, 0, &limit)) return err;
  if (limit < 0 || limit >= PidsCss::kMax) return -EINVAL;
  pids->limit = limit;
  return 0;
}

int read_max(const FileCall& call, std::string& out) {
  PidsCss* pids = pids_of(call.cgroup);
  if (!pids) return -EINVAL;
  out = pids->limit >= PidsCss::kMax ? "max\n" : std::to_string(pids->limit) + "\n";
  return 0;
}

int read_current(const FileCall& call, std::string& out) {
  PidsCss* pids = pids_of(call.cgroup);
  if (!pids) return -EINVAL;
  call.engine.sync();
  if (PidsController* c = controller_of(call.engine)) c->release_reaped();
  out = std::to_string(pids->counter) + "\n";
  return 0;
}

int read_peak(const FileCall& call, std::string& out) {
  PidsCss* pids = pids_of(call.cgroup);
  if (!pids) return -EINVAL;
  call.engine.sync();
  out = std::to_string(pids->watermark) + "\n";
  return 0;
}

int read_events(const FileCall& call, std::string& out) {
  PidsCss* pids = pids_of(call.cgroup);
  if (!pids) return -EINVAL;
  call.engine.sync();
  out = "max " + std::to_string(pids->fork_failures) + "\n";
  return 0;
}

constexpr ControlFile kFiles[] = {
    {.name = "max", .flags = kCftNotOnRoot, .read = read_max, .write = write_max},
    {.name = "current", .flags = kCftNotOnRoot, .read = read_current},
    {.name = "peak", .flags = kCftNotOnRoot, .read = read_peak},
    {.name = "events", .flags = kCftNotOnRoot, .read = read_events},
};

class ProcPidsHost : public PidsHost {
 public:
  bool reaped(pid_t tid, uint64_t start_time) override {
    auto info = proc_.task(tid);
    return !info || (start_time && info->start_time != start_time);
  }

  uint64_t start_time(pid_t tid) override {
    auto info = proc_.task(tid);
    return info ? info->start_time : 0;
  }

  void kill(pid_t tid, uint64_t start_time) override {
    // The descriptor pins the process: once it names the task we mean, the
    // signal cannot reach a later owner of the pid.
    const int fd = static_cast<int>(syscall(SYS_pidfd_open, tid, 0));
    if (fd < 0) return;
    auto info = proc_.task(tid);
    if (info && (!start_time || info->start_time == start_time))
      syscall(SYS_pidfd_send_signal, fd, SIGKILL, nullptr, 0);
    close(fd);
  }

 private:
  ProcTaskSource proc_;
};

}  // namespace

std::unique_ptr<PidsHost> make_proc_pids_host() { return std::make_unique<ProcPidsHost>(); }

PidsController::PidsController(Enforce enforce, std::unique_ptr<PidsHost> host)
    : enforce_(enforce), host_(std::move(host)) {}

std::unique_ptr<Css> PidsController::css_alloc(Cgroup&, Css*) { return std::make_unique<PidsCss>(); }

// The css lives on while open files use it, but nothing is charged to a
// removed cgroup any more: its zombies' charges move to the parent, which
// counts them already and releases them at reap.
void PidsController::css_offline(Css& css) {
  auto* pids = static_cast<PidsCss*>(&css);
  PidsCss* parent = parent_pids(pids);
  for (Zombie& z : zombies_)
    if (z.css == pids) z.css = parent;
  std::erase_if(zombies_, [](const Zombie& z) { return !z.css || !parent_pids(z.css); });
}

std::span<const ControlFile> PidsController::legacy_files() const { return kFiles; }

PidsCss* PidsController::css_of(const CssSet& cset) const { return static_cast<PidsCss*>(cset.css(*this)); }

// pids_can_attach: charges unconditionally, so a migration never fails and
// may take pids.current past pids.max.
int PidsController::can_attach(TaskSet& tset) {
  for (const TaskMove& m : tset.moves) {
    if (rejected_.count(m.task->tid)) continue;
    charge(css_of(*m.dst), 1);
    uncharge(css_of(*m.src), 1);
  }
  return 0;
}

void PidsController::cancel_attach(TaskSet& tset) {
  for (const TaskMove& m : tset.moves) {
    if (rejected_.count(m.task->tid)) continue;
    charge(css_of(*m.src), 1);
    uncharge(css_of(*m.dst), 1);
  }
}

// pids_can_fork, after the fact: the child exists already.
void PidsController::fork(const Task& task) {
  if (!bound()) return;  // the engine reports forks to every controller
  PidsCss* pids = css_of(*task.cset);
  if (!pids || !parent_pids(pids)) return;  // the root counts nothing
  auto over_limit = [&] {
    for (PidsCss* p = pids; parent_pids(p); p = parent_pids(p))
      if (p->counter + 1 > p->limit) return true;
    return false;
  };
  // Zombies reaped since are released only when they could matter.
  bool over = over_limit();
  if (over && !zombies_.empty()) {
    release_reaped();
    over = over_limit();
  }
  if (over) {
    // pids_event: counted where the fork happened, whichever level's limit
    // was hit; the first one is logged.
    if (++pids->fork_failures == 1) spdlog::info("cgroup: fork rejected by pids controller in {}", pids->cgroup->path());
    if (enforce_ == Enforce::kKill && task.tid == task.tgid) {
      rejected_.insert(task.tid);
      host_->kill(task.tid, task.start_time);
      return;
    }
  }
  charge(pids, 1);
}

// pids_release runs at reap: a thread is reaped as it exits, a process
// when its parent waits for it.
void PidsController::exit(const Task& task) {
  if (!bound()) return;
  if (rejected_.erase(task.tid)) return;
  PidsCss* pids = css_of(*task.cset);
  if (!pids || !parent_pids(pids)) return;
  if (task.tid == task.tgid) {
    // The start time tells the zombie from a later task with its pid.
    const uint64_t start_time = task.start_time ? task.start_time : host_->start_time(task.tid);
    if (start_time && !host_->reaped(task.tid, start_time)) {
      zombies_.push_back({task.tid, start_time, pids});
      return;
    }
  }
  uncharge(pids, 1);
}

void PidsController::release_reaped() {
  std::erase_if(zombies_, [&](const Zombie& z) {
    if (!host_->reaped(z.tid, z.start_time)) return false;
    uncharge(z.css, 1);
    return true;
  });
}

std::unique_ptr<Controller> make_pids(const std::vector<std::string>& settings) {
  PidsController::Enforce enforce = PidsController::Enforce::kCount;
  for (const std::string& s : settings) {
    if (s == "enforce=count") {
      enforce = PidsController::Enforce::kCount;
    } else if (s == "enforce=kill") {
      enforce = PidsController::Enforce::kKill;
    } else {
      throw std::invalid_argument("unknown pids setting '" + s + "' (pids.enforce=count or pids.enforce=kill)");
    }
  }
  return std::make_unique<PidsController>(enforce, make_proc_pids_host());
}

}  // namespace cgemu
