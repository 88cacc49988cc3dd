// Process lifecycle (issue 3): forks, threads, exits, zombies, pid reuse and
// the release agent (spec §3, §6), against the emulator with each fork/exit
// tracker (netlink, procscan), with the daemon as root and as uid 65534
// (mounted by this root test through /dev/fd/N), and against a private named
// kernel hierarchy. Instantiations:
//   Lifecycle/LifecycleTest.<Test>/Emulator_netlink_root
//   Lifecycle/LifecycleTest.<Test>/Emulator_procscan_root
//   Lifecycle/LifecycleTest.<Test>/Emulator_netlink_uid65534
//   Lifecycle/LifecycleTest.<Test>/Emulator_procscan_uid65534
//   Lifecycle/LifecycleTest.<Test>/Kernel
// In the uid-65534 variants everything that acts on the mount does so as
// 65534 (fsuid), and every process it moves runs as 65534, so the v1
// permission rule applies to each write.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "lifecycle_helpers.h"
#include "mount_harness.h"

namespace itest {
namespace {

struct Variant {
  Backend backend;
  const char* tracker;  // "netlink" / "procscan"; "" for the kernel
  bool unprivileged;    // daemon, actors and subjects as kNobody
};

std::string VariantLabel(const Variant& v) {
  if (v.backend == Backend::kKernel) return "Kernel";
  return std::string("Emulator_") + v.tracker + (v.unprivileged ? "_uid65534" : "_root");
}
std::string VariantName(const ::testing::TestParamInfo<Variant>& info) {
  return VariantLabel(info.param);
}
void PrintTo(const Variant& v, std::ostream* os) { *os << VariantLabel(v); }

// The connector probe, once per uid.
std::string ConnectorRefusal(std::optional<uid_t> uid) {
  static std::mutex mu;
  static std::map<long, std::string> cache;
  std::lock_guard lock(mu);
  long key = uid ? static_cast<long>(*uid) : -1;
  auto it = cache.find(key);
  if (it == cache.end()) it = cache.emplace(key, ProcConnectorRefusal(uid)).first;
  return it->second;
}

// Grace period before asserting that something asynchronous did NOT happen
// (the release agent): not a timing assertion, a bound on how long we look.
constexpr int kSettleMs = 200;

std::string Join(const std::vector<std::string>& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + ("\"" + v[i] + "\"");
  return s + "]";
}

std::vector<pid_t> Intersect(std::vector<pid_t> a, std::vector<pid_t> b) {
  std::sort(a.begin(), a.end());
  std::sort(b.begin(), b.end());
  std::vector<pid_t> out;
  std::set_intersection(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(out));
  return out;
}

pid_t ParentOf(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string s;
  if (!std::getline(f, s)) return -1;
  size_t rp = s.rfind(')');
  if (rp == std::string::npos) return -1;
  std::istringstream in(s.substr(rp + 2));
  std::string state;
  long ppid = -1;
  in >> state >> ppid;
  return static_cast<pid_t>(ppid);
}

// Field 22 of /proc/<pid>/stat (clock ticks since boot), -1 if unreadable.
long StartTime(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string s;
  if (!std::getline(f, s)) return -1;
  size_t rp = s.rfind(')');
  if (rp == std::string::npos) return -1;
  std::istringstream in(s.substr(rp + 2));
  std::string field;
  for (int i = 3; i <= 22; ++i)
    if (!(in >> field)) return -1;
  return std::stol(field);
}

class LifecycleTest : public ::testing::TestWithParam<Variant> {
 protected:
  void SetUp() override {
    const Variant& v = GetParam();
    if (v.backend == Backend::kKernel) {
      std::string why = KernelUnavailableReason();
      if (!why.empty()) GTEST_SKIP() << why;
      return;
    }
    if (v.unprivileged && geteuid() != 0)
      GTEST_SKIP() << "the daemon runs as uid 65534 only from a root test (mount(2) of /dev/fuse)";
    if (std::string(v.tracker) == "netlink") {
      std::string why = ConnectorRefusal(Actor());
      if (!why.empty())
        GTEST_SKIP() << "netlink tracker unavailable for "
                     << (Actor() ? "uid 65534" : "this user") << ": " << why;
    }
  }

  bool IsKernel() const { return GetParam().backend == Backend::kKernel; }
  bool IsProcScan() const { return std::string(GetParam().tracker) == "procscan"; }
  // Who acts on the mount and owns the moved processes (empty: the test's
  // own credentials, root).
  std::optional<uid_t> Actor() const {
    return GetParam().unprivileged ? std::optional<uid_t>(kNobody) : std::nullopt;
  }
  uid_t ActorUid() const { return Actor() ? *Actor() : geteuid(); }

  // A mount for this variant. options: -o (the kernel needs them).
  std::unique_ptr<CgroupMount> MakeMount(std::optional<std::string> options, std::string* skip,
                                         std::string* error) {
    const Variant& v = GetParam();
    if (v.backend == Backend::kKernel) return CgroupMount::Make(Backend::kKernel, options, skip, error);
    EmulatorConfig config;
    config.options = options;
    config.tracker = v.tracker;
    if (v.unprivileged) config.run_as = kNobody;
    auto m = CgroupMount::MakeEmulator(config, skip, error);
    if (!m) return m;
    std::string want = std::string("following forks and exits with ") + v.tracker;
    if (m->DaemonLog().find(want) == std::string::npos) {
      *error = "the daemon did not log \"" + want + "\" at start-up; its log: " + m->DaemonLog();
      return nullptr;
    }
    return m;
  }

  // ---- the mount, as the actor --------------------------------------------------
  int Mkdir(const std::string& path) const {
    FsCredsScope as(Actor());
    return Errno(::mkdir(path.c_str(), 0755));
  }
  int Rmdir(const std::string& path) const {
    FsCredsScope as(Actor());
    return Errno(::rmdir(path.c_str()));
  }
  int Write(const std::string& path, std::string_view data) const {
    FsCredsScope as(Actor());
    return WriteStr(path, data);
  }
  int Move(const std::string& cgroup_dir, pid_t pid, const char* file = "cgroup.procs") const {
    return Write(cgroup_dir + "/" + file, std::to_string(pid));
  }
  std::string Read(const std::string& path) const {
    FsCredsScope as(Actor());
    return ReadOrErr(path);
  }
  std::vector<pid_t> Pids(const std::string& path) const {
    FsCredsScope as(Actor());
    ReadResult r = ReadAll(path);
    EXPECT_EQ(r.err, 0) << "read " << path << ": " << ErrName(r.err);
    return ParsePids(r.data);
  }
};

#define LC_MOUNT(var, options)                                          \
  std::unique_ptr<::itest::CgroupMount> var;                            \
  do {                                                                  \
    std::string lc_skip_, lc_err_;                                      \
    var = MakeMount((options), &lc_skip_, &lc_err_);                    \
    if (!var) {                                                         \
      if (!lc_skip_.empty()) GTEST_SKIP() << lc_skip_;                  \
      FAIL() << lc_err_;                                                \
    }                                                                   \
  } while (0)

// ---- 1. forks and threads inherit the creator's cgroups ------------------------------

TEST_P(LifecycleTest, ForkedChildAndNewThreadJoinTheCreatorsCgroupInEveryHierarchy) {
  // Three hierarchies: the task goes to X in the first, Y in the second and
  // stays in the root of the third. Emulator: its default layout
  // (cpu,cpuacct / pids / memory). Kernel: three private named hierarchies.
  std::unique_ptr<CgroupMount> emu, k1, k2, k3;
  std::string h1, h2, h3;
  if (IsKernel()) {
    std::string skip, err;
    for (auto* k : {&k1, &k2, &k3}) {
      *k = MakeMount(NamedOptions(), &skip, &err);
      if (!*k) {
        if (!skip.empty()) GTEST_SKIP() << skip;
        FAIL() << err;
      }
    }
    h1 = k1->dir(), h2 = k2->dir(), h3 = k3->dir();
  } else {
    std::string skip, err;
    emu = MakeMount(std::nullopt, &skip, &err);
    if (!emu) {
      if (!skip.empty()) GTEST_SKIP() << skip;
      FAIL() << err;
    }
    h1 = emu->Path("cpu,cpuacct"), h2 = emu->Path("pids"), h3 = emu->Path("memory");
  }
  ASSERT_EQ(ErrName(Mkdir(h1 + "/X")), "OK");
  ASSERT_EQ(ErrName(Mkdir(h2 + "/Y")), "OK");
  auto p = Puppet::Spawn(Actor());
  ASSERT_TRUE(p);
  ASSERT_EQ(ErrName(Move(h1 + "/X", p->pid)), "OK");
  ASSERT_EQ(ErrName(Move(h2 + "/Y", p->pid)), "OK");

  pid_t child = p->Fork();
  ASSERT_GT(child, 0);
  EXPECT_EQ(Read(h1 + "/X/tasks"), PidLines({p->pid, child}));
  EXPECT_EQ(Read(h1 + "/X/cgroup.procs"), PidLines({p->pid, child}));
  EXPECT_EQ(Read(h2 + "/Y/tasks"), PidLines({p->pid, child}));
  EXPECT_EQ(Read(h2 + "/Y/cgroup.procs"), PidLines({p->pid, child}));
  EXPECT_FALSE(Contains(Pids(h1 + "/tasks"), child));
  EXPECT_FALSE(Contains(Pids(h1 + "/cgroup.procs"), child));
  EXPECT_FALSE(Contains(Pids(h2 + "/tasks"), child));
  EXPECT_FALSE(Contains(Pids(h2 + "/cgroup.procs"), child));
  EXPECT_TRUE(Contains(Pids(h3 + "/tasks"), child));  // the creator is in that root
  EXPECT_TRUE(Contains(Pids(h3 + "/cgroup.procs"), child));
  if (!IsKernel()) {  // the same hierarchy through its symlinks
    EXPECT_EQ(Read(emu->Path("cpu/X/tasks")), PidLines({p->pid, child}));
    EXPECT_EQ(Read(emu->Path("cpuacct/X/tasks")), PidLines({p->pid, child}));
  }

  // A thread created by the (main) thread in X and Y.
  pid_t t = p->NewThread();
  ASSERT_GT(t, 0);
  EXPECT_EQ(Read(h1 + "/X/tasks"), PidLines({p->pid, child, t}));
  EXPECT_EQ(Read(h2 + "/Y/tasks"), PidLines({p->pid, child, t}));
  EXPECT_EQ(Read(h1 + "/X/cgroup.procs"), PidLines({p->pid, child}));
  EXPECT_FALSE(Contains(Pids(h1 + "/tasks"), t));
  EXPECT_FALSE(Contains(Pids(h2 + "/tasks"), t));
  EXPECT_TRUE(Contains(Pids(h3 + "/tasks"), t));

  // A process forked by that non-leader thread (whole group in X and Y).
  pid_t child2 = p->Fork(t);
  ASSERT_GT(child2, 0);
  EXPECT_EQ(Read(h1 + "/X/tasks"), PidLines({p->pid, child, t, child2}));
  EXPECT_EQ(Read(h2 + "/Y/tasks"), PidLines({p->pid, child, t, child2}));
  EXPECT_FALSE(Contains(Pids(h1 + "/tasks"), child2));
  EXPECT_TRUE(Contains(Pids(h3 + "/tasks"), child2));

  // Exits leave every hierarchy.
  ASSERT_TRUE(p->KillChild(child, true));
  ASSERT_TRUE(p->KillChild(child2, true));
  EXPECT_EQ(Read(h1 + "/X/tasks"), PidLines({p->pid, t}));
  EXPECT_EQ(Read(h2 + "/Y/tasks"), PidLines({p->pid, t}));
  EXPECT_FALSE(Contains(Pids(h3 + "/tasks"), child));
}

// When only some threads of a process are in a cgroup, the kernel places a
// new task with the thread that created it. The emulator documents two
// limits (issue 3): a new thread joins its leader's css_set (the connector
// does not name a thread's creator), and with procscan a new process joins
// its parent process's placement (its leader's).
TEST_P(LifecycleTest, TasksCreatedByANonLeaderThreadFollowTheDocumentedRule) {
  LC_MOUNT(m, NamedOptions());
  const std::string X = m->Path("X"), Y = m->Path("Y");
  ASSERT_EQ(Mkdir(X), 0);
  ASSERT_EQ(Mkdir(Y), 0);
  auto p = Puppet::Spawn(Actor());
  ASSERT_TRUE(p);
  pid_t w = p->NewThread();
  ASSERT_GT(w, 0);
  ASSERT_EQ(ErrName(Move(X, w, "tasks")), "OK");  // w alone in X
  ASSERT_EQ(ErrName(Move(Y, p->pid, "tasks")), "OK");  // the leader alone in Y
  ASSERT_EQ(Read(X + "/tasks"), PidLines({w}));
  ASSERT_EQ(Read(Y + "/tasks"), PidLines({p->pid}));

  pid_t by_leader = p->NewThread(0);
  pid_t by_w = p->NewThread(w);
  pid_t fork_by_w = p->Fork(w);
  ASSERT_GT(by_leader, 0);
  ASSERT_GT(by_w, 0);
  ASSERT_GT(fork_by_w, 0);
  const std::string x_tasks = X + "/tasks", y_tasks = Y + "/tasks";
  // A thread created by the leader: with the leader everywhere.
  EXPECT_TRUE(Contains(Pids(y_tasks), by_leader));
  // A thread created by w.
  const std::string& thread_home = IsKernel() ? x_tasks : y_tasks;
  EXPECT_TRUE(Contains(Pids(thread_home), by_w)) << "thread created by a non-leader thread";
  // A process forked by w.
  const std::string& fork_home = (IsKernel() || !IsProcScan()) ? x_tasks : y_tasks;
  EXPECT_TRUE(Contains(Pids(fork_home), fork_by_w)) << "process forked by a non-leader thread";
  auto root = Pids(m->Path("tasks"));
  EXPECT_FALSE(Contains(root, by_leader));
  EXPECT_FALSE(Contains(root, by_w));
  EXPECT_FALSE(Contains(root, fork_by_w));
}

// ---- 2. a forking shell loop ----------------------------------------------------------

// `sh -c` in X runs 100 short children and 5 long-lived ones (a fork and an
// exec each: a few seconds in all on a busy two-core machine).
TEST_P(LifecycleTest, ForkingShellLoopKeepsEveryChildInItsCgroup) {
  LC_MOUNT(m, NamedOptions());
  const std::string X = m->Path("X");
  ASSERT_EQ(Mkdir(X), 0);
  const std::string script =
      "read go || exit 1\n"
      "for i in $(seq 100); do\n"
      "  /bin/true &\n"
      "  if [ $((i % 20)) -eq 0 ]; then sleep 30 >/dev/null & echo \"S $!\"; fi\n"
      "done\n"
      "echo LOOPDONE\n"
      "wait\n";
  auto sh = ShellProc::Spawn(script, Actor());
  ASSERT_TRUE(sh);
  ASSERT_EQ(ErrName(Move(X, sh->pid)), "OK");
  ASSERT_TRUE(sh->WriteLine("go"));
  std::vector<pid_t> sleeps;
  bool done = false;
  while (!done) {
    auto line = sh->ReadLine();
    ASSERT_TRUE(line) << "the shell loop did not finish";
    if (*line == "LOOPDONE") {
      done = true;
    } else if (line->rfind("S ", 0) == 0) {
      pid_t s = static_cast<pid_t>(std::stol(line->substr(2)));
      sleeps.push_back(s);
      // While the loop runs.
      EXPECT_TRUE(Contains(Pids(X + "/tasks"), s)) << "long-lived child " << s;
      EXPECT_FALSE(Contains(Pids(m->Path("tasks")), s)) << "long-lived child " << s;
    }
  }
  ASSERT_EQ(sleeps.size(), 5u);
  auto in_x = Pids(X + "/tasks");
  auto procs_x = Pids(X + "/cgroup.procs");
  auto root = Pids(m->Path("tasks"));
  EXPECT_TRUE(Contains(in_x, sh->pid));
  for (pid_t s : sleeps) {
    EXPECT_TRUE(Contains(in_x, s)) << s;
    EXPECT_TRUE(Contains(procs_x, s)) << s;
    EXPECT_FALSE(Contains(root, s)) << s;
  }
  // Every listed task is the shell or one of its children.
  for (pid_t t : in_x) {
    if (t == sh->pid || Contains(sleeps, t)) continue;
    pid_t pp = ParentOf(t);
    EXPECT_TRUE(pp == sh->pid || pp == -1) << "task " << t << " (parent " << pp << ") in X";
  }
  for (pid_t s : sleeps) kill(s, SIGKILL);
  int st = sh->Wait();
  ASSERT_TRUE(st != -1 && WIFEXITED(st)) << "the shell did not finish its wait";
  EXPECT_EQ(Read(X + "/tasks"), "");
  EXPECT_EQ(Read(X + "/cgroup.procs"), "");
  EXPECT_EQ(ErrName(Rmdir(X)), "OK");
}

// ---- 3. double fork -------------------------------------------------------------------

TEST_P(LifecycleTest, DoubleForkGrandchildStaysInTheCgroup) {
  LC_MOUNT(m, NamedOptions());
  const std::string X = m->Path("X");
  ASSERT_EQ(Mkdir(X), 0);
  auto p = Puppet::Spawn(Actor());
  ASSERT_TRUE(p);
  ASSERT_EQ(ErrName(Move(X, p->pid)), "OK");
  auto [middle, grandchild] = p->DoubleFork();
  ASSERT_GT(middle, 0);
  ASSERT_GT(grandchild, 0);
  ASSERT_NE(ParentOf(grandchild), middle);  // re-parented: the middle is gone
  auto in_x = Pids(X + "/tasks");
  auto root = Pids(m->Path("tasks"));
  EXPECT_FALSE(Contains(in_x, middle));
  EXPECT_FALSE(Contains(root, middle));
  if (IsKernel() || !IsProcScan()) {
    EXPECT_EQ(PidLines(in_x), PidLines({p->pid, grandchild}));
    EXPECT_FALSE(Contains(root, grandchild));
  } else {
    // Documented procscan limit: a child whose parent exited before a scan
    // saw it is taken for a child of its new parent (here in the root). A
    // scan that happened to see the middle would place it in X: either way
    // it is in exactly one of them.
    bool x = Contains(in_x, grandchild), r = Contains(root, grandchild);
    EXPECT_NE(x, r) << "grandchild in X: " << x << ", in the root: " << r;
    RecordProperty("procscan_grandchild_in", x ? "X" : "root");
    EXPECT_TRUE(Contains(in_x, p->pid));
  }
}

// ---- 4. moving a process that creates and ends threads ----------------------------------

TEST_P(LifecycleTest, ThreadChurnDuringProcsMovesLeavesNoThreadBehind) {
  LC_MOUNT(m, NamedOptions());
  const std::string X = m->Path("X"), Y = m->Path("Y"), R = m->Path("");
  ASSERT_EQ(Mkdir(X), 0);
  ASSERT_EQ(Mkdir(Y), 0);
  auto c = ThreadChurner::Spawn(2, Actor());
  ASSERT_TRUE(c);
  ASSERT_EQ(c->churner_tids.size(), 2u);
  std::vector<pid_t> persistent = {c->pid, c->churner_tids[0], c->churner_tids[1]};
  std::vector<std::string> route = {X, Y, X, Y, X, Y, X, Y, R, X};
  std::string src = R;
  for (size_t i = 0; i < route.size(); ++i) {
    const std::string& dst = route[i];
    SCOPED_TRACE("move " + std::to_string(i) + " to " + (dst == R ? "/" : dst.substr(m->dir().size())));
    ASSERT_EQ(ErrName(Move(dst, c->pid)), "OK");
    auto s1 = ProcTaskTids(c->pid);
    auto d = Pids(dst + "/tasks");
    auto d_procs = Pids(dst + "/cgroup.procs");
    auto from = Pids(src + "/tasks");
    auto from_procs = Pids(src + "/cgroup.procs");
    auto s2 = ProcTaskTids(c->pid);
    // Threads alive from before the write until after the reads (a listing
    // of /proc/<pid>/task may miss entries while threads come and go, which
    // only shrinks this set), plus the three that never exit.
    auto stable = Intersect(s1, s2);
    for (pid_t t : persistent)
      if (!Contains(stable, t)) stable.push_back(t);
    for (pid_t t : stable) {
      EXPECT_TRUE(Contains(d, t)) << "thread " << t << " not in the destination";
      EXPECT_FALSE(Contains(from, t)) << "thread " << t << " still in the source";
    }
    EXPECT_TRUE(Contains(d_procs, c->pid));
    if (src != R) {
      // Only this process ever was in X and Y: nothing of it may stay behind.
      // (The root as source: RootNeverListsAThreadOfAProcessThatIsElsewhere.)
      std::string alive;
      for (pid_t t : from)
        alive += " " + std::to_string(t) + (ProcState(t) == '?' ? "(gone)" : "(alive)");
      EXPECT_EQ(PidLines(from), "") << "left in the source:" << alive;
      EXPECT_EQ(PidLines(from_procs), "");
    }
    src = dst;
  }
  if (HasFailure() && !IsKernel()) std::cerr << "daemon log:\n" << m->DaemonLog();
}

// The root lists every host task not placed elsewhere; a thread just created
// by a process that sits in X is in X, never in the root (the kernel places
// it in X at clone time).
TEST_P(LifecycleTest, RootNeverListsAThreadOfAProcessThatIsElsewhere) {
  LC_MOUNT(m, NamedOptions());
  const std::string X = m->Path("X");
  ASSERT_EQ(Mkdir(X), 0);
  auto c = ThreadChurner::Spawn(2, Actor());
  ASSERT_TRUE(c);
  ASSERT_EQ(ErrName(Move(X, c->pid)), "OK");
  int procs_hits = 0, reads = 20;
  for (int i = 0; i < reads; ++i)
    if (Contains(Pids(m->Path("cgroup.procs")), c->pid)) ++procs_hits;
  EXPECT_EQ(procs_hits, 0) << "the root's cgroup.procs listed pid " << c->pid
                           << " (whole process in X) in " << procs_hits << " of " << reads
                           << " reads";
  EXPECT_TRUE(Contains(Pids(X + "/cgroup.procs"), c->pid));
}

// A multi-threaded process: once its parent has reaped it, none of its
// threads is listed and its cgroup can be removed at once (the parent's
// wait() returns after the last thread's exit_notify).
TEST_P(LifecycleTest, ReapedMultiThreadedProcessIsGoneAtOnce) {
  LC_MOUNT(m, NamedOptions());
  int listed = 0, busy = 0;
  const int rounds = 20;
  for (int i = 0; i < rounds; ++i) {
    const std::string Y = m->Path("Y" + std::to_string(i));
    ASSERT_EQ(Mkdir(Y), 0);
    auto s = SpawnSleeper(3, Actor());
    ASSERT_TRUE(s);
    ASSERT_EQ(ErrName(Move(Y, s->pid)), "OK");
    s->Kill();  // SIGKILL + waitpid
    if (Read(Y + "/tasks") != "") ++listed;
    int e = Rmdir(Y);
    if (e == EBUSY) {
      ++busy;
      for (int j = 0; j < 500 && e == EBUSY; ++j) {  // clean up for the next round
        SleepMs(2);
        e = Rmdir(Y);
      }
    }
    ASSERT_EQ(ErrName(e), "OK");
  }
  EXPECT_EQ(listed, 0) << "a reaped process's threads were still listed in " << listed << " of "
                       << rounds << " rounds";
  EXPECT_EQ(busy, 0) << "rmdir right after the reap gave EBUSY in " << busy << " of " << rounds
                     << " rounds";
}

// ---- 5. zombies ----------------------------------------------------------------------------

TEST_P(LifecycleTest, ZombieChildIsNotListedAndDoesNotBlockRmdir) {
  LC_MOUNT(m, NamedOptions());
  const std::string X = m->Path("X");
  ASSERT_EQ(Mkdir(X), 0);
  auto p = Puppet::Spawn(Actor());
  ASSERT_TRUE(p);
  ASSERT_EQ(Move(X, p->pid), 0);
  pid_t child = p->Fork();  // placed by following the fork, never written
  ASSERT_GT(child, 0);
  ASSERT_EQ(Read(X + "/tasks"), PidLines({p->pid, child}));
  ASSERT_EQ(ErrName(Move(m->Path(""), p->pid)), "OK");
  ASSERT_EQ(Read(X + "/tasks"), PidLines({child}));
  ASSERT_TRUE(p->KillChild(child, /*reap=*/false));
  ASSERT_EQ(ProcState(child), 'Z');
  EXPECT_EQ(Read(X + "/tasks"), "");
  EXPECT_EQ(Read(X + "/cgroup.procs"), "");
  EXPECT_FALSE(Contains(Pids(m->Path("tasks")), child));
  EXPECT_FALSE(Contains(Pids(m->Path("cgroup.procs")), child));
  EXPECT_EQ(ErrName(Rmdir(X)), "OK");
  EXPECT_EQ(ProcState(child), 'Z');  // still unreaped
  EXPECT_TRUE(p->ReapChild(child));
}

TEST_P(LifecycleTest, ZombieLeaderWithALiveThread) {
  LC_MOUNT(m, NamedOptions());
  const std::string X = m->Path("X");
  ASSERT_EQ(Mkdir(X), 0);
  auto p = Puppet::Spawn(Actor());
  ASSERT_TRUE(p);
  pid_t w = p->NewThread();
  ASSERT_GT(w, 0);
  ASSERT_EQ(Move(X, p->pid), 0);
  ASSERT_EQ(Read(X + "/tasks"), PidLines({p->pid, w}));
  ASSERT_TRUE(p->EndMainThread());  // the leader is a zombie, w lives on
  EXPECT_EQ(Read(X + "/tasks"), PidLines({w}));
  EXPECT_EQ(Read(X + "/cgroup.procs"), PidLines({p->pid}));  // w's tgid
  EXPECT_FALSE(Contains(Pids(m->Path("tasks")), p->pid));
  EXPECT_EQ(ErrName(Rmdir(X)), "EBUSY");
  p.reset();  // SIGKILL + reap
  EXPECT_EQ(Read(X + "/tasks"), "");
  EXPECT_EQ(Read(X + "/cgroup.procs"), "");
  EXPECT_EQ(ErrName(Rmdir(X)), "OK");
}

// ---- 6. pid reuse -------------------------------------------------------------------------

TEST_P(LifecycleTest, ReusedPidIsNeverListedInTheOldCgroup) {
  if (geteuid() != 0) GTEST_SKIP() << "steering pids through ns_last_pid needs root";
  if (IsProcScan())
    GTEST_SKIP() << "documented procscan limit: /proc start times tick every 10 ms, so a pid reused within "
                    "one tick looks like the same task";
  LC_MOUNT(m, NamedOptions());
  const std::string X = m->Path("X"), Y = m->Path("Y");
  ASSERT_EQ(Mkdir(X), 0);
  ASSERT_EQ(Mkdir(Y), 0);
  auto in_x = Puppet::Spawn(Actor());
  auto in_y = Puppet::Spawn(Actor());
  ASSERT_TRUE(in_x && in_y);
  ASSERT_EQ(Move(X, in_x->pid), 0);
  ASSERT_EQ(Move(Y, in_y->pid), 0);

  // (a) A member placed by fork-following; its pid goes to a child of a
  // task in Y.
  pid_t old = in_x->Fork();
  ASSERT_GT(old, 0);
  ASSERT_EQ(Read(X + "/tasks"), PidLines({in_x->pid, old}));
  const long old_start = StartTime(old);
  ASSERT_TRUE(in_x->KillChild(old, true));
  pid_t got = -1;
  for (int attempt = 0; attempt < 50 && got != old; ++attempt) {
    ASSERT_EQ(ErrName(SetNsLastPid(old - 1)), "OK");
    got = in_y->Fork();
    ASSERT_GT(got, 0);
    if (got != old) {
      ASSERT_TRUE(in_y->KillChild(got, true));
    }
  }
  if (got != old) GTEST_SKIP() << "pid " << old << " was not handed out again in 50 attempts";
  const std::string ticks_a = "start times (clock ticks) of the old and the new task: " +
                              std::to_string(old_start) + ", " + std::to_string(StartTime(old));
  EXPECT_EQ(Read(X + "/tasks"), PidLines({in_x->pid})) << ticks_a;
  EXPECT_EQ(Read(X + "/cgroup.procs"), PidLines({in_x->pid})) << ticks_a;
  EXPECT_EQ(Read(Y + "/tasks"), PidLines({in_y->pid, old}));
  EXPECT_FALSE(Contains(Pids(m->Path("tasks")), old));
  ASSERT_TRUE(in_y->KillChild(old, true));

  // (b) A member placed by writing its pid; the pid goes to a process
  // started from the root cgroup (a child of the test process).
  auto member = SpawnSleeper(0, Actor());
  ASSERT_TRUE(member);
  pid_t old2 = member->pid;
  ASSERT_EQ(Move(X, old2), 0);
  ASSERT_EQ(Read(X + "/tasks"), PidLines({in_x->pid, old2}));
  const long old2_start = StartTime(old2);
  member->Kill();
  std::unique_ptr<ChildProc> reuser;
  for (int attempt = 0; attempt < 50; ++attempt) {
    ASSERT_EQ(ErrName(SetNsLastPid(old2 - 1)), "OK");
    reuser = SpawnSleeper(0, Actor());
    ASSERT_TRUE(reuser);
    if (reuser->pid == old2) break;
    reuser.reset();
  }
  if (!reuser) GTEST_SKIP() << "pid " << old2 << " was not handed out again in 50 attempts";
  const std::string ticks_b = "start times (clock ticks) of the old and the new task: " +
                              std::to_string(old2_start) + ", " + std::to_string(StartTime(old2));
  EXPECT_EQ(Read(X + "/tasks"), PidLines({in_x->pid})) << ticks_b;
  EXPECT_EQ(Read(Y + "/tasks"), PidLines({in_y->pid})) << ticks_b;
  EXPECT_TRUE(Contains(Pids(m->Path("tasks")), old2)) << ticks_b;
}

// ---- 7. the release agent (spec §6.1, §6.2) ----------------------------------------------------

class ReleaseAgentTest : public LifecycleTest {
 protected:
  // Mounts a named hierarchy whose release_agent is the recording agent
  // (written through the root's release_agent, by the actor).
  void SetUpAgent() {
    log_ = AgentLog::Make(ActorUid());
    ASSERT_TRUE(log_);
    std::string skip, err;
    m_ = MakeMount(NamedOptions(), &skip, &err);
    if (!m_) {
      if (!skip.empty()) GTEST_SKIP() << skip;
      FAIL() << err;
    }
    ASSERT_EQ(ErrName(Write(m_->Path("release_agent"), log_->agent())), "OK");
    ASSERT_EQ(Read(m_->Path("release_agent")), log_->agent() + "\n");
  }
  void TearDown() override {
    m_.reset();
    log_.reset();
  }
  std::string P(const std::string& rel) const { return m_->Path(rel); }
  // mkdir rel, set notify_on_release (if nor >= 0).
  void MakeCgroup(const std::string& rel, int nor) {
    ASSERT_EQ(ErrName(Mkdir(P(rel))), "OK") << rel;
    if (nor >= 0) {
      ASSERT_EQ(ErrName(Write(P(rel + "/notify_on_release"), std::to_string(nor))), "OK");
    }
  }
  // A sleeper (as the actor) placed in rel.
  std::unique_ptr<ChildProc> Populate(const std::string& rel) {
    auto s = SpawnSleeper(0, Actor());
    EXPECT_TRUE(s);
    if (!s) return s;
    EXPECT_EQ(ErrName(Move(P(rel), s->pid)), "OK") << rel;
    return s;
  }
  // Waits for n runs, then looks again after a grace period; the paths of
  // every run, sorted.
  std::vector<std::string> SettledPaths(size_t n) {
    log_->WaitForRuns(n);
    SleepMs(kSettleMs);
    return log_->Paths();
  }
  void ExpectEnvironment(const AgentRun& run, const std::string& path) {
    EXPECT_EQ(Join(run.args), Join({path})) << run.raw;
    EXPECT_EQ(run.arg0, log_->agent()) << run.raw;
    EXPECT_EQ(Join(run.env), Join({"HOME=/", "PATH=/sbin:/bin:/usr/sbin:/usr/bin"})) << run.raw;
    EXPECT_EQ(run.cwd, "/") << run.raw;
    EXPECT_EQ(run.umask, "0022") << run.raw;
    if (IsKernel()) {
      // A usermode helper: root, no descriptors, session 0 (spec §6.2).
      EXPECT_EQ(run.uid, 0) << run.raw;
      EXPECT_EQ(run.fds, "closed,closed,closed") << run.raw;
      EXPECT_EQ(run.sid, 0) << run.raw;
    } else {
      // The emulator's own credentials, a new session, 0-2 on /dev/null.
      EXPECT_EQ(run.uid, static_cast<long>(ActorUid())) << run.raw;
      EXPECT_EQ(run.fds, "null,null,null") << run.raw;
      EXPECT_EQ(run.sid, run.pid) << run.raw;
    }
  }

  std::unique_ptr<AgentLog> log_;
  std::unique_ptr<CgroupMount> m_;
};

TEST_P(ReleaseAgentTest, LastTaskExitsRunsAgentWithItsPath) {
  SetUpAgent();
  if (HasFatalFailure() || IsSkipped()) return;
  MakeCgroup("A", 1);
  auto s = Populate("A");
  ASSERT_TRUE(s);
  s->Kill();
  auto runs = log_->WaitForRuns(1);
  ASSERT_EQ(runs.size(), 1u) << "no agent run within 5 s";
  ExpectEnvironment(runs[0], "/A");
  EXPECT_EQ(Read(P("A/tasks")), "");
  EXPECT_EQ(ErrName(Rmdir(P("A"))), "OK");  // the kernel does not remove it
  SleepMs(kSettleMs);
  EXPECT_EQ(Join(log_->Paths()), Join({"/A"}));
}

TEST_P(ReleaseAgentTest, LastTaskMovesOutRunsAgent) {
  SetUpAgent();
  if (HasFatalFailure() || IsSkipped()) return;
  MakeCgroup("A", 1);
  auto s = Populate("A");
  ASSERT_TRUE(s);
  auto s2 = Populate("A");
  ASSERT_TRUE(s2);
  ASSERT_EQ(Move(P(""), s->pid), 0);  // one of two: still populated
  ASSERT_EQ(Move(P(""), s2->pid), 0);
  auto runs = log_->WaitForRuns(1);
  ASSERT_EQ(runs.size(), 1u) << "no agent run within 5 s";
  ExpectEnvironment(runs[0], "/A");
  SleepMs(kSettleMs);
  EXPECT_EQ(Join(log_->Paths()), Join({"/A"}));
}

TEST_P(ReleaseAgentTest, NestedChildReleasedAloneThenParentOnRmdir) {
  SetUpAgent();
  if (HasFatalFailure() || IsSkipped()) return;
  MakeCgroup("A", 1);
  MakeCgroup("A/B", -1);
  EXPECT_EQ(Read(P("A/B/notify_on_release")), "1\n");  // inherited at mkdir
  auto s = Populate("A/B");
  ASSERT_TRUE(s);
  s->Kill();
  // A still has the child B: only B.
  EXPECT_EQ(Join(SettledPaths(1)), Join({"/A/B"}));
  ASSERT_EQ(ErrName(Rmdir(P("A/B"))), "OK");
  // Parent check on rmdir: A; never B again (it is dead).
  EXPECT_EQ(Join(SettledPaths(2)), Join({"/A", "/A/B"}));
}

TEST_P(ReleaseAgentTest, NoCauseNoRun) {
  SetUpAgent();
  if (HasFatalFailure() || IsSkipped()) return;
  // notify_on_release 0: last task exits, and last task moves out.
  MakeCgroup("N", 0);
  auto s = Populate("N");
  ASSERT_TRUE(s);
  s->Kill();
  MakeCgroup("M", 0);
  auto s2 = Populate("M");
  ASSERT_TRUE(s2);
  ASSERT_EQ(Move(P(""), s2->pid), 0);
  // mkdir of a never-populated nor=1 cgroup, with a nor=1 child.
  MakeCgroup("E", 1);
  MakeCgroup("E/F", 1);
  // rmdir of an empty nor=1 cgroup whose parent is the root (the root is
  // never released, the removed cgroup is dead).
  MakeCgroup("G", 1);
  ASSERT_EQ(ErrName(Rmdir(P("G"))), "OK");
  // Sentinel: a run that must happen, after all of the above.
  MakeCgroup("S", 1);
  auto s3 = Populate("S");
  ASSERT_TRUE(s3);
  s3->Kill();
  EXPECT_EQ(Join(SettledPaths(1)), Join({"/S"}));
}

// The check on rmdir looks at the parent as it is then: a nor=1 parent that
// never had a task is released when its last child goes.
TEST_P(ReleaseAgentTest, RmdirOfLastChildReleasesANeverPopulatedParent) {
  SetUpAgent();
  if (HasFatalFailure() || IsSkipped()) return;
  MakeCgroup("E", -1);
  MakeCgroup("E/F", -1);
  MakeCgroup("E/G", -1);
  ASSERT_EQ(ErrName(Write(P("E/notify_on_release"), "1")), "OK");
  EXPECT_EQ(Read(P("E/F/notify_on_release")), "0\n");  // inherited at mkdir, before
  ASSERT_EQ(ErrName(Rmdir(P("E/F"))), "OK");  // E still has G: nothing
  ASSERT_EQ(ErrName(Rmdir(P("E/G"))), "OK");
  EXPECT_EQ(Join(SettledPaths(1)), Join({"/E"}));
}

TEST_P(ReleaseAgentTest, PathWithSpaceIsOneArgument) {
  SetUpAgent();
  if (HasFatalFailure() || IsSkipped()) return;
  MakeCgroup("A", -1);
  MakeCgroup("A/B", -1);
  MakeCgroup("A/B/C d", 1);
  auto s = Populate("A/B/C d");
  ASSERT_TRUE(s);
  s->Kill();
  auto runs = log_->WaitForRuns(1);
  ASSERT_EQ(runs.size(), 1u) << "no agent run within 5 s";
  EXPECT_EQ(Join(runs[0].args), Join({"/A/B/C d"})) << runs[0].raw;
  SleepMs(kSettleMs);
  EXPECT_EQ(Join(log_->Paths()), Join({"/A/B/C d"}));
}

TEST_P(ReleaseAgentTest, EmptyOrMissingAgentRunsNothing) {
  SetUpAgent();
  if (HasFatalFailure() || IsSkipped()) return;
  // Empty.
  ASSERT_EQ(ErrName(Write(P("release_agent"), "\n")), "OK");
  ASSERT_EQ(Read(P("release_agent")), "\n");
  MakeCgroup("A", 1);
  auto s = Populate("A");
  ASSERT_TRUE(s);
  s->Kill();
  // The kernel reads release_agent when its queued work runs, not when the
  // cgroup empties: give that work time before the value changes.
  SleepMs(kSettleMs);
  // Missing.
  ASSERT_EQ(ErrName(Write(P("release_agent"), log_->missing())), "OK");
  MakeCgroup("B", 1);
  auto s2 = Populate("B");
  ASSERT_TRUE(s2);
  s2->Kill();
  SleepMs(kSettleMs);
  // The mount still answers.
  EXPECT_EQ(Read(P("B/tasks")), "");
  EXPECT_EQ(ErrName(Rmdir(P("B"))), "OK");
  EXPECT_EQ(ErrName(Mkdir(P("C"))), "OK");
  EXPECT_EQ(Read(P("release_agent")), log_->missing() + "\n");
  if (!IsKernel()) {
    EXPECT_EQ(kill(m_->daemon_pid(), 0), 0) << "the daemon died";
  }
  // Sentinel with the recording agent back.
  ASSERT_EQ(ErrName(Write(P("release_agent"), log_->agent())), "OK");
  MakeCgroup("S", 1);
  auto s3 = Populate("S");
  ASSERT_TRUE(s3);
  s3->Kill();
  EXPECT_EQ(Join(SettledPaths(1)), Join({"/S"}));
}

const Variant kVariants[] = {
    {Backend::kEmulator, "netlink", false},
    {Backend::kEmulator, "procscan", false},
    {Backend::kEmulator, "netlink", true},
    {Backend::kEmulator, "procscan", true},
    {Backend::kKernel, "", false},
};

INSTANTIATE_TEST_SUITE_P(Lifecycle, LifecycleTest, ::testing::ValuesIn(kVariants), VariantName);
INSTANTIATE_TEST_SUITE_P(Lifecycle, ReleaseAgentTest, ::testing::ValuesIn(kVariants), VariantName);

// ---- the tracker on the command line --------------------------------------------------------

// Runs the emulator with args and a mount point that is never mounted;
// returns {wait status, output}, or status -1 if it did not exit in 5 s.
std::pair<int, std::string> RunToExit(const std::vector<std::string>& args) {
  char logt[] = "/tmp/cgemu_itest_lc_XXXXXX";
  int logfd = mkstemp(logt);
  if (logfd < 0) return {-1, "mkstemp failed"};
  std::vector<std::string> all = {CGROUPFS_EMU_BIN};
  all.insert(all.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : all) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = fork();
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    dup2(logfd, 1);
    dup2(logfd, 2);
    close_range(3, ~0u, 0);
    execv(argv[0], argv.data());
    _exit(127);
  }
  close(logfd);
  int status = -1;
  for (int i = 0; i < 500; ++i) {
    int st;
    if (waitpid(pid, &st, WNOHANG) == pid) {
      status = st;
      break;
    }
    SleepMs(10);
  }
  if (status == -1) {
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
  }
  std::string out = ReadAll(logt).data;
  unlink(logt);
  return {status, out};
}

TEST(LifecycleCli, UnknownTrackerIsAUsageError) {
  auto [st, out] = RunToExit({"-f", "--tracker=bogus", "-o", "none,name=x", "/tmp"});
  ASSERT_NE(st, -1) << out;
  ASSERT_TRUE(WIFEXITED(st)) << out;
  EXPECT_EQ(WEXITSTATUS(st), 2) << out;
  EXPECT_NE(out.find("--tracker takes auto, netlink or procscan"), std::string::npos) << out;
}

// Without --tracker and with --tracker=auto the connector is taken when the
// kernel accepts this user as a listener, else /proc scanning (with a
// warning saying why).
TEST(LifecycleCli, AutoTrackerTakesTheConnectorWhenAvailable) {
  const bool connector = ConnectorRefusal(std::nullopt).empty();
  for (const char* tracker : {"", "auto"}) {
    SCOPED_TRACE(std::string("--tracker=") + tracker);
    EmulatorConfig config;
    config.options = NamedOptions();
    config.tracker = tracker;
    std::string skip, err;
    auto m = CgroupMount::MakeEmulator(config, &skip, &err);
    if (!m) {
      if (!skip.empty()) GTEST_SKIP() << skip;
      FAIL() << err;
    }
    std::string log = m->DaemonLog();
    if (connector) {
      EXPECT_NE(log.find("following forks and exits with netlink"), std::string::npos) << log;
    } else {
      EXPECT_NE(log.find("following forks and exits with procscan"), std::string::npos) << log;
      EXPECT_NE(log.find("scanning /proc instead"), std::string::npos) << log;
    }
  }
}

}  // namespace
}  // namespace itest
