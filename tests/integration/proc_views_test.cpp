// `cgroupfs-emu proc-cgroups` and `proc-cgroup`: /proc/cgroups and
// /proc/<pid>/cgroup of the emulated tree, in the kernel's formats.
#include <gtest/gtest.h>

#include <cstdio>
#include <regex>
#include <sstream>

#include "mount_harness.h"

namespace itest {
namespace {

std::string RunEmulatorCommand(const std::string& args, int* status) {
  std::string out;
  FILE* p = popen((std::string(CGROUPFS_EMU_BIN) + " " + args + " 2>/dev/null").c_str(), "r");
  if (!p) return out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  *status = pclose(p);
  return out;
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

TEST(ProcViews, PidCgroupListsEveryHierarchyNewestFirstWithTheTasksPlace) {
  if (std::string why = EmulatorUnavailableReason(); !why.empty()) GTEST_SKIP() << why;
  std::string skip, err;
  auto m = CgroupMount::Make(Backend::kEmulator, std::nullopt, &skip, &err);
  ASSERT_TRUE(m) << err << skip;
  ASSERT_EQ(mkdir(m->Path("pids/a").c_str(), 0755), 0);
  ASSERT_EQ(mkdir(m->Path("pids/a/b c").c_str(), 0755), 0);
  ASSERT_EQ(mkdir(m->Path("cpu,cpuacct/x").c_str(), 0755), 0);
  auto child = SpawnSleeper(1);
  ASSERT_EQ(WriteStr(m->Path("pids/a/b c/cgroup.procs"), std::to_string(child->pid)), 0);
  ASSERT_EQ(WriteStr(m->Path("cpu/x/tasks"), std::to_string(child->tids[0])), 0);  // one thread only

  int status = -1;
  EXPECT_EQ(RunEmulatorCommand("proc-cgroup " + m->dir() + " " + std::to_string(child->pid), &status),
            "8:name=systemd:/\n7:pids:/a/b c\n6:freezer:/\n5:devices:/\n4:memory:/\n3:blkio:/\n"
            "2:cpu,cpuacct:/\n1:cpuset:/\n");
  EXPECT_EQ(status, 0);
  // A thread's own line: /proc/<tid>/cgroup.
  EXPECT_EQ(Lines(RunEmulatorCommand("proc-cgroup " + m->dir() + " " + std::to_string(child->tids[0]), &status))[6],
            "2:cpu,cpuacct:/x");
  RunEmulatorCommand("proc-cgroup " + m->dir() + " 999999999", &status);
  EXPECT_NE(status, 0);
  child->Kill();
}

TEST(ProcViews, CgroupsCountsCgroupsPerBoundController) {
  if (std::string why = EmulatorUnavailableReason(); !why.empty()) GTEST_SKIP() << why;
  std::string skip, err;
  auto m = CgroupMount::Make(Backend::kEmulator, std::string("pids,name=zz_views"), &skip, &err);
  ASSERT_TRUE(m) << err << skip;
  ASSERT_EQ(mkdir(m->Path("a").c_str(), 0755), 0);
  ASSERT_EQ(mkdir(m->Path("a/b").c_str(), 0755), 0);
  int status = -1;
  auto lines = Lines(RunEmulatorCommand("proc-cgroups " + m->dir(), &status));
  ASSERT_FALSE(lines.empty());
  EXPECT_EQ(lines[0], "#subsys_name\thierarchy\tnum_cgroups\tenabled");
  EXPECT_NE(std::find(lines.begin(), lines.end(), "pids\t1\t3\t1"), lines.end());
  EXPECT_NE(std::find(lines.begin(), lines.end(), "cpu\t0\t1\t1"), lines.end());
  // The kernel's row shape, for every controller.
  std::regex row("[a-z_]+\t[0-9]+\t[0-9]+\t[01]");
  for (size_t i = 1; i < lines.size(); ++i) EXPECT_TRUE(std::regex_match(lines[i], row)) << lines[i];
  auto self = Lines(RunEmulatorCommand("proc-cgroup " + m->dir() + " 1", &status));
  EXPECT_EQ(self, std::vector<std::string>{"1:pids,name=zz_views:/"});
}

}  // namespace
}  // namespace itest
