#include "mount_harness.h"

#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

namespace itest {

namespace {

std::atomic<int> g_counter{0};

pid_t GetTid() { return static_cast<pid_t>(syscall(SYS_gettid)); }


bool DropToUid(uid_t uid) {
  gid_t gid = static_cast<gid_t>(uid);
  if (setgroups(0, nullptr) != 0) return false;
  if (setresgid(gid, gid, gid) != 0) return false;
  if (setresuid(uid, uid, uid) != 0) return false;
  return true;
}

// In a freshly forked child: die with the test process.
void DieWithParent(pid_t parent) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != parent) _exit(0);
}

// In a freshly forked child: close every inherited descriptor >= 3 except
// `keep` (so pipes and cgroup files of the test process do not leak into
// long-lived children).
void CloseInheritedFds(int keep = -1) {
  if (keep >= 3) {
    if (keep > 3) close_range(3, static_cast<unsigned>(keep - 1), 0);
    close_range(static_cast<unsigned>(keep + 1), ~0u, 0);
  } else {
    close_range(3, ~0u, 0);
  }
}

[[noreturn]] void SleepForever() {
  for (;;) pause();
}

bool ExecutableInPath(const char* name) {
  const char* path = getenv("PATH");
  std::string p = path ? path : "/usr/sbin:/usr/bin:/sbin:/bin";
  p += ":/usr/bin:/bin";
  std::stringstream ss(p);
  std::string d;
  while (std::getline(ss, d, ':')) {
    if (d.empty()) continue;
    if (access((d + "/" + name).c_str(), X_OK) == 0) return true;
  }
  return false;
}

std::string UnescapeMountPath(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size() &&
        isdigit(static_cast<unsigned char>(s[i + 1]))) {
      int v = (s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0');
      out.push_back(static_cast<char>(v));
      i += 3;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

bool HierarchyLingers(const std::string& name) {
  std::ifstream f("/proc/self/cgroup");
  std::string line;
  std::string a = ":name=" + name + ":";
  std::string b = ",name=" + name + ":";
  while (std::getline(f, line)) {
    if (line.find(a) != std::string::npos || line.find(b) != std::string::npos) return true;
  }
  return false;
}

void CollectDirs(const std::string& dir, std::vector<std::string>* out) {
  DIR* d = opendir(dir.c_str());
  if (!d) return;
  std::vector<std::string> subs;
  while (struct dirent* e = readdir(d)) {
    std::string n = e->d_name;
    if (n == "." || n == "..") continue;
    std::string p = dir + "/" + n;
    struct stat st;
    if (lstat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) subs.push_back(p);
  }
  closedir(d);
  for (auto& s : subs) {
    out->push_back(s);
    CollectDirs(s, out);
  }
}

}  // namespace

bool WriteAllFd(int fd, const void* buf, size_t len) {
  const char* p = static_cast<const char*>(buf);
  while (len > 0) {
    ssize_t n = write(fd, p, len);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    p += n;
    len -= static_cast<size_t>(n);
  }
  return true;
}

// Reads exactly len bytes; false on EOF/error/timeout.
bool ReadExactFd(int fd, void* buf, size_t len, int timeout_ms) {
  char* p = static_cast<char*>(buf);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (len > 0) {
    int left = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                    deadline - std::chrono::steady_clock::now())
                                    .count());
    if (left <= 0) return false;
    struct pollfd pfd = {fd, POLLIN, 0};
    int pr = poll(&pfd, 1, left);
    if (pr < 0 && errno == EINTR) continue;
    if (pr <= 0) return false;
    ssize_t n = read(fd, p, len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    p += n;
    len -= static_cast<size_t>(n);
  }
  return true;
}

const char* BackendName(Backend b) { return b == Backend::kEmulator ? "Emulator" : "Kernel"; }

std::string NamedOptions(std::string_view extra) {
  std::string s = "none,name=zz_itest_" + std::to_string(getpid()) + "_" +
                  std::to_string(g_counter.fetch_add(1));
  if (!extra.empty()) {
    s += ",";
    s += extra;
  }
  return s;
}

std::string EmulatorUnavailableReason() {
  if (access("/dev/fuse", F_OK) != 0) return "/dev/fuse is missing";
  if (!ExecutableInPath("fusermount3")) return "fusermount3 is missing";
  return "";
}

std::string KernelUnavailableReason() {
  if (geteuid() != 0) return "kernel backend needs root";
  return "";
}

std::string KernelHierarchyUnavailable(const std::string& dir, const std::string& controller) {
  if (std::string why = KernelUnavailableReason(); !why.empty()) return why;
  char real[PATH_MAX];
  std::optional<MountInfo> m;
  if (realpath(dir.c_str(), real)) m = FindMount(real);
  bool bound = false;
  if (m && m->fstype == "cgroup") {
    std::istringstream options(m->super_options);
    for (std::string o; std::getline(options, o, ',');) bound |= o == controller;
  }
  return bound ? "" : "no cgroup v1 " + controller + " hierarchy at " + dir;
}

void RemoveKernelTree(const std::string& root, const std::string& dir) {
  if (!Lstat(dir)) return;
  std::vector<std::string> dirs = {dir};
  for (size_t i = 0; i < dirs.size(); ++i)
    for (const std::string& e : ListDirSorted(dirs[i])) {
      auto s = Lstat(dirs[i] + "/" + e);
      if (s && S_ISDIR(s->st_mode)) dirs.push_back(dirs[i] + "/" + e);
    }
  for (const std::string& d : dirs)
    for (pid_t t : ParsePids(ReadAll(d + "/tasks").data)) WriteStr(root + "/tasks", std::to_string(t));
  for (auto it = dirs.rbegin(); it != dirs.rend(); ++it)
    for (int i = 0; i < 100 && rmdir(it->c_str()) != 0 && errno == EBUSY; ++i) SleepMs(10);
}

std::optional<MountInfo> FindMount(const std::string& dir) {
  std::ifstream f("/proc/self/mountinfo");
  std::string line;
  std::optional<MountInfo> found;
  while (std::getline(f, line)) {
    std::istringstream ss(line);
    std::vector<std::string> fields;
    std::string w;
    while (ss >> w) fields.push_back(w);
    if (fields.size() < 7) continue;
    if (UnescapeMountPath(fields[4]) != dir) continue;
    MountInfo mi;
    mi.mount_point = dir;
    mi.mount_options = fields[5];
    size_t i = 6;
    while (i < fields.size() && fields[i] != "-") ++i;
    if (i + 1 < fields.size()) mi.fstype = fields[i + 1];
    if (i + 2 < fields.size()) mi.source = fields[i + 2];
    if (i + 3 < fields.size()) mi.super_options = fields[i + 3];
    found = mi;  // the last (topmost) mount wins
  }
  return found;
}

// ---- CgroupMount -------------------------------------------------------------

std::unique_ptr<CgroupMount> CgroupMount::Make(Backend backend,
                                               std::optional<std::string> options,
                                               std::string* skip, std::string* error) {
  skip->clear();
  error->clear();
  std::unique_ptr<CgroupMount> m(new CgroupMount());
  m->backend_ = backend;
  if (backend == Backend::kEmulator) {
    std::string why = EmulatorUnavailableReason();
    if (!why.empty()) {
      *skip = "emulator backend unavailable: " + why;
      return nullptr;
    }
    if (!m->StartEmulator(options, error)) return nullptr;
    return m;
  }
  std::string why = KernelUnavailableReason();
  if (!why.empty()) {
    *skip = why;
    return nullptr;
  }
  if (!options) {
    *error = "kernel backend needs mount options";
    return nullptr;
  }
  if (!m->MountKernel(*options, skip)) return nullptr;
  return m;
}

std::unique_ptr<CgroupMount> CgroupMount::MakeEmulator(const EmulatorConfig& config,
                                                       std::string* skip, std::string* error) {
  skip->clear();
  error->clear();
  std::string why = EmulatorUnavailableReason();
  if (!why.empty()) {
    *skip = "emulator backend unavailable: " + why;
    return nullptr;
  }
  if (config.run_as && geteuid() != 0) {
    *skip = "running the daemon as another uid through /dev/fd/N needs a root test process";
    return nullptr;
  }
  std::unique_ptr<CgroupMount> m(new CgroupMount());
  m->backend_ = Backend::kEmulator;
  if (!m->StartEmulator(config, error)) return nullptr;
  return m;
}

CgroupMount::~CgroupMount() { Stop(); }

std::string CgroupMount::Path(std::string_view rel) const {
  if (rel.empty()) return dir_;
  return dir_ + "/" + std::string(rel);
}

std::string CgroupMount::DaemonLog() const {
  if (log_path_.empty()) return "";
  std::ifstream f(log_path_);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

bool CgroupMount::StartEmulator(const std::optional<std::string>& options,
                                std::string* error) {
  EmulatorConfig config;
  config.options = options;
  return StartEmulator(config, error);
}

bool CgroupMount::StartEmulator(const EmulatorConfig& config, std::string* error) {
  const std::optional<std::string>& options = config.options;
  char tmpl[] = "/tmp/cgemu_itest_XXXXXX";
  if (!mkdtemp(tmpl)) {
    *error = std::string("mkdtemp: ") + strerror(errno);
    return false;
  }
  dir_ = tmpl;
  chmod(dir_.c_str(), 0755);
  char logt[] = "/tmp/cgemu_itest_log_XXXXXX";
  int logfd = mkstemp(logt);
  if (logfd < 0) {
    *error = std::string("mkstemp: ") + strerror(errno);
    rmdir(dir_.c_str());
    dir_.clear();
    return false;
  }
  log_path_ = logt;

  std::vector<std::string> args = {CGROUPFS_EMU_BIN, "-f"};
  if (!config.tracker.empty()) args.push_back("--tracker=" + config.tracker);
  if (!config.state.empty()) args.push_back("--state=" + config.state);
  if (options) {
    args.push_back("-o");
    args.push_back(*options);
  }
  if (config.run_as) return StartFdMountedEmulator(config, std::move(args), logfd, error);
  args.push_back(dir_);
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) {
    *error = std::string("fork: ") + strerror(errno);
    close(logfd);
    return false;
  }
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent) _exit(126);
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0) dup2(devnull, 0);
    dup2(logfd, 1);
    dup2(logfd, 2);
    CloseInheritedFds();
    execv(argv[0], argv.data());
    dprintf(2, "itest: execv %s: %s\n", argv[0], strerror(errno));
    _exit(127);
  }
  close(logfd);
  daemon_pid_ = pid;

  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline) {
    if (FindMount(dir_)) return true;
    int st;
    pid_t r = waitpid(pid, &st, WNOHANG);
    if (r == pid) {
      daemon_pid_ = -1;
      stopped_ = true;
      stop_status_ = st;
      std::ostringstream os;
      os << "emulator exited before mounting (";
      if (WIFEXITED(st))
        os << "exit " << WEXITSTATUS(st);
      else
        os << "signal " << WTERMSIG(st);
      os << "); stderr: " << DaemonLog();
      *error = os.str();
      rmdir(dir_.c_str());
      unlink(log_path_.c_str());
      return false;
    }
    SleepMs(10);
  }
  *error = "emulator did not mount within 10 s; stderr: " + DaemonLog();
  Stop();
  return false;
}


// A copy of the emulator that any user may run. The build tree can sit in a
// directory other users cannot enter (a clone in `mktemp -d` is 0700), and
// a daemon run as another uid must still find its binary.
std::string EmulatorBinaryForAnyUser() {
  static std::string path;
  if (!path.empty()) return path;
  char tmpl[] = "/tmp/cgemu-itest-bin.XXXXXX";
  if (!mkdtemp(tmpl) || chmod(tmpl, 0755) != 0) return CGROUPFS_EMU_BIN;
  std::string dir = tmpl;
  std::string copy = dir + "/cgroupfs-emu";
  std::ifstream in(CGROUPFS_EMU_BIN, std::ios::binary);
  std::ofstream out(copy, std::ios::binary);
  out << in.rdbuf();
  out.close();
  if (!in || !out || chmod(copy.c_str(), 0755) != 0) return CGROUPFS_EMU_BIN;
  static std::string staged_dir = dir;
  static std::string staged_copy = copy;
  atexit([] {
    unlink(staged_copy.c_str());
    rmdir(staged_dir.c_str());
  });
  return path = copy;
}

// The caller mounts /dev/fuse itself and the daemon, as config.run_as, serves
// the descriptor (MOUNTPOINT /dev/fd/N).
bool CgroupMount::StartFdMountedEmulator(const EmulatorConfig& config,
                                         std::vector<std::string> args, int logfd,
                                         std::string* error) {
  const uid_t uid = *config.run_as;
  auto fail = [&](const std::string& what) {
    *error = what;
    close(logfd);
    if (!log_path_.empty()) unlink(log_path_.c_str());
    log_path_.clear();
    rmdir(dir_.c_str());
    dir_.clear();
    stopped_ = true;
    return false;
  };
  int fuse_fd = open("/dev/fuse", O_RDWR | O_CLOEXEC);
  if (fuse_fd < 0) return fail(std::string("open /dev/fuse: ") + strerror(errno));
  std::string data = "fd=" + std::to_string(fuse_fd) + ",rootmode=40000,user_id=" +
                     std::to_string(uid) + ",group_id=" + std::to_string(uid) +
                     ",allow_other,default_permissions";
  if (mount("cgroup", dir_.c_str(), "fuse.cgroupfs-emu", MS_NOSUID | MS_NODEV, data.c_str()) != 0) {
    int e = errno;
    close(fuse_fd);
    return fail(std::string("mount(2) of fuse.cgroupfs-emu (") + data + "): " + strerror(e));
  }
  fd_mounted_ = true;
  args[0] = EmulatorBinaryForAnyUser();
  args.push_back("/dev/fd/" + std::to_string(fuse_fd));
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) {
    int e = errno;
    close(fuse_fd);
    umount2(dir_.c_str(), MNT_DETACH);
    fd_mounted_ = false;
    return fail(std::string("fork: ") + strerror(e));
  }
  if (pid == 0) {
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0) dup2(devnull, 0);
    dup2(logfd, 1);
    dup2(logfd, 2);
    int flags = fcntl(fuse_fd, F_GETFD);
    if (flags >= 0) fcntl(fuse_fd, F_SETFD, flags & ~FD_CLOEXEC);
    CloseInheritedFds(fuse_fd);
    if (chdir("/") != 0) _exit(125);
    if (!DropToUid(uid)) {
      dprintf(2, "itest: cannot become uid %u\n", static_cast<unsigned>(uid));
      _exit(124);
    }
    // After the uid change, which clears it.
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent) _exit(126);
    execv(argv[0], argv.data());
    dprintf(2, "itest: execv %s: %s\n", argv[0], strerror(errno));
    _exit(127);
  }
  // Only the daemon holds the device now: if it dies, the mount answers
  // ENOTCONN instead of hanging.
  close(fuse_fd);
  close(logfd);
  daemon_pid_ = pid;

  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline) {
    if (DaemonLog().find("mounted on") != std::string::npos) {
      struct stat st;
      if (stat(dir_.c_str(), &st) == 0) return true;
      *error = std::string("emulator said it mounted, but stat of the mount failed: ") +
               strerror(errno) + "; stderr: " + DaemonLog();
      Stop();
      return false;
    }
    int st;
    pid_t r = waitpid(pid, &st, WNOHANG);
    if (r == pid) {
      daemon_pid_ = -1;
      std::ostringstream os;
      os << "emulator exited before serving /dev/fd (";
      if (WIFEXITED(st))
        os << "exit " << WEXITSTATUS(st);
      else
        os << "signal " << WTERMSIG(st);
      os << "); stderr: " << DaemonLog();
      *error = os.str();
      Stop();
      stop_status_ = st;
      return false;
    }
    SleepMs(10);
  }
  *error = "emulator did not serve /dev/fd within 10 s; stderr: " + DaemonLog();
  Stop();
  return false;
}

bool CgroupMount::Crash() {
  if (backend_ != Backend::kEmulator || daemon_pid_ <= 0) return false;
  if (kill(daemon_pid_, SIGKILL) != 0) return false;
  waitpid(daemon_pid_, nullptr, 0);
  daemon_pid_ = -1;
  return true;
}

int CgroupMount::StopEmulator() {
  int status = -1;
  if (daemon_pid_ > 0) {
    kill(daemon_pid_, SIGTERM);
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    bool exited = false;
    while (std::chrono::steady_clock::now() < deadline) {
      int st;
      pid_t r = waitpid(daemon_pid_, &st, WNOHANG);
      if (r == daemon_pid_ || (r < 0 && errno == ECHILD)) {
        exited = true;
        status = r == daemon_pid_ ? st : -1;
        break;
      }
      SleepMs(10);
    }
    if (!exited) {
      std::string cmd = "fusermount3 -u -z '" + dir_ + "' >/dev/null 2>&1";
      if (system(cmd.c_str()) != 0) { /* best effort */
      }
      kill(daemon_pid_, SIGKILL);
      int st;
      waitpid(daemon_pid_, &st, 0);
      status = -1;
    }
    daemon_pid_ = -1;
  }
  if (!dir_.empty() && fd_mounted_) {
    // The daemon never unmounts a descriptor it was handed.
    if (umount2(dir_.c_str(), 0) != 0) umount2(dir_.c_str(), MNT_DETACH);
    fd_mounted_ = false;
  }
  if (!dir_.empty()) {
    if (FindMount(dir_)) {
      std::string cmd = "fusermount3 -u -z '" + dir_ + "' >/dev/null 2>&1";
      if (system(cmd.c_str()) != 0) {
        umount2(dir_.c_str(), MNT_DETACH);
      }
    }
    rmdir(dir_.c_str());
  }
  if (!log_path_.empty()) unlink(log_path_.c_str());
  return status;
}

bool CgroupMount::MountKernel(const std::string& options, std::string* skip) {
  char tmpl[] = "/tmp/cgkern_itest_XXXXXX";
  if (!mkdtemp(tmpl)) {
    *skip = std::string("mkdtemp failed: ") + strerror(errno);
    return false;
  }
  dir_ = tmpl;
  chmod(dir_.c_str(), 0755);
  kernel_options_ = options;
  // Remember name= so a lingering hierarchy can be destroyed later.
  std::stringstream ss(options);
  std::string opt;
  while (std::getline(ss, opt, ',')) {
    if (opt.rfind("name=", 0) == 0) hierarchy_name_ = opt.substr(5);
  }
  if (mount("cgroup", dir_.c_str(), "cgroup", 0, options.c_str()) != 0) {
    int e = errno;
    rmdir(dir_.c_str());
    dir_.clear();
    *skip = "kernel cgroup v1 mount (" + options + ") failed: " + strerror(e);
    return false;
  }
  return true;
}

void CgroupMount::TeardownKernel() {
  if (dir_.empty()) return;
  std::vector<std::string> dirs;
  CollectDirs(dir_, &dirs);
  // Move every task placed into a child cgroup back to the root. This is a
  // private hierarchy: every such task was placed there by the tests.
  for (int round = 0; round < 3; ++round) {
    bool any = false;
    for (auto& d : dirs) {
      ReadResult r = ReadAll(d + "/tasks");
      if (r.err) continue;
      for (pid_t t : ParsePids(r.data)) {
        any = true;
        WriteStr(dir_ + "/tasks", std::to_string(t));
      }
    }
    if (!any) break;
  }
  // rmdir children, deepest first (CollectDirs is pre-order).
  for (auto it = dirs.rbegin(); it != dirs.rend(); ++it) {
    for (int i = 0; i < 100; ++i) {
      if (rmdir(it->c_str()) == 0 || errno == ENOENT) break;
      if (errno != EBUSY) break;
      SleepMs(10);
    }
  }
  bool unmounted = false;
  for (int i = 0; i < 100; ++i) {
    if (umount2(dir_.c_str(), 0) == 0) {
      unmounted = true;
      break;
    }
    if (errno != EBUSY) break;
    SleepMs(10);
  }
  if (!unmounted) umount2(dir_.c_str(), MNT_DETACH);
  // A hierarchy whose removed children were not yet freed at umount lingers;
  // re-mount it by name and unmount again until it is gone.
  if (!hierarchy_name_.empty()) {
    std::string opts = "none,name=" + hierarchy_name_;
    for (int attempt = 0; attempt < 20 && HierarchyLingers(hierarchy_name_); ++attempt) {
      bool gone = false;
      for (int i = 0; i < 20; ++i) {
        SleepMs(10);
        if (!HierarchyLingers(hierarchy_name_)) {
          gone = true;
          break;
        }
      }
      if (gone) break;
      if (mount("cgroup", dir_.c_str(), "cgroup", 0, opts.c_str()) == 0) {
        std::vector<std::string> left;
        CollectDirs(dir_, &left);
        for (auto it = left.rbegin(); it != left.rend(); ++it) rmdir(it->c_str());
        SleepMs(20);
        umount2(dir_.c_str(), 0);
      }
    }
  }
  rmdir(dir_.c_str());
  dir_.clear();
}

int CgroupMount::Stop() {
  if (stopped_) return stop_status_;
  stopped_ = true;
  if (backend_ == Backend::kEmulator) {
    stop_status_ = StopEmulator();
  } else {
    TeardownKernel();
    stop_status_ = 0;
  }
  return stop_status_;
}

// ---- files ---------------------------------------------------------------

ReadResult ReadAllFd(int fd) {
  ReadResult r;
  char buf[4096];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      r.err = errno;
      return r;
    }
    if (n == 0) break;
    r.data.append(buf, static_cast<size_t>(n));
  }
  return r;
}

ReadResult ReadAll(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ReadResult{errno, ""};
  ReadResult r = ReadAllFd(fd);
  close(fd);
  return r;
}

ReadResult ReadBytewise(const std::string& path) {
  ReadResult r;
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ReadResult{errno, ""};
  for (size_t guard = 0; guard < (1u << 22); ++guard) {
    char c;
    ssize_t n = read(fd, &c, 1);
    if (n < 0) {
      if (errno == EINTR) continue;
      r.err = errno;
      break;
    }
    if (n == 0) break;
    r.data.push_back(c);
  }
  close(fd);
  return r;
}

ReadResult PreadAt(const std::string& path, off_t offset, size_t len) {
  ReadResult r;
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ReadResult{errno, ""};
  std::string buf(len, '\0');
  ssize_t n = pread(fd, buf.data(), len, offset);
  if (n < 0)
    r.err = errno;
  else
    r.data = buf.substr(0, static_cast<size_t>(n));
  close(fd);
  return r;
}

int WriteFd(int fd, std::string_view data, ssize_t* written) {
  ssize_t n = write(fd, data.data(), data.size());
  if (written) *written = n;
  if (n < 0) return errno;
  return 0;
}

int WriteStr(const std::string& path, std::string_view data, ssize_t* written,
             int extra_flags) {
  if (written) *written = -1;
  int fd = open(path.c_str(), O_WRONLY | O_CLOEXEC | extra_flags);
  if (fd < 0) return errno;
  int e = WriteFd(fd, data, written);
  close(fd);
  return e;
}

std::string ReadOrErr(const std::string& path) {
  ReadResult r = ReadAll(path);
  if (r.err) return "<" + ErrName(r.err) + ">";
  return r.data;
}

std::vector<std::string> ListDirRaw(const std::string& path, int* err) {
  std::vector<std::string> out;
  if (err) *err = 0;
  DIR* d = opendir(path.c_str());
  if (!d) {
    if (err) *err = errno;
    return out;
  }
  errno = 0;
  while (struct dirent* e = readdir(d)) out.push_back(e->d_name);
  if (errno && err) *err = errno;
  closedir(d);
  return out;
}

std::vector<std::string> ListDirSorted(const std::string& path) {
  std::vector<std::string> out;
  for (auto& n : ListDirRaw(path))
    if (n != "." && n != "..") out.push_back(n);
  std::sort(out.begin(), out.end());
  return out;
}

std::optional<struct stat> Stat(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return std::nullopt;
  return st;
}

std::optional<struct stat> Lstat(const std::string& path) {
  struct stat st;
  if (lstat(path.c_str(), &st) != 0) return std::nullopt;
  return st;
}

mode_t PermBits(const struct stat& st) { return st.st_mode & 07777; }

int Errno(int ret) { return ret < 0 ? errno : 0; }

std::string ErrName(int err) {
  if (err == 0) return "OK";
  const char* n = strerrorname_np(err);
  if (n) return n;
  return "errno" + std::to_string(err);
}

// ---- pid lists ---------------------------------------------------------------

std::vector<pid_t> ParsePids(std::string_view content) {
  std::vector<pid_t> out;
  long cur = -1;
  for (char c : content) {
    if (c >= '0' && c <= '9') {
      cur = (cur < 0 ? 0 : cur * 10) + (c - '0');
    } else {
      if (cur >= 0) out.push_back(static_cast<pid_t>(cur));
      cur = -1;
    }
  }
  if (cur >= 0) out.push_back(static_cast<pid_t>(cur));
  return out;
}

std::string PidLines(std::vector<pid_t> pids) {
  std::sort(pids.begin(), pids.end());
  std::string s;
  for (pid_t p : pids) s += std::to_string(p) + "\n";
  return s;
}

bool Contains(const std::vector<pid_t>& v, pid_t p) {
  return std::find(v.begin(), v.end(), p) != v.end();
}

// ---- kernfs order --------------------------------------------------------------

uint32_t KernfsHash(std::string_view name) {
  uint64_t h = 0;
  for (char ch : name) {
    // partial_name_hash(unsigned long c, ...) receives a (signed) char.
    uint64_t c = static_cast<uint64_t>(static_cast<int64_t>(static_cast<signed char>(ch)));
    h = (h + (c << 4) + (c >> 4)) * 11;
  }
  uint64_t v = (h * 0x61C8864680B583EBull) >> 32;
  uint32_t r = static_cast<uint32_t>(v) & 0x7fffffffu;
  if (r < 2) r += 2;
  if (r >= 0x7fffffffu) r = 0x7fffffffu - 1;
  return r;
}

std::vector<std::string> KernfsOrder(std::vector<std::string> names) {
  std::sort(names.begin(), names.end(), [](const std::string& a, const std::string& b) {
    uint32_t ha = KernfsHash(a), hb = KernfsHash(b);
    if (ha != hb) return ha < hb;
    return a < b;
  });
  return names;
}

// ---- processes -------------------------------------------------------------------

ChildProc::~ChildProc() { Kill(); }

void ChildProc::Kill() {
  if (pid <= 0 || reaped_) return;
  kill(pid, SIGKILL);
  int st;
  while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  reaped_ = true;
}

bool ChildProc::MakeZombie() {
  if (!zombieable_ || pid <= 0 || reaped_) return false;
  // It dies (SIGKILL) and stays unreaped until Kill()/the destructor.
  if (kill(pid, SIGKILL) != 0) return false;
  for (int i = 0; i < 2500; ++i) {
    siginfo_t si;
    memset(&si, 0, sizeof si);
    int r = waitid(P_PID, static_cast<id_t>(pid), &si, WEXITED | WNOWAIT | WNOHANG);
    if (r == 0 && si.si_pid == pid && ProcState(pid) == 'Z') return true;
    SleepMs(2);
  }
  return false;
}

std::vector<pid_t> ChildProc::AllTids() const {
  std::vector<pid_t> out;
  for (auto& n : ListDirRaw("/proc/" + std::to_string(pid) + "/task")) {
    if (n == "." || n == "..") continue;
    out.push_back(static_cast<pid_t>(std::stol(n)));
  }
  std::sort(out.begin(), out.end());
  return out;
}

namespace {
struct ThreadArg {
  int fd;
};
void* SleeperThread(void* p) {
  int fd = static_cast<ThreadArg*>(p)->fd;
  pid_t t = GetTid();
  WriteAllFd(fd, &t, sizeof t);
  SleepForever();
}
}  // namespace

std::unique_ptr<ChildProc> SpawnSleeper(int extra_threads, std::optional<uid_t> uid) {
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) return nullptr;
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) {
    close(p[0]);
    close(p[1]);
    return nullptr;
  }
  if (pid == 0) {
    close(p[0]);
    CloseInheritedFds(p[1]);
    if (uid && !DropToUid(*uid)) _exit(120);
    DieWithParent(parent);
    static ThreadArg arg;
    arg.fd = p[1];
    for (int i = 0; i < extra_threads; ++i) {
      pthread_t th;
      if (pthread_create(&th, nullptr, SleeperThread, &arg) != 0) _exit(121);
    }
    SleepForever();
  }
  close(p[1]);
  auto c = std::make_unique<ChildProc>();
  c->pid = pid;
  for (int i = 0; i < extra_threads; ++i) {
    pid_t t;
    if (!ReadExactFd(p[0], &t, sizeof t)) {
      close(p[0]);
      return nullptr;  // c's destructor kills the child
    }
    c->tids.push_back(t);
  }
  close(p[0]);
  std::sort(c->tids.begin(), c->tids.end());
  // Wait until the uid change (if any) is visible.
  if (uid) {
    for (int i = 0; i < 500; ++i) {
      struct stat st;
      if (stat(("/proc/" + std::to_string(pid)).c_str(), &st) == 0 && st.st_uid == *uid) break;
      SleepMs(2);
    }
  }
  return c;
}

namespace {
struct WriterArg {
  std::string path, data;
  int fd;
};
void* WriterBody(void* p) {
  auto* a = static_cast<WriterArg*>(p);
  int32_t msg[2];
  msg[0] = GetTid();
  msg[1] = WriteStr(a->path, a->data);
  WriteAllFd(a->fd, msg, sizeof msg);
  SleepForever();
}
}  // namespace

std::unique_ptr<ChildProc> SpawnWriter(const std::string& path, std::string data,
                                       bool from_thread) {
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) return nullptr;
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) {
    close(p[0]);
    close(p[1]);
    return nullptr;
  }
  if (pid == 0) {
    close(p[0]);
    CloseInheritedFds(p[1]);
    DieWithParent(parent);
    static WriterArg arg;
    arg.path = path;
    arg.data = data;
    arg.fd = p[1];
    if (from_thread) {
      pthread_t th;
      if (pthread_create(&th, nullptr, WriterBody, &arg) != 0) _exit(121);
      SleepForever();
    }
    WriterBody(&arg);
  }
  close(p[1]);
  auto c = std::make_unique<ChildProc>();
  c->pid = pid;
  int32_t msg[2];
  bool ok = ReadExactFd(p[0], msg, sizeof msg);
  close(p[0]);
  if (!ok) return nullptr;
  c->tids.push_back(msg[0]);
  c->result_errno = msg[1];
  return c;
}

std::unique_ptr<ChildProc> SpawnZombieable() {
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) return nullptr;
  if (pid == 0) {
    CloseInheritedFds();
    DieWithParent(parent);
    SleepForever();
  }
  auto c = std::make_unique<ChildProc>();
  c->pid = pid;
  c->zombieable_ = true;
  return c;
}

int RunInChild(const std::function<int()>& fn, std::optional<uid_t> uid) {
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    if (uid && !DropToUid(*uid)) _exit(250);
    DieWithParent(parent);
    int r = fn();
    _exit(r & 0xff);
  }
  // Bounded: a child stuck (e.g. on a hung FUSE request) is killed after 10 s.
  int st = 0;
  bool done = false;
  for (int i = 0; i < 5000 && !done; ++i) {
    pid_t r = waitpid(pid, &st, WNOHANG);
    if (r == pid) done = true;
    else if (r < 0 && errno != EINTR) return -1;
    else SleepMs(i < 100 ? 1 : 2);
  }
  if (!done) {
    kill(pid, SIGKILL);
    waitpid(pid, &st, 0);
    return -1;
  }
  if (WIFEXITED(st)) return WEXITSTATUS(st);
  return -1;
}

char ProcState(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string s;
  if (!std::getline(f, s)) return '?';
  size_t rp = s.rfind(')');
  if (rp == std::string::npos || rp + 2 >= s.size()) return '?';
  return s[rp + 2];
}

pid_t PidMax() {
  std::ifstream f("/proc/sys/kernel/pid_max");
  long v = 0;
  f >> v;
  if (v <= 0) v = 4194304;
  return static_cast<pid_t>(v);
}

void SleepMs(int ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

}  // namespace itest
