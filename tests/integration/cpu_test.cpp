// The cpu controller mounted for real (-o cpu, and comounted with cpuacct in
// the default layout): every file's values and errnos and the refusal of
// real-time tasks, differentially against the host's own cpu hierarchy
// (/sys/fs/cgroup/cpu) in a zz-prefixed child of its root.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "mount_harness.h"

namespace itest {
namespace {

const char* const kKernelCpu = "/sys/fs/cgroup/cpu";

std::string KernelCpuUnavailable() {
  if (std::string why = KernelHierarchyUnavailable(kKernelCpu, "cpu"); !why.empty()) return why;
  if (access((std::string(kKernelCpu) + "/cpu.rt_runtime_us").c_str(), F_OK) != 0)
    return "the host's cpu hierarchy has no RT group scheduling";
  return "";
}

// A process whose second thread runs SCHED_FIFO (or, with whole, whose only
// thread does), sleeping. Killed and reaped on destruction.
class RtProc {
 public:
  static std::unique_ptr<RtProc> Spawn(bool whole, std::string* why) {
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0) return nullptr;
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) return nullptr;
    if (pid == 0) {
      close(p[0]);
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (getppid() != parent) _exit(1);
      int reply[2] = {0, 0};
      sched_param sp{};
      sp.sched_priority = 1;
      if (whole) {
        reply[0] = sched_setscheduler(0, SCHED_FIFO, &sp) == 0 ? 0 : errno;
        reply[1] = static_cast<int>(getpid());
      } else {
        static int fds[2];
        if (pipe(fds) != 0) _exit(1);
        pthread_t th;
        pthread_create(&th, nullptr, [](void*) -> void* {
          pid_t tid = static_cast<pid_t>(syscall(SYS_gettid));
          (void)!write(fds[1], &tid, sizeof tid);
          for (;;) pause();
        }, nullptr);
        pid_t tid = 0;
        if (read(fds[0], &tid, sizeof tid) != sizeof tid) _exit(1);
        reply[0] = pthread_setschedparam(th, SCHED_FIFO, &sp);
        reply[1] = tid;
      }
      (void)!write(p[1], reply, sizeof reply);
      for (;;) pause();
    }
    close(p[1]);
    auto proc = std::unique_ptr<RtProc>(new RtProc);
    proc->pid = pid;
    int reply[2];
    ssize_t n = read(p[0], reply, sizeof reply);
    close(p[0]);
    if (n != sizeof reply) {
      *why = "the child did not report";
      return nullptr;
    }
    if (reply[0]) {
      *why = "cannot make a SCHED_FIFO task here: " + ErrName(reply[0]);
      return nullptr;
    }
    proc->rt_tid = reply[1];
    return proc;
  }
  ~RtProc() {
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
  }
  pid_t pid = -1;
  pid_t rt_tid = -1;

 private:
  RtProc() = default;
};

class Transcript {
 public:
  explicit Transcript(std::string root) : root_(std::move(root)) {}
  std::vector<std::string> lines;
  std::string F(const std::string& dir, const std::string& file) const {
    return (dir.empty() ? root_ : root_ + "/" + dir) + "/" + file;
  }
  void Mkdir(const std::string& rel) {
    lines.push_back("mkdir " + rel + " -> " + ErrName(Errno(::mkdir((root_ + "/" + rel).c_str(), 0755))));
  }
  void Rmdir(const std::string& rel) {
    lines.push_back("rmdir " + rel + " -> " + ErrName(Errno(::rmdir((root_ + "/" + rel).c_str()))));
  }
  void Write(const std::string& dir, const std::string& file, const std::string& data, const std::string& shown = "") {
    lines.push_back("write " + dir + ":" + file + " '" + (shown.empty() ? data : shown) + "' -> " +
                    ErrName(WriteStr(F(dir, file), data)));
  }
  // The value after a write.
  void Set(const std::string& dir, const std::string& file, const std::string& data) {
    int e = WriteStr(F(dir, file), data);
    lines.push_back("set " + dir + ":" + file + " '" + data + "' -> " + ErrName(e) + " " + Value(dir, file));
  }
  void Read(const std::string& dir, const std::string& file) { lines.push_back("read " + dir + ":" + file + " -> " + Value(dir, file)); }
  void Note(const std::string& s) { lines.push_back(s); }
  std::string Value(const std::string& dir, const std::string& file) {
    ReadResult r = ReadAll(F(dir, file));
    if (r.err) return ErrName(r.err);
    std::string out;
    for (char c : r.data) out += c == '\n' ? std::string("\\n") : std::string(1, c);
    return "'" + out + "'";
  }

 private:
  std::string root_;
};

const char* const kCpuFiles[] = {"cpu.shares",       "cpu.idle",          "cpu.cfs_quota_us", "cpu.cfs_period_us",
                                 "cpu.cfs_burst_us", "cpu.rt_period_us",  "cpu.rt_runtime_us", "cpu.stat",
                                 "cpu.stat.local"};

// Whether other groups of the host's cpu hierarchy hold RT bandwidth: ours
// would then compete with them, so the RT part is left out.
bool KernelRtBandwidthInUse() {
  for (const std::string& e : ListDirSorted(kKernelCpu)) {
    const std::string d = std::string(kKernelCpu) + "/" + e;
    auto st = Lstat(d);
    if (!st || !S_ISDIR(st->st_mode) || e.rfind("zz_cgemu_cpu_", 0) == 0) continue;
    ReadResult r = ReadAll(d + "/cpu.rt_runtime_us");
    if (!r.err && r.data != "0\n") return true;
  }
  return false;
}

void CpuScript(Transcript& r, const std::string& base, bool rt_free) {
  const std::string p = base + "/p", c = base + "/p/c", a = base + "/a";
  for (const char* f : kCpuFiles) r.Read("", f);
  // The root's weight and bandwidth are fixed.
  r.Write("", "cpu.shares", "1024");
  r.Write("", "cpu.idle", "0");
  r.Write("", "cpu.cfs_quota_us", "-1");
  r.Write("", "cpu.cfs_period_us", "100000");
  r.Write("", "cpu.cfs_burst_us", "0");
  r.Write("", "cpu.rt_runtime_us", "0");
  r.Write("", "cpu.stat", "0");

  r.Mkdir(base);
  for (const char* f : kCpuFiles) r.Read(base, f);
  for (const char* v : {"0", "1", "262145", "18446744073709551615", "0x10", "-1", " 5", "5\n", "5"})
    r.Set(base, "cpu.shares", v);
  for (const char* v : {"1", "2", "-1"}) r.Set(base, "cpu.idle", v);
  r.Read(base, "cpu.shares");
  r.Set(base, "cpu.shares", "100");
  r.Set(base, "cpu.idle", "0");
  r.Read(base, "cpu.shares");
  for (const char* v : {"999", "0", "1000", "-5", "17592186044415", "17592186044416", "9223372036854775807",
                        "-9223372036854775808", "500000", "50000", " 1000"})
    r.Set(base, "cpu.cfs_quota_us", v);
  for (const char* v : {"50001", "-1", "50000"}) r.Set(base, "cpu.cfs_burst_us", v);
  r.Set(base, "cpu.cfs_quota_us", "40000");
  r.Set(base, "cpu.cfs_burst_us", "0");
  for (const char* v : {"999", "1000001", "1000000", "1000", "-1", "100000"}) r.Set(base, "cpu.cfs_period_us", v);
  r.Set(base, "cpu.cfs_quota_us", "-1");
  r.Set(base, "cpu.cfs_burst_us", "5000");
  r.Set(base, "cpu.cfs_burst_us", "18446744073709552");
  r.Set(base, "cpu.cfs_burst_us", "0");

  // A child's quota ratio is bounded by its nearest limited ancestor's.
  r.Mkdir(p);
  r.Mkdir(c);
  r.Set(p, "cpu.cfs_quota_us", "50000");
  r.Set(c, "cpu.cfs_quota_us", "60000");
  r.Set(c, "cpu.cfs_quota_us", "50000");
  r.Set(p, "cpu.cfs_quota_us", "40000");
  r.Set(c, "cpu.cfs_period_us", "200000");
  r.Set(c, "cpu.cfs_period_us", "50000");
  r.Set(p, "cpu.cfs_quota_us", "-1");

  if (!rt_free) {
    r.Note("RT part left out: other groups of the host hold RT bandwidth");
    r.Rmdir(c);
    r.Rmdir(p);
    r.Rmdir(base);
    return;
  }
  // RT bandwidth: within the period, the global limit and the parent's.
  r.Read(p, "cpu.rt_runtime_us");
  r.Set(p, "cpu.rt_runtime_us", "10000");  // more than its parent's
  r.Set(base, "cpu.rt_runtime_us", "500000");
  r.Set(p, "cpu.rt_runtime_us", "10000");
  r.Set(c, "cpu.rt_runtime_us", "20000");
  r.Set(c, "cpu.rt_runtime_us", "5000");
  r.Set(p, "cpu.rt_runtime_us", "1000");
  r.Set(p, "cpu.rt_runtime_us", "-1");
  r.Set(c, "cpu.rt_runtime_us", "0");
  r.Set(p, "cpu.rt_runtime_us", "500000");
  r.Set(p, "cpu.rt_runtime_us", "500001");
  r.Set(p, "cpu.rt_runtime_us", "960000");
  r.Set(p, "cpu.rt_period_us", "0");
  r.Set(p, "cpu.rt_period_us", "5000");
  r.Set(p, "cpu.rt_runtime_us", "6000");
  r.Set(p, "cpu.rt_period_us", "1000000");
  r.Set(p, "cpu.rt_runtime_us", "18446744073709552");
  r.Set(p, "cpu.rt_period_us", "18446744073709552");
  r.Set(p, "cpu.rt_runtime_us", "0");

  // A real-time task cannot join a group without RT runtime; a process with
  // one real-time thread moves whole or not at all.
  std::string why;
  auto rt = RtProc::Spawn(/*whole=*/true, &why);
  auto mixed = RtProc::Spawn(/*whole=*/false, &why);
  if (!rt || !mixed) {
    r.Note("no RT task: " + why);
  } else {
    r.Mkdir(a);
    r.Write(a, "cgroup.procs", std::to_string(rt->pid), "RT");
    r.Read(a, "tasks");
    r.Write(a, "cgroup.procs", std::to_string(mixed->pid), "MIXED");
    r.Read(a, "tasks");
    r.Write(a, "tasks", std::to_string(mixed->rt_tid), "MIXED-RT-THREAD");
    r.Set(a, "cpu.rt_runtime_us", "10000");
    r.Write(a, "cgroup.procs", std::to_string(rt->pid), "RT");
    r.Set(a, "cpu.rt_runtime_us", "0");  // an RT member
    r.Set(a, "cpu.rt_runtime_us", "5000");
    r.Write("", "cgroup.procs", std::to_string(rt->pid), "RT");
    r.Set(a, "cpu.rt_runtime_us", "0");
    // A group that never had a quota: nothing counted. (With a quota the
    // kernel counts enforcement periods, which the emulator does not.)
    r.Read(a, "cpu.stat");
    r.Read(a, "cpu.stat.local");
    r.Rmdir(a);
  }
  r.Rmdir(c);
  r.Rmdir(p);
  r.Rmdir(base);
}

std::string Diff(const std::vector<std::string>& emu, const std::vector<std::string>& kern) {
  std::string out;
  for (size_t i = 0; i < std::max(emu.size(), kern.size()); ++i) {
    std::string e = i < emu.size() ? emu[i] : "<none>";
    std::string k = i < kern.size() ? kern[i] : "<none>";
    if (e != k) out += "step " + std::to_string(i) + ":\n  emulator: " + e + "\n  kernel:   " + k + "\n";
  }
  return out;
}

TEST(CpuKernelDiff, FilesBandwidthAndRealTimeTasksMatchTheKernel) {
  if (std::string why = KernelCpuUnavailable(); !why.empty()) GTEST_SKIP() << why;
  const std::string base = "zz_cgemu_cpu_" + std::to_string(getpid());
  RemoveKernelTree(kKernelCpu, std::string(kKernelCpu) + "/" + base);
  const bool rt_free = !KernelRtBandwidthInUse();
  Transcript kernel(kKernelCpu);
  CpuScript(kernel, base, rt_free);
  RemoveKernelTree(kKernelCpu, std::string(kKernelCpu) + "/" + base);

  ITEST_MOUNT_OR_SKIP(m, Backend::kEmulator, "cpu");
  Transcript emu(m->dir());
  CpuScript(emu, base, rt_free);
  if (getenv("ITEST_DUMP_TRANSCRIPT"))
    for (const std::string& l : kernel.lines) printf("%s\n", l.c_str());
  EXPECT_EQ(Diff(emu.lines, kernel.lines), "");
}

TEST(CpuEmulator, RealTimeTaskRefusedWithoutRtRuntime) {
  std::string why;
  auto rt = RtProc::Spawn(/*whole=*/true, &why);
  if (!rt) GTEST_SKIP() << why;
  ITEST_MOUNT_OR_SKIP(m, Backend::kEmulator, "cpu,cpuacct");
  ASSERT_EQ(Errno(::mkdir(m->Path("a").c_str(), 0755)), 0);
  EXPECT_EQ(ReadOrErr(m->Path("a/cpu.rt_runtime_us")), "0\n");
  EXPECT_EQ(ErrName(WriteStr(m->Path("a/cgroup.procs"), std::to_string(rt->pid))), "EINVAL");
  EXPECT_EQ(ErrName(WriteStr(m->Path("a/tasks"), std::to_string(rt->pid))), "EINVAL");
  EXPECT_EQ(ReadOrErr(m->Path("a/tasks")), "");
  ASSERT_EQ(WriteStr(m->Path("a/cpu.rt_runtime_us"), "10000"), 0);
  EXPECT_EQ(ErrName(WriteStr(m->Path("a/cgroup.procs"), std::to_string(rt->pid))), "OK");
  EXPECT_EQ(ErrName(WriteStr(m->Path("a/cpu.rt_runtime_us"), "0")), "EBUSY");
  EXPECT_EQ(ReadOrErr(m->Path("a/cpu.rt_runtime_us")), "10000\n");
}

// In the default layout cpu and cpuacct share a hierarchy: cpu's refusal
// leaves both as they were; an accepted move shows in both.
TEST(CpuEmulator, ComountedWithCpuacctARefusalLeavesNoTrace) {
  std::string why;
  auto mixed = RtProc::Spawn(/*whole=*/false, &why);
  if (!mixed) GTEST_SKIP() << why;
  ITEST_MOUNT_OR_SKIP(m, Backend::kEmulator, std::nullopt);
  ASSERT_EQ(Errno(::mkdir(m->Path("cpu,cpuacct/a").c_str(), 0755)), 0);
  EXPECT_TRUE(Stat(m->Path("cpu/a/cpuacct.usage")));
  EXPECT_EQ(ErrName(WriteStr(m->Path("cpu,cpuacct/a/cgroup.procs"), std::to_string(mixed->pid))), "EINVAL");
  EXPECT_EQ(ReadOrErr(m->Path("cpuacct/a/tasks")), "");
  EXPECT_EQ(ReadOrErr(m->Path("cpuacct/a/cpuacct.usage")), "0\n");
  EXPECT_FALSE(Contains(ParsePids(ReadOrErr(m->Path("cpu,cpuacct/a/tasks"))), mixed->pid));
  // The normal thread alone may go; the other hierarchies are untouched.
  EXPECT_EQ(ErrName(WriteStr(m->Path("cpu/a/tasks"), std::to_string(mixed->pid))), "OK");
  EXPECT_EQ(ReadOrErr(m->Path("cpuacct/a/tasks")), std::to_string(mixed->pid) + "\n");
  EXPECT_TRUE(Contains(ParsePids(ReadOrErr(m->Path("cpuset/tasks"))), mixed->pid));
}

}  // namespace
}  // namespace itest
