// The cpuacct controller mounted for real (-o cpuacct, -o cpu,cpuacct):
// formats and resets, and the real CPU time of a busy process, counted while
// it is a member, kept after it leaves or exits, and included in the
// parents. The same checks run against the host's own cpuacct hierarchy
// (/sys/fs/cgroup/cpuacct) in a zz-prefixed child of its root. Only bounded
// polling: no timing is asserted.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "mount_harness.h"

namespace itest {
namespace {

const char* const kKernelCpuacct = "/sys/fs/cgroup/cpuacct";

// A child that spins on the CPU until killed.
class Spinner {
 public:
  Spinner() {
    pid_t parent = getpid();
    pid = fork();
    if (pid == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (getppid() != parent) _exit(1);
      volatile unsigned long n = 0;
      for (;;) n = n + 1;
    }
  }
  ~Spinner() { Kill(); }
  void Kill() {
    if (pid > 0) {
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
      pid = -1;
    }
  }
  pid_t pid = -1;
};

unsigned long long Number(const std::string& path) {
  ReadResult r = ReadAll(path);
  if (r.err || r.data.empty()) return 0;
  return std::stoull(r.data);
}

// Numbers replaced by N: the shape of a file whose values depend on the host.
std::string Shape(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (isdigit(static_cast<unsigned char>(s[i]))) {
      out += 'N';
      while (i + 1 < s.size() && isdigit(static_cast<unsigned char>(s[i + 1]))) ++i;
    } else {
      out += s[i] == '\n' ? std::string("\\n") : std::string(1, s[i]);
    }
  }
  return out;
}

const char* const kFiles[] = {"cpuacct.usage",         "cpuacct.usage_user",       "cpuacct.usage_sys",
                              "cpuacct.usage_percpu",  "cpuacct.usage_percpu_user", "cpuacct.usage_percpu_sys",
                              "cpuacct.usage_all",     "cpuacct.stat"};

// What a hierarchy shows for the script below: root shapes, child values,
// modes and write results.
std::vector<std::string> FormatScript(const std::string& root, const std::string& base) {
  std::vector<std::string> lines;
  auto note = [&](const std::string& what, const std::string& res) { lines.push_back(what + " -> " + res); };
  for (const char* f : kFiles) note(std::string("shape /") + f, Shape(ReadOrErr(root + "/" + f)));
  note("write / usage 0", ErrName(WriteStr(root + "/cpuacct.usage", "0")));
  note("write / usage 1", ErrName(WriteStr(root + "/cpuacct.usage", "1")));
  note("mkdir", ErrName(Errno(::mkdir((root + "/" + base).c_str(), 0755))));
  for (const char* f : kFiles) {
    const std::string p = root + "/" + base + "/" + f;
    auto st = Stat(p);
    char mode[16];
    snprintf(mode, sizeof mode, "%04o", st ? PermBits(*st) : 0);
    std::string content = ReadOrErr(p);
    std::string shown;
    for (char c : content) shown += c == '\n' ? std::string("\\n") : std::string(1, c);
    note(std::string("read ") + f, std::string(mode) + " '" + shown + "'");
  }
  for (const char* in : {"0", "1", " 0", "0 ", "0x0", "00", "0\n", "-1", "-0", "", "18446744073709551616"})
    note(std::string("write usage '") + in + "'", ErrName(WriteStr(root + "/" + base + "/cpuacct.usage", in)));
  note("write usage_user", ErrName(WriteStr(root + "/" + base + "/cpuacct.usage_user", "0")));
  note("write stat", ErrName(WriteStr(root + "/" + base + "/cpuacct.stat", "0")));
  note("rmdir", ErrName(Errno(::rmdir((root + "/" + base).c_str()))));
  return lines;
}

TEST(CpuacctKernelDiff, FormatsAndResetsMatchTheKernel) {
  if (std::string why = KernelHierarchyUnavailable(kKernelCpuacct, "cpuacct"); !why.empty()) GTEST_SKIP() << why;
  const std::string base = "zz_cgemu_cpuacct_" + std::to_string(getpid());
  RemoveKernelTree(kKernelCpuacct, std::string(kKernelCpuacct) + "/" + base);
  std::vector<std::string> kernel = FormatScript(kKernelCpuacct, base);
  RemoveKernelTree(kKernelCpuacct, std::string(kKernelCpuacct) + "/" + base);
  ITEST_MOUNT_OR_SKIP(m, Backend::kEmulator, "cpuacct");
  std::vector<std::string> emu = FormatScript(m->dir(), base);
  if (getenv("ITEST_DUMP_TRANSCRIPT"))
    for (const std::string& l : kernel) printf("%s\n", l.c_str());
  EXPECT_EQ(emu, kernel);
}

// The real CPU time of a busy process: grows while it is a member of b, is
// included in b's parent a, stops growing when it leaves, and is kept; a
// reset zeroes usage but not stat. Run against `root` (a hierarchy with
// cpuacct) in the child `base`.
void BusyProcessScript(const std::string& root, const std::string& base) {
  const std::string a = root + "/" + base, b = a + "/b";
  ASSERT_EQ(Errno(::mkdir(a.c_str(), 0755)), 0);
  ASSERT_EQ(Errno(::mkdir(b.c_str(), 0755)), 0);
  Spinner spin;
  ASSERT_GT(spin.pid, 0);
  ASSERT_EQ(ErrName(WriteStr(b + "/cgroup.procs", std::to_string(spin.pid))), "OK");
  // Grows: bounded polling (up to 5 s) for 50 ms of CPU time.
  unsigned long long used = 0;
  for (int i = 0; i < 500 && (used = Number(b + "/cpuacct.usage")) < 50000000ULL; ++i) SleepMs(10);
  EXPECT_GE(used, 50000000ULL);
  EXPECT_GE(Number(a + "/cpuacct.usage"), used);  // the parent includes its child
  // Leaves for the root: its time is kept, and no more is added.
  ASSERT_EQ(WriteStr(root + "/cgroup.procs", std::to_string(spin.pid)), 0);
  const unsigned long long kept = Number(b + "/cpuacct.usage");
  EXPECT_GE(kept, used);
  const unsigned long long parent = Number(a + "/cpuacct.usage");
  const unsigned long long root_before = Number(root + "/cpuacct.usage");
  for (int i = 0; i < 500 && Number(root + "/cpuacct.usage") < root_before + 30000000ULL; ++i) SleepMs(10);
  EXPECT_EQ(Number(b + "/cpuacct.usage"), kept);
  EXPECT_EQ(Number(a + "/cpuacct.usage"), parent);
  // The per-CPU values add up to the total; the user/system split exists.
  std::string percpu = ReadOrErr(b + "/cpuacct.usage_percpu");
  unsigned long long sum = 0;
  for (size_t i = 0; i < percpu.size();) {
    size_t sp = percpu.find(' ', i);
    if (sp == std::string::npos) break;
    sum += std::stoull(percpu.substr(i, sp - i));
    i = sp + 1;
  }
  EXPECT_EQ(sum, kept);
  EXPECT_GT(Number(b + "/cpuacct.usage_user") + Number(b + "/cpuacct.usage_sys"), 0ULL);
  // Reset: usage restarts from 0, stat stays monotonic.
  const std::string stat = ReadOrErr(b + "/cpuacct.stat");
  ASSERT_EQ(WriteStr(b + "/cpuacct.usage", "0"), 0);
  EXPECT_EQ(ReadOrErr(b + "/cpuacct.usage"), "0\n");
  EXPECT_EQ(ReadOrErr(b + "/cpuacct.usage_user"), "0\n");
  EXPECT_EQ(ReadOrErr(b + "/cpuacct.stat"), stat);
  EXPECT_EQ(Number(a + "/cpuacct.usage"), parent);  // the parent keeps its own
  // A member that exits: the time it ran while a member is kept.
  ASSERT_EQ(WriteStr(b + "/cgroup.procs", std::to_string(spin.pid)), 0);
  used = 0;
  for (int i = 0; i < 500 && (used = Number(b + "/cpuacct.usage")) < 20000000ULL; ++i) SleepMs(10);
  EXPECT_GE(used, 20000000ULL);
  spin.Kill();
  EXPECT_GE(Number(b + "/cpuacct.usage"), used);
  EXPECT_EQ(ReadOrErr(b + "/tasks"), "");
  EXPECT_EQ(Errno(::rmdir(b.c_str())), 0);
  EXPECT_GE(Number(a + "/cpuacct.usage"), parent + used);
  EXPECT_EQ(Errno(::rmdir(a.c_str())), 0);
}

TEST(CpuacctEmulator, BusyProcessIsCountedWhileAMember) {
  ITEST_MOUNT_OR_SKIP(m, Backend::kEmulator, "cpu,cpuacct");
  BusyProcessScript(m->dir(), "a");
}

TEST(CpuacctKernelDiff, BusyProcessIsCountedWhileAMember) {
  if (std::string why = KernelHierarchyUnavailable(kKernelCpuacct, "cpuacct"); !why.empty()) GTEST_SKIP() << why;
  const std::string base = "zz_cgemu_cpuacct_busy_" + std::to_string(getpid());
  RemoveKernelTree(kKernelCpuacct, std::string(kKernelCpuacct) + "/" + base);
  BusyProcessScript(kKernelCpuacct, base);
  RemoveKernelTree(kKernelCpuacct, std::string(kKernelCpuacct) + "/" + base);
}

}  // namespace
}  // namespace itest
