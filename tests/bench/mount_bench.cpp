// Mount benchmarks: the emulator, a private named kernel cgroup v1 hierarchy
// and a null FUSE filesystem (null_fuse.cpp), side by side in one process.
//
//   bench_mounts [--long] [--rounds N] [--only CASES] [--emu PATH] [--null PATH]
//                [--emu-arg ARG]...    (passed to cgroupfs-emu, e.g. --tracker=procscan)
//                [--null-arg ARG]...   (passed to bench_null_fuse: experiments)
//                [--no-renice]         (default: everything runs at nice -20 when allowed)
//   bench_mounts --cleanup     # removes what a killed run left behind
//
// Cases (comma-separated for --only): move, threads, read, mkdir.
//   move     one single-threaded process moved back and forth between two
//            cgroups by open(O_WRONLY|O_TRUNC), write("PID\n"), close: what
//            `echo PID > cgroup.procs` does
//   threads  the same for processes of 10, 100, 1000 and 10000 threads
//   read     reading `tasks` of a cgroup holding a 10000-thread process
//   mkdir    mkdir, then rmdir, of 1000 cgroups
// Backends run interleaved in rounds (emulator, kernel, null, emulator, ...)
// and each figure is the median over rounds; a ratio is the median of the
// per-round ratios of time per operation (emulator / other: below 1 the
// emulator is faster). The kernel column is skipped, with the reason, when
// not root or when cgroup v1 cannot be mounted.
//
// Everything it creates is removed on exit, on failure and on SIGINT/SIGTERM:
// daemons are stopped (and die with it: PR_SET_PDEATHSIG), the kernel
// hierarchy is emptied and unmounted, children are killed. Mount points are
// /tmp/cgbench_*, kernel hierarchies are named zz_bench_*; --cleanup sweeps
// both after a SIGKILL.
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#ifndef CGEMU_BIN
#define CGEMU_BIN "build/cgroupfs-emu"
#endif
#ifndef NULL_FUSE_BIN
#define NULL_FUSE_BIN "build/tests/bench/bench_null_fuse"
#endif

namespace {

volatile sig_atomic_t g_stop = 0;

struct Interrupted : std::runtime_error {
  Interrupted() : std::runtime_error("interrupted") {}
};

void check_stop() {
  if (g_stop) throw Interrupted();
}

[[noreturn]] void fail(const std::string& what) { throw std::runtime_error(what); }

std::string errstr(int e) { return strerror(e); }

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

void sleep_ms(int ms) {
  timespec ts{ms / 1000, (ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR && !g_stop) {
  }
}

template <typename... Args>
void progress(const char* fmt, Args... args) {
  fprintf(stderr, "bench: ");
  fprintf(stderr, fmt, args...);
  fputc('\n', stderr);
  fflush(stderr);
}

double median(std::vector<double> v) {
  if (v.empty()) return NAN;
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

bool is_mounted(const std::string& dir) {
  std::ifstream f("/proc/self/mountinfo");
  std::string line;
  while (std::getline(f, line)) {
    std::istringstream ss(line);
    std::string id, parent, dev, root, mp;
    ss >> id >> parent >> dev >> root >> mp;
    if (mp == dir) return true;
  }
  return false;
}

// ---- file operations, exactly as the shell does them -------------------------

// `echo DATA > path`: open(O_WRONLY|O_TRUNC), one write, close. 0 or errno.
int echo_to(const std::string& path, const std::string& data) {
  int fd = open(path.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC);
  if (fd < 0) return errno;
  ssize_t n = write(fd, data.data(), data.size());
  int e = n < 0 ? errno : (static_cast<size_t>(n) == data.size() ? 0 : EIO);
  close(fd);
  return e;
}

// `cat path`: open, 128 KiB reads until EOF, close. Returns the bytes read.
size_t cat_size(const std::string& path, std::string* keep = nullptr) {
  static std::vector<char> buf(128 * 1024);
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail("open " + path + ": " + errstr(errno));
  size_t total = 0;
  for (;;) {
    ssize_t n = read(fd, buf.data(), buf.size());
    if (n < 0) {
      int e = errno;
      close(fd);
      fail("read " + path + ": " + errstr(e));
    }
    if (n == 0) break;
    if (keep) keep->append(buf.data(), static_cast<size_t>(n));
    total += static_cast<size_t>(n);
  }
  close(fd);
  return total;
}

// ---- a process of N blocked threads --------------------------------------------

void* block_forever(void*) {
  for (;;) pause();
}

class ThreadedChild {
 public:
  // A child process with `threads` threads in all (the main one included).
  explicit ThreadedChild(int threads) : threads_(threads) {
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0) fail("pipe: " + errstr(errno));
    const pid_t parent = getpid();
    pid_ = fork();
    if (pid_ < 0) fail("fork: " + errstr(errno));
    if (pid_ == 0) {
      close(p[0]);
      signal(SIGINT, SIG_IGN);  // the bench decides when it goes
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (getppid() != parent) _exit(0);
      pthread_attr_t attr;
      pthread_attr_init(&attr);
      pthread_attr_setstacksize(&attr, 64 * 1024);
      for (int i = 1; i < threads; ++i) {
        pthread_t t;
        if (pthread_create(&t, &attr, block_forever, nullptr) != 0) _exit(3);
      }
      char ok = 1;
      if (write(p[1], &ok, 1) != 1) _exit(4);
      for (;;) pause();
    }
    close(p[1]);
    pollfd pfd{p[0], POLLIN, 0};
    const double deadline = now_s() + 120;
    char ok = 0;
    while (now_s() < deadline) {
      check_stop_or_kill();
      int r = poll(&pfd, 1, 200);
      if (r > 0) {
        if (read(p[0], &ok, 1) != 1) ok = 0;
        break;
      }
    }
    close(p[0]);
    if (ok != 1) {
      kill_child();
      fail("the " + std::to_string(threads) + "-thread child did not start");
    }
  }
  ~ThreadedChild() { kill_child(); }
  ThreadedChild(const ThreadedChild&) = delete;
  ThreadedChild& operator=(const ThreadedChild&) = delete;

  pid_t pid() const { return pid_; }
  int threads() const { return threads_; }

 private:
  void check_stop_or_kill() {
    if (g_stop) {
      kill_child();
      throw Interrupted();
    }
  }
  void kill_child() {
    if (pid_ <= 0) return;
    kill(pid_, SIGKILL);
    while (waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {
    }
    pid_ = -1;
  }
  pid_t pid_ = -1;
  int threads_;
};

// ---- the three backends --------------------------------------------------------

enum class Kind { kEmulator, kKernel, kNull };

class Backend {
 public:
  virtual ~Backend() = default;
  virtual const char* name() const = 0;
  virtual Kind kind() const = 0;
  const std::string& dir() const { return dir_; }
  std::string path(const std::string& rel) const { return dir_ + "/" + rel; }

 protected:
  std::string dir_;
};

std::string make_mount_dir(const char* tag) {
  std::string tmpl = std::string("/tmp/cgbench_") + tag + "_XXXXXX";
  if (!mkdtemp(tmpl.data())) fail("mkdtemp: " + errstr(errno));
  chmod(tmpl.c_str(), 0755);
  return tmpl;
}

// A FUSE daemon run in the foreground as a child: dies with the bench.
class FuseBackend : public Backend {
 public:
  FuseBackend(Kind kind, const std::string& binary, const std::vector<std::string>& args) : kind_(kind) {
    dir_ = make_mount_dir(kind == Kind::kEmulator ? "emu" : "null");
    log_ = dir_ + ".log";
    std::vector<std::string> argv = {binary};
    argv.insert(argv.end(), args.begin(), args.end());
    argv.push_back(dir_);
    const pid_t parent = getpid();
    pid_ = fork();
    if (pid_ < 0) fail("fork: " + errstr(errno));
    if (pid_ == 0) {
      int fd = open(log_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
      if (fd >= 0) {
        dup2(fd, 1);
        dup2(fd, 2);
      }
      // SIGINT is the bench's to handle; SIGTERM (also at the bench's death)
      // makes the daemon unmount and exit.
      signal(SIGINT, SIG_IGN);
      prctl(PR_SET_PDEATHSIG, SIGTERM);
      if (getppid() != parent) _exit(0);
      std::vector<char*> cargv;
      for (auto& a : argv) cargv.push_back(a.data());
      cargv.push_back(nullptr);
      execv(cargv[0], cargv.data());
      _exit(127);
    }
    const double deadline = now_s() + 15;
    while (!is_mounted(dir_)) {
      int st;
      if (waitpid(pid_, &st, WNOHANG) == pid_) {
        pid_ = -1;
        std::string log = read_log();
        stop();
        fail(std::string(binary) + " exited before mounting: " + log);
      }
      if (now_s() > deadline || g_stop) {
        stop();
        if (g_stop) throw Interrupted();
        fail(binary + " did not mount within 15 s");
      }
      sleep_ms(5);
    }
  }
  ~FuseBackend() override { stop(); }

  const char* name() const override { return kind_ == Kind::kEmulator ? "emulator" : "null-FUSE"; }
  Kind kind() const override { return kind_; }
  pid_t daemon_pid() const { return pid_; }

  void stop() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      bool gone = false;
      for (int i = 0; i < 500 && !gone; ++i) {
        if (waitpid(pid_, nullptr, WNOHANG) == pid_) gone = true;
        else sleep_ms(10);
      }
      if (!gone) {
        std::string cmd = "fusermount3 -u -z '" + dir_ + "' >/dev/null 2>&1";
        if (system(cmd.c_str()) != 0) umount2(dir_.c_str(), MNT_DETACH);
        kill(pid_, SIGKILL);
        waitpid(pid_, nullptr, 0);
      }
      pid_ = -1;
      // The null filesystem's last words: how many requests of each kind.
      std::string log = read_log();
      size_t at = log.rfind("requests:");
      if (at != std::string::npos) progress("%s %s", name(), log.substr(at, log.find('\n', at) - at).c_str());
    }
    if (!dir_.empty()) {
      if (is_mounted(dir_)) {
        std::string cmd = "fusermount3 -u -z '" + dir_ + "' >/dev/null 2>&1";
        if (system(cmd.c_str()) != 0) umount2(dir_.c_str(), MNT_DETACH);
      }
      rmdir(dir_.c_str());
      unlink(log_.c_str());
      dir_.clear();
    }
  }

 private:
  std::string read_log() const {
    std::ifstream f(log_);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
  }
  Kind kind_;
  pid_t pid_ = -1;
  std::string log_;
};

// Directories below dir, parents before children.
void collect_dirs(const std::string& dir, std::vector<std::string>* out) {
  DIR* d = opendir(dir.c_str());
  if (!d) return;
  std::vector<std::string> subs;
  while (dirent* e = readdir(d)) {
    std::string n = e->d_name;
    if (n == "." || n == "..") continue;
    struct stat st;
    std::string p = dir + "/" + n;
    if (lstat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) subs.push_back(p);
  }
  closedir(d);
  for (auto& s : subs) {
    out->push_back(s);
    collect_dirs(s, out);
  }
}

std::vector<pid_t> parse_pids(const std::string& text) {
  std::vector<pid_t> out;
  std::istringstream ss(text);
  long v;
  while (ss >> v) out.push_back(static_cast<pid_t>(v));
  return out;
}

bool hierarchy_listed(const std::string& name) {
  std::ifstream f("/proc/self/cgroup");
  std::string line;
  while (std::getline(f, line))
    if (line.find("name=" + name + ":") != std::string::npos) return true;
  return false;
}

// Empties and unmounts a private kernel hierarchy mounted on dir: every task
// below its root goes back to the root (they are ours: the hierarchy is
// private), children are removed deepest first, then it is unmounted; a
// hierarchy that lingers (children freed late) is mounted again by name and
// emptied until it is gone.
void teardown_kernel(const std::string& dir, const std::string& name) {
  if (is_mounted(dir)) {
    std::vector<std::string> dirs;
    collect_dirs(dir, &dirs);
    for (int round = 0; round < 3; ++round) {
      bool any = false;
      for (auto& d : dirs) {
        std::ifstream f(d + "/tasks");
        std::stringstream ss;
        ss << f.rdbuf();
        for (pid_t t : parse_pids(ss.str())) {
          any = true;
          echo_to(dir + "/tasks", std::to_string(t));
        }
      }
      if (!any) break;
    }
    for (auto it = dirs.rbegin(); it != dirs.rend(); ++it)
      for (int i = 0; i < 100 && rmdir(it->c_str()) != 0 && errno == EBUSY; ++i) sleep_ms(10);
    bool unmounted = false;
    for (int i = 0; i < 100 && !(unmounted = umount2(dir.c_str(), 0) == 0) && errno == EBUSY; ++i) sleep_ms(10);
    if (!unmounted) umount2(dir.c_str(), MNT_DETACH);
  }
  for (int attempt = 0; attempt < 20 && !name.empty() && hierarchy_listed(name); ++attempt) {
    sleep_ms(50);
    if (!hierarchy_listed(name)) break;
    if (mount("cgroup", dir.c_str(), "cgroup", 0, ("none,name=" + name).c_str()) == 0) {
      std::vector<std::string> left;
      collect_dirs(dir, &left);
      for (auto it = left.rbegin(); it != left.rend(); ++it) rmdir(it->c_str());
      sleep_ms(20);
      if (umount2(dir.c_str(), 0) != 0) umount2(dir.c_str(), MNT_DETACH);
    }
  }
  rmdir(dir.c_str());
}

class KernelBackend : public Backend {
 public:
  // Returns nullptr with *skip set when the kernel column cannot run here.
  static std::unique_ptr<KernelBackend> make(const std::string& name, std::string* skip) {
    if (geteuid() != 0) {
      *skip = "not root: a kernel cgroup v1 hierarchy needs CAP_SYS_ADMIN";
      return nullptr;
    }
    std::unique_ptr<KernelBackend> k(new KernelBackend());
    k->name_ = name;
    k->dir_ = make_mount_dir("kern");
    if (mount("cgroup", k->dir_.c_str(), "cgroup", 0, ("none,name=" + name).c_str()) != 0) {
      *skip = "mount -t cgroup -o none,name=" + name + " failed: " + errstr(errno) + " (no cgroup v1 here?)";
      rmdir(k->dir_.c_str());
      k->dir_.clear();
      return nullptr;
    }
    return k;
  }
  ~KernelBackend() override {
    if (!dir_.empty()) teardown_kernel(dir_, name_);
  }
  const char* name() const override { return "kernel"; }
  Kind kind() const override { return Kind::kKernel; }

 private:
  KernelBackend() = default;
  std::string name_;
};

// Finds and removes what a killed run left: /tmp/cgbench_* mounts and
// directories, and zz_bench_* kernel hierarchies.
int cleanup_leftovers() {
  int found = 0;
  std::vector<std::pair<std::string, std::string>> mounts;  // dir, fstype+options
  {
    std::ifstream f("/proc/self/mountinfo");
    std::string line;
    while (std::getline(f, line)) {
      std::istringstream ss(line);
      std::string id, parent, dev, root, mp;
      ss >> id >> parent >> dev >> root >> mp;
      if (mp.rfind("/tmp/cgbench_", 0) == 0) mounts.emplace_back(mp, line);
    }
  }
  for (auto& [dir, line] : mounts) {
    ++found;
    if (line.find(" - cgroup ") != std::string::npos) {
      size_t at = line.find("name=zz_bench_");
      std::string name;
      if (at != std::string::npos) {
        name = line.substr(at + 5);
        name = name.substr(0, name.find_first_of(", \n"));
      }
      progress("cleanup: kernel hierarchy %s on %s", name.c_str(), dir.c_str());
      teardown_kernel(dir, name);
    } else {
      progress("cleanup: FUSE mount on %s", dir.c_str());
      std::string cmd = "fusermount3 -u -z '" + dir + "' >/dev/null 2>&1";
      if (system(cmd.c_str()) != 0) umount2(dir.c_str(), MNT_DETACH);
      rmdir(dir.c_str());
    }
  }
  // Hierarchies left without a mount: mount them by name and empty them.
  std::ifstream f("/proc/self/cgroup");
  std::string line;
  while (std::getline(f, line)) {
    size_t at = line.find("name=zz_bench_");
    if (at == std::string::npos) continue;
    std::string name = line.substr(at + 5);
    name = name.substr(0, name.find(':'));
    ++found;
    progress("cleanup: lingering kernel hierarchy %s", name.c_str());
    std::string dir = make_mount_dir("kern");
    if (mount("cgroup", dir.c_str(), "cgroup", 0, ("none,name=" + name).c_str()) == 0) teardown_kernel(dir, name);
    else rmdir(dir.c_str());
  }
  // Empty mount points and logs of killed runs.
  if (DIR* d = opendir("/tmp")) {
    while (dirent* e = readdir(d)) {
      std::string n = e->d_name;
      if (n.rfind("cgbench_", 0) != 0) continue;
      std::string p = "/tmp/" + n;
      if (!is_mounted(p) && (rmdir(p.c_str()) == 0 || unlink(p.c_str()) == 0)) ++found;
    }
    closedir(d);
  }
  progress("cleanup: %d leftover(s) removed", found);
  return 0;
}

// ---- measurements --------------------------------------------------------------

struct Config {
  bool long_run = false;
  int rounds_small = 9;  // single-threaded moves, 10 and 100 threads, mkdir
  int rounds_big = 5;    // 1000 and 10000 threads, the big read
  double sample_s = 0.25;
  double case_budget_s = 30;  // a case stops adding rounds past this
  std::string only;
  std::string emu = CGEMU_BIN;
  std::string null = NULL_FUSE_BIN;
  std::vector<std::string> null_args;  // experiments: --xattr, --killpriv
  std::vector<std::string> emu_args;   // e.g. --tracker=procscan
  bool renice = true;
  bool wants(const char* c) const {
    if (only.empty()) return true;
    std::string s = "," + only + ",";
    return s.find(std::string(",") + c + ",") != std::string::npos;
  }
};

// The moves of one sample: each move sends the process to the cgroup it is
// not in (a or b; *in_b says where it is), until at least sample_s has passed
// and min_ops moves were made. Returns moves per second.
double time_moves(Backend& b, pid_t pid, double sample_s, int min_ops, bool* in_b) {
  const std::string data = std::to_string(pid) + "\n";
  const std::string targets[2] = {b.path("a/cgroup.procs"), b.path("b/cgroup.procs")};
  int n = 0;
  const double t0 = now_s();
  while (n < min_ops || now_s() - t0 < sample_s) {
    const std::string& target = targets[*in_b ? 0 : 1];
    if (int e = echo_to(target, data)) {
      check_stop();
      fail(std::string(b.name()) + ": echo " + std::to_string(pid) + " > " + target + ": " + errstr(e));
    }
    *in_b = !*in_b;
    ++n;
    check_stop();
  }
  return n / (now_s() - t0);
}

struct Row {
  std::string what;
  std::string unit;  // "moves/s", "reads/s", ...
  std::map<Kind, double> rate;  // median ops per second
  std::map<Kind, std::vector<double>> samples;
  double ratio_kernel = NAN;  // median of per-round (emulator time / kernel time)
  double ratio_null = NAN;
};

void finish_row(Row& row) {
  for (auto& [k, s] : row.samples) row.rate[k] = median(s);
  auto ratio = [&](Kind other) -> double {
    if (!row.samples.count(Kind::kEmulator) || !row.samples.count(other)) return NAN;
    const auto& e = row.samples[Kind::kEmulator];
    const auto& o = row.samples[other];
    std::vector<double> r;
    for (size_t i = 0; i < std::min(e.size(), o.size()); ++i) r.push_back(o[i] / e[i]);
    return median(r);
  };
  row.ratio_kernel = ratio(Kind::kKernel);
  row.ratio_null = ratio(Kind::kNull);
}

std::string fmt_rate(const Row& row, Kind k) {
  auto it = row.rate.find(k);
  if (it == row.rate.end() || std::isnan(it->second)) return "-";
  char buf[64];
  const double us = 1e6 / it->second;
  if (it->second >= 100)
    snprintf(buf, sizeof buf, "%.0f (%.1f µs)", it->second, us);
  else if (us < 1e5)
    snprintf(buf, sizeof buf, "%.1f (%.2f ms)", it->second, us / 1e3);
  else
    snprintf(buf, sizeof buf, "%.2f (%.0f ms)", it->second, us / 1e3);
  return buf;
}

std::string fmt_ratio(double r) {
  if (std::isnan(r)) return "-";
  char buf[32];
  snprintf(buf, sizeof buf, "%.2fx", r);
  return buf;
}

void print_row_progress(const Row& row) {
  progress("  %-40s emulator %s | kernel %s | null %s | emu/kernel %s | emu/null %s", row.what.c_str(),
           fmt_rate(row, Kind::kEmulator).c_str(), fmt_rate(row, Kind::kKernel).c_str(),
           fmt_rate(row, Kind::kNull).c_str(), fmt_ratio(row.ratio_kernel).c_str(), fmt_ratio(row.ratio_null).c_str());
}

class Bench {
 public:
  Bench(Config cfg) : cfg_(std::move(cfg)) {}

  int run() {
    const std::string tag = "zz_bench_" + std::to_string(getpid());
    progress("mounting the emulator (%s -f -o none,name=%s_emu)", cfg_.emu.c_str(), tag.c_str());
    std::vector<std::string> emu_args = {"-f", "-o", "none,name=" + tag + "_emu"};
    emu_args.insert(emu_args.end(), cfg_.emu_args.begin(), cfg_.emu_args.end());
    emu_ = std::make_unique<FuseBackend>(Kind::kEmulator, cfg_.emu, emu_args);
    progress("mounting a private kernel hierarchy (none,name=%s)", tag.c_str());
    kernel_ = KernelBackend::make(tag, &kernel_skip_);
    if (!kernel_) progress("kernel column skipped: %s", kernel_skip_.c_str());
    progress("mounting the null FUSE filesystem (%s)", cfg_.null.c_str());
    std::vector<std::string> null_args = {"--tasks-lines", std::to_string(kBigThreads)};
    null_args.insert(null_args.end(), cfg_.null_args.begin(), cfg_.null_args.end());
    null_ = std::make_unique<FuseBackend>(Kind::kNull, cfg_.null, null_args);
    backends_ = {emu_.get()};
    if (kernel_) backends_.push_back(kernel_.get());
    backends_.push_back(null_.get());
    for (Backend* b : {static_cast<Backend*>(emu_.get()), static_cast<Backend*>(kernel_.get())}) {
      if (!b) continue;
      for (const char* d : {"a", "b"})
        if (mkdir(b->path(d).c_str(), 0755) != 0) fail(std::string(b->name()) + ": mkdir " + d + ": " + errstr(errno));
    }

    if (cfg_.wants("move")) moves(1, cfg_.rounds_small);
    if (cfg_.wants("threads")) {
      for (int n : {10, 100}) moves(n, cfg_.rounds_small);
      for (int n : {1000, kBigThreads}) moves(n, cfg_.rounds_big);
    }
    if (cfg_.wants("read")) read_tasks();
    if (cfg_.wants("mkdir")) mkdir_rmdir();
    print_table();
    return 0;
  }

 private:
  static constexpr int kBigThreads = 10000;

  // Moves the process into `a` of every backend and checks that it is listed
  // there (emulator and kernel), so that a broken move never gets timed.
  void place(pid_t pid, int threads) {
    for (Backend* b : backends_) {
      if (int e = echo_to(b->path("a/cgroup.procs"), std::to_string(pid) + "\n"))
        fail(std::string(b->name()) + ": first move of " + std::to_string(pid) + ": " + errstr(e));
      if (b->kind() == Kind::kNull) continue;
      std::string text;
      cat_size(b->path("a/tasks"), &text);
      auto tids = parse_pids(text);
      if (static_cast<int>(tids.size()) != threads || !std::count(tids.begin(), tids.end(), pid))
        fail(std::string(b->name()) + ": a/tasks lists " + std::to_string(tids.size()) + " tasks, expected " +
             std::to_string(threads) + " including " + std::to_string(pid));
    }
  }

  void moves(int threads, int rounds) {
    progress("case: move a %d-thread process back and forth (%d rounds, at most %.0f s)", threads, rounds,
             cfg_.case_budget_s);
    std::unique_ptr<ThreadedChild> child = std::make_unique<ThreadedChild>(threads);
    place(child->pid(), threads);
    Row row;
    row.what = threads == 1 ? "move, single-threaded process" : "move, " + std::to_string(threads) + "-thread process";
    row.unit = "moves/s";
    std::map<Kind, bool> in_b;  // place() left it in a everywhere
    const double t0 = now_s();
    for (int r = 0; r < rounds; ++r) {
      for (Backend* b : backends_) {
        // A back-and-forth pair where a move is quick; one move where it is
        // slow, so that a slow backend still fits the case's budget.
        const double rate = time_moves(*b, child->pid(), cfg_.sample_s, threads >= 1000 ? 1 : 2, &in_b[b->kind()]);
        row.samples[b->kind()].push_back(rate);
      }
      progress("  round %d/%d: emulator %.1f, kernel %.1f, null %.1f moves/s", r + 1, rounds,
               row.samples[Kind::kEmulator].back(), kernel_ ? row.samples[Kind::kKernel].back() : NAN,
               row.samples[Kind::kNull].back());
      if (r + 1 < rounds && now_s() - t0 > cfg_.case_budget_s) {
        progress("  stopping after %d of %d rounds: over the case's budget of %.0f s", r + 1, rounds,
                 cfg_.case_budget_s);
        row.what += " [" + std::to_string(r + 1) + " rounds]";
        break;
      }
    }
    finish_row(row);
    print_row_progress(row);
    rows_.push_back(row);
    if (threads == kBigThreads) big_child_ = std::move(child);  // for the read case
  }

  void read_tasks() {
    const int rounds = cfg_.rounds_big;
    progress("case: read `tasks` of a cgroup holding a %d-thread process (%d rounds)", kBigThreads, rounds);
    // The move case's process if it ran (left in a or b), else a new one.
    if (!big_child_) big_child_ = std::make_unique<ThreadedChild>(kBigThreads);
    ThreadedChild& child = *big_child_;
    place(child.pid(), kBigThreads);
    const double t_start = now_s();
    Row row;
    row.what = "read tasks, " + std::to_string(kBigThreads) + " threads";
    row.unit = "reads/s";
    for (int r = 0; r < rounds; ++r) {
      for (Backend* b : backends_) {
        const std::string path = b->path("a/tasks");
        int n = 0;
        const double t0 = now_s();
        while (n < 3 || now_s() - t0 < cfg_.sample_s) {
          size_t bytes = cat_size(path);
          if (bytes < static_cast<size_t>(kBigThreads) * 2) fail(std::string(b->name()) + ": a/tasks too short");
          ++n;
          check_stop();
        }
        row.samples[b->kind()].push_back(n / (now_s() - t0));
      }
      progress("  round %d/%d done", r + 1, rounds);
      if (r + 1 < rounds && now_s() - t_start > cfg_.case_budget_s) {
        progress("  stopping after %d of %d rounds: over the case's budget", r + 1, rounds);
        break;
      }
    }
    finish_row(row);
    print_row_progress(row);
    rows_.push_back(row);
    // Back to the root before the child goes, as a tidy user would.
    for (Backend* b : backends_)
      if (b->kind() != Kind::kNull) echo_to(b->path("cgroup.procs"), std::to_string(child.pid()));
  }

  void mkdir_rmdir() {
    const int rounds = cfg_.rounds_small;
    constexpr int kDirs = 1000;
    progress("case: mkdir then rmdir of %d cgroups (%d rounds)", kDirs, rounds);
    Row mk, rm;
    mk.what = "mkdir, " + std::to_string(kDirs) + " cgroups";
    rm.what = "rmdir, " + std::to_string(kDirs) + " cgroups";
    mk.unit = rm.unit = "ops/s";
    for (int r = 0; r < rounds; ++r) {
      for (Backend* b : backends_) {
        std::vector<std::string> paths;
        for (int i = 0; i < kDirs; ++i) paths.push_back(b->path("m" + std::to_string(r) + "_" + std::to_string(i)));
        double t0 = now_s();
        for (auto& p : paths)
          if (mkdir(p.c_str(), 0755) != 0) fail(std::string(b->name()) + ": mkdir " + p + ": " + errstr(errno));
        double t1 = now_s();
        check_stop();
        for (auto& p : paths)
          if (rmdir(p.c_str()) != 0) fail(std::string(b->name()) + ": rmdir " + p + ": " + errstr(errno));
        double t2 = now_s();
        mk.samples[b->kind()].push_back(kDirs / (t1 - t0));
        rm.samples[b->kind()].push_back(kDirs / (t2 - t1));
        check_stop();
      }
      progress("  round %d/%d done", r + 1, rounds);
    }
    finish_row(mk);
    finish_row(rm);
    print_row_progress(mk);
    print_row_progress(rm);
    rows_.push_back(mk);
    rows_.push_back(rm);
  }

  void print_table() {
    printf("\n| case | emulator | kernel | null FUSE | emulator/kernel | emulator/null |\n");
    printf("|---|---|---|---|---|---|\n");
    for (const Row& row : rows_) {
      printf("| %s (%s) | %s | %s | %s | %s | %s |\n", row.what.c_str(), row.unit.c_str(),
             fmt_rate(row, Kind::kEmulator).c_str(), fmt_rate(row, Kind::kKernel).c_str(),
             fmt_rate(row, Kind::kNull).c_str(), fmt_ratio(row.ratio_kernel).c_str(),
             fmt_ratio(row.ratio_null).c_str());
    }
    printf("\nRates are medians over interleaved rounds (ops/s, time per op in brackets). A ratio is the median of\n"
           "the per-round ratios of time per op, emulator / other: below 1.00x the emulator is faster.\n");
    if (!kernel_) printf("Kernel column skipped: %s\n", kernel_skip_.c_str());
    fflush(stdout);
  }

  Config cfg_;
  std::unique_ptr<FuseBackend> emu_, null_;
  std::unique_ptr<KernelBackend> kernel_;
  std::string kernel_skip_;
  std::vector<Backend*> backends_;
  std::vector<Row> rows_;
  std::unique_ptr<ThreadedChild> big_child_;  // the 10000-thread process, kept for the read case
};

void on_signal(int) { g_stop = 1; }

void print_machine() {
  utsname u{};
  uname(&u);
  std::ifstream cpu("/proc/cpuinfo");
  std::string line, model = "?";
  while (std::getline(cpu, line))
    if (line.rfind("model name", 0) == 0) {
      model = line.substr(line.find(':') + 2);
      break;
    }
  std::ifstream load("/proc/loadavg");
  std::string l1;
  load >> l1;
  printf("machine: %ld CPUs, %s, kernel %s, load average %s\n", sysconf(_SC_NPROCESSORS_ONLN), model.c_str(),
         u.release, l1.c_str());
  fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  Config cfg;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        fprintf(stderr, "bench_mounts: %s needs a value\n", a.c_str());
        exit(2);
      }
      return argv[++i];
    };
    if (a == "--cleanup") return cleanup_leftovers();
    if (a == "--long") {
      cfg.long_run = true;
      cfg.rounds_small = 21;
      cfg.rounds_big = 11;
      cfg.sample_s = 0.5;
      cfg.case_budget_s = 300;
    } else if (a == "--rounds") {
      cfg.rounds_small = cfg.rounds_big = std::max(1, atoi(next().c_str()));
    } else if (a == "--only") {
      cfg.only = next();
    } else if (a == "--emu") {
      cfg.emu = next();
    } else if (a == "--null") {
      cfg.null = next();
    } else if (a == "--no-renice") {
      cfg.renice = false;
    } else if (a == "--emu-arg") {
      cfg.emu_args.push_back(next());
    } else if (a == "--null-arg") {
      cfg.null_args.push_back(next());
    } else {
      fprintf(stderr,
              "usage: bench_mounts [--long] [--rounds N] [--only move,threads,read,mkdir] [--emu PATH] [--null PATH]\n"
              "                    [--emu-arg ARG]... [--null-arg ARG]... [--no-renice]\n"
              "       bench_mounts --cleanup\n");
      return 2;
    }
  }
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  for (int s : {SIGINT, SIGTERM, SIGHUP}) sigaction(s, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);

  // Other tenants' CPU hogs (a compiler on the other CPU) delay the FUSE
  // daemons' wake-ups by whole time slices; at nice -20 the bench, its
  // daemons and its children preempt them. Every column gets the same.
  if (cfg.renice) {
    if (setpriority(PRIO_PROCESS, 0, -20) == 0) progress("running at nice -20 (--no-renice to keep %d)", 0);
    else progress("cannot renice (%s): timings are exposed to other load", strerror(errno));
  }
  print_machine();
  try {
    return Bench(cfg).run();
  } catch (const Interrupted&) {
    progress("interrupted: cleaning up");
    return 130;
  } catch (const std::exception& e) {
    progress("FAILED: %s", e.what());
    return 1;
  }
}
