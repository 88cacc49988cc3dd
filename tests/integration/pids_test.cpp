// The pids controller mounted for real (-o pids): pids.max parsing, the
// counts of real threads, forks and zombies, migration past the limit, and
// forks past the limit (which the kernel refuses with EAGAIN and the
// emulator can only count, or kill with pids.enforce=kill). The same tests
// run against the host's own pids hierarchy (/sys/fs/cgroup/pids), in a
// zz-prefixed child of its root.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "mount_harness.h"

namespace itest {
namespace {

const char* const kKernelPids = "/sys/fs/cgroup/pids";
std::atomic<int> g_seq{0};

// Where a test works: a zz child of the emulator's root or of the host's
// pids root, emptied into the root and removed at the end (kernel).
class Tree {
 public:
  static std::unique_ptr<Tree> Make(Backend backend, const std::string& options, std::string* skip,
                                    std::string* error) {
    auto t = std::unique_ptr<Tree>(new Tree());
    t->backend_ = backend;
    if (backend == Backend::kEmulator) {
      t->mount_ = CgroupMount::Make(backend, options, skip, error);
      if (!t->mount_) return nullptr;
      t->root_ = t->mount_->dir();
    } else {
      if (std::string why = KernelHierarchyUnavailable(kKernelPids, "pids"); !why.empty()) {
        *skip = why;
        return nullptr;
      }
      t->root_ = kKernelPids;
    }
    t->name_ = "zz_itest_pids_" + std::to_string(getpid()) + "_" + std::to_string(g_seq++);
    t->base_ = t->root_ + "/" + t->name_;
    if (mkdir(t->base_.c_str(), 0755) != 0) {
      *error = "mkdir " + t->base_ + ": " + ErrName(errno);
      return nullptr;
    }
    return t;
  }
  ~Tree() {
    if (backend_ != Backend::kKernel) return;
    std::vector<std::string> dirs = {base_};
    for (size_t i = 0; i < dirs.size(); ++i)
      for (const std::string& e : ListDirSorted(dirs[i]))
        if (auto st = Lstat(dirs[i] + "/" + e); st && S_ISDIR(st->st_mode)) dirs.push_back(dirs[i] + "/" + e);
    for (const std::string& d : dirs)
      for (pid_t t : ParsePids(ReadAll(d + "/tasks").data)) WriteStr(root_ + "/tasks", std::to_string(t));
    for (auto it = dirs.rbegin(); it != dirs.rend(); ++it)
      for (int i = 0; i < 100 && rmdir(it->c_str()) != 0 && errno == EBUSY; ++i) SleepMs(10);
  }
  Backend backend() const { return backend_; }
  std::string P(const std::string& rel = "") const { return rel.empty() ? base_ : base_ + "/" + rel; }
  const std::string& name() const { return name_; }
  CgroupMount* mount() const { return mount_.get(); }

 private:
  Tree() = default;
  Backend backend_ = Backend::kEmulator;
  std::unique_ptr<CgroupMount> mount_;
  std::string root_, base_, name_;
};

#define TREE_OR_SKIP(var, backend, options)                 \
  std::unique_ptr<Tree> var;                                \
  do {                                                      \
    std::string skip_, err_;                                \
    var = Tree::Make((backend), (options), &skip_, &err_);  \
    if (!var) {                                             \
      if (!skip_.empty()) GTEST_SKIP() << skip_;            \
      FAIL() << err_;                                       \
    }                                                       \
  } while (0)

// A child process that forks, creates threads and reaps on command (one
// byte on a pipe), and answers {errno, pid or tid or count}. Its children
// die with it.
class Forker {
 public:
  static std::unique_ptr<Forker> Spawn() {
    auto f = std::unique_ptr<Forker>(new Forker());
    int to[2], from[2];
    if (pipe2(to, O_CLOEXEC) != 0 || pipe2(from, O_CLOEXEC) != 0) return nullptr;
    const pid_t parent = getpid();
    f->pid = fork();
    if (f->pid < 0) return nullptr;
    if (f->pid == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (getppid() != parent) _exit(0);
      close(to[1]);
      close(from[0]);
      Serve(to[0], from[1]);
    }
    close(to[0]);
    close(from[1]);
    f->to_ = to[1];
    f->from_ = from[0];
    return f;
  }
  ~Forker() {
    if (to_ >= 0) close(to_);
    if (from_ >= 0) close(from_);
    if (pid > 0) {
      kill(pid, SIGKILL);
      for (int i = 0; i < 1000 && waitpid(pid, nullptr, WNOHANG) != pid; ++i) SleepMs(5);
    }
  }
  struct Reply {
    int err = -1;
    int id = 0;
  };
  // 'f' fork a sleeping child, 'e' fork a child that exits at once (a
  // zombie until 'r'), 't' create a sleeping thread, 'r' reap what exited.
  Reply Do(char cmd) {
    Reply r;
    if (write(to_, &cmd, 1) != 1) return r;
    int32_t msg[2];
    size_t got = 0;
    while (got < sizeof msg) {
      ssize_t n = read(from_, reinterpret_cast<char*>(msg) + got, sizeof msg - got);
      if (n <= 0) return r;
      got += static_cast<size_t>(n);
    }
    r.err = msg[0];
    r.id = msg[1];
    return r;
  }
  pid_t pid = -1;

 private:
  Forker() = default;
  static void* Sleeper(void* fd) {
    pid_t tid = static_cast<pid_t>(syscall(SYS_gettid));
    int32_t msg[2] = {0, tid};
    (void)!write(static_cast<int>(reinterpret_cast<intptr_t>(fd)), msg, sizeof msg);
    for (;;) pause();
  }
  [[noreturn]] static void Serve(int in, int out) {
    const pid_t self = getpid();
    for (;;) {
      char cmd;
      if (read(in, &cmd, 1) != 1) _exit(0);
      int32_t msg[2] = {0, 0};
      if (cmd == 'f' || cmd == 'e') {
        pid_t kid = fork();
        if (kid == 0) {
          prctl(PR_SET_PDEATHSIG, SIGKILL);
          if (getppid() != self) _exit(0);
          if (cmd == 'e') _exit(0);
          for (;;) pause();
        }
        msg[0] = kid < 0 ? errno : 0;
        msg[1] = kid;
      } else if (cmd == 't') {
        pthread_t th;
        // The thread answers for itself once it runs.
        int err = pthread_create(&th, nullptr, Sleeper, reinterpret_cast<void*>(intptr_t{out}));
        if (err == 0) continue;
        msg[0] = err;
      } else if (cmd == 'r') {
        while (waitpid(-1, nullptr, WNOHANG) > 0) ++msg[1];
      }
      (void)!write(out, msg, sizeof msg);
    }
  }
  int to_ = -1, from_ = -1;
};

// Bounded poll until the file reads `want`.
bool WaitFor(const std::string& path, const std::string& want, int timeout_ms = 3000) {
  for (int i = 0; i < timeout_ms / 5; ++i) {
    if (ReadOrErr(path) == want) return true;
    SleepMs(5);
  }
  return false;
}

bool WaitZombie(pid_t pid, int timeout_ms = 3000) {
  for (int i = 0; i < timeout_ms / 5; ++i) {
    if (ProcState(pid) == 'Z') return true;
    SleepMs(5);
  }
  return false;
}

class PidsTest : public ::testing::TestWithParam<Backend> {};

TEST_P(PidsTest, CountsThreadsForksAndZombiesUntilReaped) {
  std::unique_ptr<Forker> f;
  TREE_OR_SKIP(t, GetParam(), "pids");
  ASSERT_EQ(mkdir(t->P("c").c_str(), 0755), 0);
  f = Forker::Spawn();
  ASSERT_TRUE(f);
  ASSERT_EQ(WriteStr(t->P("c/cgroup.procs"), std::to_string(f->pid)), 0);
  EXPECT_EQ(ReadOrErr(t->P("c/pids.current")), "1\n");
  EXPECT_EQ(f->Do('t').err, 0);
  EXPECT_EQ(f->Do('t').err, 0);
  EXPECT_EQ(ReadOrErr(t->P("c/pids.current")), "3\n");  // threads count
  Forker::Reply kid = f->Do('f');
  ASSERT_EQ(kid.err, 0);
  EXPECT_EQ(ReadOrErr(t->P("c/pids.current")), "4\n");
  EXPECT_EQ(ReadOrErr(t->P("pids.current")), "4\n");  // hierarchical
  Forker::Reply gone = f->Do('e');
  ASSERT_EQ(gone.err, 0);
  ASSERT_TRUE(WaitZombie(gone.id));
  EXPECT_EQ(ReadOrErr(t->P("c/pids.current")), "5\n");  // a zombie counts until reaped
  EXPECT_EQ(ParsePids(ReadAll(t->P("c/cgroup.procs")).data).size(), 2u);  // but is not listed
  EXPECT_EQ(f->Do('r').id, 1);
  EXPECT_TRUE(WaitFor(t->P("c/pids.current"), "4\n"));
  EXPECT_EQ(ReadOrErr(t->P("c/pids.peak")), "5\n");
  EXPECT_EQ(ReadOrErr(t->P("c/pids.events")), "max 0\n");
  kill(kid.id, SIGKILL);
  ASSERT_TRUE(WaitZombie(kid.id));
  EXPECT_EQ(f->Do('r').id, 1);
  EXPECT_TRUE(WaitFor(t->P("c/pids.current"), "3\n"));
}

TEST_P(PidsTest, MigrationIgnoresTheLimit) {
  TREE_OR_SKIP(t, GetParam(), "pids");
  ASSERT_EQ(WriteStr(t->P("pids.max"), "1"), 0);
  auto a = SpawnSleeper(1);
  auto b = SpawnSleeper();
  ASSERT_TRUE(a && b);
  ASSERT_EQ(WriteStr(t->P("cgroup.procs"), std::to_string(a->pid)), 0);
  ASSERT_EQ(WriteStr(t->P("cgroup.procs"), std::to_string(b->pid)), 0);
  EXPECT_EQ(ReadOrErr(t->P("pids.current")), "3\n");
  EXPECT_EQ(ReadOrErr(t->P("pids.max")), "1\n");
  EXPECT_EQ(ReadOrErr(t->P("pids.events")), "max 0\n");
}

// P allows 2; the fork happens in P/c, which has no limit of its own: it
// is counted in c's events, not in P's.
TEST_P(PidsTest, AForkPastAnAncestorsLimitIsCountedWhereItHappened) {
  std::unique_ptr<Forker> f;
  TREE_OR_SKIP(t, GetParam(), "pids");
  ASSERT_EQ(mkdir(t->P("c").c_str(), 0755), 0);
  ASSERT_EQ(WriteStr(t->P("pids.max"), "2"), 0);
  f = Forker::Spawn();
  ASSERT_TRUE(f);
  ASSERT_EQ(WriteStr(t->P("c/cgroup.procs"), std::to_string(f->pid)), 0);
  ASSERT_EQ(f->Do('f').err, 0);
  Forker::Reply over = f->Do('f');
  if (GetParam() == Backend::kKernel) {
    EXPECT_EQ(over.err, EAGAIN);
  } else {
    // The emulator learns of the fork afterwards: by default the child lives.
    EXPECT_EQ(over.err, 0);
  }
  EXPECT_EQ(ReadOrErr(t->P("c/pids.events")), "max 1\n");
  EXPECT_EQ(ReadOrErr(t->P("pids.events")), "max 0\n");
  EXPECT_EQ(ReadOrErr(t->P("pids.current")), GetParam() == Backend::kKernel ? "2\n" : "3\n");
  Forker::Reply thread = f->Do('t');
  EXPECT_EQ(thread.err, GetParam() == Backend::kKernel ? EAGAIN : 0);
  EXPECT_EQ(ReadOrErr(t->P("c/pids.events")), "max 2\n");
  if (GetParam() == Backend::kEmulator) {
    const std::string log = t->mount()->DaemonLog();
    const std::string message = "cgroup: fork rejected by pids controller in /" + t->name() + "/c";
    EXPECT_NE(log.find(message), std::string::npos) << log;
    EXPECT_EQ(log.find(message), log.rfind(message)) << "logged once per cgroup";
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, PidsTest, ::testing::Values(Backend::kEmulator, Backend::kKernel),
                         [](const ::testing::TestParamInfo<Backend>& info) { return BackendName(info.param); });

TEST(PidsEmulator, EnforceKillKillsTheChildPastTheLimit) {
  std::unique_ptr<Forker> f;
  TREE_OR_SKIP(t, Backend::kEmulator, "pids,pids.enforce=kill");
  ASSERT_EQ(WriteStr(t->P("pids.max"), "2"), 0);
  f = Forker::Spawn();
  ASSERT_TRUE(f);
  ASSERT_EQ(WriteStr(t->P("cgroup.procs"), std::to_string(f->pid)), 0);
  Forker::Reply ok = f->Do('f');
  ASSERT_EQ(ok.err, 0);
  Forker::Reply over = f->Do('f');
  ASSERT_EQ(over.err, 0);
  EXPECT_TRUE(WaitZombie(over.id)) << "the child past the limit is killed";
  const char alive = ProcState(ok.id);  // the child within the limit lives
  EXPECT_TRUE(alive == 'S' || alive == 'R') << alive;
  EXPECT_EQ(ReadOrErr(t->P("pids.events")), "max 1\n");
  EXPECT_EQ(ReadOrErr(t->P("pids.current")), "2\n");  // never charged
  EXPECT_EQ(f->Do('r').id, 1);
  EXPECT_EQ(ReadOrErr(t->P("pids.current")), "2\n");
  // A thread cannot be killed alone: it is counted and charged.
  EXPECT_EQ(f->Do('t').err, 0);
  EXPECT_EQ(ReadOrErr(t->P("pids.events")), "max 2\n");
  EXPECT_EQ(ReadOrErr(t->P("pids.current")), "3\n");
  EXPECT_NE(ProcState(f->pid), 'Z');
}

// The same counts when forks and exits are followed by scanning /proc.
TEST(PidsEmulator, CountsWithTheProcScanTracker) {
  std::unique_ptr<Forker> f;
  EmulatorConfig config;
  config.options = "pids";
  config.tracker = "procscan";
  std::string skip, err;
  auto m = CgroupMount::MakeEmulator(config, &skip, &err);
  if (!m) {
    if (!skip.empty()) GTEST_SKIP() << skip;
    FAIL() << err;
  }
  ASSERT_EQ(mkdir(m->Path("c").c_str(), 0755), 0);
  ASSERT_EQ(WriteStr(m->Path("c/pids.max"), "3"), 0);
  f = Forker::Spawn();
  ASSERT_TRUE(f);
  ASSERT_EQ(WriteStr(m->Path("c/cgroup.procs"), std::to_string(f->pid)), 0);
  EXPECT_EQ(f->Do('t').err, 0);
  Forker::Reply kid = f->Do('f');
  ASSERT_EQ(kid.err, 0);
  EXPECT_EQ(ReadOrErr(m->Path("c/pids.current")), "3\n");
  EXPECT_EQ(f->Do('f').err, 0);
  EXPECT_EQ(ReadOrErr(m->Path("c/pids.events")), "max 1\n");
  kill(kid.id, SIGKILL);
  ASSERT_TRUE(WaitZombie(kid.id));
  EXPECT_EQ(ReadOrErr(m->Path("c/pids.current")), "4\n");  // a zombie until reaped
  EXPECT_EQ(f->Do('r').id, 1);
  EXPECT_EQ(ReadOrErr(m->Path("c/pids.current")), "3\n");
}

TEST(PidsEmulator, FilesModesAndSettings) {
  ITEST_MOUNT_OR_SKIP(m, Backend::kEmulator, std::string("pids"));
  for (const char* f : {"pids.max", "pids.current", "pids.peak", "pids.events"}) EXPECT_FALSE(Stat(m->Path(f))) << f;
  ASSERT_EQ(mkdir(m->Path("c").c_str(), 0755), 0);
  EXPECT_EQ(PermBits(*Stat(m->Path("c/pids.max"))), 0644u);
  for (const char* f : {"pids.current", "pids.peak", "pids.events"})
    EXPECT_EQ(PermBits(*Stat(m->Path(std::string("c/") + f))), 0444u) << f;
  std::string skip, err;
  EXPECT_FALSE(CgroupMount::Make(Backend::kEmulator, std::string("pids,pids.enforce=panic"), &skip, &err));
  EXPECT_NE(err.find("pids.enforce"), std::string::npos) << err;
}

// ---- the kernel and the emulator, step by step ------------------------------------

std::vector<std::string> MaxScript(const Tree& t) {
  std::vector<std::string> out;
  for (const char* in : {"5", "max", "0", "4194304", "4194305", "-1", "MAX", "abc", "\n", "5 6", "max max",
                         "99999999999999999999", "-99999999999999999999", "0x10", "010", "+5", "  7 \n",
                         "\tmax\n\n", "08", "1.5", "", "0X1f", "9223372036854775807", "9223372036854775808"}) {
    std::string shown;
    for (char c : std::string(in)) shown += c == '\n' ? std::string("\\n") : std::string(1, c);
    out.push_back("write '" + shown + "' -> " + ErrName(WriteStr(t.P("pids.max"), in)) + " reads " +
                  ReadOrErr(t.P("pids.max")));
  }
  for (const char* f : {"pids.current", "pids.peak", "pids.events"})
    out.push_back(std::string("write ") + f + " -> " + ErrName(WriteStr(t.P(f), "1")));
  out.push_back("mkdir c -> " + ErrName(Errno(mkdir(t.P("c").c_str(), 0755))));
  for (const char* f : {"pids.max", "pids.current", "pids.peak", "pids.events"})
    out.push_back(std::string("read c/") + f + " -> " + ReadOrErr(t.P(std::string("c/") + f)));
  return out;
}

TEST(PidsKernelDiff, MaxParsingAndDefaults) {
  if (std::string why = KernelHierarchyUnavailable(kKernelPids, "pids"); !why.empty()) GTEST_SKIP() << why;
  std::string skip, err;
  auto kt = Tree::Make(Backend::kKernel, "", &skip, &err);
  ASSERT_TRUE(kt) << skip << err;
  auto et = Tree::Make(Backend::kEmulator, "pids", &skip, &err);
  if (!et) {
    if (!skip.empty()) GTEST_SKIP() << skip;
    FAIL() << err;
  }
  const std::vector<std::string> kernel = MaxScript(*kt);
  const std::vector<std::string> emulator = MaxScript(*et);
  ASSERT_EQ(kernel.size(), emulator.size());
  for (size_t i = 0; i < kernel.size(); ++i) EXPECT_EQ(emulator[i], kernel[i]) << "step " << i;
}

}  // namespace
}  // namespace itest
