// The freezer mounted for real (-o freezer): freezer.state and its flags,
// and the real effect (a frozen process makes no progress; it resumes when
// thawed or moved out; a process moved in stops). The same tests run
// against the host's own freezer hierarchy (/sys/fs/cgroup/freezer), in a
// zz-prefixed child of its root, and a script of writes and reads is
// compared between the two.
#include <gtest/gtest.h>
#include <grp.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "mount_harness.h"

namespace itest {
namespace {

const char* const kKernelFreezer = "/sys/fs/cgroup/freezer";
std::atomic<int> g_seq{0};

// Where a test works: a zz child of the emulator's root or of the host's
// freezer root. The kernel side is thawed, emptied into the root and
// removed at the end.
class Tree {
 public:
  static std::unique_ptr<Tree> Make(Backend backend, std::string* skip, std::string* error) {
    auto t = std::unique_ptr<Tree>(new Tree());
    t->backend_ = backend;
    if (backend == Backend::kEmulator) {
      t->mount_ = CgroupMount::Make(backend, std::string("freezer"), skip, error);
      if (!t->mount_) return nullptr;
      t->root_ = t->mount_->dir();
    } else {
      if (std::string why = KernelHierarchyUnavailable(kKernelFreezer, "freezer"); !why.empty()) {
        *skip = why;
        return nullptr;
      }
      t->root_ = kKernelFreezer;
    }
    t->base_ = t->root_ + "/zz_itest_frz_" + std::to_string(getpid()) + "_" + std::to_string(g_seq++);
    if (mkdir(t->base_.c_str(), 0755) != 0) {
      *error = "mkdir " + t->base_ + ": " + ErrName(errno);
      return nullptr;
    }
    return t;
  }
  ~Tree() {
    if (backend_ == Backend::kKernel) {
      // Thaw first: the kernel does not let a frozen task die.
      WriteStr(base_ + "/freezer.state", "THAWED");
      std::vector<std::string> dirs = {base_};
      for (size_t i = 0; i < dirs.size(); ++i)
        for (const std::string& e : ListDirSorted(dirs[i]))
          if (auto st = Lstat(dirs[i] + "/" + e); st && S_ISDIR(st->st_mode)) dirs.push_back(dirs[i] + "/" + e);
      for (const std::string& d : dirs)
        for (pid_t t : ParsePids(ReadAll(d + "/tasks").data)) WriteStr(root_ + "/tasks", std::to_string(t));
      for (auto it = dirs.rbegin(); it != dirs.rend(); ++it)
        for (int i = 0; i < 100 && rmdir(it->c_str()) != 0 && errno == EBUSY; ++i) SleepMs(10);
    }
  }
  Backend backend() const { return backend_; }
  std::string P(const std::string& rel = "") const { return rel.empty() ? base_ : base_ + "/" + rel; }
  const std::string& root() const { return root_; }
  CgroupMount* mount() const { return mount_.get(); }

 private:
  Tree() = default;
  Backend backend_ = Backend::kEmulator;
  std::unique_ptr<CgroupMount> mount_;
  std::string root_, base_;
};

#define TREE_OR_SKIP(var, backend)                          \
  std::unique_ptr<Tree> var;                                \
  do {                                                      \
    std::string skip_, err_;                                \
    var = Tree::Make((backend), &skip_, &err_);             \
    if (!var) {                                             \
      if (!skip_.empty()) GTEST_SKIP() << skip_;            \
      FAIL() << err_;                                       \
    }                                                       \
  } while (0)

// A child process whose threads each count in shared memory, so that a
// test can see whether it makes progress. Killed and reaped (bounded) on
// destruction.
class Counter {
  static constexpr int kMaxThreads = 8;
  struct Shared {
    uint64_t count[kMaxThreads];
    pid_t tid[kMaxThreads];
  };

 public:

  static std::unique_ptr<Counter> Spawn(int threads = 1) {
    auto c = std::unique_ptr<Counter>(new Counter());
    void* mem = mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED) return nullptr;
    c->shared_ = static_cast<Shared*>(mem);
    const pid_t parent = getpid();
    c->pid = fork();
    if (c->pid < 0) return nullptr;
    if (c->pid == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (getppid() != parent) _exit(0);
      shared = c->shared_;
      for (int i = 1; i < threads; ++i) {
        pthread_t th;
        pthread_create(&th, nullptr, ThreadMain, reinterpret_cast<void*>(intptr_t{i}));
      }
      Count(shared, 0);
    }
    // Wait until every thread counts.
    for (int i = 0; i < 2000; ++i) {
      bool all = true;
      for (int t = 0; t < threads; ++t) all &= c->shared_->tid[t] != 0 && c->shared_->count[t] > 0;
      if (all) break;
      SleepMs(1);
    }
    for (int t = 0; t < threads; ++t) c->tids.push_back(c->shared_->tid[t]);
    return c;
  }
  ~Counter() {
    if (pid > 0) {
      kill(pid, SIGKILL);
      Reap(5000);
    }
    if (shared_) munmap(shared_, 4096);
  }
  // Bounded wait for the killed child; true once reaped.
  bool Reap(int timeout_ms) {
    for (int i = 0; i < timeout_ms / 5 && pid > 0; ++i) {
      int st;
      if (waitpid(pid, &st, WNOHANG) == pid) {
        pid = -1;
      } else {
        SleepMs(5);
      }
    }
    return pid <= 0;
  }
  uint64_t count(int thread = 0) const { return __atomic_load_n(&shared_->count[thread], __ATOMIC_SEQ_CST); }
  // True if no thread counts across `ms` milliseconds.
  bool Still(int ms = 150) const {
    std::vector<uint64_t> before;
    for (size_t t = 0; t < tids.size(); ++t) before.push_back(count(static_cast<int>(t)));
    SleepMs(ms);
    for (size_t t = 0; t < tids.size(); ++t)
      if (count(static_cast<int>(t)) != before[t]) return false;
    return true;
  }
  // Bounded poll until thread `thread` counts again.
  bool Moves(int thread = 0, int timeout_ms = 5000) const {
    const uint64_t start = count(thread);
    for (int i = 0; i < timeout_ms / 5; ++i) {
      if (count(thread) != start) return true;
      SleepMs(5);
    }
    return false;
  }

  pid_t pid = -1;
  std::vector<pid_t> tids;

 private:
  static inline Shared* shared = nullptr;  // in the child
  static void* ThreadMain(void* arg) { Count(shared, static_cast<int>(reinterpret_cast<intptr_t>(arg))); }
  [[noreturn]] static void Count(Shared* s, int slot) {
    __atomic_store_n(&s->tid[slot], static_cast<pid_t>(syscall(SYS_gettid)), __ATOMIC_SEQ_CST);
    for (;;) {
      __atomic_add_fetch(&s->count[slot], 1, __ATOMIC_SEQ_CST);
      usleep(500);
    }
  }
  Counter() = default;
  Shared* shared_ = nullptr;
};

// Bounded poll of freezer.state until it reads `want`.
bool WaitState(const std::string& dir, const std::string& want, int timeout_ms = 5000) {
  for (int i = 0; i < timeout_ms / 5; ++i) {
    if (ReadOrErr(dir + "/freezer.state") == want + "\n") return true;
    SleepMs(5);
  }
  return false;
}

class FreezerTest : public ::testing::TestWithParam<Backend> {};

TEST_P(FreezerTest, AFrozenProcessMakesNoProgressAndResumesWhenThawed) {
  std::unique_ptr<Counter> c;
  TREE_OR_SKIP(t, GetParam());
  c = Counter::Spawn(3);
  ASSERT_TRUE(c);
  ASSERT_EQ(c->tids.size(), 3u);
  ASSERT_EQ(WriteStr(t->P("cgroup.procs"), std::to_string(c->pid)), 0);
  ASSERT_EQ(WriteStr(t->P("freezer.state"), "FROZEN"), 0);
  ASSERT_TRUE(WaitState(t->P(), "FROZEN")) << ReadOrErr(t->P("freezer.state"));
  EXPECT_TRUE(c->Still());
  if (GetParam() == Backend::kEmulator) {
    for (pid_t tid : c->tids) EXPECT_EQ(ProcState(tid), 't') << tid;
  }
  // The parent is told nothing: no stop, and no continue later.
  int st;
  EXPECT_EQ(waitpid(c->pid, &st, WNOHANG | WUNTRACED | WCONTINUED), 0);
  // A SIGCONT from anyone does not wake it.
  kill(c->pid, SIGCONT);
  EXPECT_TRUE(c->Still());
  ASSERT_EQ(WriteStr(t->P("freezer.state"), "THAWED"), 0);
  EXPECT_EQ(ReadOrErr(t->P("freezer.state")), "THAWED\n");
  for (int thread = 0; thread < 3; ++thread) EXPECT_TRUE(c->Moves(thread)) << thread;
  EXPECT_EQ(waitpid(c->pid, &st, WNOHANG | WUNTRACED | WCONTINUED), 0);
}

TEST_P(FreezerTest, AProcessMovedInStopsAndOneMovedOutResumes) {
  std::unique_ptr<Counter> c;
  TREE_OR_SKIP(t, GetParam());
  ASSERT_EQ(mkdir(t->P("a").c_str(), 0755), 0);
  ASSERT_EQ(WriteStr(t->P("a/freezer.state"), "FROZEN"), 0);
  EXPECT_EQ(ReadOrErr(t->P("a/freezer.state")), "FROZEN\n");  // empty: frozen at once
  c = Counter::Spawn(2);
  ASSERT_TRUE(c);
  ASSERT_EQ(WriteStr(t->P("a/cgroup.procs"), std::to_string(c->pid)), 0);
  ASSERT_TRUE(WaitState(t->P("a"), "FROZEN"));
  EXPECT_TRUE(c->Still());
  ASSERT_EQ(WriteStr(t->P("cgroup.procs"), std::to_string(c->pid)), 0);  // THAWED parent
  EXPECT_TRUE(c->Moves(0));
  EXPECT_TRUE(c->Moves(1));
  // One thread alone.
  ASSERT_EQ(WriteStr(t->P("a/tasks"), std::to_string(c->tids[1])), 0);
  ASSERT_TRUE(WaitState(t->P("a"), "FROZEN"));
  SleepMs(20);
  const uint64_t frozen_count = c->count(1);
  EXPECT_TRUE(c->Moves(0));
  EXPECT_EQ(c->count(1), frozen_count);
  ASSERT_EQ(WriteStr(t->root() + "/tasks", std::to_string(c->tids[1])), 0);
  EXPECT_TRUE(c->Moves(1));
}

TEST_P(FreezerTest, ParentFreezingReachesChildrenAndSelfFrozenChildrenStay) {
  std::unique_ptr<Counter> c1, c2;
  TREE_OR_SKIP(t, GetParam());
  ASSERT_EQ(mkdir(t->P("c").c_str(), 0755), 0);
  c1 = Counter::Spawn();
  c2 = Counter::Spawn();
  ASSERT_TRUE(c1 && c2);
  ASSERT_EQ(WriteStr(t->P("cgroup.procs"), std::to_string(c1->pid)), 0);
  ASSERT_EQ(WriteStr(t->P("c/cgroup.procs"), std::to_string(c2->pid)), 0);
  ASSERT_EQ(WriteStr(t->P("freezer.state"), "FROZEN"), 0);
  ASSERT_TRUE(WaitState(t->P(), "FROZEN"));
  EXPECT_EQ(ReadOrErr(t->P("c/freezer.state")), "FROZEN\n");
  EXPECT_TRUE(c1->Still());
  EXPECT_TRUE(c2->Still());
  ASSERT_EQ(WriteStr(t->P("c/freezer.state"), "THAWED"), 0);  // the parent still freezes it
  EXPECT_EQ(ReadOrErr(t->P("c/freezer.state")), "FROZEN\n");
  EXPECT_TRUE(c2->Still());
  ASSERT_EQ(WriteStr(t->P("c/freezer.state"), "FROZEN"), 0);
  ASSERT_EQ(WriteStr(t->P("freezer.state"), "THAWED"), 0);
  EXPECT_TRUE(c1->Moves());
  EXPECT_EQ(ReadOrErr(t->P("c/freezer.state")), "FROZEN\n");
  EXPECT_TRUE(c2->Still());
  ASSERT_EQ(WriteStr(t->P("c/freezer.state"), "THAWED"), 0);
  EXPECT_TRUE(c2->Moves());
}

// A process that keeps forking short-lived children: once the cgroup reads
// FROZEN, no task in it runs, the late children included.
TEST_P(FreezerTest, ChildrenForkedWhileFreezingAreStoppedToo) {
  std::unique_ptr<Counter> c;
  TREE_OR_SKIP(t, GetParam());
  const pid_t parent = getpid();
  pid_t forker = fork();
  ASSERT_GE(forker, 0);
  if (forker == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(0);
    for (;;) {
      pid_t kid = fork();
      if (kid == 0) {
        usleep(20000);
        _exit(0);
      }
      usleep(2000);
      while (waitpid(-1, nullptr, WNOHANG) > 0) {
      }
    }
  }
  ASSERT_EQ(WriteStr(t->P("cgroup.procs"), std::to_string(forker)), 0);
  SleepMs(50);
  ASSERT_EQ(WriteStr(t->P("freezer.state"), "FROZEN"), 0);
  const bool frozen = WaitState(t->P(), "FROZEN");
  EXPECT_TRUE(frozen) << ReadOrErr(t->P("freezer.state"));
  if (frozen) {
    const std::vector<pid_t> members = ParsePids(ReadAll(t->P("tasks")).data);
    EXPECT_FALSE(members.empty());
    for (pid_t m : members) {
      const char s = ProcState(m);
      if (GetParam() == Backend::kEmulator)
        EXPECT_TRUE(s == 't' || s == 'Z') << m << " " << s;
      else
        EXPECT_NE(s, 'R') << m;
    }
    // Nothing forks any more.
    const std::string before = ReadOrErr(t->P("tasks"));
    SleepMs(100);
    EXPECT_EQ(ReadOrErr(t->P("tasks")), before);
  }
  ASSERT_EQ(WriteStr(t->P("freezer.state"), "THAWED"), 0);
  kill(forker, SIGKILL);
  for (int i = 0; i < 1000; ++i) {
    if (waitpid(forker, nullptr, WNOHANG) == forker) break;
    SleepMs(5);
  }
}

TEST_P(FreezerTest, AFrozenProcessCanBeKilledAfterThawAndIsReaped) {
  std::unique_ptr<Counter> c;
  TREE_OR_SKIP(t, GetParam());
  c = Counter::Spawn();
  ASSERT_TRUE(c);
  ASSERT_EQ(WriteStr(t->P("cgroup.procs"), std::to_string(c->pid)), 0);
  ASSERT_EQ(WriteStr(t->P("freezer.state"), "FROZEN"), 0);
  ASSERT_TRUE(WaitState(t->P(), "FROZEN"));
  if (GetParam() == Backend::kEmulator) {
    // SIGKILL still kills a task the emulator holds, and its parent reaps it.
    kill(c->pid, SIGKILL);
    EXPECT_TRUE(c->Reap(5000));
    EXPECT_EQ(ReadOrErr(t->P("tasks")), "");
  } else {
    // The kernel's frozen task dies only once thawed.
    kill(c->pid, SIGKILL);
    ASSERT_EQ(WriteStr(t->P("freezer.state"), "THAWED"), 0);
    EXPECT_TRUE(c->Reap(5000));
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, FreezerTest, ::testing::Values(Backend::kEmulator, Backend::kKernel),
                         [](const ::testing::TestParamInfo<Backend>& info) { return BackendName(info.param); });

TEST(FreezerEmulator, FilesModesAndNotOnRoot) {
  ITEST_MOUNT_OR_SKIP(m, Backend::kEmulator, std::string("freezer"));
  for (const char* f : {"freezer.state", "freezer.self_freezing", "freezer.parent_freezing"})
    EXPECT_FALSE(Stat(m->Path(f))) << f;
  ASSERT_EQ(mkdir(m->Path("c").c_str(), 0755), 0);
  EXPECT_EQ(PermBits(*Stat(m->Path("c/freezer.state"))), 0644u);
  EXPECT_EQ(PermBits(*Stat(m->Path("c/freezer.self_freezing"))), 0444u);
  EXPECT_EQ(PermBits(*Stat(m->Path("c/freezer.parent_freezing"))), 0444u);
  EXPECT_EQ(WriteStr(m->Path("c/freezer.self_freezing"), "1"), EINVAL);  // root bypasses the mode
}

TEST(FreezerEmulator, TasksResumeWhenTheEmulatorStops) {
  std::unique_ptr<Counter> c;
  std::string skip, err;
  auto m = CgroupMount::Make(Backend::kEmulator, std::string("freezer"), &skip, &err);
  if (!m) {
    if (!skip.empty()) GTEST_SKIP() << skip;
    FAIL() << err;
  }
  ASSERT_EQ(mkdir(m->Path("c").c_str(), 0755), 0);
  c = Counter::Spawn();
  ASSERT_TRUE(c);
  ASSERT_EQ(WriteStr(m->Path("c/cgroup.procs"), std::to_string(c->pid)), 0);
  ASSERT_EQ(WriteStr(m->Path("c/freezer.state"), "FROZEN"), 0);
  ASSERT_TRUE(WaitState(m->Path("c"), "FROZEN"));
  EXPECT_TRUE(c->Still());
  EXPECT_NE(m->DaemonLog().find("Freezing with imperfect legacy cgroup freezer"), std::string::npos);
  m->Stop();
  EXPECT_TRUE(c->Moves());
}

// The daemon cannot stop itself: its own threads do not hold a cgroup back,
// and it goes on serving.
TEST(FreezerEmulator, TheEmulatorItselfIsNeverFrozen) {
  ITEST_MOUNT_OR_SKIP(m, Backend::kEmulator, std::string("freezer"));
  ASSERT_EQ(mkdir(m->Path("c").c_str(), 0755), 0);
  ASSERT_EQ(WriteStr(m->Path("c/cgroup.procs"), std::to_string(m->daemon_pid())), 0);
  ASSERT_EQ(WriteStr(m->Path("c/freezer.state"), "FROZEN"), 0);
  EXPECT_TRUE(WaitState(m->Path("c"), "FROZEN"));
  EXPECT_NE(ProcState(m->daemon_pid()), 't');
  EXPECT_EQ(mkdir(m->Path("d").c_str(), 0755), 0);
  EXPECT_EQ(m->DaemonLog().find("cannot stop task"), std::string::npos) << m->DaemonLog();
  ASSERT_EQ(WriteStr(m->Path("c/freezer.state"), "THAWED"), 0);
  ASSERT_EQ(WriteStr(m->Path("cgroup.procs"), std::to_string(m->daemon_pid())), 0);
}

// /bin/sleep run as uid.
struct ExecedSleeper {
  explicit ExecedSleeper(uid_t uid) {
    const pid_t parent = getpid();
    pid = fork();
    if (pid == 0) {
      const gid_t gid = static_cast<gid_t>(uid);
      if (setgroups(0, nullptr) != 0 || setresgid(gid, gid, gid) != 0 || setresuid(uid, uid, uid) != 0) _exit(126);
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (getppid() != parent) _exit(0);
      execl("/bin/sleep", "sleep", "1000", static_cast<char*>(nullptr));
      _exit(127);
    }
    // Until it runs sleep as uid.
    for (int i = 0; i < 1000 && pid > 0; ++i) {
      struct stat st;
      if (ReadOrErr("/proc/" + std::to_string(pid) + "/comm") == "sleep\n" &&
          stat(("/proc/" + std::to_string(pid)).c_str(), &st) == 0 && st.st_uid == uid)
        break;
      SleepMs(2);
    }
  }
  ~ExecedSleeper() {
    if (pid <= 0) return;
    kill(pid, SIGKILL);
    for (int i = 0; i < 1000 && waitpid(pid, nullptr, WNOHANG) != pid; ++i) SleepMs(5);
  }
  pid_t pid = -1;
};

// An unprivileged emulator can freeze only what its user may trace.
TEST(FreezerEmulator, AnUnprivilegedEmulatorFreezesItsUsersProcessesOnly) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to run the emulator as another user";
  EmulatorConfig config;
  config.options = "freezer";
  config.run_as = kNobody;
  std::string skip, err;
  auto m = CgroupMount::MakeEmulator(config, &skip, &err);
  if (!m) {
    if (!skip.empty()) GTEST_SKIP() << skip;
    FAIL() << err;
  }
  ExecedSleeper mine(kNobody);  // execve makes it dumpable, as any process of its user
  auto roots = SpawnSleeper();
  ASSERT_TRUE(mine.pid > 0 && roots);
  ASSERT_EQ(mkdir(m->Path("a").c_str(), 0755), 0);
  ASSERT_EQ(mkdir(m->Path("b").c_str(), 0755), 0);
  ASSERT_EQ(WriteStr(m->Path("a/cgroup.procs"), std::to_string(mine.pid)), 0);
  ASSERT_EQ(WriteStr(m->Path("b/cgroup.procs"), std::to_string(roots->pid)), 0);
  ASSERT_EQ(WriteStr(m->Path("a/freezer.state"), "FROZEN"), 0);
  ASSERT_EQ(WriteStr(m->Path("b/freezer.state"), "FROZEN"), 0);
  EXPECT_TRUE(WaitState(m->Path("a"), "FROZEN"));
  SleepMs(100);
  EXPECT_EQ(ReadOrErr(m->Path("b/freezer.state")), "FREEZING\n");  // stays FREEZING
  EXPECT_NE(ProcState(roots->pid), 't');
  EXPECT_NE(m->DaemonLog().find("cannot stop task " + std::to_string(roots->pid)), std::string::npos)
      << m->DaemonLog();
  ASSERT_EQ(WriteStr(m->Path("a/freezer.state"), "THAWED"), 0);
  ASSERT_EQ(WriteStr(m->Path("b/freezer.state"), "THAWED"), 0);
  EXPECT_EQ(ReadOrErr(m->Path("b/freezer.state")), "THAWED\n");
}

// ---- the kernel and the emulator, step by step ----------------------------------

std::vector<std::string> StateScript(const Tree& t) {
  std::vector<std::string> out;
  auto read = [&](const std::string& rel) {
    for (const char* f : {"freezer.state", "freezer.self_freezing", "freezer.parent_freezing"})
      out.push_back("read " + rel + " " + f + " -> " + ReadOrErr(t.P(rel) + "/" + f));
  };
  auto write = [&](const std::string& rel, const std::string& data) {
    out.push_back("write " + rel + " '" + data + "' -> " + ErrName(WriteStr(t.P(rel) + "/freezer.state", data)));
  };
  auto mk = [&](const std::string& rel) {
    out.push_back("mkdir " + rel + " -> " + ErrName(Errno(mkdir(t.P(rel).c_str(), 0755))));
  };
  mk("p");
  mk("p/c");
  read("p");
  for (const char* bad : {"FREEZING", "frozen", "THAW", "\n", "FROZEN THAWED", "FROZENX", " THAWED x"})
    write("p", bad);
  write("p", "");
  write("p", " \tFROZEN\n");
  read("p");
  read("p/c");
  mk("p/c/g");
  read("p/c/g");
  write("p/c", "THAWED");
  read("p/c");
  write("p/c", "FROZEN");
  write("p", "THAWED\n");
  read("p");
  read("p/c");
  read("p/c/g");
  write("p/c/g", "FROZEN");
  write("p/c", "THAWED");
  read("p/c");
  read("p/c/g");
  write("p/c/g", "THAWED");
  read("p/c/g");
  write("p", "FROZEN");
  read("p");
  out.push_back("rmdir p/c/g -> " + ErrName(Errno(rmdir(t.P("p/c/g").c_str()))));
  read("p");
  write("p", "THAWED");
  out.push_back("write p self_freezing -> " + ErrName(WriteStr(t.P("p/freezer.self_freezing"), "1")));
  return out;
}

TEST(FreezerKernelDiff, StatesFlagsAndErrnos) {
  std::string skip, err;
  if (std::string why = KernelHierarchyUnavailable(kKernelFreezer, "freezer"); !why.empty()) GTEST_SKIP() << why;
  auto kt = Tree::Make(Backend::kKernel, &skip, &err);
  ASSERT_TRUE(kt) << skip << err;
  auto et = Tree::Make(Backend::kEmulator, &skip, &err);
  if (!et) {
    if (!skip.empty()) GTEST_SKIP() << skip;
    FAIL() << err;
  }
  const std::vector<std::string> kernel = StateScript(*kt);
  const std::vector<std::string> emulator = StateScript(*et);
  ASSERT_EQ(kernel.size(), emulator.size());
  for (size_t i = 0; i < kernel.size(); ++i) EXPECT_EQ(emulator[i], kernel[i]) << "step " << i;
}

}  // namespace
}  // namespace itest
