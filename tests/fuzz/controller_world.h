// The controllers' control files driven through an Engine on a fake host, as
// op_read and op_write call them (E2BIG above max_write_len, empty writes
// ignored, the text cut at its first NUL): the part the controller fuzz
// targets share (cpuset_files, cpu_files, memory_files, devices_files,
// freezer_pids_files). Each target builds its controllers with fakes of
// their host interfaces and adds its own checks through the hooks below.
//
// Nothing here reaches a real process. Every controller gets a fake of its
// host interface (CpusetHost, CpuHost, CpuacctHost, MemoryHost, TaskStopper,
// PidsHost) that records what it is asked instead of calling
// sched_setaffinity, ptrace, kill or pidfd_getfd, and every task of the fake
// host has a pid above PID_MAX_LIMIT (4194304), which no real task can have;
// each fake checks every pid it is handed against that bound.
//
// Input: the target's header bytes (the shape of its host), then steps, each
// starting with an opcode byte:
//   op % 8 in 0..4  write: [ctx][len][len bytes of text] to the writable
//                   file (op >> 3) of the target's list; ctx & 15 picks the
//                   cgroup among those that have the file, bit 4 drops the
//                   opener's CAP_SYS_ADMIN, bit 5 makes the opener uid 1000,
//                   bits 6-7 pick the writing thread. A len of 255 is
//                   followed by a 16-bit little-endian length.
//   op % 8 == 5     move: [cgroup][task] the task (bit 7 of task: its whole
//                   thread group) is moved as a tasks/cgroup.procs write does
//   op % 8 == 6     host: [arg] a fork, a new thread, an exit, the zombies
//                   reaped, the kills a controller asked for carried out, or
//                   the target's own change (memory use, real-time policy,
//                   CPU time, a stop reached)
//   op % 8 == 7     tree: [arg] mkdir, rmdir, or clone_children flipped
// Properties checked at every step, whatever the target:
//   - no crash, no sanitizer report;
//   - every readable file of every live cgroup reads without error (but
//     memory.pressure_level, which the kernel answers EINVAL), and its text
//     is empty or ends in '\n' and holds no NUL; after a write, reading every
//     file again (nothing done in between) reads the same;
//   - a write that fails returns a known -errno, leaves every readable file
//     of every cgroup and every membership as it was, and asked nothing of
//     the host (no affinity set, no task stopped, no kill, no descriptor
//     taken); a refused move likewise (but the memory.failcnt a refused
//     charge move counts, as the kernel's try_charge does);
//   - rmdir fails exactly when the cgroup is populated or has children, with
//     EBUSY, changing nothing.
// With CGEMU_FUZZ_TRACE set in the environment, every step is printed to
// stderr (to read what a saved input does: fuzz_replay TARGET FILE).
#pragma once

#include <sys/types.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include <spdlog/spdlog.h>

#include "controllers/subsystems.h"
#include "engine/engine.h"
#include "targets.h"
#include "tests/unit/fake_task_source.h"
#include "tests/unit/scripted_events.h"

namespace cgemu::fuzz {

// PID_MAX_LIMIT on 64-bit kernels: pid_max can never exceed it, so no real
// task has a pid above it.
inline constexpr pid_t kPidMaxLimit = 4194304;
inline constexpr pid_t kFakePidBase = 5000000;

inline void check_fake_pid(pid_t tid, const char* who) {
  FUZZ_CHECK(tid > kPidMaxLimit,
             std::string(who) + " was handed pid " + std::to_string(tid) + ", which a real task could have");
}

inline std::string errno_name(int err) { return err ? "-" + std::to_string(-err) : "0"; }

inline void trace(const std::string& step) {
  static const bool on = getenv("CGEMU_FUZZ_TRACE") != nullptr;
  if (on) fprintf(stderr, "  %s\n", step.substr(0, step.rfind("; input ")).c_str());
}

inline std::string hex_prefix(const uint8_t* data, size_t size) {
  static const char kHex[] = "0123456789abcdef";
  std::string out = "input ";
  for (size_t i = 0; i < size && i < 64; ++i) {
    out += kHex[data[i] >> 4];
    out += kHex[data[i] & 15];
  }
  if (size > 64) out += "...";
  return out;
}

inline std::string printable(std::string_view s) {
  std::string out;
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u >= 0x20 && u < 0x7f && c != '\\') {
      out += c;
    } else {
      static const char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[u >> 4];
      out += kHex[u & 15];
    }
  }
  return out;
}

// The host's tasks, with the fork and exit events the engine learns them
// from. Everything starts in the roots; only the writer never exits.
class FakeHost {
 public:
  static constexpr size_t kMaxTasks = 24;

  FakeHost() {
    writer = kFakePidBase + 1;
    tasks.add(writer, writer, 0);
    tasks.add(kFakePidBase + 10, kFakePidBase + 10, 1000);
    tasks.add(kFakePidBase + 20, kFakePidBase + 20, 1000);
    tasks.add(kFakePidBase + 21, kFakePidBase + 20, 1000);
    tasks.add(kFakePidBase + 22, kFakePidBase + 20, 1000);
    tasks.add(kFakePidBase + 30, kFakePidBase + 30, 2000);
  }

  bool live(pid_t tid) {
    auto t = tasks.task(tid);
    return t && !t->dying();
  }
  std::vector<pid_t> live_tids() {
    std::vector<pid_t> out;
    tasks.for_each_live_task([&](pid_t tid, pid_t) { out.push_back(tid); });
    return out;
  }
  size_t nr_tasks() {
    size_t n = 0;
    tasks.for_each_live_task([&](pid_t, pid_t) { ++n; });
    return n;
  }

  // parent forks a new process.
  void fork_process(pid_t parent) {
    auto p = tasks.task(parent);
    if (!p || p->dying() || nr_tasks() >= kMaxTasks) return;
    const pid_t pid = next_pid++;
    const TaskInfo& child = tasks.add(pid, pid, p->ruid);
    queue(TaskEvent::Kind::kFork, pid, pid, parent, child.start_time);
    if (on_fork) on_fork(pid, parent);
  }
  // The process of `member` starts a thread.
  void new_thread(pid_t member) {
    auto m = tasks.task(member);
    if (!m || m->dying() || !live(m->tgid) || nr_tasks() >= kMaxTasks) return;
    const pid_t tid = next_pid++;
    const TaskInfo& thread = tasks.add(tid, m->tgid, m->ruid);
    queue(TaskEvent::Kind::kFork, tid, m->tgid, 0, thread.start_time);
    if (on_fork) on_fork(tid, m->tgid);
  }
  // A thread exits and is released at once; a leader's exit ends its
  // process: the other threads go, and it stays a zombie until reaped.
  void exit_task(pid_t tid) {
    auto t = tasks.task(tid);
    if (!t || t->dying() || t->tgid == writer) return;
    if (tid != t->tgid) {
      tasks.remove(tid);
      queue(TaskEvent::Kind::kExit, tid, t->tgid, 0, t->start_time);
      return;
    }
    for (pid_t other : tasks.threads(tid)) {
      if (other == tid) continue;
      auto o = tasks.task(other);
      tasks.remove(other);
      queue(TaskEvent::Kind::kExit, other, tid, 0, o ? o->start_time : 0);
    }
    tasks.zombie(tid);
    queue(TaskEvent::Kind::kExit, tid, tid, 0, t->start_time);
  }
  // Parents wait for their zombies.
  void reap() {
    std::vector<pid_t> zombies;
    for (pid_t tid = kFakePidBase; tid < next_pid; ++tid) {
      auto t = tasks.task(tid);
      if (t && t->dying() && tasks.threads(tid).size() <= 1) zombies.push_back(tid);
    }
    for (pid_t tid : zombies) tasks.remove(tid);
  }
  // SIGKILL takes effect: every process a controller killed exits.
  void apply_kills() {
    std::vector<pid_t> killed;
    killed.swap(kills);
    for (pid_t tgid : killed) exit_task(tgid);
  }

  testing::FakeTaskSource tasks;
  testing::ScriptedEvents events;
  pid_t writer = 0;
  pid_t next_pid = kFakePidBase + 100;
  // Calls that act on host tasks: affinity set, stop, resume, kill, a
  // descriptor taken, closed or signalled.
  uint64_t effects = 0;
  // Processes a controller sent SIGKILL, still running until apply_kills.
  std::vector<pid_t> kills;
  // Called for every new task with the task it inherits from.
  std::function<void(pid_t child, pid_t parent)> on_fork;

 private:
  void queue(TaskEvent::Kind kind, pid_t tid, pid_t tgid, pid_t parent, uint64_t start_time) {
    TaskEvent e{};
    e.kind = kind;
    e.tid = tid;
    e.tgid = tgid;
    e.parent_tid = parent;
    e.start_time = start_time;
    events.queued.push_back(e);
  }
};

// What the files read, and where the tasks are.
struct Snapshot {
  std::map<std::string, std::string> files;  // "<hierarchy>:<path> <file>" -> text, or "E<errno>"
  std::map<std::string, std::vector<pid_t>> members;  // "<hierarchy>:<path>" -> tids
  bool operator==(const Snapshot&) const = default;
};

inline std::string first_difference(const Snapshot& a, const Snapshot& b) {
  for (const auto& [k, v] : a.files) {
    auto it = b.files.find(k);
    if (it == b.files.end()) return k + " disappeared";
    if (it->second != v) return k + ": '" + printable(v) + "' became '" + printable(it->second) + "'";
  }
  for (const auto& [k, v] : b.files)
    if (!a.files.count(k)) return k + " appeared";
  for (const auto& [k, v] : a.members) {
    auto it = b.members.find(k);
    if (it == b.members.end() || it->second != v) return "the members of " + k + " changed";
  }
  if (a.members.size() != b.members.size()) return "the cgroups changed";
  return "nothing";
}

class ControllerWorld {
 public:
  struct File {
    std::string name;  // as in the directory: "<controller>.<name>", or the bare name with kCftNoPrefix
    int ssid;
    const ControlFile* cft;
  };
  struct Write {
    const File& file;
    Cgroup& cgroup;
    std::string_view input;  // as the handler got it (cut at the first NUL)
    const FileOpener& opener;
    int err;
    const Snapshot& before;
    const Snapshot& after;
    std::string what;  // the step, for messages
  };

  static constexpr int kMaxSteps = 48;
  static constexpr size_t kMaxCgroups = 10;

  explicit ControllerWorld(std::string what) : what_(std::move(what)) { spdlog::set_level(spdlog::level::off); }
  virtual ~ControllerWorld() { destroy_engine(); }
  ControllerWorld(const ControllerWorld&) = delete;
  ControllerWorld& operator=(const ControllerWorld&) = delete;

  void run(Input& in) {
    for (int steps = 0; !in.empty() && steps < kMaxSteps; ++steps) {
      const uint8_t op = in.next();
      std::optional<Snapshot> after;
      switch (op % 8) {
        case 5: after = move_step(in); break;
        case 6: after = host_step(in); break;
        case 7: after = tree_step(in); break;
        default: after = write_step(op, in); break;
      }
      if (after) check_state(*after);
    }
  }

  // Tears the engine down (every css freed), then the target's end checks.
  void finish() {
    destroy_engine();
    check_finished();
  }

 protected:
  // ---- for the targets -------------------------------------------------------

  // Builds the engine. file_order names the writable files in the order the
  // input's file byte picks them; names this build lacks keep their slot (a
  // no-op), so that saved inputs keep their meaning; writable files the list
  // does not name follow, by name.
  void init(Controllers controllers, const std::vector<HierarchyConfig>& configs,
            const std::vector<std::string>& file_order) {
    for (int ssid = 0; ssid < kMaxSubsys; ++ssid) {
      if (!controllers[ssid]) continue;
      std::string_view legacy;
      for (const Subsystem& ss : all_subsystems())
        if (ss.ssid == ssid) legacy = ss.legacy_name;
      for (const ControlFile& cft : controllers[ssid]->legacy_files()) {
        std::string name = (cft.flags & kCftNoPrefix) ? std::string(cft.name)
                                                      : std::string(legacy) + "." + std::string(cft.name);
        files_.push_back({std::move(name), ssid, &cft});
      }
    }
    engine_ = std::make_unique<Engine>(host_.tasks, std::move(controllers), configs);
    engine_->set_task_events(&host_.events);
    for (const auto& h : engine_->hierarchies()) cgroups_.push_back(&h->root());
    for (const auto& h : engine_->hierarchies()) {
      Cgroup* a = make(h->root(), "a");
      if (a) make(*a, "b");
      make(h->root(), "c");
    }
    std::set<std::string> named;
    for (const std::string& name : file_order) {
      named.insert(name);
      const File* found = nullptr;
      for (const File& f : files_)
        if (f.name == name && f.cft->write) found = &f;
      writable_.push_back(found);
    }
    std::vector<const File*> rest;
    for (const File& f : files_)
      if (f.cft->write && !named.count(f.name)) rest.push_back(&f);
    std::sort(rest.begin(), rest.end(), [](const File* a, const File* b) { return a->name < b->name; });
    writable_.insert(writable_.end(), rest.begin(), rest.end());
  }

  // Hooks. check_write runs after every write the handler was called for;
  // check_state after every step, on what the files read then.
  virtual void check_write(const Write& w) {}
  virtual void check_state(const Snapshot& s) {}
  // kind 0..2 with an argument of 5 bits: the target's own host change.
  virtual void change_host(int kind, uint8_t arg) {}
  virtual void check_finished() {}
  // A read that fails by design, with its errno; 0 for none.
  virtual int expected_read_error(const std::string& file) { return 0; }
  // A file whose text a refused move may change.
  virtual bool refusal_may_change(const std::string& file) { return false; }

  void destroy_engine() {
    // Removed cgroups first, while their controllers live.
    owned_.clear();
    cgroups_.clear();
    engine_.reset();
  }

  static std::string key(const Cgroup& c) { return std::to_string(c.hierarchy().index()) + ":" + c.path(); }
  static std::string key(const Cgroup& c, std::string_view file) { return key(c) + " " + std::string(file); }
  // What the file read in s; "" if it does not exist there.
  static const std::string& text(const Snapshot& s, const Cgroup& c, std::string_view file) {
    static const std::string kNone;
    auto it = s.files.find(key(c, file));
    return it == s.files.end() ? kNone : it->second;
  }

  bool exists(const Cgroup& c, const File& f) const {
    if (!c.hierarchy().has_subsys(f.ssid)) return false;
    if ((f.cft->flags & kCftOnlyOnRoot) && !c.is_root()) return false;
    if ((f.cft->flags & kCftNotOnRoot) && c.is_root()) return false;
    return true;
  }
  const File* file(std::string_view name) const {
    for (const File& f : files_)
      if (f.name == name) return &f;
    return nullptr;
  }
  // Reads as the writer would, through the handler.
  int read(Cgroup& c, const File& f, std::string& out) {
    FileOpener opener{0, 0, host_.writer, true};
    FileCall call{*engine_, c, opener, host_.writer};
    out.clear();
    return f.cft->read(call, out);
  }
  std::string read(Cgroup& c, std::string_view name) {
    const File* f = file(name);
    std::string out;
    if (!f || !f->cft->read || !exists(c, *f)) return out;
    if (int err = read(c, *f, out)) return "E" + std::to_string(-err);
    return out;
  }

  Snapshot snapshot() {
    Snapshot s;
    for (Cgroup* c : cgroups_) {
      const std::string ck = key(*c);
      for (const File& f : files_) {
        if (!f.cft->read || !exists(*c, f)) continue;
        std::string out;
        const int err = read(*c, f, out);
        std::string k = ck + " " + f.name;
        FUZZ_CHECK(err == expected_read_error(f.name), "read " + k + " = " + errno_name(err) + "; " + what_);
        if (err) {
          s.files.emplace(std::move(k), "E" + std::to_string(-err));
          continue;
        }
        FUZZ_CHECK(out.find('\0') == std::string::npos, "NUL in " + k + "; " + what_);
        FUZZ_CHECK(out.empty() || out.back() == '\n',
                   "no final newline in '" + printable(out) + "' of " + k + "; " + what_);
        s.files.emplace(std::move(k), std::move(out));
      }
      auto& m = s.members[ck];
      for (const Engine::Member& member : engine_->members(*c)) m.push_back(member.tid);
      std::sort(m.begin(), m.end());
    }
    return s;
  }

  // The state before a step. After a host change, a move or a tree change,
  // the pass of reads that ended the step brought every lazily kept number
  // up to date (a sample of the memory ledger, CPU time charged to every
  // level, FROZEN found); the next pass is what the files read. After a
  // write nothing lazily kept can have changed, so a second pass must read
  // exactly what the first did.
  const Snapshot& settled() {
    switch (last_kind_) {
      case Last::kSettled:
        return last_;
      case Last::kAfterWrite: {
        Snapshot s = snapshot();
        FUZZ_CHECK(s == last_, "reading every file again after a write, nothing done in between, changed " +
                                   first_difference(last_, s) + "; " + what_);
        break;
      }
      case Last::kNone:
        snapshot();
        [[fallthrough]];
      case Last::kUnsettled:
        last_ = snapshot();
        break;
    }
    last_kind_ = Last::kSettled;
    return last_;
  }

  Cgroup* make(Cgroup& parent, const std::string& name) {
    std::shared_ptr<Cgroup> c;
    if (engine_->mkdir(parent, name, &c) != 0) return nullptr;
    owned_.push_back(c);
    cgroups_.push_back(c.get());
    return c.get();
  }

  FakeHost host_;
  std::unique_ptr<Engine> engine_;
  std::vector<Cgroup*> cgroups_;  // the live ones, roots first
  std::vector<File> files_;
  std::vector<const File*> writable_;
  std::string what_;  // the input, for messages

 private:
  std::optional<Snapshot> write_step(uint8_t op, Input& in) {
    const uint8_t ctx = in.next();
    size_t len = in.next();
    if (len == 0xff) {
      len = in.next();
      len |= static_cast<size_t>(in.next()) << 8;
    }
    const std::string_view raw = in.take(len);
    if (writable_.empty()) return std::nullopt;
    const File* f = writable_[(op >> 3) % writable_.size()];
    if (!f) return std::nullopt;  // a file this build does not have
    std::vector<Cgroup*> have;
    for (Cgroup* c : cgroups_)
      if (exists(*c, *f)) have.push_back(c);
    if (have.empty()) return std::nullopt;
    Cgroup& cgroup = *have[(ctx & 15) % have.size()];
    FileOpener opener;
    opener.uid = opener.gid = (ctx & 0x20) ? 1000 : 0;
    opener.sys_admin = !(ctx & 0x10);
    pid_t writer = host_.writer;
    if (ctx >> 6) {
      const std::vector<pid_t> live = host_.live_tids();
      writer = live[(ctx >> 6) % live.size()];
    }
    opener.pid = writer;
    // op_write: E2BIG before any handler; an empty write does nothing.
    if (raw.size() > f->cft->max_write_len || raw.empty()) return std::nullopt;
    const std::string_view input = raw.substr(0, raw.find('\0'));

    const Snapshot& before = settled();  // last_, replaced only by remember() below
    const uint64_t effects = host_.effects;
    FileCall call{*engine_, cgroup, opener, writer};
    const int err = f->cft->write(call, input);
    const uint64_t effects_after = host_.effects;
    Snapshot after = snapshot();
    const std::string step = f->name + " of " + key(cgroup) + " <- '" + printable(input) + "' (uid " +
                             std::to_string(opener.uid) + ", admin " + std::to_string(opener.sys_admin) +
                             ", writer " + std::to_string(writer) + ") = " + errno_name(err) + "; " + what_;
    trace(step);
    static constexpr int kKnown[] = {EINVAL, ERANGE, EBUSY, EACCES, ENOSPC, EPERM, EBADF, ENOMEM, EOVERFLOW};
    FUZZ_CHECK(err == 0 || std::find(std::begin(kKnown), std::end(kKnown), -err) != std::end(kKnown),
               "unexpected errno; " + step);
    if (err) {
      FUZZ_CHECK(before == after, "a failed write changed " + first_difference(before, after) + "; " + step);
      FUZZ_CHECK(effects_after == effects, "a failed write acted on the host; " + step);
    }
    check_write(Write{*f, cgroup, input, opener, err, before, after, step});
    remember(after, err ? Last::kSettled : Last::kAfterWrite);
    return after;
  }

  std::optional<Snapshot> move_step(Input& in) {
    const uint8_t a = in.next(), b = in.next();
    Cgroup& dst = *cgroups_[a % cgroups_.size()];
    const std::vector<pid_t> live = host_.live_tids();
    if (live.empty()) return std::nullopt;
    const pid_t tid = live[(b & 0x7f) % live.size()];
    const bool threadgroup = b & 0x80;
    const Snapshot& before = settled();
    const uint64_t effects = host_.effects;
    TaskInfo target;
    int err = engine_->find_migration_target(tid, 0, threadgroup, &target);
    if (!err) err = engine_->attach(dst, target, threadgroup);
    const uint64_t effects_after = host_.effects;
    Snapshot after = snapshot();
    const std::string step = std::string(threadgroup ? "move group of " : "move ") + std::to_string(tid) + " to " +
                             key(dst) + " = " + errno_name(err) + "; " + what_;
    trace(step);
    static constexpr int kKnown[] = {ESRCH, EINVAL, ENOSPC, ENOMEM, EPERM, EACCES};
    FUZZ_CHECK(err == 0 || std::find(std::begin(kKnown), std::end(kKnown), -err) != std::end(kKnown),
               "unexpected errno; " + step);
    if (err) {
      Snapshot b2 = before, a2 = after;
      for (auto* s : {&b2, &a2})
        std::erase_if(s->files, [&](const auto& kv) {
          return refusal_may_change(kv.first.substr(kv.first.rfind(' ') + 1));
        });
      FUZZ_CHECK(b2 == a2, "a refused move changed " + first_difference(b2, a2) + "; " + step);
      FUZZ_CHECK(effects_after == effects, "a refused move acted on the host; " + step);
    }
    remember(after, Last::kUnsettled);
    return after;
  }

  std::optional<Snapshot> host_step(Input& in) {
    const uint8_t arg = in.next();
    const std::vector<pid_t> live = host_.live_tids();
    const pid_t tid = live.empty() ? 0 : live[(arg >> 3) % live.size()];
    static const char* kKinds[] = {"fork", "new thread", "exit", "reap", "kills", "host change 0", "host change 1",
                                   "host change 2"};
    trace(std::string(kKinds[arg & 7]) + " (task " + std::to_string(tid) + ", arg " + std::to_string(arg >> 3) + ")");
    switch (arg & 7) {
      case 0: host_.fork_process(tid); break;
      case 1: host_.new_thread(tid); break;
      case 2: host_.exit_task(tid); break;
      case 3: host_.reap(); break;
      case 4: host_.apply_kills(); break;
      default: change_host((arg & 7) - 5, arg >> 3); break;
    }
    return remember(snapshot(), Last::kUnsettled);
  }

  std::optional<Snapshot> tree_step(Input& in) {
    const uint8_t arg = in.next();
    Cgroup& c = *cgroups_[((arg >> 2) & 15) % cgroups_.size()];
    switch (arg & 3) {
      case 0:
      case 1: {
        if (cgroups_.size() >= kMaxCgroups) return std::nullopt;
        static const char* kNames[] = {"a", "b", "c", "x"};
        const std::string name = kNames[arg >> 6];
        const bool exists = c.child(name) != nullptr;
        Cgroup* made = make(c, name);
        trace("mkdir " + key(c) + " " + name + (made ? "" : " = failed"));
        FUZZ_CHECK((made != nullptr) == !exists, "mkdir " + name + " in " + key(c) + "; " + what_);
        break;
      }
      case 2: {
        const Snapshot& before = settled();
        const bool busy = c.is_root() || !c.children().empty() || engine_->populated(c);
        const std::string k = key(c);
        const int err = engine_->rmdir(c);
        trace("rmdir " + k + " = " + errno_name(err));
        FUZZ_CHECK((err == 0) == !busy, "rmdir " + k + " = " + errno_name(err) + "; " + what_);
        if (err) {
          FUZZ_CHECK(err == -EBUSY, "rmdir " + k + " = " + errno_name(err) + "; " + what_);
          const Snapshot after = snapshot();
          FUZZ_CHECK(before == after, "a failed rmdir changed " + first_difference(before, after) + "; " + what_);
          return remember(after, Last::kUnsettled);
        }
        cgroups_.erase(std::find(cgroups_.begin(), cgroups_.end(), &c));
        break;
      }
      case 3:
        // Only later mkdirs see it (cpuset copies the parent's lists): no
        // file reads differently yet.
        c.clone_children = !c.clone_children;
        trace("clone_children of " + key(c) + " = " + std::to_string(c.clone_children));
        return std::nullopt;
    }
    return remember(snapshot(), Last::kUnsettled);
  }

  // What the last pass of reads was taken after.
  enum class Last { kNone, kSettled, kAfterWrite, kUnsettled };
  const Snapshot& remember(Snapshot s, Last kind) {
    last_ = std::move(s);
    last_kind_ = kind;
    return last_;
  }

  std::vector<std::shared_ptr<Cgroup>> owned_;  // removed cgroups live on, as open files keep them
  Snapshot last_;
  Last last_kind_ = Last::kNone;
};

// A target's whole run: the world built from the input's first bytes (or
// from nothing), every step of the input, then the final checks.
template <typename World>
int run_world(const uint8_t* data, size_t size) {
  Input in{data, size};
  const std::string label = hex_prefix(data, size);
  if constexpr (std::is_constructible_v<World, Input&, std::string>) {
    World w(in, label);
    w.run(in);
    w.finish();
  } else {
    World w(label);
    w.run(in);
    w.finish();
  }
  return 0;
}

}  // namespace cgemu::fuzz
