// The memory controller (spec §8) on a real mount of the emulator (-o memory),
// with real processes that allocate memory on command; and the same scripts
// against the host's /sys/fs/cgroup/memory (zz-prefixed children this test
// creates and removes, and only processes it creates), compared line by line.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "mount_harness.h"

namespace itest {
namespace {

constexpr uint64_t kMiB = 1 << 20;
const char* const kKernelMemory = "/sys/fs/cgroup/memory";

// ---- a process that allocates memory on command ------------------------------------

void* HogThread(void*) {
  for (;;) pause();
  return nullptr;
}

class Hog {
 public:
  // A child (with extra_threads more threads) that maps and touches N MiB
  // of anonymous memory when told to. Killed and reaped on destruction.
  static std::unique_ptr<Hog> Spawn(int extra_threads = 0) {
    int cmd[2], ack[2];
    if (pipe2(cmd, O_CLOEXEC) != 0) return nullptr;
    if (pipe2(ack, O_CLOEXEC) != 0) return nullptr;
    const pid_t parent = getpid();
    const pid_t pid = fork();
    if (pid < 0) return nullptr;
    if (pid == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (getppid() != parent) _exit(1);
      close(cmd[1]);
      close(ack[0]);
      for (int i = 0; i < extra_threads; ++i) {
        pthread_t th;
        if (pthread_create(&th, nullptr, HogThread, nullptr) != 0) _exit(2);
      }
      static void* maps[64];
      static size_t sizes[64];
      int n = 0;
      for (;;) {
        char msg[5];
        size_t got = 0;
        while (got < sizeof msg) {
          const ssize_t r = read(cmd[0], msg + got, sizeof msg - got);
          if (r <= 0) _exit(0);
          got += static_cast<size_t>(r);
        }
        uint32_t mib;
        memcpy(&mib, msg + 1, 4);
        if (msg[0] == 'a' && n < 64) {
          const size_t size = static_cast<size_t>(mib) << 20;
          void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
          if (p == MAP_FAILED) _exit(3);
          memset(p, 0x5a, size);
          maps[n] = p;
          sizes[n++] = size;
        } else if (msg[0] == 'f') {
          for (int i = 0; i < n; ++i) munmap(maps[i], sizes[i]);
          n = 0;
        }
        if (write(ack[1], "k", 1) != 1) _exit(4);
      }
    }
    close(cmd[0]);
    close(ack[1]);
    auto h = std::unique_ptr<Hog>(new Hog());
    h->pid = pid;
    h->cmd_ = cmd[1];
    h->ack_ = ack[0];
    // Wait (bounded) until every thread exists.
    for (int i = 0; i < 500; ++i) {
      h->tids = Tids(pid);
      if (h->tids.size() == static_cast<size_t>(1 + extra_threads)) break;
      SleepMs(2);
    }
    return h;
  }
  ~Hog() {
    close(cmd_);
    close(ack_);
    Kill();
  }
  void Kill() {
    if (reaped_) return;
    kill(pid, SIGKILL);
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    reaped_ = true;
  }
  bool Alloc(uint32_t mib) { return Command('a', mib); }
  bool FreeAll() { return Command('f', 0); }
  // The wait status once it died (bounded wait), or -1.
  int WaitDeath(int timeout_ms) {
    for (int waited = 0; waited <= timeout_ms; waited += 10) {
      int st;
      const pid_t r = waitpid(pid, &st, WNOHANG);
      if (r == pid) {
        reaped_ = true;
        return st;
      }
      SleepMs(10);
    }
    return -1;
  }
  static std::vector<pid_t> Tids(pid_t pid) {
    std::vector<pid_t> out;
    for (const std::string& n : ListDirSorted("/proc/" + std::to_string(pid) + "/task")) out.push_back(std::stoi(n));
    std::sort(out.begin(), out.end());
    return out;
  }

  pid_t pid = -1;
  std::vector<pid_t> tids;

 private:
  Hog() = default;
  bool Command(char c, uint32_t mib) {
    char msg[5] = {c};
    memcpy(msg + 1, &mib, 4);
    if (write(cmd_, msg, sizeof msg) != sizeof msg) return false;
    pollfd p{ack_, POLLIN, 0};
    if (poll(&p, 1, 20000) != 1) return false;
    char k;
    return read(ack_, &k, 1) == 1;
  }
  int cmd_ = -1, ack_ = -1;
  bool reaped_ = false;
};

uint64_t Num(const std::string& path) {
  ReadResult r = ReadAll(path);
  if (r.err || r.data.empty()) return UINT64_MAX;
  return std::stoull(r.data);
}

std::string ModeOct(mode_t m) {
  char b[8];
  snprintf(b, sizeof b, "%04o", static_cast<unsigned>(m & 07777));
  return b;
}

// "name mode" of the regular files of a directory, sorted; the vendor-only
// memory.shown_ram_in_bytes left out.
std::vector<std::string> FilesWithModes(const std::string& dir) {
  std::vector<std::string> out;
  for (const std::string& n : ListDirSorted(dir)) {
    if (n == "memory.shown_ram_in_bytes") continue;
    auto st = Lstat(dir + "/" + n);
    if (!st || !S_ISREG(st->st_mode)) continue;
    out.push_back(n + " " + ModeOct(st->st_mode));
  }
  return out;
}

bool Readable(int fd, int timeout_ms) {
  pollfd p{fd, POLLIN, 0};
  return poll(&p, 1, timeout_ms) == 1;
}

// Moves a process's threads back to the root and removes the directories
// (deepest first). For the kernel's hierarchy: only what the test made.
void Cleanup(const std::string& base, const std::vector<std::string>& dirs, const std::vector<pid_t>& pids) {
  for (pid_t p : pids) WriteStr(base + "/cgroup.procs", std::to_string(p));
  for (auto it = dirs.rbegin(); it != dirs.rend(); ++it)
    for (int i = 0; i < 200 && rmdir((base + "/" + *it).c_str()) != 0 && errno == EBUSY; ++i) SleepMs(5);
}

std::unique_ptr<CgroupMount> MountEmulator(const std::string& options, std::string* skip, std::string* error) {
  EmulatorConfig config;
  config.options = options;
  return CgroupMount::MakeEmulator(config, skip, error);
}

#define MOUNT_EMULATOR_OR_SKIP(var, options)                    \
  std::unique_ptr<CgroupMount> var;                            \
  do {                                                         \
    std::string skip_, err_;                                   \
    var = MountEmulator((options), &skip_, &err_);             \
    if (!var) {                                                \
      if (!skip_.empty()) GTEST_SKIP() << skip_;               \
      FAIL() << err_;                                          \
    }                                                          \
  } while (0)

// ---- emulator ----------------------------------------------------------------------------

TEST(MemoryEmulator, FilesAndModesAtTheRootAndInAChild) {
  MOUNT_EMULATOR_OR_SKIP(m, "memory");
  ASSERT_EQ(mkdir(m->Path("a").c_str(), 0755), 0);
  const std::vector<std::string> child = FilesWithModes(m->Path("a"));
  const std::vector<std::string> expected_child = {
      "cgroup.clone_children 0644", "cgroup.event_control 0200", "cgroup.procs 0644",
      "memory.failcnt 0644", "memory.force_empty 0200", "memory.kmem.failcnt 0644",
      "memory.kmem.limit_in_bytes 0644", "memory.kmem.max_usage_in_bytes 0644", "memory.kmem.slabinfo 0444",
      "memory.kmem.tcp.failcnt 0644", "memory.kmem.tcp.limit_in_bytes 0644",
      "memory.kmem.tcp.max_usage_in_bytes 0644", "memory.kmem.tcp.usage_in_bytes 0444",
      "memory.kmem.usage_in_bytes 0444", "memory.limit_in_bytes 0644", "memory.max_usage_in_bytes 0644",
      "memory.memsw.failcnt 0644", "memory.memsw.limit_in_bytes 0644", "memory.memsw.max_usage_in_bytes 0644",
      "memory.memsw.usage_in_bytes 0444", "memory.move_charge_at_immigrate 0644", "memory.numa_stat 0444",
      "memory.oom_control 0644", "memory.pressure_level 0444", "memory.soft_limit_in_bytes 0644",
      "memory.stat 0444", "memory.swappiness 0644", "memory.usage_in_bytes 0444", "memory.use_hierarchy 0644",
      "notify_on_release 0644", "tasks 0644"};
  std::vector<std::string> got = child;
  // memsw.* only with swap accounting: as a v1 memory hierarchy on this
  // host shows it, else as CONFIG_SWAP (/proc/swaps) says.
  const std::string host_v1 = std::string(kKernelMemory) + "/memory.usage_in_bytes";
  const bool memsw = access(host_v1.c_str(), F_OK) == 0
                         ? access((std::string(kKernelMemory) + "/memory.memsw.usage_in_bytes").c_str(), F_OK) == 0
                         : access("/proc/swaps", F_OK) == 0;
  if (!memsw) {
    std::vector<std::string> without;
    for (auto& f : expected_child)
      if (f.find("memsw") == std::string::npos) without.push_back(f);
    EXPECT_EQ(got, without);
  } else {
    EXPECT_EQ(got, expected_child);
  }
  std::vector<std::string> root = FilesWithModes(m->dir());
  std::vector<std::string> root_expected = child;
  root_expected.push_back("cgroup.sane_behavior 0444");
  root_expected.push_back("release_agent 0644");
  std::sort(root_expected.begin(), root_expected.end());
  EXPECT_EQ(root, root_expected);
  EXPECT_EQ(rmdir(m->Path("a").c_str()), 0);
}

TEST(MemoryEmulator, UsageGrowsWhenAMemberAllocatesAndFollowsTheLedger) {
  MOUNT_EMULATOR_OR_SKIP(m, "memory");
  ASSERT_EQ(mkdir(m->Path("a").c_str(), 0755), 0);
  ASSERT_EQ(mkdir(m->Path("a/b").c_str(), 0755), 0);
  auto hog = Hog::Spawn();
  ASSERT_TRUE(hog);
  ASSERT_EQ(ErrName(WriteStr(m->Path("a/b/cgroup.procs"), std::to_string(hog->pid))), "OK");
  // What it had before the move stays where it was made.
  EXPECT_LT(Num(m->Path("a/b/memory.usage_in_bytes")), 4 * kMiB);
  ASSERT_TRUE(hog->Alloc(64));
  const uint64_t usage = Num(m->Path("a/b/memory.usage_in_bytes"));
  EXPECT_GE(usage, 64 * kMiB);
  EXPECT_LT(usage, 80 * kMiB);
  EXPECT_GE(Num(m->Path("a/memory.usage_in_bytes")), usage);  // parents include children
  EXPECT_GE(Num(m->Path("a/b/memory.memsw.usage_in_bytes")), usage);
  EXPECT_GE(Num(m->Path("a/b/memory.max_usage_in_bytes")), 64 * kMiB);
  EXPECT_GE(Num(m->Path("memory.max_usage_in_bytes")), 64 * kMiB);  // the root's counter
  const std::string stat = ReadAll(m->Path("a/b/memory.stat")).data;
  const size_t rss = stat.find("\nrss ");
  ASSERT_NE(rss, std::string::npos);
  EXPECT_GE(std::stoull(stat.substr(rss + 5)), 64 * kMiB);
  // Moving on without move_charge_at_immigrate: the charge stays in b.
  ASSERT_EQ(mkdir(m->Path("c").c_str(), 0755), 0);
  ASSERT_EQ(ErrName(WriteStr(m->Path("c/cgroup.procs"), std::to_string(hog->pid))), "OK");
  EXPECT_GE(Num(m->Path("a/b/memory.usage_in_bytes")), 64 * kMiB);
  EXPECT_LT(Num(m->Path("c/memory.usage_in_bytes")), 4 * kMiB);
  // Freeing uncharges; the watermark stays.
  ASSERT_TRUE(hog->FreeAll());
  EXPECT_LT(Num(m->Path("a/b/memory.usage_in_bytes")), 4 * kMiB);
  EXPECT_GE(Num(m->Path("a/b/memory.max_usage_in_bytes")), 64 * kMiB);
  ASSERT_EQ(WriteStr(m->Path("a/b/memory.max_usage_in_bytes"), "0"), 0);
  EXPECT_LT(Num(m->Path("a/b/memory.max_usage_in_bytes")), 4 * kMiB);
  // An exit uncharges everything.
  ASSERT_TRUE(hog->Alloc(16));
  EXPECT_GE(Num(m->Path("c/memory.usage_in_bytes")), 16 * kMiB);
  hog->Kill();
  EXPECT_EQ(Num(m->Path("c/memory.usage_in_bytes")), 0u);
  EXPECT_EQ(Num(m->Path("a/memory.usage_in_bytes")), 0u);
  EXPECT_EQ(rmdir(m->Path("c").c_str()), 0);
  EXPECT_EQ(rmdir(m->Path("a/b").c_str()), 0);
  EXPECT_EQ(rmdir(m->Path("a").c_str()), 0);
}

TEST(MemoryEmulator, LimitBelowUsageIsEbusy) {
  MOUNT_EMULATOR_OR_SKIP(m, "memory");
  ASSERT_EQ(mkdir(m->Path("a").c_str(), 0755), 0);
  auto hog = Hog::Spawn();
  ASSERT_TRUE(hog);
  ASSERT_EQ(WriteStr(m->Path("a/cgroup.procs"), std::to_string(hog->pid)), 0);
  ASSERT_TRUE(hog->Alloc(32));
  EXPECT_EQ(ErrName(WriteStr(m->Path("a/memory.limit_in_bytes"), "16M")), "EBUSY");
  EXPECT_EQ(ReadAll(m->Path("a/memory.limit_in_bytes")).data, "9223372036854771712\n");
  EXPECT_EQ(ErrName(WriteStr(m->Path("a/memory.limit_in_bytes"), "64M")), "OK");
  hog->Kill();
  EXPECT_EQ(rmdir(m->Path("a").c_str()), 0);
}

TEST(MemoryEmulator, MoveChargeThatDoesNotFitFailsAndLeavesEverythingAsItWas) {
  MOUNT_EMULATOR_OR_SKIP(m, "memory");
  ASSERT_EQ(mkdir(m->Path("a").c_str(), 0755), 0);
  ASSERT_EQ(mkdir(m->Path("b").c_str(), 0755), 0);
  auto hog = Hog::Spawn(2);
  ASSERT_TRUE(hog);
  ASSERT_EQ(hog->tids.size(), 3u);
  ASSERT_EQ(WriteStr(m->Path("a/cgroup.procs"), std::to_string(hog->pid)), 0);
  ASSERT_TRUE(hog->Alloc(64));
  ASSERT_EQ(WriteStr(m->Path("b/memory.limit_in_bytes"), "32M"), 0);
  ASSERT_EQ(WriteStr(m->Path("b/memory.move_charge_at_immigrate"), "1"), 0);
  EXPECT_EQ(ReadAll(m->Path("b/memory.move_charge_at_immigrate")).data, "1\n");

  const std::string tasks_a = ReadAll(m->Path("a/tasks")).data;
  const uint64_t usage_a = Num(m->Path("a/memory.usage_in_bytes"));
  ASSERT_GE(usage_a, 64 * kMiB);
  EXPECT_EQ(ErrName(WriteStr(m->Path("b/cgroup.procs"), std::to_string(hog->pid))), "ENOMEM");
  EXPECT_EQ(ErrName(WriteStr(m->Path("b/tasks"), std::to_string(hog->pid))), "ENOMEM");  // the leader alone
  // Both cgroups and every thread as they were.
  EXPECT_EQ(ReadAll(m->Path("a/tasks")).data, tasks_a);
  EXPECT_EQ(ParsePids(ReadAll(m->Path("a/tasks")).data), hog->tids);
  EXPECT_EQ(ReadAll(m->Path("b/tasks")).data, "");
  EXPECT_EQ(ReadAll(m->Path("b/cgroup.procs")).data, "");
  EXPECT_EQ(Num(m->Path("a/memory.usage_in_bytes")), usage_a);
  EXPECT_EQ(Num(m->Path("b/memory.usage_in_bytes")), 0u);
  EXPECT_EQ(Num(m->Path("b/memory.max_usage_in_bytes")), 0u);
  EXPECT_GE(Num(m->Path("b/memory.failcnt")), 1u);
  // With room, the charge goes with the task.
  ASSERT_EQ(WriteStr(m->Path("b/memory.limit_in_bytes"), "128M"), 0);
  ASSERT_EQ(ErrName(WriteStr(m->Path("b/cgroup.procs"), std::to_string(hog->pid))), "OK");
  EXPECT_EQ(ParsePids(ReadAll(m->Path("b/tasks")).data), hog->tids);
  EXPECT_GE(Num(m->Path("b/memory.usage_in_bytes")), 64 * kMiB);
  EXPECT_LT(Num(m->Path("a/memory.usage_in_bytes")), usage_a - 60 * kMiB);
  hog->Kill();
  EXPECT_EQ(rmdir(m->Path("a").c_str()), 0);
  EXPECT_EQ(rmdir(m->Path("b").c_str()), 0);
}

TEST(MemoryEmulator, OomKillSettingKillsTheLargestMemberOverTheLimit) {
  MOUNT_EMULATOR_OR_SKIP(m, "memory,memory.oom_kill");
  ASSERT_EQ(mkdir(m->Path("a").c_str(), 0755), 0);
  ASSERT_EQ(WriteStr(m->Path("a/memory.limit_in_bytes"), "80M"), 0);
  auto big = Hog::Spawn(), small = Hog::Spawn();
  ASSERT_TRUE(big && small);
  ASSERT_EQ(WriteStr(m->Path("a/cgroup.procs"), std::to_string(big->pid)), 0);
  ASSERT_EQ(WriteStr(m->Path("a/cgroup.procs"), std::to_string(small->pid)), 0);
  ASSERT_TRUE(big->Alloc(48));
  EXPECT_EQ(ReadAll(m->Path("a/memory.oom_control")).data, "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n");
  ASSERT_TRUE(small->Alloc(40));
  // The next sample (this read) finds a over its limit.
  Num(m->Path("a/memory.usage_in_bytes"));
  const int st = big->WaitDeath(5000);
  ASSERT_NE(st, -1) << "the largest member was not killed";
  EXPECT_TRUE(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
  EXPECT_EQ(small->WaitDeath(0), -1);  // the smaller one lives
  EXPECT_NE(ReadAll(m->Path("a/memory.oom_control")).data.find("oom_kill 1\n"), std::string::npos);
  EXPECT_GE(Num(m->Path("a/memory.failcnt")), 1u);
  // Bounded polling: the victim's memory leaves a's usage.
  uint64_t usage = UINT64_MAX;
  for (int i = 0; i < 200 && (usage = Num(m->Path("a/memory.usage_in_bytes"))) > 80 * kMiB; ++i) SleepMs(10);
  EXPECT_LE(usage, 80 * kMiB);
  EXPECT_EQ(ReadAll(m->Path("a/memory.oom_control")).data, "oom_kill_disable 0\nunder_oom 0\noom_kill 1\n");
  EXPECT_NE(m->DaemonLog().find("Killed process " + std::to_string(big->pid)), std::string::npos) << m->DaemonLog();
  // oom_kill_disable: over the limit, nobody is killed.
  ASSERT_EQ(WriteStr(m->Path("a/memory.oom_control"), "1"), 0);
  ASSERT_TRUE(small->Alloc(48));
  EXPECT_EQ(ReadAll(m->Path("a/memory.oom_control")).data, "oom_kill_disable 1\nunder_oom 1\noom_kill 1\n");
  EXPECT_EQ(small->WaitDeath(0), -1);
  small->Kill();
  EXPECT_EQ(rmdir(m->Path("a").c_str()), 0);
}

TEST(MemoryEmulator, EventControlNotifiesThroughTheWritersEventfd) {
  MOUNT_EMULATOR_OR_SKIP(m, "memory");
  ASSERT_EQ(mkdir(m->Path("a").c_str(), 0755), 0);
  const int threshold = eventfd(0, EFD_CLOEXEC), oom = eventfd(0, EFD_CLOEXEC);
  const int usage_fd = open(m->Path("a/memory.usage_in_bytes").c_str(), O_RDONLY | O_CLOEXEC);
  const int oom_fd = open(m->Path("a/memory.oom_control").c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(threshold, 0);
  ASSERT_GE(usage_fd, 0);
  ASSERT_GE(oom_fd, 0);
  const std::string ec = m->Path("a/cgroup.event_control");
  ASSERT_EQ(ErrName(WriteStr(ec, std::to_string(threshold) + " " + std::to_string(usage_fd) + " 32M")), "OK");
  ASSERT_EQ(ErrName(WriteStr(ec, std::to_string(oom) + " " + std::to_string(oom_fd))), "OK");
  auto hog = Hog::Spawn();
  ASSERT_TRUE(hog);
  ASSERT_EQ(WriteStr(m->Path("a/cgroup.procs"), std::to_string(hog->pid)), 0);
  EXPECT_FALSE(Readable(threshold, 0));
  ASSERT_TRUE(hog->Alloc(48));
  Num(m->Path("a/memory.usage_in_bytes"));  // a sample
  EXPECT_TRUE(Readable(threshold, 2000));
  uint64_t count = 0;
  ASSERT_EQ(read(threshold, &count, sizeof count), 8);
  EXPECT_EQ(count, 1u);
  EXPECT_FALSE(Readable(oom, 0));
  hog->Kill();
  ASSERT_EQ(rmdir(m->Path("a").c_str()), 0);
  // Removal signals every registration ("the event is going away").
  EXPECT_TRUE(Readable(oom, 2000));
  EXPECT_TRUE(Readable(threshold, 2000));
  for (int fd : {threshold, oom, usage_fd, oom_fd}) close(fd);
}

// ---- kernel-differential ---------------------------------------------------------------

// The root reports the host's global numbers (NR_FILE_PAGES + NR_ANON_MAPPED),
// as the kernel's root does: both read the same moving target, so they only
// have to be close.
TEST(MemoryKernelDiff, RootUsageIsTheHosts) {
  MOUNT_EMULATOR_OR_SKIP(m, "memory");
  const std::string why = KernelHierarchyUnavailable(kKernelMemory, "memory");
  if (!why.empty()) GTEST_SKIP() << why;
  const double emu = static_cast<double>(Num(m->Path("memory.usage_in_bytes")));
  const double kern = static_cast<double>(Num(std::string(kKernelMemory) + "/memory.usage_in_bytes"));
  EXPECT_NEAR(emu, kern, kern * 0.1);
}

// One run of a script against a memory hierarchy at `base`; every step
// appends a line.
struct MemRun {
  std::string base;
  std::vector<std::string> lines;

  std::string P(const std::string& rel) const { return rel.empty() ? base : base + "/" + rel; }
  // shown: what the transcript shows for data (pids differ between runs).
  void W(const std::string& rel, const std::string& data, const std::string& shown = "") {
    lines.push_back("W " + rel + " <" + (shown.empty() ? data : shown) + "> " + ErrName(WriteStr(P(rel), data)));
  }
  void R(const std::string& rel) {
    ReadResult r = ReadAll(P(rel));
    lines.push_back("R " + rel + " " + (r.err ? ErrName(r.err) : "<" + r.data + ">"));
  }
  void WR(const std::string& rel, const std::string& data) {
    W(rel, data);
    R(rel);
  }
  // A number bucketed against thresholds (bytes), for real usages.
  void Usage(const std::string& rel, std::initializer_list<uint64_t> bounds) {
    const uint64_t v = Num(P(rel));
    std::string bucket = "<" + std::to_string(*bounds.begin() / kMiB) + "M";
    for (uint64_t b : bounds)
      if (v >= b) bucket = ">=" + std::to_string(b / kMiB) + "M";
    lines.push_back("U " + rel + " " + bucket);
  }
  void Note(const std::string& s) { lines.push_back(s); }
};

using Script = std::function<void(MemRun&, const std::string& a, const std::string& b)>;

// Runs the script on the emulator and on the host's hierarchy with the same
// child names, and compares.
void Differential(const Script& script) {
  static int counter = 0;
  const std::string tag = "zz_memtest_" + std::to_string(getpid()) + "_" + std::to_string(++counter);
  const std::string a = tag + "_a", b = tag + "_b";

  std::string skip, err;
  auto m = MountEmulator("memory", &skip, &err);
  if (!m) {
    if (!skip.empty()) GTEST_SKIP() << skip;
    FAIL() << err;
  }
  const std::string why = KernelHierarchyUnavailable(kKernelMemory, "memory");
  if (!why.empty()) GTEST_SKIP() << why;

  MemRun emu{m->dir(), {}}, kern{kKernelMemory, {}};
  script(emu, a, b);
  m->Stop();
  script(kern, a, b);
  // ITEST_DUMP_TRANSCRIPT=1 prints the kernel's transcript (to review a script).
  if (const char* dump = getenv("ITEST_DUMP_TRANSCRIPT"); dump && *dump)
    for (const std::string& l : kern.lines) printf("%s\n", l.c_str());
  ASSERT_EQ(emu.lines.size(), kern.lines.size());
  for (size_t i = 0; i < emu.lines.size(); ++i) {
    std::string e = emu.lines[i], k = kern.lines[i];
    // Child names are the same on both sides; strip them for readability.
    EXPECT_EQ(e, k) << "step " << i;
  }
}

TEST(MemoryKernelDiff, FilesModesParsingAndRounding) {
  Differential([](MemRun& r, const std::string& a, const std::string& b) {
    ASSERT_EQ(mkdir(r.P(a).c_str(), 0755), 0);
    for (const std::string& f : FilesWithModes(r.P(a))) r.Note("child " + f);
    for (const std::string& f : FilesWithModes(r.base)) r.Note("root " + f);
    // Fresh values.
    for (const char* f : {"memory.usage_in_bytes", "memory.max_usage_in_bytes", "memory.limit_in_bytes",
                          "memory.soft_limit_in_bytes", "memory.failcnt", "memory.memsw.usage_in_bytes",
                          "memory.memsw.limit_in_bytes", "memory.kmem.limit_in_bytes", "memory.kmem.usage_in_bytes",
                          "memory.kmem.tcp.limit_in_bytes", "memory.use_hierarchy", "memory.swappiness",
                          "memory.move_charge_at_immigrate", "memory.oom_control", "memory.stat",
                          "memory.numa_stat", "memory.kmem.slabinfo", "memory.pressure_level", "memory.force_empty",
                          "cgroup.event_control"})
      r.R(a + "/" + f);
    // Root: the keys of memory.stat in order, and what is refused.
    std::string keys;
    std::istringstream stat(ReadAll(r.P("memory.stat")).data);
    std::string line;
    while (std::getline(stat, line)) keys += line.substr(0, line.find(' ')) + ",";
    r.Note("root stat keys " + keys);
    r.R("memory.limit_in_bytes");
    r.R("memory.use_hierarchy");
    for (const char* f : {"memory.limit_in_bytes", "memory.memsw.limit_in_bytes", "memory.kmem.limit_in_bytes",
                          "memory.kmem.tcp.limit_in_bytes"}) {
      r.W(f, "1M");
      r.W(f, "junk");
    }
    r.W("memory.force_empty", "1");
    r.W("memory.oom_control", "0");
    r.W("memory.oom_control", "1");
    r.W("memory.use_hierarchy", "1");
    r.W("memory.use_hierarchy", "0");

    // limit_in_bytes: memparse, rounding, overflow, errors.
    for (const char* in : {"4095", "4096", "4097\n", "1k", "8k", "1M", "  1m \n", "0x2000", "020000", "-1", "8E",
                           "16E", "9999999999999999999999", "", "\n", "1.5G", "1GB", "max", "-2", "+5", "0x", "1 2",
                           "1G"})
      r.WR(a + "/memory.limit_in_bytes", in);
    // memory <= memsw.
    r.WR(a + "/memory.limit_in_bytes", "1M");
    r.WR(a + "/memory.memsw.limit_in_bytes", "512k");
    r.WR(a + "/memory.memsw.limit_in_bytes", "2M");
    r.WR(a + "/memory.limit_in_bytes", "3M");
    r.WR(a + "/memory.limit_in_bytes", "-1");
    r.WR(a + "/memory.memsw.limit_in_bytes", "-1");
    r.WR(a + "/memory.limit_in_bytes", "-1");
    r.R(a + "/memory.stat");
    // Soft, kmem and tcp limits.
    for (const char* in : {"1M", "-1", "x", "5000"}) r.WR(a + "/memory.soft_limit_in_bytes", in);
    r.WR(a + "/memory.kmem.limit_in_bytes", "1M");
    r.WR(a + "/memory.kmem.limit_in_bytes", "x");
    r.WR(a + "/memory.kmem.tcp.limit_in_bytes", "1M");
    // u64 files.
    for (const char* in : {"0", "2", "1", "1\n", " 1", "01"}) r.W(a + "/memory.use_hierarchy", in);
    for (const char* in : {"201", "-1", " 5", "99999999999999999999", "200", "0x10\n"})
      r.WR(a + "/memory.swappiness", in);
    r.WR(a + "/memory.move_charge_at_immigrate", "0");
    for (const char* in : {"2", "-1", "1"}) r.WR(a + "/memory.oom_control", in);
    // Inherited at mkdir: swappiness and oom_kill_disable.
    ASSERT_EQ(mkdir(r.P(a + "/sub").c_str(), 0755), 0);
    r.R(a + "/sub/memory.swappiness");
    r.R(a + "/sub/memory.oom_control");
    r.R(a + "/sub/memory.move_charge_at_immigrate");
    r.WR(a + "/memory.oom_control", "0");
    // Writes that reset.
    for (const char* f : {"memory.max_usage_in_bytes", "memory.failcnt", "memory.kmem.failcnt",
                          "memory.kmem.max_usage_in_bytes", "memory.memsw.failcnt", "memory.memsw.max_usage_in_bytes",
                          "memory.kmem.tcp.failcnt", "memory.kmem.tcp.max_usage_in_bytes"})
      r.W(a + "/" + f, "garbage");
    r.W(a + "/memory.force_empty", "1");
    r.W(a + "/memory.usage_in_bytes", "1");
    Cleanup(r.base, {a, a + "/sub"}, {});
    (void)b;
  });
}

TEST(MemoryKernelDiff, ChargesStayWhereTheyWereMadeAndLimits) {
  Differential([](MemRun& r, const std::string& a, const std::string& b) {
    ASSERT_EQ(mkdir(r.P(a).c_str(), 0755), 0);
    ASSERT_EQ(mkdir(r.P(b).c_str(), 0755), 0);
    auto hog = Hog::Spawn(1);
    ASSERT_TRUE(hog);
    const std::string pid = std::to_string(hog->pid);
    r.W(a + "/cgroup.procs", pid, "hog");
    r.Usage(a + "/memory.usage_in_bytes", {8 * kMiB, 64 * kMiB});
    ASSERT_TRUE(hog->Alloc(64));
    r.Usage(a + "/memory.usage_in_bytes", {8 * kMiB, 64 * kMiB});
    r.Usage(a + "/memory.max_usage_in_bytes", {8 * kMiB, 64 * kMiB});
    r.W(a + "/memory.limit_in_bytes", "32M");  // below the usage: EBUSY
    r.R(a + "/memory.limit_in_bytes");
    r.W(a + "/memory.limit_in_bytes", "256M");
    r.W(a + "/memory.move_charge_at_immigrate", "0");
    r.W(b + "/cgroup.procs", pid, "hog");
    // Spec §8.2: the old cgroup keeps the charge; the new one starts at 0.
    r.Usage(a + "/memory.usage_in_bytes", {8 * kMiB, 64 * kMiB});
    r.Usage(b + "/memory.usage_in_bytes", {8 * kMiB, 64 * kMiB});
    ASSERT_TRUE(hog->Alloc(32));
    r.Usage(b + "/memory.usage_in_bytes", {8 * kMiB, 32 * kMiB, 64 * kMiB});
    ASSERT_TRUE(hog->FreeAll());
    r.Usage(a + "/memory.usage_in_bytes", {8 * kMiB, 64 * kMiB});
    r.Usage(b + "/memory.usage_in_bytes", {8 * kMiB, 32 * kMiB});
    r.Usage(b + "/memory.max_usage_in_bytes", {8 * kMiB, 32 * kMiB});
    Cleanup(r.base, {a, b}, {hog->pid});
  });
}

TEST(MemoryKernelDiff, EventControlErrnosAndNotifications) {
  Differential([](MemRun& r, const std::string& a, const std::string& b) {
    ASSERT_EQ(mkdir(r.P(a).c_str(), 0755), 0);
    ASSERT_EQ(mkdir(r.P(b).c_str(), 0755), 0);
    const int efd = eventfd(0, EFD_CLOEXEC), oom_efd = eventfd(0, EFD_CLOEXEC);
    int pipefd[2];
    ASSERT_EQ(pipe2(pipefd, O_CLOEXEC), 0);
    std::map<std::string, int> fds;
    for (const char* f : {"memory.usage_in_bytes", "memory.stat", "memory.oom_control", "memory.pressure_level"})
      fds[f] = open(r.P(a + "/" + f).c_str(), O_RDONLY | O_CLOEXEC);
    fds["b.oom_control"] = open(r.P(b + "/memory.oom_control").c_str(), O_RDONLY | O_CLOEXEC);
    fds["force_empty"] = open(r.P(a + "/memory.force_empty").c_str(), O_WRONLY | O_CLOEXEC);
    for (auto& [name, fd] : fds) ASSERT_GE(fd, 0) << name;
    const std::string e = std::to_string(efd), ec = a + "/cgroup.event_control";
    auto f = [&](const char* name) { return std::to_string(fds[name]); };
    auto step = [&](const std::string& label, const std::string& data) {
      r.lines.push_back("EC " + label + " " + ErrName(WriteStr(r.P(ec), data)));
    };
    step("empty", "");
    step("one number", e);
    step("letters", "x " + f("memory.oom_control"));
    step("comma", e + "," + f("memory.oom_control"));
    step("trailing junk", e + " " + f("memory.oom_control") + "x");
    step("bad efd", "99999 " + f("memory.oom_control"));
    step("pipe as efd", std::to_string(pipefd[0]) + " " + f("memory.oom_control"));
    step("bad cfd", e + " 99999");
    step("stat", e + " " + f("memory.stat"));
    step("other cgroup", e + " " + f("b.oom_control"));
    step("force_empty", e + " " + f("force_empty"));
    step("usage junk", e + " " + f("memory.usage_in_bytes") + " junk");
    step("pressure no level", e + " " + f("memory.pressure_level"));
    step("pressure bad mode", e + " " + f("memory.pressure_level") + " low,bogus");
    step("pressure", e + " " + f("memory.pressure_level") + " critical,hierarchy");
    step("oom", std::to_string(oom_efd) + " " + f("memory.oom_control"));
    step("usage", "  " + e + " " + f("memory.usage_in_bytes") + " 16M\n");
    // A threshold crossed by a member's allocation.
    auto hog = Hog::Spawn();
    ASSERT_TRUE(hog);
    r.W(a + "/cgroup.procs", std::to_string(hog->pid), "hog");
    ASSERT_TRUE(hog->Alloc(32));
    Num(r.P(a + "/memory.usage_in_bytes"));
    r.Note(std::string("threshold signalled ") + (Readable(efd, 2000) ? "yes" : "no"));
    r.Note(std::string("oom signalled ") + (Readable(oom_efd, 0) ? "yes" : "no"));
    Cleanup(r.base, {}, {hog->pid});
    hog->Kill();
    for (auto& [name, fd] : fds) close(fd);
    r.Note(std::string("rmdir ") + ErrName(Errno(rmdir(r.P(a).c_str()))));
    r.Note(std::string("oom signalled at removal ") + (Readable(oom_efd, 2000) ? "yes" : "no"));
    Cleanup(r.base, {a, b}, {});
    for (int fd : {efd, oom_efd, pipefd[0], pipefd[1]}) close(fd);
  });
}

}  // namespace
}  // namespace itest
