// The cpuset controller on the engine with a fake host: every file's parsing,
// defaults and errnos, the v1 hierarchy rules, and the affinity it applies.
#include "controllers/cpuset.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <map>
#include <set>
#include <string>

#include "engine/engine.h"
#include "engine/kernel_parse.h"
#include "engine_helpers.h"
#include "fake_task_source.h"

namespace cgemu {
namespace {

using testing::FakeTaskSource;
using Mask = std::vector<bool>;

constexpr int kCpuset = 0;  // the kernel's ssid

Mask bits(unsigned n, std::initializer_list<unsigned> set) {
  Mask m(n, false);
  for (unsigned i : set) m[i] = true;
  return m;
}

class FakeCpusetHost : public CpusetHost {
 public:
  int may_set_affinity(pid_t tid) override {
    probed.insert(tid);
    auto it = refuse.find(tid);
    return it == refuse.end() ? 0 : it->second;
  }
  int set_affinity(pid_t tid, const Mask& cpus) override {
    affinity[tid] = bitmap_print(cpus);
    ++sets;
    return 0;
  }
  std::map<pid_t, int> refuse;
  std::map<pid_t, std::string> affinity;
  std::set<pid_t> probed;
  int sets = 0;
};

// 4 possible CPUs (0-3), all online unless told; 2 memory nodes of 1024.
CpusetTopology topology(bool v2 = false) {
  CpusetTopology t;
  t.nr_cpu_ids = 4;
  t.possible_cpus = bits(4, {0, 1, 2, 3});
  t.online_cpus = bits(4, {0, 1, 2, 3});
  t.max_numnodes = 1024;
  t.memory_nodes = bits(1024, {0, 1});
  t.nr_cpus_config = 256;
  t.sched_domain_level_max = 1;
  t.v2_mode = v2;
  return t;
}

class CpusetTest : public ::testing::Test {
 protected:
  void build(CpusetTopology t = topology(), bool clone_children = false) {
    auto fake = std::make_unique<FakeCpusetHost>();
    host = fake.get();
    Controllers controllers;
    controllers[kCpuset] = make_cpuset_controller(std::move(t), std::move(fake));
    controller = controllers[kCpuset].get();
    engine = std::make_unique<Engine>(tasks, std::move(controllers),
                                      std::vector<HierarchyConfig>{{"", 1u << kCpuset, clone_children, ""}});
  }
  Cgroup& root() { return engine->hierarchies()[0]->root(); }
  Cgroup& mkdir(Cgroup& parent, const char* name) {
    return testing::make_cgroup(*engine, parent, name);
  }
  const ControlFile* file(std::string_view name) {
    for (const ControlFile& f : controller->legacy_files())
      if (f.name == name) return &f;
    return nullptr;
  }
  // The content, or "E<errno>".
  std::string read(Cgroup& cg, std::string_view name) {
    const ControlFile* f = file(name);
    if (!f) return "ENOFILE";
    FileCall call{*engine, cg, opener, 1};
    std::string out;
    if (int err = f->read(call, out)) return "E" + std::to_string(-err);
    return out;
  }
  int write(Cgroup& cg, std::string_view name, std::string_view input) {
    const ControlFile* f = file(name);
    if (!f || !f->write) return -EINVAL;
    FileCall call{*engine, cg, opener, 1};
    return f->write(call, input);
  }
  int move(Cgroup& dst, pid_t pid, bool threadgroup = true) {
    return testing::move_task(*engine, dst, pid, threadgroup);
  }
  std::set<pid_t> tids(Cgroup& c) {
    std::set<pid_t> out;
    for (auto m : engine->members(c)) out.insert(m.tid);
    return out;
  }

  FakeTaskSource tasks;
  FakeCpusetHost* host = nullptr;
  Controller* controller = nullptr;
  std::unique_ptr<Engine> engine;
  FileOpener opener;
};

TEST(BitmapList, ParseAndPrintLikeTheKernel) {
  Mask m;
  EXPECT_EQ(bitmap_parselist("0-3,8", 16, &m), 0);
  EXPECT_EQ(bitmap_print(m), "0-3,8");
  EXPECT_EQ(bitmap_parselist("0-15:2/4", 16, &m), 0);
  EXPECT_EQ(bitmap_print(m), "0-1,4-5,8-9,12-13");
  // struct region holds unsigned ints: the group's start wraps past 2^32.
  EXPECT_EQ(bitmap_parselist("1-3:1/4294967295", 16, &m), 0);
  EXPECT_EQ(bitmap_print(m), "0-1");
  EXPECT_EQ(bitmap_parselist("", 16, &m), 0);
  EXPECT_EQ(bitmap_print(m), "");
  EXPECT_EQ(m.size(), 16u);
  EXPECT_EQ(bitmap_parselist(",\n", 16, &m), 0);
  EXPECT_EQ(bitmap_parselist(", \t", 16, &m), 0);
  EXPECT_EQ(bitmap_parselist("15", 16, &m), 0);
  EXPECT_EQ(bitmap_print(m), "15");
  EXPECT_EQ(bitmap_parselist("16", 16, &m), -ERANGE);
  EXPECT_EQ(bitmap_parselist("99999999999", 16, &m), -EOVERFLOW);
  EXPECT_EQ(bitmap_parselist("1-", 16, &m), -EINVAL);
  EXPECT_EQ(bitmap_parselist("3-1", 16, &m), -EINVAL);
  EXPECT_EQ(bitmap_parselist("0-3:", 16, &m), -EINVAL);
  EXPECT_EQ(bitmap_parselist("0-3:1", 16, &m), -EINVAL);
  EXPECT_EQ(bitmap_parselist("0-3:1/", 16, &m), -EINVAL);
  EXPECT_EQ(bitmap_parselist("1:1/2", 16, &m), -EINVAL);  // a pattern needs a range
  EXPECT_EQ(bitmap_parselist("N-N", 16, &m), 0);
  EXPECT_EQ(bitmap_print(m), "15");
  EXPECT_EQ(bitmap_parselist("aLl", 4, &m), 0);
  EXPECT_EQ(bitmap_print(m), "0-3");
  EXPECT_EQ(bitmap_parselist(std::string_view("1\0,2", 4), 4, &m), 0);
  EXPECT_EQ(bitmap_print(m), "1");
  EXPECT_EQ(bitmap_print(Mask{true, true, false, true}), "0-1,3");
}

TEST_F(CpusetTest, FilesModesAndRootOnlyFile) {
  build();
  const std::map<std::string, unsigned> modes = {
      {"cpus", 0644},           {"mems", 0644},           {"effective_cpus", 0444},      {"effective_mems", 0444},
      {"cpu_exclusive", 0644},  {"mem_exclusive", 0644},  {"mem_hardwall", 0644},        {"sched_load_balance", 0644},
      {"memory_migrate", 0644}, {"memory_pressure", 0444}, {"memory_spread_page", 0644}, {"memory_spread_slab", 0644},
      {"sched_relax_domain_level", 0644}, {"memory_pressure_enabled", 0644},
  };
  std::map<std::string, unsigned> seen;
  for (const ControlFile& f : controller->legacy_files()) seen[std::string(f.name)] = f.mode();
  EXPECT_EQ(seen, modes);
  EXPECT_EQ(file("memory_pressure_enabled")->flags, unsigned{kCftOnlyOnRoot});
  for (const ControlFile& f : controller->legacy_files()) {
    if (f.name != "memory_pressure_enabled") {
      EXPECT_EQ(f.flags, 0u) << f.name;
    }
  }
  // 100 + 6 * NR_CPUS and 100 + 6 * MAX_NUMNODES; the rest PAGE_SIZE.
  EXPECT_EQ(file("cpus")->max_write_len, 100u + 6 * 256);
  EXPECT_EQ(file("mems")->max_write_len, 100u + 6 * 1024);
  EXPECT_EQ(file("cpu_exclusive")->max_write_len, 4096u);
}

TEST_F(CpusetTest, RootDefaults) {
  build();
  EXPECT_EQ(read(root(), "cpus"), "0-3\n");
  EXPECT_EQ(read(root(), "effective_cpus"), "0-3\n");
  EXPECT_EQ(read(root(), "mems"), "0-1\n");
  EXPECT_EQ(read(root(), "effective_mems"), "0-1\n");
  EXPECT_EQ(read(root(), "cpu_exclusive"), "1\n");
  EXPECT_EQ(read(root(), "mem_exclusive"), "1\n");
  EXPECT_EQ(read(root(), "mem_hardwall"), "0\n");
  EXPECT_EQ(read(root(), "sched_load_balance"), "1\n");
  EXPECT_EQ(read(root(), "memory_migrate"), "0\n");
  EXPECT_EQ(read(root(), "memory_pressure"), "0\n");
  EXPECT_EQ(read(root(), "memory_spread_page"), "0\n");
  EXPECT_EQ(read(root(), "memory_spread_slab"), "0\n");
  EXPECT_EQ(read(root(), "sched_relax_domain_level"), "-1\n");
  EXPECT_EQ(read(root(), "memory_pressure_enabled"), "0\n");
}

TEST_F(CpusetTest, RootShowsOnlineCpusAndRefusesMaskWrites) {
  CpusetTopology t = topology();
  t.online_cpus = bits(4, {0, 2, 3});
  build(t);
  EXPECT_EQ(read(root(), "cpus"), "0,2-3\n");
  // Read-only, checked before parsing.
  EXPECT_EQ(write(root(), "cpus", "0"), -EACCES);
  EXPECT_EQ(write(root(), "cpus", "garbage"), -EACCES);
  EXPECT_EQ(write(root(), "mems", "0"), -EACCES);
  EXPECT_EQ(write(root(), "mems", ""), -EACCES);
  // An offline CPU is not in the top cpuset.
  Cgroup& a = mkdir(root(), "a");
  EXPECT_EQ(write(a, "cpus", "1"), -EINVAL);
  EXPECT_EQ(write(a, "cpus", "0,2"), 0);
}

TEST_F(CpusetTest, ChildDefaultsAreEmpty) {
  build();
  Cgroup& a = mkdir(root(), "a");
  EXPECT_EQ(read(a, "cpus"), "\n");
  EXPECT_EQ(read(a, "mems"), "\n");
  EXPECT_EQ(read(a, "effective_cpus"), "\n");
  EXPECT_EQ(read(a, "effective_mems"), "\n");
  EXPECT_EQ(read(a, "cpu_exclusive"), "0\n");
  EXPECT_EQ(read(a, "mem_exclusive"), "0\n");
  EXPECT_EQ(read(a, "sched_load_balance"), "1\n");
  EXPECT_EQ(read(a, "sched_relax_domain_level"), "-1\n");
}

TEST_F(CpusetTest, CpuListParsing) {
  build();
  Cgroup& a = mkdir(root(), "a");
  struct Case {
    const char* input;
    int err;
    const char* after;  // content after the write
  };
  const Case cases[] = {
      {"0-3", 0, "0-3\n"},        {"4", -ERANGE, "0-3\n"},     {"0-", -EINVAL, "0-3\n"},
      {"1-0", -EINVAL, "0-3\n"},  {"-1", -EINVAL, "0-3\n"},    {"a", -EINVAL, "0-3\n"},
      {"N", 0, "3\n"},            {"all", 0, "0-3\n"},         {"0-3:1/2", 0, "0,2\n"},
      {"ALL:1/2", 0, "0,2\n"},    {"0,,1", 0, "0-1\n"},        {"0 1\t3", 0, "0-1,3\n"},
      {" 2 \n", 0, "2\n"},        {"0-1:1/0", -EINVAL, "2\n"}, {"0-1:2/1", -EINVAL, "2\n"},
      {"4294967296", -EOVERFLOW, "2\n"}, {"0x1", -EINVAL, "2\n"}, {"00", 0, "0\n"},
      {"1\n0", 0, "1\n"},         {"0-1:1/2\n3", 0, "0,3\n"},  {"all1", -EINVAL, "0,3\n"},
      {"1-N", 0, "1-3\n"},        {"0-0:0/1", 0, "\n"},        {"3", 0, "3\n"},
      {"\n", 0, "\n"},            {"1\0junk", 0, "1\n"},
  };
  for (const Case& c : cases) {
    std::string_view in = c.input;
    if (in == "1") in = std::string_view("1\0junk", 6);
    EXPECT_EQ(write(a, "cpus", in), c.err) << "input " << c.input;
    EXPECT_EQ(read(a, "cpus"), c.after) << "after " << c.input;
    EXPECT_EQ(read(a, "effective_cpus"), c.after) << "after " << c.input;
  }
}

TEST_F(CpusetTest, NodeListParsing) {
  build();
  Cgroup& a = mkdir(root(), "a");
  EXPECT_EQ(write(a, "mems", "2"), -EINVAL);  // a node the machine does not have
  EXPECT_EQ(write(a, "mems", "1024"), -ERANGE);
  EXPECT_EQ(write(a, "mems", "N"), -EINVAL);  // node MAX_NUMNODES - 1
  EXPECT_EQ(write(a, "mems", "1"), 0);
  EXPECT_EQ(read(a, "mems"), "1\n");
  EXPECT_EQ(read(a, "effective_mems"), "1\n");
  EXPECT_EQ(write(a, "mems", "0-1"), 0);
  EXPECT_EQ(read(a, "mems"), "0-1\n");
  EXPECT_EQ(write(a, "mems", " \n"), 0);
  EXPECT_EQ(read(a, "mems"), "\n");
}

TEST_F(CpusetTest, ChildMustBeASubsetOfItsParentAndParentCannotShrinkBelowChild) {
  build();
  Cgroup& a = mkdir(root(), "a");
  Cgroup& b = mkdir(a, "b");
  ASSERT_EQ(write(a, "cpus", "0-1"), 0);
  ASSERT_EQ(write(a, "mems", "0"), 0);
  EXPECT_EQ(write(b, "cpus", "2"), -EACCES);
  EXPECT_EQ(write(b, "cpus", "0-2"), -EACCES);
  EXPECT_EQ(write(b, "mems", "1"), -EACCES);
  EXPECT_EQ(write(b, "cpus", "1"), 0);
  EXPECT_EQ(write(b, "mems", "0"), 0);
  EXPECT_EQ(write(a, "cpus", "0"), -EBUSY);
  EXPECT_EQ(write(a, "mems", ""), -EBUSY);
  EXPECT_EQ(write(a, "cpus", "1-3"), 0);  // still holds b's CPU
  EXPECT_EQ(read(a, "cpus"), "1-3\n");
  // Writing the current value is a no-op success.
  EXPECT_EQ(write(b, "cpus", "1"), 0);
}

TEST_F(CpusetTest, EmptyingAPopulatedCpusetIsENOSPC) {
  tasks.add(100, 100);
  build();
  Cgroup& a = mkdir(root(), "a");
  Cgroup& b = mkdir(a, "b");
  ASSERT_EQ(write(a, "cpus", "0-1"), 0);
  ASSERT_EQ(write(a, "mems", "0"), 0);
  ASSERT_EQ(write(b, "cpus", "0"), 0);
  ASSERT_EQ(write(b, "mems", "0"), 0);
  ASSERT_EQ(move(b, 100), 0);
  // Populated through its child: a cannot be emptied either (EBUSY comes
  // first there, b being a subset), b cannot.
  EXPECT_EQ(write(b, "cpus", ""), -ENOSPC);
  EXPECT_EQ(write(b, "mems", "\n"), -ENOSPC);
  EXPECT_EQ(write(b, "cpus", "1"), 0);  // changing is fine
  ASSERT_EQ(move(root(), 100), 0);
  EXPECT_EQ(write(b, "cpus", ""), 0);
  EXPECT_EQ(read(b, "cpus"), "\n");
}

TEST_F(CpusetTest, Exclusivity) {
  build();
  Cgroup& a = mkdir(root(), "a");
  Cgroup& b = mkdir(root(), "b");
  Cgroup& a1 = mkdir(a, "a1");
  ASSERT_EQ(write(a, "cpus", "0-1"), 0);
  ASSERT_EQ(write(a, "mems", "0"), 0);
  ASSERT_EQ(write(b, "cpus", "1-2"), 0);
  ASSERT_EQ(write(b, "mems", "0-1"), 0);
  // Overlapping a sibling.
  EXPECT_EQ(write(a, "cpu_exclusive", "1"), -EINVAL);
  EXPECT_EQ(write(a, "mem_exclusive", "1"), -EINVAL);
  ASSERT_EQ(write(b, "cpus", "2-3"), 0);
  ASSERT_EQ(write(b, "mems", "1"), 0);
  EXPECT_EQ(write(a, "cpu_exclusive", "1"), 0);
  EXPECT_EQ(write(a, "mem_exclusive", "2"), 0);
  EXPECT_EQ(read(a, "mem_exclusive"), "1\n");
  // A sibling may not overlap an exclusive cpuset.
  EXPECT_EQ(write(b, "cpus", "1-3"), -EINVAL);
  EXPECT_EQ(write(b, "mems", "0-1"), -EINVAL);
  // A child cannot be exclusive under a non-exclusive parent...
  ASSERT_EQ(write(a1, "cpus", "0"), 0);
  ASSERT_EQ(write(a1, "mems", "0"), 0);
  Cgroup& a11 = mkdir(a1, "a11");
  EXPECT_EQ(write(a11, "cpu_exclusive", "1"), -EACCES);
  // ...and an exclusive parent cannot drop it under an exclusive child.
  ASSERT_EQ(write(a1, "cpu_exclusive", "1"), 0);
  EXPECT_EQ(write(a, "cpu_exclusive", "0"), -EBUSY);
  ASSERT_EQ(write(a1, "cpu_exclusive", "0"), 0);
  EXPECT_EQ(write(a, "cpu_exclusive", "0"), 0);
  // The root's flags: clearing them is refused while a child is exclusive.
  EXPECT_EQ(write(root(), "mem_exclusive", "0"), -EBUSY);
}

TEST_F(CpusetTest, FlagsAreU64AndNarrowedToInt) {
  build();
  Cgroup& a = mkdir(root(), "a");
  for (const char* f : {"mem_hardwall", "sched_load_balance", "memory_migrate", "memory_spread_page",
                        "memory_spread_slab"}) {
    EXPECT_EQ(write(a, f, "2"), 0) << f;
    EXPECT_EQ(read(a, f), "1\n") << f;
    EXPECT_EQ(write(a, f, "4294967296"), 0) << f;  // (int)2^32 == 0
    EXPECT_EQ(read(a, f), "0\n") << f;
    EXPECT_EQ(write(a, f, "4294967297"), 0) << f;
    EXPECT_EQ(read(a, f), "1\n") << f;
    EXPECT_EQ(write(a, f, "0x0"), 0) << f;
    EXPECT_EQ(read(a, f), "0\n") << f;
    EXPECT_EQ(write(a, f, " 1"), -EINVAL) << f;
    EXPECT_EQ(write(a, f, "1 "), -EINVAL) << f;
    EXPECT_EQ(write(a, f, "-1"), -EINVAL) << f;
    EXPECT_EQ(write(a, f, "18446744073709551616"), -ERANGE) << f;
  }
  EXPECT_EQ(write(root(), "memory_pressure_enabled", "5"), 0);
  EXPECT_EQ(read(root(), "memory_pressure_enabled"), "1\n");
  EXPECT_EQ(write(root(), "memory_pressure_enabled", "0"), 0);
  EXPECT_EQ(read(root(), "memory_pressure_enabled"), "0\n");
  EXPECT_EQ(write(a, "memory_pressure", "0"), -EINVAL);  // read-only
}

TEST_F(CpusetTest, RelaxDomainLevelRange) {
  build();  // sched_domain_level_max = 1
  Cgroup& a = mkdir(root(), "a");
  EXPECT_EQ(write(a, "sched_relax_domain_level", "-2"), -EINVAL);
  EXPECT_EQ(write(a, "sched_relax_domain_level", "3"), -EINVAL);
  EXPECT_EQ(write(a, "sched_relax_domain_level", "100"), -EINVAL);
  EXPECT_EQ(write(a, "sched_relax_domain_level", "2"), 0);
  EXPECT_EQ(read(a, "sched_relax_domain_level"), "2\n");
  EXPECT_EQ(write(a, "sched_relax_domain_level", "-1"), 0);
  EXPECT_EQ(read(a, "sched_relax_domain_level"), "-1\n");
  EXPECT_EQ(write(a, "sched_relax_domain_level", "0x1"), 0);
  EXPECT_EQ(read(a, "sched_relax_domain_level"), "1\n");
  EXPECT_EQ(write(a, "sched_relax_domain_level", " 1"), -EINVAL);
  EXPECT_EQ(write(root(), "sched_relax_domain_level", "0"), 0);
}

TEST_F(CpusetTest, CloneChildrenCopiesTheParentsMasksUnlessASiblingIsExclusive) {
  build(topology(), /*clone_children=*/true);
  Cgroup& a = mkdir(root(), "a");
  EXPECT_EQ(read(a, "cpus"), "0-3\n");
  EXPECT_EQ(read(a, "effective_cpus"), "0-3\n");
  EXPECT_EQ(read(a, "mems"), "0-1\n");
  EXPECT_EQ(read(a, "effective_mems"), "0-1\n");
  EXPECT_EQ(read(a, "cpu_exclusive"), "0\n");
  // Without the flag, a child starts empty.
  a.clone_children = false;
  Cgroup& a1 = mkdir(a, "a1");
  EXPECT_EQ(read(a1, "cpus"), "\n");
  // An exclusive sibling prevents the copy.
  ASSERT_EQ(write(a, "cpus", "0"), 0);
  ASSERT_EQ(write(a, "cpu_exclusive", "1"), 0);
  Cgroup& b = mkdir(root(), "b");
  EXPECT_EQ(read(b, "cpus"), "\n");
  EXPECT_EQ(read(b, "mems"), "\n");
}

TEST_F(CpusetTest, SpreadFlagsAreInheritedAtMkdir) {
  build();
  Cgroup& a = mkdir(root(), "a");
  ASSERT_EQ(write(a, "memory_spread_page", "1"), 0);
  ASSERT_EQ(write(a, "memory_spread_slab", "1"), 0);
  ASSERT_EQ(write(a, "memory_migrate", "1"), 0);
  ASSERT_EQ(write(a, "mem_hardwall", "1"), 0);
  Cgroup& b = mkdir(a, "b");
  EXPECT_EQ(read(b, "memory_spread_page"), "1\n");
  EXPECT_EQ(read(b, "memory_spread_slab"), "1\n");
  EXPECT_EQ(read(b, "memory_migrate"), "0\n");
  EXPECT_EQ(read(b, "mem_hardwall"), "0\n");
}

TEST_F(CpusetTest, AttachNeedsCpusAndMems) {
  tasks.add(100, 100);
  build();
  Cgroup& a = mkdir(root(), "a");
  EXPECT_EQ(move(a, 100), -ENOSPC);
  ASSERT_EQ(write(a, "cpus", "1"), 0);
  EXPECT_EQ(move(a, 100), -ENOSPC);  // v1: mems too
  EXPECT_EQ(tids(a), std::set<pid_t>{});
  EXPECT_TRUE(host->affinity.empty());
  ASSERT_EQ(write(a, "mems", "0"), 0);
  EXPECT_EQ(move(a, 100), 0);
  EXPECT_EQ(tids(a), std::set<pid_t>{100});
}

TEST_F(CpusetTest, AttachSetsAffinityAndCpusChangesReapplyIt) {
  tasks.add(100, 100);
  tasks.add(101, 100);
  tasks.add(200, 200);
  build();
  Cgroup& a = mkdir(root(), "a");
  Cgroup& b = mkdir(a, "b");
  ASSERT_EQ(write(a, "cpus", "1-2"), 0);
  ASSERT_EQ(write(a, "mems", "0"), 0);
  ASSERT_EQ(write(b, "cpus", "2"), 0);
  ASSERT_EQ(write(b, "mems", "0"), 0);
  ASSERT_EQ(move(a, 100), 0);  // both threads
  EXPECT_EQ(host->affinity, (std::map<pid_t, std::string>{{100, "1-2"}, {101, "1-2"}}));
  ASSERT_EQ(move(b, 200), 0);
  EXPECT_EQ(host->affinity[200], "2");
  // a's members follow a's new CPUs; b's did not change.
  host->affinity.clear();
  ASSERT_EQ(write(a, "cpus", "0-2"), 0);
  EXPECT_EQ(host->affinity, (std::map<pid_t, std::string>{{100, "0-2"}, {101, "0-2"}}));
  host->affinity.clear();
  ASSERT_EQ(write(b, "cpus", "0"), 0);
  EXPECT_EQ(host->affinity, (std::map<pid_t, std::string>{{200, "0"}}));
  // Back to the root: every possible CPU.
  host->affinity.clear();
  ASSERT_EQ(move(root(), 100), 0);
  EXPECT_EQ(host->affinity, (std::map<pid_t, std::string>{{100, "0-3"}, {101, "0-3"}}));
}

TEST_F(CpusetTest, NoRightToChangeAffinityRefusesTheWholeMove) {
  tasks.add(100, 100);
  tasks.add(101, 100);
  build();
  Cgroup& a = mkdir(root(), "a");
  ASSERT_EQ(write(a, "cpus", "1"), 0);
  ASSERT_EQ(write(a, "mems", "0"), 0);
  host->refuse[101] = -EPERM;
  EXPECT_EQ(move(a, 100), -EPERM);
  EXPECT_EQ(tids(a), std::set<pid_t>{});
  EXPECT_EQ(host->sets, 0);  // nothing applied
  host->refuse[101] = -EACCES;
  EXPECT_EQ(move(a, 101, false), -EACCES);
  EXPECT_EQ(move(a, 100, false), 0);  // the leader alone is allowed
  EXPECT_EQ(tids(a), std::set<pid_t>{100});
  EXPECT_EQ(host->affinity, (std::map<pid_t, std::string>{{100, "1"}}));
}

TEST_F(CpusetTest, V2ModeInheritsEffectiveMasksAndNeedsOnlyCpus) {
  tasks.add(100, 100);
  build(topology(/*v2=*/true));
  Cgroup& a = mkdir(root(), "a");
  EXPECT_EQ(read(a, "cpus"), "\n");
  EXPECT_EQ(read(a, "effective_cpus"), "0-3\n");
  EXPECT_EQ(read(a, "effective_mems"), "0-1\n");
  EXPECT_EQ(move(a, 100), 0);
  EXPECT_EQ(host->affinity[100], "0-3");
  ASSERT_EQ(write(a, "cpus", "2"), 0);
  EXPECT_EQ(read(a, "effective_cpus"), "2\n");
  EXPECT_EQ(host->affinity[100], "2");
}

}  // namespace
}  // namespace cgemu
