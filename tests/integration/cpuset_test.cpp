// The cpuset controller mounted for real (-o cpuset, -o cpuset,noprefix):
// files, writes and errnos, the CPU affinity it gives real processes, and a
// differential run of the same script against the host's own cpuset
// hierarchy (/sys/fs/cgroup/cpuset), in a zz-prefixed child of its root.
#include <gtest/gtest.h>
#include <sched.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "mount_harness.h"

namespace itest {
namespace {

const char* const kKernelCpuset = "/sys/fs/cgroup/cpuset";

std::string FirstLine(const std::string& path) {
  std::ifstream f(path);
  std::string s;
  std::getline(f, s);
  return s;
}

// The online CPUs, as numbers.
std::vector<int> OnlineCpus() {
  std::vector<int> out;
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) != 0) return out;
  std::string list = FirstLine("/sys/devices/system/cpu/online");
  // "0-3,5": expand.
  size_t i = 0;
  while (i < list.size()) {
    size_t comma = list.find(',', i);
    std::string r = list.substr(i, comma == std::string::npos ? std::string::npos : comma - i);
    size_t dash = r.find('-');
    int a = std::stoi(r.substr(0, dash));
    int b = dash == std::string::npos ? a : std::stoi(r.substr(dash + 1));
    for (int c = a; c <= b; ++c) out.push_back(c);
    if (comma == std::string::npos) break;
    i = comma + 1;
  }
  return out;
}

// A pid's CPU affinity as a list ("0-1", "1").
std::string Affinity(pid_t pid) {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(pid, sizeof set, &set) != 0) return "<" + ErrName(errno) + ">";
  std::string out;
  for (int c = 0; c < CPU_SETSIZE;) {
    if (!CPU_ISSET(c, &set)) {
      ++c;
      continue;
    }
    int top = c;
    while (top + 1 < CPU_SETSIZE && CPU_ISSET(top + 1, &set)) ++top;
    if (!out.empty()) out += ',';
    out += std::to_string(c);
    if (top != c) out += "-" + std::to_string(top);
    c = top + 1;
  }
  return out;
}

// One scripted sequence against one hierarchy: each step is recorded as
// "what -> result", with the host-dependent CPU numbers given as names.
class Transcript {
 public:
  Transcript(std::string root, std::string prefix) : root_(std::move(root)), prefix_(std::move(prefix)) {}
  std::vector<std::string> lines;

  std::string P(const std::string& rel) const { return rel.empty() ? root_ : root_ + "/" + rel; }
  // "zz/cpus" -> "<root>/zz/cpuset.cpus"
  std::string F(const std::string& dir, const std::string& file) const {
    std::string d = dir.empty() ? root_ : root_ + "/" + dir;
    return d + "/" + (file == "tasks" || file == "cgroup.procs" || file.rfind("cgroup.", 0) == 0 ? file
                                                                                                 : prefix_ + file);
  }
  void Mkdir(const std::string& rel) { lines.push_back("mkdir " + rel + " -> " + ErrName(Errno(::mkdir(P(rel).c_str(), 0755)))); }
  void Rmdir(const std::string& rel) { lines.push_back("rmdir " + rel + " -> " + ErrName(Errno(::rmdir(P(rel).c_str())))); }
  void Write(const std::string& dir, const std::string& file, const std::string& data, const std::string& shown = "") {
    lines.push_back("write " + dir + ":" + file + " '" + (shown.empty() ? Esc(data) : shown) + "' -> " +
                    ErrName(WriteStr(F(dir, file), data)));
  }
  void Read(const std::string& dir, const std::string& file) {
    ReadResult r = ReadAll(F(dir, file));
    lines.push_back("read " + dir + ":" + file + " -> " + (r.err ? ErrName(r.err) : "'" + Esc(r.data) + "'"));
  }
  void Note(const std::string& s) { lines.push_back(s); }

  static std::string Esc(const std::string& s) {
    std::string out;
    for (char c : s) {
      if (c == '\n') out += "\\n";
      else if (c == '\t') out += "\\t";
      else if (c == '\0') out += "\\0";
      else out += c;
    }
    return out;
  }

 private:
  std::string root_, prefix_;
};

// The script: every file, the list syntax, the hierarchy rules, attach and
// the affinity it gives. `base` is a fresh child of the root.
// Whether the host's top cpuset has children other than ours: making our
// cgroup exclusive would then depend on their CPUs, so that part is left out.
bool KernelRootHasOtherChildren() {
  for (const std::string& e : ListDirSorted(kKernelCpuset)) {
    auto st = Lstat(std::string(kKernelCpuset) + "/" + e);
    if (st && S_ISDIR(st->st_mode) && e.rfind("zz_cgemu_cpuset_", 0) != 0) return true;
  }
  return false;
}

void CpusetScript(Transcript& r, const std::string& base, bool exclusive_top) {
  const std::vector<int> cpus = OnlineCpus();
  const std::string first = std::to_string(cpus.front());
  const std::string last = std::to_string(cpus.back());
  const std::string nr_cpu_ids = std::to_string(cpus.back() + 1);  // possible == online here
  const std::string a = base + "/a", b = base + "/b", c = base + "/c";

  for (const char* f : {"cpus", "mems", "effective_cpus", "effective_mems", "cpu_exclusive", "mem_exclusive",
                        "mem_hardwall", "sched_load_balance", "memory_migrate", "memory_pressure",
                        "memory_spread_page", "memory_spread_slab", "sched_relax_domain_level",
                        "memory_pressure_enabled"})
    r.Read("", f);
  // The top cpuset's masks are read-only, checked before parsing.
  r.Write("", "cpus", first);
  r.Write("", "cpus", "garbage");
  r.Write("", "mems", "0");

  r.Mkdir(base);
  for (const char* f : {"cpus", "mems", "effective_cpus", "effective_mems", "cpu_exclusive", "mem_exclusive",
                        "mem_hardwall", "sched_load_balance", "memory_migrate", "memory_pressure",
                        "memory_spread_page", "memory_spread_slab", "sched_relax_domain_level",
                        "memory_pressure_enabled"})
    r.Read(base, f);

  // The list syntax.
  for (const std::string& in :
       {first, std::string("all"), std::string("N"), std::string("0-"), std::string("1-0"), std::string("-1"),
        nr_cpu_ids, std::string("4294967296"), std::string("0x1"), std::string(" 0 \n"), std::string("0,,0"),
        std::string("0\t0"), std::string("all:1/2"), std::string("0-0:1/0"), std::string("0-0:2/1"),
        std::string("0-0:0/1"), std::string("0\n") + last, std::string("ALL1"), std::string("\n"),
        std::string("0-N"), std::string("")}) {
    r.Write(base, "cpus", in);
    r.Read(base, "cpus");
  }
  r.Read(base, "effective_cpus");
  for (const std::string& in : {std::string("1024"), std::string("N"), std::string("0"), std::string(" \n"),
                                std::string("0-0"), std::string("x")}) {
    r.Write(base, "mems", in);
    r.Read(base, "mems");
  }
  r.Read(base, "effective_mems");

  // Flags: u64, no whitespace, narrowed to int.
  for (const char* f : {"mem_hardwall", "sched_load_balance", "memory_migrate", "memory_spread_page"}) {
    for (const char* in : {"2", "4294967296", "4294967297", " 1", "1 ", "-1", "0x0", "1\n"}) {
      r.Write(base, f, in);
      r.Read(base, f);
    }
  }
  // The upper bound is the host's scheduler-domain depth, which the emulator
  // guesses (see the README); values every host accepts or refuses.
  for (const char* in : {"-2", "-1", "0", "1", "100", " 1", "0x1"}) {
    r.Write(base, "sched_relax_domain_level", in);
    r.Read(base, "sched_relax_domain_level");
  }
  r.Write(base, "memory_pressure", "0");

  // Subset of the parent, shrinking below a child, inherited spread flags.
  r.Mkdir(a);
  r.Read(a, "memory_spread_page");
  r.Read(a, "sched_load_balance");
  r.Write(a, "cpus", first);
  r.Write(base, "cpus", first + "-" + last);
  r.Write(base, "mems", "0");
  r.Write(a, "cpus", first);
  r.Write(a, "mems", "0");
  r.Write(base, "cpus", "\n");  // would drop a's CPU
  r.Write(base, "mems", "\n");
  r.Write(a, "cpu_exclusive", "1");  // the parent is not exclusive
  r.Write(a, "mem_exclusive", "1");

  // Attach: a task in a cpuset gets its CPUs; an empty cpuset refuses it.
  auto s = SpawnSleeper(1);
  if (!s) {
    r.Note("spawn failed");
    return;
  }
  const std::string pid = std::to_string(s->pid);
  r.Mkdir(b);
  r.Write(b, "cgroup.procs", pid, "PID");
  r.Write(b, "cpus", last);
  r.Write(b, "cgroup.procs", pid, "PID");  // still no mems
  r.Write(b, "mems", "0");
  r.Write(b, "cgroup.procs", pid, "PID");
  r.Note("affinity " + std::string(Affinity(s->pid) == last ? "LAST" : Affinity(s->pid)));
  r.Note("thread affinity " + std::string(Affinity(s->tids[0]) == last ? "LAST" : Affinity(s->tids[0])));
  r.Write(b, "cpus", first);
  r.Note("affinity " + std::string(Affinity(s->pid) == first ? "FIRST" : Affinity(s->pid)));
  r.Write(b, "cpus", "\n");  // populated
  r.Write(b, "mems", "\n");
  r.Write(base, "cpus", last);  // b uses the first CPU
  r.Write("", "cgroup.procs", pid, "PID");
  r.Note("affinity " + std::string(Affinity(s->pid) == FirstLine("/sys/devices/system/cpu/online") ? "ALL" : Affinity(s->pid)));
  r.Write(b, "cpus", "\n");
  r.Rmdir(b);

  // Exclusivity under an exclusive parent; clone_children.
  if (!exclusive_top) {
    r.Note("exclusive part left out: the host's top cpuset has other children");
    r.Rmdir(a);
    r.Rmdir(base);
    return;
  }
  r.Write(base, "cpus", first + "-" + last);
  r.Write(base, "cpu_exclusive", "1");
  r.Write(base, "mem_exclusive", "1");
  r.Mkdir(b);
  r.Write(b, "cpus", first);
  r.Write(b, "mems", "0");
  r.Write(a, "cpu_exclusive", "1");  // overlaps b
  r.Write(a, "mem_exclusive", "1");
  r.Write(b, "cpus", "\n");
  r.Write(b, "mems", "\n");
  r.Write(a, "cpu_exclusive", "1");
  r.Write(b, "cpus", first);  // overlaps exclusive a
  r.Write(base, "cpu_exclusive", "0");  // a is exclusive
  r.Write(base, "cgroup.clone_children", "1");
  r.Mkdir(c);  // not cloned: a is exclusive
  r.Read(c, "cpus");
  r.Read(c, "mems");
  r.Rmdir(c);
  r.Write(a, "cpu_exclusive", "0");
  r.Mkdir(c);
  r.Read(c, "cpus");
  r.Read(c, "effective_cpus");
  r.Read(c, "mems");
  r.Read(c, "effective_mems");
  r.Read(c, "cpu_exclusive");
  r.Rmdir(c);
  r.Write(base, "cpu_exclusive", "0");
  r.Write(base, "mem_exclusive", "0");
  r.Rmdir(b);
  r.Rmdir(a);
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

TEST(CpusetKernelDiff, FilesRulesAndAffinityMatchTheKernel) {
  if (std::string why = KernelHierarchyUnavailable(kKernelCpuset, "cpuset"); !why.empty()) GTEST_SKIP() << why;
  if (OnlineCpus().empty()) GTEST_SKIP() << "cannot read the online CPUs";
  const std::string base = "zz_cgemu_cpuset_" + std::to_string(getpid());
  RemoveKernelTree(kKernelCpuset, std::string(kKernelCpuset) + "/" + base);
  const bool exclusive_top = !KernelRootHasOtherChildren();
  Transcript kernel(kKernelCpuset, "cpuset.");
  CpusetScript(kernel, base, exclusive_top);
  RemoveKernelTree(kKernelCpuset, std::string(kKernelCpuset) + "/" + base);

  ITEST_MOUNT_OR_SKIP(m, Backend::kEmulator, "cpuset");
  Transcript emu(m->dir(), "cpuset.");
  CpusetScript(emu, base, exclusive_top);
  if (getenv("ITEST_DUMP_TRANSCRIPT"))
    for (const std::string& l : kernel.lines) printf("%s\n", l.c_str());
  EXPECT_EQ(Diff(emu.lines, kernel.lines), "");
}

TEST(CpusetEmulator, RootShowsTheHostAndChildFilesHaveTheKernelModes) {
  ITEST_MOUNT_OR_SKIP(m, Backend::kEmulator, "cpuset");
  EXPECT_EQ(ReadOrErr(m->Path("cpuset.cpus")), FirstLine("/sys/devices/system/cpu/online") + "\n");
  EXPECT_EQ(ReadOrErr(m->Path("cpuset.effective_cpus")), FirstLine("/sys/devices/system/cpu/online") + "\n");
  ASSERT_EQ(Errno(::mkdir(m->Path("a").c_str(), 0755)), 0);
  const std::vector<std::pair<std::string, mode_t>> files = {
      {"cpuset.cpus", 0644},           {"cpuset.mems", 0644},
      {"cpuset.effective_cpus", 0444}, {"cpuset.effective_mems", 0444},
      {"cpuset.cpu_exclusive", 0644},  {"cpuset.mem_exclusive", 0644},
      {"cpuset.mem_hardwall", 0644},   {"cpuset.sched_load_balance", 0644},
      {"cpuset.memory_migrate", 0644}, {"cpuset.memory_pressure", 0444},
      {"cpuset.memory_spread_page", 0644}, {"cpuset.memory_spread_slab", 0644},
      {"cpuset.sched_relax_domain_level", 0644},
  };
  for (const auto& [name, mode] : files) {
    auto st = Stat(m->Path("a/" + name));
    ASSERT_TRUE(st) << name;
    EXPECT_EQ(PermBits(*st), mode) << name;
  }
  EXPECT_FALSE(Stat(m->Path("a/cpuset.memory_pressure_enabled")));
  auto st = Stat(m->Path("cpuset.memory_pressure_enabled"));
  ASSERT_TRUE(st);
  EXPECT_EQ(PermBits(*st), 0644u);
  // cpuset.cpus takes more than a page: up to 100 + 6 * NR_CPUS bytes.
  const int nr_cpus = std::stoi(FirstLine("/sys/devices/system/cpu/kernel_max")) + 1;
  std::string big(static_cast<size_t>(100 + 6 * nr_cpus), ' ');
  big[0] = '0';
  ASSERT_EQ(WriteStr(m->Path("a/cpuset.mems"), "0"), 0);
  EXPECT_EQ(ErrName(WriteStr(m->Path("a/cpuset.cpus"), big)), "OK");
  EXPECT_EQ(ErrName(WriteStr(m->Path("a/cpuset.cpus"), big + " ")), "E2BIG");
  EXPECT_EQ(ErrName(WriteStr(m->Path("a/cpuset.cpu_exclusive"), std::string(4097, '0'))), "E2BIG");
}

TEST(CpusetEmulator, AffinityFollowsTheCpusetAndItsChanges) {
  const std::vector<int> cpus = OnlineCpus();
  if (cpus.size() < 2) GTEST_SKIP() << "needs two online CPUs";
  ITEST_MOUNT_OR_SKIP(m, Backend::kEmulator, "cpuset");
  auto s = SpawnSleeper(2);
  ASSERT_TRUE(s);
  const std::string first = std::to_string(cpus.front()), last = std::to_string(cpus.back());
  ASSERT_EQ(Errno(::mkdir(m->Path("a").c_str(), 0755)), 0);
  ASSERT_EQ(WriteStr(m->Path("a/cpuset.cpus"), last), 0);
  ASSERT_EQ(WriteStr(m->Path("a/cpuset.mems"), "0"), 0);
  ASSERT_EQ(ErrName(WriteStr(m->Path("a/cgroup.procs"), std::to_string(s->pid))), "OK");
  for (pid_t t : s->AllTids()) EXPECT_EQ(Affinity(t), last) << t;
  // A narrower affinity set by the task is replaced at the next change.
  ASSERT_EQ(WriteStr(m->Path("a/cpuset.cpus"), first + "," + last), 0);
  for (pid_t t : s->AllTids()) EXPECT_EQ(Affinity(t), first + (cpus.size() == 2 ? "-" : ",") + last) << t;
  ASSERT_EQ(WriteStr(m->Path("a/cpuset.cpus"), first), 0);
  for (pid_t t : s->AllTids()) EXPECT_EQ(Affinity(t), first) << t;
  // One thread alone moves with tasks; a nested cpuset.
  ASSERT_EQ(Errno(::mkdir(m->Path("b").c_str(), 0755)), 0);
  ASSERT_EQ(WriteStr(m->Path("b/cpuset.cpus"), last), 0);
  ASSERT_EQ(WriteStr(m->Path("b/cpuset.mems"), "0"), 0);
  ASSERT_EQ(WriteStr(m->Path("b/tasks"), std::to_string(s->tids[0])), 0);
  EXPECT_EQ(Affinity(s->tids[0]), last);
  EXPECT_EQ(Affinity(s->pid), first);
  // An empty cpuset refuses the move and nothing changes.
  ASSERT_EQ(Errno(::mkdir(m->Path("empty").c_str(), 0755)), 0);
  EXPECT_EQ(ErrName(WriteStr(m->Path("empty/cgroup.procs"), std::to_string(s->pid))), "ENOSPC");
  EXPECT_EQ(ReadOrErr(m->Path("empty/tasks")), "");
  EXPECT_EQ(Affinity(s->pid), first);
  // Back to the root: every CPU again.
  ASSERT_EQ(WriteStr(m->Path("cgroup.procs"), std::to_string(s->pid)), 0);
  for (pid_t t : s->AllTids()) EXPECT_EQ(Affinity(t), FirstLine("/sys/devices/system/cpu/online")) << t;
}

TEST(CpusetEmulator, NoprefixNamesTheFilesBare) {
  ITEST_MOUNT_OR_SKIP(m, Backend::kEmulator, "cpuset,noprefix");
  EXPECT_TRUE(Stat(m->Path("cpus")));
  EXPECT_TRUE(Stat(m->Path("memory_pressure_enabled")));
  EXPECT_FALSE(Stat(m->Path("cpuset.cpus")));
  EXPECT_TRUE(Stat(m->Path("tasks")));
  ASSERT_EQ(Errno(::mkdir(m->Path("a").c_str(), 0755)), 0);
  EXPECT_EQ(ReadOrErr(m->Path("a/cpus")), "\n");
  EXPECT_EQ(ErrName(WriteStr(m->Path("a/cpus"), "0")), "OK");
  EXPECT_EQ(ReadOrErr(m->Path("a/cpus")), "0\n");
  EXPECT_EQ(ReadOrErr(m->Path("a/effective_cpus")), "0\n");
  EXPECT_EQ(ErrName(WriteStr(m->Path("cpus"), "0")), "EACCES");
}

// The emulator changes affinity with its own rights: run as nobody, it
// cannot move a root process (the kernel's EPERM from
// security_task_setscheduler), and the move leaves no trace.
TEST(CpusetEmulator, WithoutTheRightToChangeAffinityTheMoveIsRefused) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to run the emulator as nobody";
  const std::vector<int> cpus = OnlineCpus();
  EmulatorConfig config;
  config.options = "cpuset";
  config.run_as = kNobody;
  std::string skip, error;
  auto m = CgroupMount::MakeEmulator(config, &skip, &error);
  if (!m) {
    if (!skip.empty()) GTEST_SKIP() << skip;
    FAIL() << error;
  }
  auto mine = SpawnSleeper(1, kNobody);
  auto roots = SpawnSleeper(1);
  ASSERT_TRUE(mine && roots);
  ASSERT_EQ(Errno(::mkdir(m->Path("a").c_str(), 0755)), 0);
  const std::string cpu = std::to_string(cpus.back());
  ASSERT_EQ(WriteStr(m->Path("a/cpuset.cpus"), cpu), 0);
  ASSERT_EQ(WriteStr(m->Path("a/cpuset.mems"), "0"), 0);
  const std::string before = Affinity(roots->pid);
  EXPECT_EQ(ErrName(WriteStr(m->Path("a/cgroup.procs"), std::to_string(roots->pid))), "EPERM");
  EXPECT_EQ(ReadOrErr(m->Path("a/tasks")), "");
  EXPECT_EQ(Affinity(roots->pid), before);
  EXPECT_EQ(ErrName(WriteStr(m->Path("a/cgroup.procs"), std::to_string(mine->pid))), "OK");
  EXPECT_EQ(Affinity(mine->pid), cpu);
  EXPECT_EQ(Affinity(mine->tids[0]), cpu);
}

}  // namespace
}  // namespace itest
