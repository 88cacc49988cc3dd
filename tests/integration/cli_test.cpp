// The emulator's command line: refused option combinations (with the kernel's
// messages), a missing mount point, SIGTERM/SIGINT shutdown, the default
// layout, and a few accepted option sets.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "mount_harness.h"

namespace itest {
namespace {

struct EmuRun {
  bool exited = false;  // within the time limit
  int status = 0;       // wait status
  bool mounted = false;  // the mount point showed up (it should not have)
  std::string output;   // stderr + stdout
};

// Runs the emulator with `args` (after argv[0]) and waits up to 5 s for it to
// exit. If it is still running (or mounted something), it is stopped and the
// mount point cleaned up.
EmuRun RunEmulator(const std::vector<std::string>& args, const std::string& mountpoint) {
  EmuRun r;
  char logt[] = "/tmp/cgemu_itest_cli_XXXXXX";
  int logfd = mkstemp(logt);
  if (logfd < 0) return r;
  std::vector<std::string> all = {CGROUPFS_EMU_BIN};
  all.insert(all.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : all) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent) _exit(126);
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0) dup2(devnull, 0);
    dup2(logfd, 1);
    dup2(logfd, 2);
    close_range(3, ~0u, 0);
    execv(argv[0], argv.data());
    dprintf(2, "itest: execv failed: %s\n", strerror(errno));
    _exit(127);
  }
  close(logfd);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (std::chrono::steady_clock::now() < deadline) {
    if (!mountpoint.empty() && FindMount(mountpoint)) r.mounted = true;
    int st;
    if (waitpid(pid, &st, WNOHANG) == pid) {
      r.exited = true;
      r.status = st;
      break;
    }
    SleepMs(10);
  }
  if (!r.exited) {
    kill(pid, SIGTERM);
    for (int i = 0; i < 300; ++i) {
      int st;
      if (waitpid(pid, &st, WNOHANG) == pid) {
        pid = -1;
        break;
      }
      SleepMs(10);
    }
    if (pid > 0) {
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
    }
  }
  if (!mountpoint.empty() && FindMount(mountpoint)) {
    r.mounted = true;
    std::string cmd = "fusermount3 -u -z '" + mountpoint + "' >/dev/null 2>&1";
    if (system(cmd.c_str()) != 0) umount2(mountpoint.c_str(), MNT_DETACH);
  }
  std::ifstream f(logt);
  std::stringstream ss;
  ss << f.rdbuf();
  r.output = ss.str();
  unlink(logt);
  return r;
}

struct TempDir {
  TempDir() {
    char t[] = "/tmp/cgemu_itest_clidir_XXXXXX";
    if (mkdtemp(t)) path = t;
  }
  ~TempDir() {
    if (!path.empty()) rmdir(path.c_str());
  }
  std::string path;
};

#define SKIP_WITHOUT_FUSE()                                          \
  do {                                                               \
    std::string why_ = EmulatorUnavailableReason();                  \
    if (!why_.empty()) GTEST_SKIP() << "emulator backend unavailable: " << why_; \
  } while (0)

struct BadCombo {
  const char* options;
  const char* message;
};
const BadCombo kBadCombos[] = {
    {"none,cpu", "none used incorrectly"},
    {"none,name=zz_itest_x,cpu", "none used incorrectly"},
    {"noprefix,cpu", "noprefix used incorrectly"},
    {"noprefix,cpuset,memory", "noprefix used incorrectly"},
    {"name=zz_itest_a,name=zz_itest_b", "name respecified"},
    {"none,name=bad!name", "Invalid name"},
    {"none,name=bad name", "Invalid name"},
    {"none,name=", "Bad value for 'name'"},
    {"none,name=n234567890123456789012345678901234567890123456789012345678901234",
     "Name too long"},  // 64 characters (the limit is 63)
    {"foo", "Unknown subsys name 'foo'"},
    {"cpu,foo", "Unknown subsys name 'foo'"},
    {"all,cpu", "subsys name conflicts with all"},
    {"none", "Need name or subsystem set"},
    {"none,name=zz_itest_r,release_agent=/a,release_agent=/b", "release_agent respecified"},
};

TEST(Cli, RefusedOptionCombinationsExitNonZeroWithKernelMessage) {
  SKIP_WITHOUT_FUSE();
  for (const auto& c : kBadCombos) {
    TempDir dir;
    ASSERT_FALSE(dir.path.empty());
    EmuRun r = RunEmulator({"-f", "-o", c.options, dir.path}, dir.path);
    EXPECT_TRUE(r.exited) << c.options << ": still running after 5 s";
    EXPECT_FALSE(r.mounted) << c.options << ": mounted";
    if (r.exited) {
      EXPECT_TRUE(WIFEXITED(r.status) && WEXITSTATUS(r.status) != 0)
          << c.options << ": wait status " << r.status;
    }
    EXPECT_NE(r.output.find(c.message), std::string::npos)
        << c.options << ": stderr lacks \"" << c.message << "\": " << r.output;
  }
}

// Kernel log records written after `fd` was positioned at the end.
std::string ReadNewKmsg(int fd) {
  std::string out;
  char buf[8192];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EPIPE) continue;  // overwritten records: skip
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

// The same combinations are refused by the real kernel: EINVAL, and the same
// message in the kernel log ("cgroup: <message>") when /dev/kmsg is readable.
TEST(Cli, KernelRefusesTheSameCombinations) {
  std::string why = KernelUnavailableReason();
  if (!why.empty()) GTEST_SKIP() << why;
  TempDir dir;
  ASSERT_FALSE(dir.path.empty());
  for (const auto& c : kBadCombos) {
    int kfd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (kfd >= 0) lseek(kfd, 0, SEEK_END);
    int r = mount("cgroup", dir.path.c_str(), "cgroup", 0, c.options);
    int e = errno;
    if (r == 0) {
      umount2(dir.path.c_str(), 0);
      ADD_FAILURE() << c.options << ": the kernel accepted it";
      if (kfd >= 0) close(kfd);
      continue;
    }
    EXPECT_EQ(ErrName(e), "EINVAL") << c.options;
    if (kfd >= 0) {
      std::string log = ReadNewKmsg(kfd);
      close(kfd);
      EXPECT_NE(log.find(std::string("cgroup: ") + c.message), std::string::npos)
          << c.options << ": kernel log: " << log;
    }
  }
}

TEST(Cli, MissingMountpointFails) {
  SKIP_WITHOUT_FUSE();
  std::string missing = "/tmp/cgemu_itest_does_not_exist_" + std::to_string(getpid()) + "/sub";
  EmuRun r = RunEmulator({"-f", "-o", "none,name=zz_itest_m", missing}, "");
  ASSERT_TRUE(r.exited) << "still running after 5 s";
  EXPECT_TRUE(WIFEXITED(r.status) && WEXITSTATUS(r.status) != 0) << "status " << r.status;
  EXPECT_FALSE(r.output.empty()) << "no message on stderr";
  EmuRun r2 = RunEmulator({"-f", missing}, "");
  ASSERT_TRUE(r2.exited);
  EXPECT_TRUE(WIFEXITED(r2.status) && WEXITSTATUS(r2.status) != 0) << "status " << r2.status;
  EXPECT_FALSE(r2.output.empty());
}

TEST(Cli, NoMountpointIsAUsageError) {
  SKIP_WITHOUT_FUSE();
  EmuRun r = RunEmulator({"-f"}, "");
  ASSERT_TRUE(r.exited);
  EXPECT_TRUE(WIFEXITED(r.status) && WEXITSTATUS(r.status) != 0) << "status " << r.status;
  EXPECT_FALSE(r.output.empty());
}

void CheckSignalShutdown(int sig) {
  ITEST_MOUNT_OR_SKIP(m, Backend::kEmulator, NamedOptions());
  auto mi = FindMount(m->dir());
  ASSERT_TRUE(mi);
  EXPECT_EQ(mi->fstype, "fuse.cgroupfs-emu");
  ASSERT_GT(m->daemon_pid(), 0);
  ASSERT_EQ(kill(m->daemon_pid(), sig), 0);
  bool unmounted = false;
  for (int i = 0; i < 500; ++i) {
    if (!FindMount(m->dir())) {
      unmounted = true;
      break;
    }
    SleepMs(10);
  }
  EXPECT_TRUE(unmounted) << "still mounted 5 s after signal " << sig;
  int st = m->Stop();
  EXPECT_TRUE(WIFEXITED(st)) << "status " << st << "; log: " << m->DaemonLog();
  if (WIFEXITED(st)) {
    EXPECT_EQ(WEXITSTATUS(st), 0) << m->DaemonLog();
  }
}

TEST(Cli, SigtermUnmountsAndExitsZero) { CheckSignalShutdown(SIGTERM); }
TEST(Cli, SigintUnmountsAndExitsZero) { CheckSignalShutdown(SIGINT); }

TEST(Cli, MountinfoAndPermissionOptions) {
  ITEST_MOUNT_OR_SKIP(m, Backend::kEmulator, NamedOptions());
  auto mi = FindMount(m->dir());
  ASSERT_TRUE(mi);
  EXPECT_EQ(mi->fstype, "fuse.cgroupfs-emu");
  EXPECT_NE(mi->super_options.find("default_permissions"), std::string::npos) << mi->super_options;
  if (geteuid() == 0) {
    EXPECT_NE(mi->super_options.find("allow_other"), std::string::npos) << mi->super_options;
    // Other users can use the mount (allow_other).
    EXPECT_EQ(ErrName(RunInChild([&] { return ReadAll(m->Path("tasks")).err; }, kNobody)), "OK");
  }
}

TEST(Cli, DefaultLayout) {
  ITEST_MOUNT_OR_SKIP(m, Backend::kEmulator, std::nullopt);
  std::vector<std::string> want = {"blkio",   "cpu",     "cpu,cpuacct", "cpuacct", "cpuset",
                                   "devices", "freezer", "memory",      "pids",    "systemd"};
  EXPECT_EQ(ListDirSorted(m->Path("")), want);
  auto root = Stat(m->Path(""));
  ASSERT_TRUE(root);
  EXPECT_TRUE(S_ISDIR(root->st_mode));
  for (std::string link : {"cpu", "cpuacct"}) {
    auto st = Lstat(m->Path(link));
    ASSERT_TRUE(st) << link;
    EXPECT_TRUE(S_ISLNK(st->st_mode)) << link;
    char buf[256] = {};
    ssize_t n = readlink(m->Path(link).c_str(), buf, sizeof buf - 1);
    EXPECT_EQ(std::string(buf, n > 0 ? static_cast<size_t>(n) : 0), "cpu,cpuacct") << link;
    auto target = Stat(m->Path(link + "/tasks"));
    EXPECT_TRUE(target && S_ISREG(target->st_mode)) << link << "/tasks through the symlink";
  }
  for (std::string d : {"cpu,cpuacct", "cpuset", "memory", "devices", "freezer", "pids", "blkio",
                        "systemd"}) {
    auto st = Lstat(m->Path(d));
    ASSERT_TRUE(st) << d;
    EXPECT_TRUE(S_ISDIR(st->st_mode)) << d;
    auto names = ListDirSorted(m->Path(d));
    for (std::string f : {"cgroup.clone_children", "cgroup.procs", "cgroup.sane_behavior",
                          "notify_on_release", "release_agent", "tasks"}) {
      EXPECT_NE(std::find(names.begin(), names.end(), f), names.end()) << d << "/" << f;
    }
    // Every hierarchy's root holds every process, e.g. this test process.
    EXPECT_TRUE(Contains(ParsePids(ReadAll(m->Path(d + "/cgroup.procs")).data), getpid())) << d;
  }
  // The hierarchies are independent.
  ASSERT_EQ(Errno(mkdir(m->Path("cpuset/itest_x").c_str(), 0755)), 0);
  EXPECT_TRUE(Stat(m->Path("cpuset/itest_x/tasks")));
  EXPECT_FALSE(Stat(m->Path("memory/itest_x")));
  EXPECT_EQ(Errno(rmdir(m->Path("cpuset/itest_x").c_str())), 0);
  // The top level is a plain directory: no cgroup files, no mkdir of cgroups.
  EXPECT_FALSE(Stat(m->Path("tasks")));
}

TEST(Cli, CpusetNoprefixAccepted) {
  ITEST_MOUNT_OR_SKIP(m, Backend::kEmulator, std::string("cpuset,noprefix"));
  EXPECT_TRUE(Stat(m->Path("tasks")));
  EXPECT_TRUE(Stat(m->Path("cgroup.procs")));
  EXPECT_TRUE(Stat(m->Path("release_agent")));
  EXPECT_FALSE(Stat(m->Path("cpuset.cpus"))) << "noprefix: no cpuset. prefix";
}

// Flag options that the kernel accepts on a named hierarchy; each must mount.
TEST(Cli, AcceptedFlagOptions) {
  for (std::string extra : {"xattr", "favordynmods", "nofavordynmods", "clone_children",
                            "release_agent=/x", "xattr,clone_children,release_agent=/y z"}) {
    for (Backend b : {Backend::kEmulator, Backend::kKernel}) {
      std::string skip, err;
      auto m = CgroupMount::Make(b, NamedOptions(extra), &skip, &err);
      if (!m && !skip.empty()) continue;  // backend unavailable here
      EXPECT_TRUE(m) << BackendName(b) << " -o ..." << extra << ": " << err;
      if (m) {
        EXPECT_TRUE(Stat(m->Path("tasks"))) << BackendName(b) << " " << extra;
      }
    }
  }
}

// The maximal name length (63) is accepted.
TEST(Cli, NameOf63CharactersAccepted) {
  std::string name = "zz_itest_" + std::to_string(getpid()) + "_";
  name += std::string(63 - name.size(), 'n');
  ITEST_MOUNT_OR_SKIP(m, Backend::kEmulator, "none,name=" + name);
  EXPECT_TRUE(Stat(m->Path("tasks")));
}

TEST(Cli, ReleaseAgentAndCloneChildrenOptions) {
  ITEST_MOUNT_OR_SKIP(m, Backend::kEmulator,
                      NamedOptions("release_agent=/sbin/itest_agent,clone_children"));
  EXPECT_EQ(ReadOrErr(m->Path("release_agent")), "/sbin/itest_agent\n");
  EXPECT_EQ(ReadOrErr(m->Path("cgroup.clone_children")), "1\n");
}

}  // namespace
}  // namespace itest
