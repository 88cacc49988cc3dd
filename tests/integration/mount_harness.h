// Integration-test harness: mounts either the emulator (FUSE) or a private
// named kernel cgroup v1 hierarchy, plus helpers for files, processes,
// threads and credentials. Every helper cleans up what it creates.
//
// Standalone build and run (kernel side only):
//   g++ -std=c++20 -Wall -Wextra -DCGROUPFS_EMU_BIN='"/work/main/build/cgroupfs-emu"'
//       tests/integration/*.cpp -lgtest -lgtest_main -pthread -o /tmp/itests   (one line)
//   /tmp/itests --gtest_filter='*Kernel*'     # or '*Emulator*', 'Cli.*', 'KernelDiff.*'
// ITEST_DUMP_TRANSCRIPT=1 makes KernelDiff.* print the kernel's transcript.
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#ifndef CGROUPFS_EMU_BIN
#define CGROUPFS_EMU_BIN "/work/main/build/cgroupfs-emu"
#endif

namespace itest {

enum class Backend { kEmulator, kKernel };
const char* BackendName(Backend b);  // "Emulator" / "Kernel"

// "none,name=zz_itest_<pid>_<counter>[,extra]"
std::string NamedOptions(std::string_view extra = {});

// How MakeEmulator starts the emulator.
struct EmulatorConfig {
  std::optional<std::string> options;  // -o; std::nullopt = no -o (default layout)
  std::string tracker;                 // --tracker=VALUE; empty = not given
  // Run the daemon as this uid (gid = uid, no supplementary groups) through
  // MOUNTPOINT /dev/fd/N: the test process (root) opens /dev/fuse, mounts it
  // ("fd=N,rootmode=40000,user_id=U,group_id=U,allow_other,
  // default_permissions", fstype fuse.cgroupfs-emu, source cgroup) and hands
  // the descriptor to the daemon, which only serves it.
  std::optional<uid_t> run_as;
  std::string state;  // --state=FILE; empty = not given
};

// One mounted hierarchy (or, for the emulator without -o, the default layout).
class CgroupMount {
 public:
  // Mounts. On success returns the mount. Otherwise returns nullptr and sets
  // *skip (one-line reason: backend unavailable here) or *error (a real
  // failure, e.g. the emulator did not come up; includes its stderr).
  // options: the -o string; std::nullopt (emulator only) = no -o at all.
  static std::unique_ptr<CgroupMount> Make(Backend backend,
                                           std::optional<std::string> options,
                                           std::string* skip, std::string* error);
  // The emulator with a full configuration (same skip/error contract).
  // run_as needs root (else *skip).
  static std::unique_ptr<CgroupMount> MakeEmulator(const EmulatorConfig& config,
                                                   std::string* skip, std::string* error);
  ~CgroupMount();
  CgroupMount(const CgroupMount&) = delete;
  CgroupMount& operator=(const CgroupMount&) = delete;

  Backend backend() const { return backend_; }
  const std::string& dir() const { return dir_; }
  // dir() + "/" + rel (rel may be empty: the root itself).
  std::string Path(std::string_view rel) const;
  // Emulator only.
  pid_t daemon_pid() const { return daemon_pid_; }
  std::string DaemonLog() const;  // emulator's captured stderr+stdout

  // Emulator: kill -9 the daemon and reap it, leaving its mount behind
  // (ENOTCONN) for Stop() to clear. Returns false if it was not running.
  bool Crash();

  // Emulator: SIGTERM, wait (<=5 s, then fusermount3 -u -z and SIGKILL);
  // returns the wait status (-1 if it had to be killed). Kernel: tears the
  // hierarchy down and returns 0. Idempotent (later calls return the first
  // result).
  int Stop();

 private:
  CgroupMount() = default;
  bool StartEmulator(const std::optional<std::string>& options, std::string* error);
  bool StartEmulator(const EmulatorConfig& config, std::string* error);
  bool StartFdMountedEmulator(const EmulatorConfig& config, std::vector<std::string> args,
                              int logfd, std::string* error);
  bool MountKernel(const std::string& options, std::string* skip);
  int StopEmulator();
  void TeardownKernel();

  Backend backend_ = Backend::kKernel;
  std::string dir_;
  std::string log_path_;
  std::string hierarchy_name_;  // kernel: name= used (for linger cleanup)
  std::string kernel_options_;
  pid_t daemon_pid_ = -1;
  bool fd_mounted_ = false;  // mounted by this process through /dev/fd/N
  bool stopped_ = false;
  int stop_status_ = 0;
};

// Mount helper for test bodies: declares `var` or skips/fails the test.
#define ITEST_MOUNT_OR_SKIP(var, backend, options)                                   \
  std::unique_ptr<::itest::CgroupMount> var;                                         \
  do {                                                                               \
    std::string itest_skip_, itest_err_;                                             \
    var = ::itest::CgroupMount::Make((backend), (options), &itest_skip_, &itest_err_); \
    if (!var) {                                                                      \
      if (!itest_skip_.empty()) GTEST_SKIP() << itest_skip_;                         \
      FAIL() << itest_err_;                                                          \
    }                                                                                \
  } while (0)

// The same for the emulator started with a full configuration.
#define ITEST_EMULATOR_OR_SKIP(var, config)                                          \
  std::unique_ptr<::itest::CgroupMount> var;                                         \
  do {                                                                               \
    std::string itest_skip_, itest_err_;                                             \
    var = ::itest::CgroupMount::MakeEmulator((config), &itest_skip_, &itest_err_);    \
    if (!var) {                                                                      \
      if (!itest_skip_.empty()) GTEST_SKIP() << itest_skip_;                         \
      FAIL() << itest_err_;                                                          \
    }                                                                                \
  } while (0)

// Why the backend cannot run here (empty string = it can).
std::string EmulatorUnavailableReason();
std::string KernelUnavailableReason();  // only "not root"; mount failures are found at Make()
// Why the host's v1 hierarchy of `controller` at dir (e.g. /sys/fs/cgroup/pids,
// symlinks followed) cannot be used: not root, or no such mount there.
std::string KernelHierarchyUnavailable(const std::string& dir, const std::string& controller);
// Removes a kernel cgroup subtree dir of the hierarchy at root, moving its
// tasks (the test's own) to the root first.
void RemoveKernelTree(const std::string& root, const std::string& dir);

// Mountinfo entry of a mount point, if mounted.
struct MountInfo {
  std::string mount_point, fstype, source, mount_options, super_options;
};
std::optional<MountInfo> FindMount(const std::string& dir);

// ---- files ---------------------------------------------------------------
struct ReadResult {
  int err = 0;  // 0 or errno (of open or read)
  std::string data;
};
ReadResult ReadAll(const std::string& path);
ReadResult ReadAllFd(int fd);                    // loops read() until EOF
ReadResult ReadBytewise(const std::string& path);  // 1-byte read()s
// pread of up to len bytes at offset (single call).
ReadResult PreadAt(const std::string& path, off_t offset, size_t len);
// Opens O_WRONLY|extra_flags, one write(); returns 0 or errno (open or write).
// *written (optional) receives write()'s return value.
int WriteStr(const std::string& path, std::string_view data, ssize_t* written = nullptr,
             int extra_flags = 0);
int WriteFd(int fd, std::string_view data, ssize_t* written = nullptr);
// The file's content, or "<ERRNO_NAME>" on error: convenient for EXPECT_EQ.
std::string ReadOrErr(const std::string& path);
// Whole-buffer I/O on pipes between a test and its children: WriteAllFd
// retries partial writes; ReadExactFd reads exactly len bytes, false on
// EOF, error or timeout.
bool WriteAllFd(int fd, const void* buf, size_t len);
bool ReadExactFd(int fd, void* buf, size_t len, int timeout_ms = 10000);

// Directory entries in raw readdir order, including "." and "..".
// Empty vector + *err on failure.
std::vector<std::string> ListDirRaw(const std::string& path, int* err = nullptr);
// Without "." and "..", sorted by name.
std::vector<std::string> ListDirSorted(const std::string& path);

std::optional<struct stat> Stat(const std::string& path);   // stat
std::optional<struct stat> Lstat(const std::string& path);  // lstat
mode_t PermBits(const struct stat& st);                     // st_mode & 07777

// 0 or errno of the call.
int Errno(int ret);  // ret<0 ? errno : 0

// "EINVAL", "ENODEV", "OK" for 0.
std::string ErrName(int err);

// ---- pid lists -------------------------------------------------------------
std::vector<pid_t> ParsePids(std::string_view content);
std::string PidLines(std::vector<pid_t> pids);  // sorted "a\nb\n"
bool Contains(const std::vector<pid_t>& v, pid_t p);

// ---- kernfs order ----------------------------------------------------------
uint32_t KernfsHash(std::string_view name);
// The order kernfs readdir gives (after "." and "..").
std::vector<std::string> KernfsOrder(std::vector<std::string> names);

// ---- processes -------------------------------------------------------------
// A forked child of the test process. Killed (SIGKILL) and reaped on
// destruction. Children also get PR_SET_PDEATHSIG(SIGKILL).
class ChildProc {
 public:
  ChildProc() = default;
  ~ChildProc();
  ChildProc(const ChildProc&) = delete;
  ChildProc& operator=(const ChildProc&) = delete;

  pid_t pid = -1;
  std::vector<pid_t> tids;  // extra threads (sleeper) or the writing thread (writer)
  int result_errno = 0;     // writer: errno of its write (0 = OK)

  // Zombieable children: kill it and wait (bounded) until it is a zombie
  // (exited, not reaped). Returns false on failure.
  bool MakeZombie();
  void Kill();  // SIGKILL + reap; idempotent
  // All thread ids of the process (pid first), from /proc/<pid>/task.
  std::vector<pid_t> AllTids() const;

 private:
  friend std::unique_ptr<ChildProc> SpawnSleeper(int, std::optional<uid_t>);
  friend std::unique_ptr<ChildProc> SpawnWriter(const std::string&, std::string, bool);
  friend std::unique_ptr<ChildProc> SpawnZombieable();
  bool zombieable_ = false;
  bool reaped_ = false;
};

// A sleeping child with `extra_threads` additional sleeping threads whose tids
// are reported in tids. With uid: the child first does setgroups({}),
// setresgid(uid) and setresuid(uid) (so its real and saved uid are uid).
std::unique_ptr<ChildProc> SpawnSleeper(int extra_threads = 0,
                                        std::optional<uid_t> uid = std::nullopt);
// A child that writes `data` to `path` with one write(), from its main thread
// or from a second thread, then sleeps. tids = {writing thread's tid},
// result_errno = the write's errno.
std::unique_ptr<ChildProc> SpawnWriter(const std::string& path, std::string data,
                                       bool from_thread);
// A sleeping child meant to become a zombie with MakeZombie().
std::unique_ptr<ChildProc> SpawnZombieable();

// Runs fn in a forked child (as `uid`/gid if given: setgroups({}),
// setresgid, setresuid) and returns fn's return value (its exit status), or
// -1 if the child died abnormally. fn must not use gtest assertions.
int RunInChild(const std::function<int()>& fn, std::optional<uid_t> uid = std::nullopt);
constexpr uid_t kNobody = 65534;

// Process state letter from /proc/<pid>/stat ('?' if unreadable).
char ProcState(pid_t pid);
// pid_max (upper bound, exclusive).
pid_t PidMax();

// Sleeps for ms milliseconds (bounded readiness polling only).
void SleepMs(int ms);

}  // namespace itest
