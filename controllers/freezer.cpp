#include "controllers/freezer.h"

#include <sys/ptrace.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <condition_variable>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <stdexcept>
#include <thread>

#include <spdlog/spdlog.h>

#include "controllers/subsystems.h"
#include "engine/cgroup.h"
#include "engine/css_set.h"
#include "engine/engine.h"
#include "engine/kernel_parse.h"
#include "engine/proc_task_source.h"

namespace cgemu {
namespace {

const int kSsid = *subsystem_id("freezer");

FreezerCss* parent_freezer(const FreezerCss& f) { return static_cast<FreezerCss*>(f.parent); }

const char* state_string(unsigned state) {
  if (state & FreezerCss::kFrozen) return "FROZEN";
  if (state & FreezerCss::kFreezing) return "FREEZING";
  return "THAWED";
}

FreezerController* controller_of(Engine& engine) {
  return static_cast<FreezerController*>(engine.controller(kSsid));
}

FreezerCss* freezer_of(Cgroup& cgroup) { return static_cast<FreezerCss*>(cgroup.css(kSsid)); }

int read_flag(const FileCall& call, unsigned flag, std::string& out) {
  FreezerCss* f = freezer_of(call.cgroup);
  if (!f) return -EINVAL;
  out = (f->state & flag) ? "1\n" : "0\n";
  return 0;
}

constexpr ControlFile kFiles[] = {
    {
        .name = "state",
        .flags = kCftNotOnRoot,
        .read =
            [](const FileCall& c, std::string& out) {
              FreezerController* fc = controller_of(c.engine);
              return fc ? fc->read_state(c.engine, c.cgroup, out) : -EINVAL;
            },
        .write =
            [](const FileCall& c, std::string_view in) {
              FreezerController* fc = controller_of(c.engine);
              return fc ? fc->write_state(c.engine, c.cgroup, in) : -EINVAL;
            },
        // The state read is the effective one (a parent's freezing shows);
        // what was written is this cgroup's own.
        .save =
            [](const FileCall& c, std::string& out) {
              FreezerCss* f = freezer_of(c.cgroup);
              if (!f) return -EINVAL;
              out = (f->state & FreezerCss::kFreezingSelf) ? "FROZEN" : "THAWED";
              return 0;
            },
    },
    {
        .name = "self_freezing",
        .flags = kCftNotOnRoot,
        .read = [](const FileCall& c, std::string& out) { return read_flag(c, FreezerCss::kFreezingSelf, out); },
    },
    {
        .name = "parent_freezing",
        .flags = kCftNotOnRoot,
        .read = [](const FileCall& c, std::string& out) { return read_flag(c, FreezerCss::kFreezingParent, out); },
    },
};

// Pre-order (each cgroup before its children) and post-order walks of a
// subtree, the cgroup itself included.
void for_each_pre(Cgroup& cgroup, const std::function<void(Cgroup&)>& fn) {
  fn(cgroup);
  for (auto& [name, child] : cgroup.children()) for_each_pre(*child, fn);
}

void for_each_post(Cgroup& cgroup, const std::function<void(Cgroup&)>& fn) {
  for (auto& [name, child] : cgroup.children()) for_each_post(*child, fn);
  fn(cgroup);
}

// ---- the ptrace stopper ------------------------------------------------------

// One thread owns every ptrace relationship (ptrace requests are only
// accepted from the tracing thread): it seizes, interrupts and detaches on
// request, and waits for its tracees' stops and exits. It starts at the
// first request, after the daemon has forked into the background.
class PtraceStopper : public TaskStopper {
 public:
  ~PtraceStopper() override {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

  void stop(pid_t tid, uint64_t start_time) override { request(tid, start_time, true); }
  void resume(pid_t tid, uint64_t start_time) override { request(tid, start_time, false); }
  // A seized task that exited must still be waited for, or its parent could
  // never reap it; the thread does that.
  void forget(pid_t tid, uint64_t start_time) override { request(tid, start_time, false); }

  State state(pid_t tid, uint64_t start_time) override {
    auto info = proc_.task(tid);
    if (!info || !same(info->start_time, start_time) || info->dying()) return State::kStopped;
    if ((info->flags & kPfKthread) || ours(*info)) return State::kExempt;
    if (info->state != 't' && info->state != 'T') return State::kRunning;
    std::lock_guard lock(mu_);
    auto it = tracees_.find(tid);
    const bool held = it != tracees_.end() && same(it->second.start_time, info->start_time) &&
                      it->second.want_stopped && it->second.seized;
    return held ? State::kStopped : State::kRunning;
  }

 private:
  struct Tracee {
    uint64_t start_time = 0;
    bool want_stopped = false;
    bool seized = false;
    bool in_stop = false;  // a stop was reported and it has not run since
    int inject = 0;        // the signal of a signal-delivery-stop, delivered at detach
    bool failed = false;   // PTRACE_SEIZE was refused; retried at the next stop request
  };

  // Start times are 0 when the engine has not learnt them (it reads no
  // /proc file for threads it is told about by events): 0 matches any.
  static bool same(uint64_t a, uint64_t b) { return a == 0 || b == 0 || a == b; }

  // The daemon's own threads (which it cannot trace) and the processes it
  // starts (release agents, which it waits for) are never frozen.
  static bool ours(const TaskInfo& info) {
    if (info.tgid == getpid()) return true;
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", info.tid);
    FILE* f = fopen(path, "re");
    if (!f) return false;
    const size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char* paren = strrchr(buf, ')');
    char state;
    int ppid;
    return paren && sscanf(paren + 1, " %c %d", &state, &ppid) == 2 && ppid == getpid();
  }

  void request(pid_t tid, uint64_t start_time, bool want_stopped) {
    std::lock_guard lock(mu_);
    auto it = tracees_.find(tid);
    if (it != tracees_.end() && !same(it->second.start_time, start_time) && !it->second.seized) {
      tracees_.erase(it);  // a record of an earlier task with this pid
      it = tracees_.end();
    }
    if (it == tracees_.end()) {
      if (!want_stopped) return;
      it = tracees_.emplace(tid, Tracee{.start_time = start_time}).first;
    } else if (!same(it->second.start_time, start_time)) {
      return;  // the pid is still held by a seized task we have to wait for
    }
    if (it->second.start_time == 0) it->second.start_time = start_time;
    if (want_stopped && !it->second.want_stopped) it->second.failed = false;
    it->second.want_stopped = want_stopped;
    dirty_.push_back(tid);
    if (!thread_.joinable()) {
      warn_about_yama();
      thread_ = std::thread([this] { loop(); });
    }
    cv_.notify_one();
  }

  void loop() {
    std::unique_lock lock(mu_);
    while (!stopping_) {
      std::vector<pid_t> dirty;
      dirty.swap(dirty_);
      for (pid_t tid : dirty) apply(tid);
      collect();
      bool settling = false;  // a stop was asked for and not reported yet
      for (auto& [tid, t] : tracees_) settling |= t.seized && !t.in_stop;
      cv_.wait_for(lock, std::chrono::milliseconds(settling ? 2 : 100),
                   [this] { return stopping_ || !dirty_.empty(); });
    }
    // Tracees in a stop are resumed; the others are detached by the kernel
    // when this thread exits.
    for (auto& [tid, t] : tracees_)
      if (t.seized && t.in_stop) ptrace(PTRACE_DETACH, tid, nullptr, reinterpret_cast<void*>(intptr_t{t.inject}));
  }

  void apply(pid_t tid) {
    auto it = tracees_.find(tid);
    if (it == tracees_.end()) return;
    Tracee& t = it->second;
    if (t.want_stopped && !t.seized && !t.failed) {
      seize(tid, t);
      if (!t.seized && !t.failed) tracees_.erase(it);  // gone
    } else if (!t.want_stopped) {
      if (!t.seized) {
        tracees_.erase(it);
      } else if (t.in_stop) {
        detach(tid, t);
        tracees_.erase(it);
      }
      // Otherwise it is detached when its stop is reported.
    }
  }

  void seize(pid_t tid, Tracee& t) {
    auto info = proc_.task(tid);
    if (!info || !same(info->start_time, t.start_time) || info->dying()) return;
    t.start_time = info->start_time;
    if (ours(*info)) {
      t.failed = true;
      return;
    }
    if (ptrace(PTRACE_SEIZE, tid, nullptr, nullptr) != 0) {
      const int err = errno;
      if (err == ESRCH) return;
      t.failed = true;
      if (!(info->flags & kPfKthread))
        spdlog::warn("freezer: cannot stop task {}: {}; its cgroup stays FREEZING", tid, strerror(err));
      return;
    }
    t.seized = true;
    t.in_stop = false;
    t.inject = 0;
    // The pid may have been reused between the check and the seize.
    auto again = proc_.task(tid);
    if (!again || again->start_time != t.start_time) t.want_stopped = false;
    ptrace(PTRACE_INTERRUPT, tid, nullptr, nullptr);  // ESRCH: it is exiting, and waited for below
  }

  void detach(pid_t tid, Tracee& t) {
    ptrace(PTRACE_DETACH, tid, nullptr, reinterpret_cast<void*>(intptr_t{t.inject}));
    t.seized = false;
  }

  // Stops and exits of this thread's tracees (and of nothing else: the
  // daemon's other children belong to other threads).
  void collect() {
    for (;;) {
      int status = 0;
      const pid_t pid = waitpid(-1, &status, WNOHANG | __WALL | __WNOTHREAD);
      if (pid <= 0) return;
      auto it = tracees_.find(pid);
      if (WIFEXITED(status) || WIFSIGNALED(status)) {
        if (it != tracees_.end() && it->second.seized) tracees_.erase(it);
        continue;
      }
      if (!WIFSTOPPED(status)) continue;
      const int event = status >> 16;
      const int inject = event == 0 ? WSTOPSIG(status) : 0;
      if (it == tracees_.end() || !it->second.seized) {
        // A tracee we no longer know under this pid (a thread that called
        // execve took over its leader's): let it go.
        ptrace(PTRACE_DETACH, pid, nullptr, reinterpret_cast<void*>(intptr_t{inject}));
        continue;
      }
      Tracee& t = it->second;
      // PTRACE_EVENT_STOP: our interrupt, or a group-stop, which detaching
      // preserves. Otherwise a signal was being delivered: it is delivered
      // at detach.
      t.in_stop = true;
      t.inject = inject;
      if (!t.want_stopped) {
        detach(pid, t);
        tracees_.erase(it);
      }
    }
  }

  // Yama's ptrace_scope 1 lets a process trace only its descendants
  // without CAP_SYS_PTRACE; 2 and 3 allow less.
  static void warn_about_yama() {
    std::ifstream scope_file("/proc/sys/kernel/yama/ptrace_scope");
    int scope = 0;
    if (!(scope_file >> scope) || scope == 0) return;
    std::ifstream status("/proc/self/status");
    std::string line;
    unsigned long long caps = 0;
    while (std::getline(status, line))
      if (line.rfind("CapEff:", 0) == 0) caps = std::stoull(line.substr(7), nullptr, 16);
    constexpr int kCapSysPtrace = 19;
    if (scope == 1 && (caps & (1ULL << kCapSysPtrace))) return;
    spdlog::warn("freezer: kernel.yama.ptrace_scope is {}: tasks this daemon may not trace cannot be frozen", scope);
  }

  ProcTaskSource proc_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<pid_t, Tracee> tracees_;
  std::vector<pid_t> dirty_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace

std::unique_ptr<TaskStopper> make_ptrace_stopper() { return std::make_unique<PtraceStopper>(); }

// ---- the controller -----------------------------------------------------------

FreezerController::FreezerController(std::unique_ptr<TaskStopper> stopper) : stopper_(std::move(stopper)) {}
FreezerController::~FreezerController() = default;

// freezer_css_alloc + freezer_css_online: a cgroup created under a freezing
// parent starts frozen (it has no tasks yet).
std::unique_ptr<Css> FreezerController::css_alloc(Cgroup&, Css* parent_css) {
  auto freezer = std::make_unique<FreezerCss>();
  freezer->state = FreezerCss::kOnline;
  auto* parent = static_cast<FreezerCss*>(parent_css);
  if (parent && (parent->state & FreezerCss::kFreezing))
    freezer->state |= FreezerCss::kFreezingParent | FreezerCss::kFrozen;
  return freezer;
}

void FreezerController::css_offline(Css& css) { static_cast<FreezerCss&>(css).state = 0; }

std::span<const ControlFile> FreezerController::legacy_files() const { return kFiles; }

FreezerCss* FreezerController::css_of(Cgroup& cgroup) const { return static_cast<FreezerCss*>(cgroup.css(ssid())); }

// freeze_task, and FROZEN cleared upwards: the cgroup has a task that may
// still run (freezer_attach).
void FreezerController::stop_task(const Task& task, FreezerCss& freezer) {
  stopper_->stop(task.tid, task.start_time);
  for (FreezerCss* f = &freezer; f && (f->state & FreezerCss::kFrozen); f = parent_freezer(*f))
    f->state &= ~FreezerCss::kFrozen;
}

// freezer_attach: moved tasks conform to their new cgroup.
void FreezerController::attach(TaskSet& tset) {
  for (const TaskMove& m : tset.moves) {
    auto* freezer = static_cast<FreezerCss*>(m.dst->css(*this));
    if (!freezer) continue;
    if (!(freezer->state & FreezerCss::kFreezing))
      stopper_->resume(m.task->tid, m.task->start_time);
    else
      stop_task(*m.task, *freezer);
  }
}

// freezer_fork: a child of a freezing cgroup is stopped. The kernel leaves
// FROZEN alone, since no task of a frozen cgroup can fork; here the fork may
// be learnt after the cgroup was found FROZEN, so FROZEN is cleared until
// the child is seen stopped.
void FreezerController::fork(const Task& task) {
  if (!bound()) return;  // the engine reports forks to every controller
  auto* freezer = static_cast<FreezerCss*>(task.cset->css(*this));
  if (!freezer || !freezer->parent) return;  // the root never freezes
  if (freezer->state & FreezerCss::kFreezing) stop_task(task, *freezer);
}

void FreezerController::exit(const Task& task) {
  if (bound()) stopper_->forget(task.tid, task.start_time);
}

// update_if_frozen: FREEZING becomes FROZEN once every online child is
// FROZEN and every task of the cgroup itself is stopped.
void FreezerController::update_if_frozen(Engine& engine, FreezerCss& freezer) {
  if (!(freezer.state & FreezerCss::kFreezing) || (freezer.state & FreezerCss::kFrozen)) return;
  for (auto& [name, child] : freezer.cgroup->children()) {
    FreezerCss* c = css_of(*child);
    if (c && (c->state & FreezerCss::kOnline) && !(c->state & FreezerCss::kFrozen)) return;
  }
  for (const Engine::Member& m : engine.members(*freezer.cgroup)) {
    const Task* task = engine.tracked_task(m.tid);
    if (!task) continue;
    if (stopper_->state(m.tid, task->start_time) == TaskStopper::State::kRunning) return;
  }
  freezer.state |= FreezerCss::kFrozen;
}

int FreezerController::read_state(Engine& engine, Cgroup& cgroup, std::string& out) {
  FreezerCss* freezer = css_of(cgroup);
  if (!freezer) return -EINVAL;
  engine.sync();
  for_each_post(cgroup, [&](Cgroup& pos) {
    if (FreezerCss* f = css_of(pos); f && (f->state & FreezerCss::kOnline)) update_if_frozen(engine, *f);
  });
  // A task seen stopped forks no more, but a fork it made just before is
  // learnt only now: its child is stopped and FROZEN waits for it (fork).
  engine.sync();
  out = std::string(state_string(freezer->state)) + "\n";
  return 0;
}

// freezer_apply_state.
void FreezerController::apply_state(Engine& engine, FreezerCss& freezer, bool freeze, unsigned flag) {
  if (!(freezer.state & FreezerCss::kOnline)) return;
  if (freeze) {
    freezer.state |= flag;
    for (const Engine::Member& m : engine.members(*freezer.cgroup))
      if (const Task* task = engine.tracked_task(m.tid)) stopper_->stop(task->tid, task->start_time);
    return;
  }
  freezer.state &= ~flag;
  if (!(freezer.state & FreezerCss::kFreezing)) {
    freezer.state &= ~FreezerCss::kFrozen;
    for (const Engine::Member& m : engine.members(*freezer.cgroup))
      if (const Task* task = engine.tracked_task(m.tid)) stopper_->resume(task->tid, task->start_time);
  }
}

// freezer_change_state: the cgroup takes FREEZING_SELF, every descendant
// FREEZING_PARENT from its parent, in pre-order.
void FreezerController::change_state(Engine& engine, FreezerCss& freezer, bool freeze) {
  for_each_pre(*freezer.cgroup, [&](Cgroup& pos) {
    FreezerCss* f = css_of(pos);
    if (!f) return;
    if (f == &freezer) {
      apply_state(engine, *f, freeze, FreezerCss::kFreezingSelf);
    } else {
      FreezerCss* parent = parent_freezer(*f);
      apply_state(engine, *f, parent && (parent->state & FreezerCss::kFreezing), FreezerCss::kFreezingParent);
    }
  });
}

// freezer_write.
int FreezerController::write_state(Engine& engine, Cgroup& cgroup, std::string_view input) {
  FreezerCss* freezer = css_of(cgroup);
  if (!freezer) return -EINVAL;
  std::string_view buf = strstrip(input);
  bool freeze;
  if (buf == "THAWED") {
    freeze = false;
  } else if (buf == "FROZEN") {
    if (!warned_imperfect_) {
      spdlog::info("Freezing with imperfect legacy cgroup freezer. See cgroup.freeze of cgroup v2");
      warned_imperfect_ = true;
    }
    freeze = true;
  } else {
    return -EINVAL;
  }
  engine.sync();
  change_state(engine, *freezer, freeze);
  return 0;
}

std::unique_ptr<Controller> make_freezer(const std::vector<std::string>& settings) {
  if (!settings.empty()) throw std::invalid_argument("the freezer controller has no setting '" + settings[0] + "'");
  return std::make_unique<FreezerController>(make_ptrace_stopper());
}

}  // namespace cgemu
