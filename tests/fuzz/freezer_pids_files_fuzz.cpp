// The freezer and pids controllers' files (controllers/freezer.cpp,
// pids.cpp), mounted together, on the fake host of controller_world.h:
// freezer.state and pids.max.
//
// Header: [h0]. Bit 0: pids.enforce=kill instead of count. Host changes: the
// tasks asked to stop reach their stop (all of them, or one).
//
// Checks, besides controller_world.h's:
//   - freezer.state takes exactly THAWED or FROZEN once stripped (anything
//     else is EINVAL); then self_freezing reads 1 for FROZEN and 0 for
//     THAWED, and the state reads FREEZING or FROZEN while the cgroup or an
//     ancestor freezes, THAWED otherwise;
//   - pids.max takes "max" or a kstrtoll number in 0..PID_MAX_LIMIT once
//     stripped, with kstrtoll's errno or EINVAL otherwise, and reads back
//     "max" or the number;
//   - after every step: parent_freezing is whether the parent freezes;
//     FROZEN only with every child FROZEN and every member stopped; every
//     task of a freezing cgroup was asked to stop and every other task was
//     not (or was resumed); pids.current, pids.peak and pids.events are
//     well formed and the peak is at least the current count.
#include <cerrno>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "controller_world.h"
#include "controllers/freezer.h"
#include "controllers/pids.h"
#include "engine/kernel_parse.h"

namespace cgemu::fuzz {
namespace {

const int kFreezer = *subsystem_id("freezer");
const int kPids = *subsystem_id("pids");

class FreezerPidsWorld : public ControllerWorld {
 public:
  FreezerPidsWorld(Input& in, std::string what) : ControllerWorld(std::move(what)) {
    const uint8_t h0 = in.next();
    Controllers controllers;
    controllers[kFreezer] = std::make_unique<FreezerController>(std::make_unique<FakeStopper>(this));
    controllers[kPids] = std::make_unique<PidsController>(
        (h0 & 1) ? PidsController::Enforce::kKill : PidsController::Enforce::kCount, std::make_unique<FakePidsHost>(this));
    init(std::move(controllers), {{"", (1u << kFreezer) | (1u << kPids), false, ""}},
         {"freezer.state", "pids.max", "freezer.state", "pids.max"});
  }
  ~FreezerPidsWorld() override { destroy_engine(); }

 private:
  // Stops are asked for and reached later (change_host), as ptrace's are.
  class FakeStopper : public TaskStopper {
   public:
    explicit FakeStopper(FreezerPidsWorld* w) : w_(w) {}
    void stop(pid_t tid, uint64_t) override {
      check_fake_pid(tid, "TaskStopper::stop");
      ++w_->host_.effects;
      w_->wanted_[tid] = true;
    }
    void resume(pid_t tid, uint64_t) override {
      check_fake_pid(tid, "TaskStopper::resume");
      ++w_->host_.effects;
      w_->wanted_[tid] = false;
      w_->stopped_.erase(tid);
    }
    void forget(pid_t tid, uint64_t) override {
      check_fake_pid(tid, "TaskStopper::forget");
      w_->wanted_.erase(tid);
      w_->stopped_.erase(tid);
    }
    State state(pid_t tid, uint64_t) override {
      check_fake_pid(tid, "TaskStopper::state");
      if (!w_->host_.live(tid)) return State::kStopped;
      return w_->stopped_.count(tid) ? State::kStopped : State::kRunning;
    }

   private:
    FreezerPidsWorld* w_;
  };

  class FakePidsHost : public PidsHost {
   public:
    explicit FakePidsHost(FreezerPidsWorld* w) : w_(w) {}
    bool reaped(pid_t tid, uint64_t start_time) override {
      check_fake_pid(tid, "PidsHost::reaped");
      auto t = w_->host_.tasks.task(tid);
      return !t || (start_time && t->start_time != start_time);
    }
    uint64_t start_time(pid_t tid) override {
      check_fake_pid(tid, "PidsHost::start_time");
      auto t = w_->host_.tasks.task(tid);
      return t ? t->start_time : 0;
    }
    void kill(pid_t tid, uint64_t start_time) override {
      check_fake_pid(tid, "PidsHost::kill");
      ++w_->host_.effects;
      auto t = w_->host_.tasks.task(tid);
      if (t && (!start_time || t->start_time == start_time)) w_->host_.kills.push_back(tid);
    }

   private:
    FreezerPidsWorld* w_;
  };

  bool freezing(const Snapshot& s, const Cgroup& c) {
    if (c.is_root()) return false;
    return text(s, c, "freezer.self_freezing") == "1\n" || text(s, c, "freezer.parent_freezing") == "1\n";
  }

  void check_write(const Write& w) override {
    const std::string& name = w.file.name;
    const std::string buf(strstrip(w.input));
    auto reads = [&](const std::string& file, const std::string& want) {
      const std::string got = text(w.after, w.cgroup, file);
      FUZZ_CHECK(got == want, file + " reads '" + printable(got) + "', not '" + printable(want) + "'; " + w.what);
    };
    if (name == "freezer.state") {
      const bool valid = buf == "THAWED" || buf == "FROZEN";
      FUZZ_CHECK(w.err == (valid ? 0 : -EINVAL), "freezer_write; " + w.what);
      if (w.err) return;
      reads("freezer.self_freezing", buf == "FROZEN" ? "1\n" : "0\n");
      const std::string state = text(w.after, w.cgroup, "freezer.state");
      if (freezing(w.after, w.cgroup))
        FUZZ_CHECK(state == "FREEZING\n" || state == "FROZEN\n", "a freezing cgroup reads " + state + "; " + w.what);
      else
        reads("freezer.state", "THAWED\n");
    } else if (name == "pids.max") {
      if (buf == "max") {
        FUZZ_CHECK(w.err == 0, "pids.max takes max; " + w.what);
        reads(name, "max\n");
        return;
      }
      long long v;
      if (const int err = kstrtoll(buf, 0, &v)) {
        FUZZ_CHECK(w.err == err, "kstrtoll gives " + errno_name(err) + "; " + w.what);
        return;
      }
      const bool in_range = v >= 0 && v < PidsCss::kMax;
      FUZZ_CHECK(w.err == (in_range ? 0 : -EINVAL), "pids.max's range; " + w.what);
      if (!w.err) reads(name, std::to_string(v) + "\n");
    }
  }

  void check_state(const Snapshot& s) override {
    for (Cgroup* c : cgroups_) {
      const std::string where = key(*c) + "; " + what_;
      const bool freezes = freezing(s, *c);
      if (!c->is_root()) {
        const std::string state = text(s, *c, "freezer.state");
        const bool parent_freezes = freezing(s, *c->parent());
        FUZZ_CHECK(text(s, *c, "freezer.parent_freezing") == (parent_freezes ? "1\n" : "0\n"),
                   "parent_freezing is not whether the parent freezes in " + where);
        FUZZ_CHECK(freezes ? (state == "FREEZING\n" || state == "FROZEN\n") : state == "THAWED\n",
                   "freezer.state reads " + printable(state) + " in " + where);
        if (state == "FROZEN\n") {
          for (const auto& [name, child] : c->children())
            FUZZ_CHECK(text(s, *child, "freezer.state") == "FROZEN\n", "FROZEN above a child that is not in " + where);
          for (pid_t tid : s.members.at(key(*c)))
            FUZZ_CHECK(stopped_.count(tid), "FROZEN with task " + std::to_string(tid) + " running in " + where);
        }
        // pids
        long long current = 0, peak = 0;
        FUZZ_CHECK(kstrtoll(text(s, *c, "pids.current"), 10, &current) == 0 && current >= 0,
                   "pids.current reads '" + printable(text(s, *c, "pids.current")) + "' in " + where);
        FUZZ_CHECK(kstrtoll(text(s, *c, "pids.peak"), 10, &peak) == 0 && peak >= current,
                   "pids.peak reads '" + printable(text(s, *c, "pids.peak")) + "' in " + where);
        const std::string events = text(s, *c, "pids.events");
        unsigned long long n;
        FUZZ_CHECK(events.starts_with("max ") && kstrtoull(events.substr(4), 10, &n) == 0,
                   "pids.events reads '" + printable(events) + "' in " + where);
        const std::string max = text(s, *c, "pids.max");
        long long limit;
        FUZZ_CHECK(max == "max\n" || (kstrtoll(max, 10, &limit) == 0 && limit >= 0 && limit < PidsCss::kMax),
                   "pids.max reads '" + printable(max) + "' in " + where);
      }
      // The real effect: members of a freezing cgroup were asked to stop,
      // the others were not (or were resumed).
      for (pid_t tid : s.members.at(key(*c))) {
        if (!engine_->tracked_task(tid)) continue;  // never moved: the freezer never saw it
        auto it = wanted_.find(tid);
        const bool wanted = it != wanted_.end() && it->second;
        FUZZ_CHECK(wanted == freezes, "task " + std::to_string(tid) + (wanted ? " held stopped" : " not stopped") +
                                          " in " + where);
      }
    }
  }

  void change_host(int kind, uint8_t arg) override {
    if (kind == 1) {
      const std::vector<pid_t> live = host_.live_tids();
      const pid_t tid = live[arg % live.size()];
      if (wanted_.count(tid) && wanted_[tid]) stopped_.insert(tid);
      return;
    }
    for (auto& [tid, want] : wanted_)
      if (want) stopped_.insert(tid);
  }

  std::map<pid_t, bool> wanted_;  // what the freezer last asked of each task
  std::set<pid_t> stopped_;       // tasks seen stopped
};

}  // namespace

int FreezerPidsFiles(const uint8_t* data, size_t size) { return run_world<FreezerPidsWorld>(data, size); }

}  // namespace cgemu::fuzz
