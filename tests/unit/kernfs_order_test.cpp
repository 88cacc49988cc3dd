// kernfs readdir order (§1.2). The expected lists are `ls -f` output (minus
// "." and "..") recorded on the 6.18 reference machine with cgroup v1 mounted
// under /sys/fs/cgroup; sorting the same names must reproduce them exactly.
#include "fs/kernfs_order.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

namespace cgemu {
namespace {

using Names = std::vector<std::string>;

// Sorts a reversed copy (so that the input order cannot leak through) and
// checks it against the observed order.
void ExpectKernfsOrder(const Names& observed) {
  Names sorted(observed.rbegin(), observed.rend());
  std::ranges::sort(sorted, [](const std::string& a, const std::string& b) { return kernfs_name_less(a, b); });
  EXPECT_EQ(sorted, observed);
}

TEST(KernfsOrder, CpuRootAsObserved) {
  ExpectKernfsOrder({
      "cpu.cfs_burst_us", "cgroup.procs", "cpu.cfs_period_us", "cgroup.sane_behavior", "cpu.stat",
      "cpu.shares", "cpu.idle", "cpu.stat.local", "cpu.cfs_quota_us", "tasks", "cpu.rt_runtime_us",
      "notify_on_release", "cpu.rt_period_us", "release_agent", "cgroup.clone_children",
  });
}

// Includes "process_api", a child cgroup: directories share the files' order.
TEST(KernfsOrder, MemoryRootAsObserved) {
  ExpectKernfsOrder({
      "cgroup.procs", "memory.use_hierarchy", "memory.kmem.tcp.usage_in_bytes",
      "memory.soft_limit_in_bytes", "cgroup.sane_behavior", "memory.force_empty",
      "memory.pressure_level", "memory.move_charge_at_immigrate", "memory.memsw.failcnt",
      "memory.kmem.tcp.max_usage_in_bytes", "memory.max_usage_in_bytes", "memory.oom_control",
      "memory.stat", "memory.kmem.slabinfo", "memory.limit_in_bytes", "memory.swappiness",
      "memory.memsw.max_usage_in_bytes", "memory.numa_stat", "memory.kmem.failcnt",
      "memory.kmem.max_usage_in_bytes", "memory.usage_in_bytes", "tasks",
      "memory.memsw.limit_in_bytes", "memory.failcnt", "cgroup.event_control",
      "memory.kmem.tcp.failcnt", "memory.kmem.limit_in_bytes", "memory.memsw.usage_in_bytes",
      "process_api", "notify_on_release", "release_agent", "memory.kmem.usage_in_bytes",
      "memory.kmem.tcp.limit_in_bytes", "cgroup.clone_children",
  });
}

// A child cgroup of the memory hierarchy with three child cgroups of its own
// (it also had the vendor-only memory.shown_ram_in_bytes, kept here as a name).
TEST(KernfsOrder, MemoryChildAsObserved) {
  ExpectKernfsOrder({
      "0c1ad8558141dcabbdd00bce440e3ba9", "cgroup.procs", "memory.use_hierarchy",
      "memory.kmem.tcp.usage_in_bytes", "memory.soft_limit_in_bytes", "memory.shown_ram_in_bytes",
      "memory.force_empty", "memory.pressure_level", "memory.move_charge_at_immigrate",
      "memory.memsw.failcnt", "memory.kmem.tcp.max_usage_in_bytes", "memory.max_usage_in_bytes",
      "memory.oom_control", "memory.stat", "memory.kmem.slabinfo", "memory.limit_in_bytes",
      "memory.swappiness", "memory.memsw.max_usage_in_bytes", "memory.numa_stat",
      "memory.kmem.failcnt", "memory.kmem.max_usage_in_bytes", "memory.usage_in_bytes", "tasks",
      "memory.memsw.limit_in_bytes", "memory.failcnt", "cgroup.event_control",
      "memory.kmem.tcp.failcnt", "991ba0d1d60903562002bfadc3204e3d", "memory.kmem.limit_in_bytes",
      "memory.memsw.usage_in_bytes", "notify_on_release", "memory.kmem.usage_in_bytes",
      "b6266acb24df359a37db099dd36127b1", "memory.kmem.tcp.limit_in_bytes", "cgroup.clone_children",
  });
}

TEST(KernfsOrder, CpusetRootAsObserved) {
  ExpectKernfsOrder({
      "cgroup.procs", "cgroup.sane_behavior", "cpuset.memory_pressure", "cpuset.memory_migrate",
      "cpuset.memory_pressure_enabled", "cpuset.mem_exclusive", "cpuset.memory_spread_slab",
      "cpuset.cpu_exclusive", "tasks", "cpuset.effective_mems", "cpuset.effective_cpus",
      "notify_on_release", "release_agent", "cpuset.sched_load_balance", "cpuset.mems",
      "cpuset.mem_hardwall", "cpuset.sched_relax_domain_level", "cpuset.cpus",
      "cgroup.clone_children", "cpuset.memory_spread_page",
  });
}

// Child cgroups with bytes >= 0x80 in their names, made in a scratch cgroup
// under /sys/fs/cgroup/cpu: the kernel hashes bytes as unsigned char.
TEST(KernfsOrder, HighBytesHashUnsignedAsObserved) {
  ExpectKernfsOrder({
      "cpu.cfs_burst_us", "\x80x", "z\xa0", "cgroup.procs", "cpu.cfs_period_us", "\xe9t\xe9",
      "cpu.stat", "\x7f", "\xff", "cpu.shares", "cpu.idle", "cpu.stat.local", "cpu.cfs_quota_us",
      "tasks", "a\xc3\xa9", "\xc0\xc1\xc2", "cpu.rt_runtime_us", "notify_on_release",
      "cpu.rt_period_us", "plain", "cgroup.clone_children",
  });
}

// Values from an independent reimplementation of fs/kernfs/dir.c.
TEST(KernfsNameHash, KnownValues) {
  EXPECT_EQ(kernfs_name_hash(""), 2u);  // 0 is reserved, moved up by 2
  EXPECT_EQ(kernfs_name_hash("a"), 573381588u);
  EXPECT_EQ(kernfs_name_hash("tasks"), 1245728267u);
  EXPECT_EQ(kernfs_name_hash("cgroup.procs"), 116541448u);
  EXPECT_EQ(kernfs_name_hash("\xff"), 682799989u);
}

TEST(KernfsNameHash, StaysInsideReservedBounds) {
  // Brute force over short names: never 0, 1 or INT_MAX.
  std::string name(2, '\0');
  for (int a = 0; a < 256; ++a) {
    for (int b = 0; b < 256; ++b) {
      name[0] = static_cast<char>(a);
      name[1] = static_cast<char>(b);
      const uint32_t hash = kernfs_name_hash(name);
      ASSERT_GE(hash, 2u);
      ASSERT_LT(hash, 0x7fffffffu);
    }
  }
}

TEST(KernfsNameLess, IsAStrictOrder) {
  EXPECT_FALSE(kernfs_name_less("tasks", "tasks"));
  EXPECT_NE(kernfs_name_less("tasks", "cgroup.procs"), kernfs_name_less("cgroup.procs", "tasks"));
  // cgroup.procs hashes lower than tasks, so it lists first.
  EXPECT_TRUE(kernfs_name_less("cgroup.procs", "tasks"));
}

TEST(KernfsNameLess, EqualHashesFallBackToStrcmp) {
  ASSERT_EQ(kernfs_name_hash("aaal"), kernfs_name_hash("aaba"));
  EXPECT_TRUE(kernfs_name_less("aaal", "aaba"));
  EXPECT_FALSE(kernfs_name_less("aaba", "aaal"));
}

}  // namespace
}  // namespace cgemu
