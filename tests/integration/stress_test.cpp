// Issue 5: the emulator under concurrent load, and a killed daemon.
// Writers move processes that fork and create and end threads, while
// others make, rename and remove cgroups and read lists; afterwards every
// invariant must hold.
#include <gtest/gtest.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <map>
#include <random>
#include <thread>

#include "mount_harness.h"

namespace itest {
namespace {

using Clock = std::chrono::steady_clock;

volatile sig_atomic_t churn_stop = 0;

void* ShortThread(void*) {
  usleep(200);
  return nullptr;
}

void* PermanentThread(void*) {
  for (;;) pause();
}

// A process that keeps creating and ending threads and forking short
// children until SIGUSR1, then idles with exactly three threads.
pid_t SpawnChurner() {
  pid_t pid = fork();
  if (pid != 0) return pid;
  signal(SIGUSR1, [](int) { churn_stop = 1; });
  pthread_t t;
  for (int i = 0; i < 2; ++i) pthread_create(&t, nullptr, PermanentThread, nullptr);
  while (!churn_stop) {
    if (pthread_create(&t, nullptr, ShortThread, nullptr) == 0) pthread_join(t, nullptr);
    pid_t child = fork();
    if (child == 0) _exit(0);
    if (child > 0) waitpid(child, nullptr, 0);
  }
  for (;;) pause();
}

std::vector<pid_t> Threads(pid_t pid) {
  std::vector<pid_t> tids;
  for (const std::string& name : ListDirSorted("/proc/" + std::to_string(pid) + "/task"))
    if (name != "." && name != "..") tids.push_back(std::stoi(name));
  return tids;
}

std::string Stats(const std::string& root) {
  char buf[256];
  ssize_t n = getxattr(root.c_str(), "user.cgroupfs_emu.stats", buf, sizeof buf);
  return n < 0 ? "getxattr: " + ErrName(errno) : std::string(buf, n);
}

TEST(Stress, ConcurrentMovesForksThreadsAndDirectoryChangesKeepEveryInvariant) {
  ITEST_MOUNT_OR_SKIP(m, Backend::kEmulator, NamedOptions());
  constexpr int kCgroups = 4;
  for (int i = 0; i < kCgroups; ++i) ASSERT_EQ(mkdir(m->Path("c" + std::to_string(i)).c_str(), 0755), 0);
  std::vector<pid_t> churners;
  for (int i = 0; i < 4; ++i) churners.push_back(SpawnChurner());
  struct Reaper {
    std::vector<pid_t>& pids;
    ~Reaper() {
      for (pid_t p : pids) kill(p, SIGKILL);
      for (pid_t p : pids) waitpid(p, nullptr, 0);
    }
  } reaper{churners};

  const auto deadline = Clock::now() + std::chrono::seconds(4);
  std::atomic<long> moves{0}, reads{0}, dir_ops{0}, bad_reads{0};
  std::vector<std::thread> workers;
  for (int w = 0; w < 2; ++w)
    workers.emplace_back([&, w] {
      std::mt19937 rng(w);
      while (Clock::now() < deadline) {
        const pid_t pid = churners[rng() % churners.size()];
        const std::string cg = "c" + std::to_string(rng() % kCgroups);
        // Mostly whole processes; sometimes a single thread, splitting one.
        if (rng() % 4) {
          WriteStr(m->Path(cg + "/cgroup.procs"), std::to_string(pid));
        } else {
          auto tids = Threads(pid);
          if (!tids.empty()) WriteStr(m->Path(cg + "/tasks"), std::to_string(tids[rng() % tids.size()]));
        }
        ++moves;
      }
    });
  workers.emplace_back([&] {
    std::mt19937 rng(7);
    while (Clock::now() < deadline) {
      const std::string base = m->Path("c" + std::to_string(rng() % kCgroups));
      mkdir((base + "/d").c_str(), 0755);
      rename((base + "/d").c_str(), (base + "/e").c_str());
      rmdir((base + "/e").c_str());
      ++dir_ops;
    }
  });
  workers.emplace_back([&] {
    std::mt19937 rng(11);
    while (Clock::now() < deadline) {
      const std::string cg = "c" + std::to_string(rng() % kCgroups);
      auto r = ReadAll(m->Path(cg + (rng() % 2 ? "/tasks" : "/cgroup.procs")));
      auto pids = ParsePids(r.data);
      if (r.err || !std::is_sorted(pids.begin(), pids.end())) ++bad_reads;
      ++reads;
    }
  });
  for (auto& t : workers) t.join();
  EXPECT_EQ(bad_reads, 0);
  EXPECT_GT(moves, 0);
  EXPECT_GT(reads, 0);
  EXPECT_GT(dir_ops, 0);

  // Quiesce: each churner ends with its three permanent threads.
  for (pid_t p : churners) kill(p, SIGUSR1);
  for (pid_t p : churners) {
    for (int i = 0; i < 500 && Threads(p).size() != 3; ++i) usleep(10000);
    ASSERT_EQ(Threads(p).size(), 3u) << "churner " << p << " did not settle";
  }

  // Every churner thread is listed exactly once across the hierarchy.
  auto listings = [&] {
    std::map<pid_t, int> seen;
    for (const std::string& cg : {std::string(""), std::string("c0/"), std::string("c1/"), std::string("c2/"),
                                  std::string("c3/")})
      for (pid_t tid : ParsePids(ReadAll(m->Path(cg + "tasks")).data)) ++seen[tid];
    return seen;
  };
  auto seen = listings();
  for (pid_t p : churners)
    for (pid_t tid : Threads(p)) EXPECT_EQ(seen[tid], 1) << "thread " << tid << " of " << p;

  // A process moved through cgroup.procs has every thread with it.
  for (size_t i = 0; i < churners.size(); ++i) {
    const std::string cg = "c" + std::to_string(i % kCgroups);
    ASSERT_EQ(WriteStr(m->Path(cg + "/cgroup.procs"), std::to_string(churners[i])), 0);
    auto listed = ParsePids(ReadAll(m->Path(cg + "/tasks")).data);
    for (pid_t tid : Threads(churners[i])) EXPECT_TRUE(Contains(listed, tid)) << tid << " not in " << cg;
  }
  seen = listings();
  for (pid_t p : churners)
    for (pid_t tid : Threads(p)) EXPECT_EQ(seen[tid], 1) << "thread " << tid;

  // Once they are gone, every cgroup is empty and removable, and the engine
  // holds nothing: no css_set but the init one, no tracked task.
  for (pid_t p : churners) kill(p, SIGKILL);
  for (pid_t p : churners) waitpid(p, nullptr, 0);
  churners.clear();
  for (int i = 0; i < kCgroups; ++i) {
    const std::string cg = "c" + std::to_string(i);
    EXPECT_EQ(ReadAll(m->Path(cg + "/tasks")).data, "") << cg;
    rmdir(m->Path(cg + "/d").c_str());
    rmdir(m->Path(cg + "/e").c_str());
    EXPECT_EQ(Errno(rmdir(m->Path(cg).c_str())), 0) << cg;
  }
  EXPECT_EQ(Stats(m->dir()), "css_sets 1\ntracked_tasks 0\n");
  EXPECT_EQ(kill(m->daemon_pid(), 0), 0) << "the daemon died";
  EXPECT_TRUE(Stat(m->Path("tasks")).has_value()) << "the mount stopped answering";
}

TEST(KilledDaemon, TheMountAnswersEnotconnUntilUnmountedAndProcessesAreUnaffected) {
  ITEST_MOUNT_OR_SKIP(m, Backend::kEmulator, NamedOptions());
  ASSERT_EQ(mkdir(m->Path("a").c_str(), 0755), 0);
  auto child = SpawnSleeper(2);
  ASSERT_EQ(WriteStr(m->Path("a/cgroup.procs"), std::to_string(child->pid)), 0);
  ASSERT_EQ(kill(m->daemon_pid(), SIGKILL), 0);
  ASSERT_EQ(waitpid(m->daemon_pid(), nullptr, 0), m->daemon_pid());  // the mount stays behind it
  struct stat st;
  EXPECT_EQ(Errno(stat(m->Path("tasks").c_str(), &st)), ENOTCONN);
  EXPECT_EQ(ReadAll(m->Path("a/tasks")).err, ENOTCONN);
  // The processes it held run on, untouched.
  EXPECT_EQ(kill(child->pid, 0), 0);
  auto stat_line = ReadAll("/proc/" + std::to_string(child->pid) + "/stat").data;
  EXPECT_EQ(stat_line.substr(stat_line.rfind(')') + 2, 1), "S");
  EXPECT_EQ(Threads(child->pid).size(), 3u);
  // fusermount3 -u clears it.
  EXPECT_EQ(system(("fusermount3 -u " + m->dir() + " 2>/dev/null").c_str()), 0);
  EXPECT_FALSE(FindMount(m->dir()));
  child->Kill();
}

}  // namespace
}  // namespace itest
