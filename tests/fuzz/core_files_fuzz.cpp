// The v1 core files' write handlers (fs/v1_core_files.h) driven through an
// Engine on a fake host, as op_write calls them (E2BIG above max_write_len,
// empty writes ignored, the text cut at its first NUL).
//
// Input: a sequence of steps, each starting with an opcode byte:
//   op % 8 in 0..4  write: [ctx byte][len lo][len hi][len bytes of text] to
//                   one of the writable core files; ctx picks the cgroup, the
//                   opener's uid and CAP_SYS_ADMIN, and the writing thread
//   op % 8 == 5     host: [arg] a task exits, becomes a zombie, its pid is
//                   reused, or a thread or process appears
//   op % 8 == 6     mkdir: [arg] a child of some cgroup
//   op % 8 == 7     rmdir: [arg] some cgroup
// Properties checked after every step:
//   - a failed write leaves the engine unchanged (every task's cgroup in
//     every hierarchy, every listing, flags, the release agent, the number of
//     css_sets and tracked tasks);
//   - a successful write did what it says (the task or every live thread of
//     its group is in the cgroup; a flag is the value written; the agent is
//     the stripped text) and was allowed (v1 permission rule, CAP_SYS_ADMIN,
//     kthreads never move);
//   - every live host task is listed in exactly one cgroup of each
//     hierarchy, the one cgroup_of() names; no dying task is listed;
//   - populated() and the release notifications agree with the listings;
//   - rmdir succeeds exactly when the cgroup is empty and childless.
#include <algorithm>
#include <cerrno>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "engine/kernel_parse.h"
#include "fs/v1_core_files.h"
#include "targets.h"
#include "tests/unit/fake_task_source.h"

namespace cgemu::fuzz {
namespace {

using cgemu::testing::FakeTaskSource;

constexpr int kSsidRefusing = 1;  // "cpu", bound to hierarchy 0

// Refuses every migration into a cgroup whose name starts with 'x', so that
// the cancel path runs.
class RefusingController : public Controller {
 public:
  int can_attach(TaskSet& tset) override {
    ++can;
    for (const TaskMove& m : tset.moves)
      if (m.dst->cgroup(tset.hierarchy_index).name().rfind("x", 0) == 0) return -ENOSPC;
    return 0;
  }
  void cancel_attach(TaskSet&) override { ++cancelled; }
  void attach(TaskSet&) override { ++attached; }
  int can = 0, cancelled = 0, attached = 0;
};

struct Host {
  FakeTaskSource fake;
  // Every tid ever added that may still be there, with its uids.
  std::map<pid_t, TaskInfo> known;
  pid_t next_pid = 600;

  TaskInfo& add(pid_t tid, pid_t tgid, uid_t uid) {
    TaskInfo& t = fake.add(tid, tgid, uid);
    known[tid] = t;
    return t;
  }
  bool live(pid_t tid) {
    auto t = fake.task(tid);
    return t && !t->dying();
  }
  std::set<pid_t> live_tids() {
    std::set<pid_t> out;
    fake.for_each_live_task([&](pid_t tid, pid_t) { out.insert(tid); });
    return out;
  }
};

std::string hex(const uint8_t* data, size_t size) {
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < size; ++i) {
    out += kHex[data[i] >> 4];
    out += kHex[data[i] & 15];
  }
  return out;
}

class World {
 public:
  World() {
    // The host: init, kthreadd, a per-CPU kthread, processes of one and
    // three threads, a group with a zombie leader, a zombie, an exiting task.
    host.add(1, 1, 0);
    TaskInfo& kthreadd = host.add(2, 2, 0);
    kthreadd.flags = kPfKthread;
    kthreadd.no_cgroup_migration = true;
    host.known[2] = kthreadd;
    TaskInfo& percpu = host.add(3, 3, 0);
    percpu.flags = kPfKthread | kPfNoSetaffinity;
    host.known[3] = percpu;
    host.add(100, 100, 1000);
    host.add(200, 200, 1000);
    host.add(201, 200, 1000);
    host.add(202, 200, 1000);
    host.add(300, 300, 2000);
    host.add(301, 300, 2000);
    host.fake.zombie(300);
    host.add(400, 400, 1000);
    host.fake.zombie(400);
    TaskInfo& exiting = host.add(500, 500, 1000);
    exiting.flags = kPfExiting;

    Controllers controllers;
    auto refusing = std::make_unique<RefusingController>();
    controller = refusing.get();
    controllers[kSsidRefusing] = std::move(refusing);
    engine = std::make_unique<Engine>(host.fake, std::move(controllers),
                                      std::vector<HierarchyConfig>{{"", 1u << kSsidRefusing, false, ""},
                                                                   {"fuzz", 0, false, "/sbin/agent"}});
    engine->on_release = [this](Cgroup& c) { released.push_back(&c); };
    for (const auto& h : engine->hierarchies()) cgroups.push_back(&h->root());
    Cgroup& r0 = engine->hierarchies()[0]->root();
    Cgroup& r1 = engine->hierarchies()[1]->root();
    Cgroup* a = make(r0, "a");
    make(*a, "b");
    make(r0, "x");
    make(r1, "c");
    for (const ControlFile& cft : v1_core_files())
      if (cft.write) writable.push_back(&cft);
  }

  Cgroup* make(Cgroup& parent, const std::string& name) {
    std::shared_ptr<Cgroup> c;
    if (engine->mkdir(parent, name, &c) != 0) return nullptr;
    owned.push_back(c);
    cgroups.push_back(c.get());
    return c.get();
  }

  // The observable state. Taking it reaps exited tasks (as any listing does),
  // so a step is compared from one taken just before it.
  struct Snapshot {
    std::map<std::string, std::vector<std::pair<pid_t, pid_t>>> members;
    std::map<std::string, std::pair<bool, bool>> flags;  // notify_on_release, clone_children
    std::map<std::pair<pid_t, size_t>, std::string> cgroup_of;
    std::vector<std::string> agents;
    size_t css_sets = 0, tracked = 0;
    bool operator==(const Snapshot&) const = default;
  };
  static std::string key(Cgroup& c) { return std::to_string(c.hierarchy().index()) + ":" + c.path(); }

  Snapshot snapshot() {
    Snapshot s;
    for (Cgroup* c : cgroups) {
      auto& m = s.members[key(*c)];
      for (const Engine::Member& member : engine->members(*c)) m.emplace_back(member.tid, member.tgid);
      std::sort(m.begin(), m.end());
      s.flags[key(*c)] = {c->notify_on_release, c->clone_children};
    }
    for (pid_t tid : host.live_tids())
      for (const auto& h : engine->hierarchies()) s.cgroup_of[{tid, h->index()}] = key(engine->cgroup_of(tid, *h));
    for (const auto& h : engine->hierarchies()) s.agents.push_back(h->release_agent);
    s.css_sets = engine->nr_css_sets();
    s.tracked = engine->nr_tracked_tasks();
    return s;
  }

  void check_consistent(const Snapshot& s, const std::string& what) {
    const std::set<pid_t> live = host.live_tids();
    for (const auto& h : engine->hierarchies()) {
      std::map<pid_t, int> seen;
      for (Cgroup* c : cgroups) {
        if (c->hierarchy().index() != h->index()) continue;
        for (auto [tid, tgid] : s.members.at(key(*c))) {
          ++seen[tid];
          FUZZ_CHECK(live.count(tid), "task " + std::to_string(tid) + " listed in " + key(*c) + " is not live; " + what);
          FUZZ_CHECK(s.cgroup_of.at({tid, h->index()}) == key(*c),
                     "task " + std::to_string(tid) + " listed in " + key(*c) + " but cgroup_of says " +
                         s.cgroup_of.at({tid, h->index()}) + "; " + what);
          auto t = host.fake.task(tid);
          FUZZ_CHECK(t && t->tgid == tgid, "wrong tgid listed for " + std::to_string(tid) + "; " + what);
        }
      }
      for (pid_t tid : live)
        FUZZ_CHECK(seen[tid] == 1, "task " + std::to_string(tid) + " listed " + std::to_string(seen[tid]) +
                                       " times in hierarchy " + std::to_string(h->index()) + "; " + what);
    }
    FUZZ_CHECK(s.tracked <= live.size(), "more tracked tasks than live ones; " + what);
    // populated(): a live task in the cgroup or below.
    for (Cgroup* c : cgroups) {
      if (c->is_root()) continue;
      bool any = false;
      for (Cgroup* d : cgroups) {
        if (&d->hierarchy() != &c->hierarchy()) continue;
        for (Cgroup* up = d; up && !any; up = up->parent())
          if (up == c && !s.members.at(key(*d)).empty()) any = true;
      }
      FUZZ_CHECK(engine->populated(*c) == any, "populated(" + key(*c) + ") is " +
                                                   std::to_string(engine->populated(*c)) + "; " + what);
    }
    // Notifications only for cgroups that asked and are empty.
    for (Cgroup* c : released) {
      FUZZ_CHECK(!c->is_root() && c->notify_on_release, "release of " + key(*c) + " that did not ask; " + what);
      if (std::find(cgroups.begin(), cgroups.end(), c) != cgroups.end())
        FUZZ_CHECK(!engine->populated(*c) && c->children().empty(), "release of busy " + key(*c) + "; " + what);
    }
    released.clear();
  }

  void write_step(Input& in, const std::string& what) {
    const uint8_t op = in.next();
    const uint8_t ctx = in.next();
    size_t len = in.next();
    len |= static_cast<size_t>(in.next()) << 8;
    len = std::min(len, in.n);
    const std::string_view raw(reinterpret_cast<const char*>(in.p), len);
    in.p += len;
    in.n -= len;

    const ControlFile& cft = *writable[(op >> 3) % writable.size()];
    Cgroup& cgroup = *cgroups[ctx % cgroups.size()];
    static constexpr uid_t kUids[] = {0, 1000, 2000, 65534};
    static constexpr pid_t kWriters[] = {100, 201, 301, 1};
    FileOpener opener;
    opener.uid = kUids[(ctx >> 3) & 3];
    opener.sys_admin = (ctx >> 5) & 1;
    const pid_t writer = kWriters[(ctx >> 6) & 3];
    if ((cft.flags & kCftOnlyOnRoot) && !cgroup.is_root()) return;  // no such file there
    if ((cft.flags & kCftNotOnRoot) && cgroup.is_root()) return;
    if (raw.size() > cft.max_write_len || raw.empty()) return;  // op_write: E2BIG, or nothing
    const std::string_view input = raw.substr(0, raw.find('\0'));

    const Snapshot before = snapshot();
    check_consistent(before, what);
    FileCall call{*engine, cgroup, opener, writer};
    const int err = cft.write(call, input);
    const Snapshot after = snapshot();
    const auto step = [&] { return std::string(cft.name) + " of " + key(cgroup) + " <- '" + std::string(input) +
                             "' (uid " + std::to_string(opener.uid) + ", admin " + std::to_string(opener.sys_admin) +
                             ", writer " + std::to_string(writer) + ") = " + std::to_string(err) + "; " + what; };
    FUZZ_CHECK(err <= 0, "positive return; " + step());
    if (err != 0) {
      FUZZ_CHECK(before == after, "a failed write changed the engine; " + step());
      check_consistent(after, what);
      return;
    }
    check_consistent(after, what);

    if (cft.name == "cgroup.procs" || cft.name == "tasks") {
      const bool threadgroup = cft.name == "cgroup.procs";
      int pid = 0;
      FUZZ_CHECK(kstrtoint(strstrip(input), 0, &pid) == 0 && pid >= 0, "accepted a bad pid; " + step());
      auto target = host.fake.task(pid ? pid : writer);
      FUZZ_CHECK(target.has_value(), "moved a task that does not exist; " + step());
      if (threadgroup) target = host.fake.task(target->tgid);
      FUZZ_CHECK(target.has_value(), "moved a group without a leader; " + step());
      FUZZ_CHECK(!target->no_cgroup_migration && !(target->flags & kPfNoSetaffinity), "moved a kthread; " + step());
      FUZZ_CHECK(opener.uid == 0 || opener.uid == target->ruid || opener.uid == target->suid,
                 "v1 permission rule broken; " + step());
      const size_t h = cgroup.hierarchy().index();
      std::vector<pid_t> moved;
      if (threadgroup) {
        for (pid_t tid : host.fake.threads(target->tgid))
          if (host.live(tid)) moved.push_back(tid);
      } else if (host.live(target->tid)) {
        moved.push_back(target->tid);
      }
      for (pid_t tid : moved)
        FUZZ_CHECK(after.cgroup_of.at({tid, h}) == key(cgroup), "task " + std::to_string(tid) + " is in " +
                                                                  after.cgroup_of.at({tid, h}) + "; " + step());
      // Nothing else moved, in any hierarchy.
      for (const auto& [k, where] : after.cgroup_of) {
        if (std::find(moved.begin(), moved.end(), k.first) != moved.end() && k.second == h) continue;
        auto was = before.cgroup_of.find(k);
        if (was != before.cgroup_of.end())
          FUZZ_CHECK(was->second == where, "task " + std::to_string(k.first) + " moved too; " + step());
      }
    } else if (cft.name == "notify_on_release" || cft.name == "cgroup.clone_children") {
      unsigned long long v;
      FUZZ_CHECK(kstrtoull(input, 0, &v) == 0, "accepted a bad flag; " + step());
      const bool flag = cft.name == "notify_on_release" ? cgroup.notify_on_release : cgroup.clone_children;
      FUZZ_CHECK(flag == (v != 0), "flag not set as written; " + step());
    } else if (cft.name == "release_agent") {
      FUZZ_CHECK(opener.sys_admin, "release_agent written without CAP_SYS_ADMIN; " + step());
      FUZZ_CHECK(cgroup.hierarchy().release_agent == strstrip(input).substr(0, 4095), "agent not as written; " + step());
    }
  }

  void host_step(Input& in) {
    const uint8_t arg = in.next();
    std::vector<pid_t> tids;
    for (auto& [tid, info] : host.known)
      if (host.fake.task(tid)) tids.push_back(tid);
    if (tids.empty()) return;
    const pid_t tid = tids[(arg >> 3) % tids.size()];
    const TaskInfo info = *host.fake.task(tid);
    switch (arg & 7) {
      case 0: host.fake.remove(tid); break;   // exited and reaped
      case 1: host.fake.zombie(tid); break;  // exited, not reaped
      case 2:                                 // the pid now names another process
        host.fake.remove(tid);
        host.add(tid, tid, info.ruid);
        break;
      case 3: host.add(host.next_pid++, info.tgid, info.ruid); break;  // a new thread
      case 4: {                                                         // a new process
        const pid_t pid = host.next_pid++;
        host.add(pid, pid, (arg >> 3) & 1 ? 1000 : 2000);
        break;
      }
      default: break;
    }
  }

  void mkdir_step(Input& in, const std::string& what) {
    const uint8_t arg = in.next();
    Cgroup& parent = *cgroups[arg % cgroups.size()];
    static const char* kNames[] = {"a", "x1", "d", "b"};
    const std::string name = kNames[(arg >> 5) & 3];
    const bool exists = parent.child(name) != nullptr;
    Cgroup* made = make(parent, name);
    FUZZ_CHECK((made != nullptr) == !exists, "mkdir " + name + " in " + key(parent) + "; " + what);
    if (made) FUZZ_CHECK(made->notify_on_release == parent.notify_on_release &&
                             made->clone_children == parent.clone_children,
                         "flags not inherited at mkdir; " + what);
  }

  void rmdir_step(Input& in, const std::string& what) {
    const uint8_t arg = in.next();
    Cgroup* c = cgroups[arg % cgroups.size()];
    const Snapshot before = snapshot();
    const bool busy = c->is_root() || !c->children().empty() || engine->populated(*c);
    const int err = engine->rmdir(*c);
    FUZZ_CHECK((err == 0) == !busy, "rmdir " + key(*c) + " = " + std::to_string(err) + "; " + what);
    if (err == 0) {
      FUZZ_CHECK(c->dead(), "removed but not dead; " + what);
      cgroups.erase(std::find(cgroups.begin(), cgroups.end(), c));
      // A write through a descriptor opened earlier gets ENODEV in op_write
      // before any handler runs; nothing more to drive.
    } else {
      FUZZ_CHECK(err == -EBUSY, "rmdir error " + std::to_string(err) + "; " + what);
      FUZZ_CHECK(before == snapshot(), "a failed rmdir changed the engine; " + what);
    }
  }

  Host host;
  RefusingController* controller = nullptr;
  std::unique_ptr<Engine> engine;
  std::vector<std::shared_ptr<Cgroup>> owned;
  std::vector<Cgroup*> cgroups;  // live ones; roots first
  std::vector<const ControlFile*> writable;
  std::vector<Cgroup*> released;
};

}  // namespace

int CoreFiles(const uint8_t* data, size_t size) {
  const std::string what = "input " + hex(data, std::min<size_t>(size, 64)) + (size > 64 ? "..." : "");
  World w;
  Input in{data, size};
  for (int steps = 0; !in.empty() && steps < 64; ++steps) {
    const uint8_t op = in.p[0];
    switch (op % 8) {
      case 5: in.next(); w.host_step(in); break;
      case 6: in.next(); w.mkdir_step(in, what); break;
      case 7: in.next(); w.rmdir_step(in, what); break;
      default: w.write_step(in, what); break;
    }
    w.check_consistent(w.snapshot(), what);
  }
  return 0;
}

}  // namespace cgemu::fuzz
