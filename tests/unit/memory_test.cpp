// The memory controller on a fake host: memparse, the files' parsing and
// errnos, the charge ledger, move_charge_at_immigrate with its rollback,
// limits and the OOM setting, cgroup.event_control.
#include "controllers/memory.h"

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

constexpr uint64_t kPage = 4096;
constexpr uint64_t kMaxBytes = 9223372036854771712ull;  // PAGE_COUNTER_MAX * PAGE_SIZE

// ---- memparse (lib/cmdline.c) ---------------------------------------------------

struct MemparseCase {
  std::string input;
  unsigned long long value;
  size_t consumed;
};

class Memparse : public ::testing::TestWithParam<MemparseCase> {};

TEST_P(Memparse, MatchesTheKernel) {
  const MemparseCase& c = GetParam();
  size_t used = 99;
  EXPECT_EQ(memparse(c.input, &used), c.value);
  EXPECT_EQ(used, c.consumed);
}

INSTANTIATE_TEST_SUITE_P(
    Cases, Memparse,
    ::testing::Values(MemparseCase{"", 0, 0}, MemparseCase{"0", 0, 1}, MemparseCase{"4096", 4096, 4},
                      MemparseCase{"1k", 1024, 2}, MemparseCase{"1K", 1024, 2}, MemparseCase{"2m", 2u << 20, 2},
                      MemparseCase{"3G", 3ull << 30, 2}, MemparseCase{"1t", 1ull << 40, 2},
                      MemparseCase{"1P", 1ull << 50, 2}, MemparseCase{"1e", 1ull << 60, 2},
                      MemparseCase{"16E", 0, 3},  // wraps
                      MemparseCase{"0x10", 16, 4}, MemparseCase{"0X1f", 31, 4}, MemparseCase{"010", 8, 3},
                      MemparseCase{"09", 0, 1},   // octal stops at 9
                      MemparseCase{"0x", 0, 1},   // no hex digit: octal "0"
                      MemparseCase{"0xg", 0, 1},  //
                      MemparseCase{"1.5G", 1, 1}, MemparseCase{"1GB", 1ull << 30, 2}, MemparseCase{"-1", 0, 0},
                      MemparseCase{"+5", 0, 0}, MemparseCase{" 5", 0, 0}, MemparseCase{"1kk", 1024, 2},
                      MemparseCase{std::string("7\0k", 3), 7, 1},
                      MemparseCase{"9999999999999999999999", 1864712049423024127ull, 22}));

TEST(SimpleStrtoull, Base10AcceptsNoDigits) {
  size_t used = 99;
  EXPECT_EQ(simple_strtoull("12 3", 10, &used), 12u);
  EXPECT_EQ(used, 2u);
  EXPECT_EQ(simple_strtoull(" 3", 10, &used), 0u);
  EXPECT_EQ(used, 0u);
  EXPECT_EQ(simple_strtoull("0x10", 10, &used), 0u);  // base 10 takes no prefix
  EXPECT_EQ(used, 1u);
}

// ---- a fake host ------------------------------------------------------------------

class FakeMemoryHost : public MemoryHost {
 public:
  struct State {
    std::map<pid_t, ProcMemInfo> procs;
    std::map<pid_t, int> adj;  // oom_score_adj
    std::set<pid_t> unkillable;  // kill() gives EPERM
    std::vector<pid_t> killed;
    HostMemInfo global;
    std::map<std::pair<pid_t, int>, std::string> fds;
    std::map<int, int> signals;  // our fd -> times signalled
    std::set<int> closed;
    int next_fd = 1000;
    bool can_grab = true;
    bool memsw = true;
  };
  explicit FakeMemoryHost(State* s) : s_(s) {}

  uint64_t page_size() override { return kPage; }
  std::optional<ProcMemInfo> process(pid_t tgid) override {
    auto it = s_->procs.find(tgid);
    if (it == s_->procs.end()) return std::nullopt;
    return it->second;
  }
  int oom_score_adj(pid_t tgid) override { return s_->adj.count(tgid) ? s_->adj.at(tgid) : 0; }
  int kill(pid_t tgid) override {
    if (s_->unkillable.count(tgid)) return -EPERM;
    s_->killed.push_back(tgid);
    return 0;
  }
  HostMemInfo host() override { return s_->global; }
  unsigned swappiness() override { return 60; }
  std::vector<int> memory_nodes() override { return {0}; }
  bool swap_accounting() override { return s_->memsw; }
  std::optional<std::string> fd_target(pid_t tid, int fd, int* err) override {
    auto it = s_->fds.find({tid, fd});
    if (it == s_->fds.end()) {
      *err = -EBADF;
      return std::nullopt;
    }
    return it->second;
  }
  int grab_fd(pid_t, int) override { return s_->can_grab ? s_->next_fd++ : -EPERM; }
  void signal(int fd) override { ++s_->signals[fd]; }
  void close_fd(int fd) override { s_->closed.insert(fd); }

 private:
  State* s_;
};

// A controller sharing the hierarchy that refuses every move (it stands
// for a later controller whose can_attach fails).
class RefusingController : public Controller {
 public:
  explicit RefusingController(int* cancels) : cancels_(cancels) {}
  int can_attach(TaskSet&) override { return refuse ? -ENOSPC : 0; }
  void cancel_attach(TaskSet&) override { ++*cancels_; }
  bool refuse = false;

 private:
  int* cancels_;
};

constexpr int kRefuserSsid = 11;  // after memory in ssid order, like pids

class MemoryTest : public ::testing::Test {
 protected:
  void build(MemoryController::Settings settings = {}, bool with_refuser = false) {
    Controllers controllers;
    auto mem = std::make_unique<MemoryController>(std::make_unique<FakeMemoryHost>(&state), settings);
    memory = mem.get();
    controllers[kMemorySsid] = std::move(mem);
    uint32_t mask = 1u << kMemorySsid;
    if (with_refuser) {
      auto r = std::make_unique<RefusingController>(&refuser_cancels);
      refuser = r.get();
      controllers[kRefuserSsid] = std::move(r);
      mask |= 1u << kRefuserSsid;
    }
    state.global.vmstat = {{"nr_file_pages", 1000}, {"nr_anon_pages", 500}, {"pgfault", 77}};
    state.global.node_vmstat[0] = {{"nr_inactive_anon", 400}, {"nr_active_anon", 100}};
    engine = std::make_unique<Engine>(host, std::move(controllers), std::vector<HierarchyConfig>{{"", mask, false, ""}});
  }
  Cgroup& root() { return engine->hierarchies()[0]->root(); }
  Cgroup& mkdir(Cgroup& parent, const char* name) {
    return testing::make_cgroup(*engine, parent, name);
  }
  // A process with `threads` threads (tids pid, pid+1, ...) using `anon` pages.
  void spawn(pid_t pid, uint64_t anon, int threads = 1, uint64_t file = 0) {
    for (int i = 0; i < threads; ++i) host.add(pid + i, pid);
    ProcMemInfo info;
    info.start_time = host.task(pid)->start_time;
    info.state = 'S';
    info.pages[kMemAnon] = anon;
    info.pages[kMemFile] = file;
    info.comm = "p" + std::to_string(pid);
    state.procs[pid] = info;
  }
  void set_anon(pid_t pid, uint64_t anon) { state.procs.at(pid).pages[kMemAnon] = anon; }
  void exit_proc(pid_t pid) {
    for (pid_t tid : host.threads(pid)) host.remove(tid);
    state.procs.erase(pid);
  }
  int move(Cgroup& dst, pid_t pid, bool threadgroup = true) {
    return testing::move_task(*engine, dst, pid, threadgroup);
  }
  const ControlFile& file(std::string_view name) {
    for (const ControlFile& f : memory->legacy_files())
      if (f.name == name) return f;
    ADD_FAILURE() << "no file " << name;
    return memory->legacy_files()[0];
  }
  bool has_file(std::string_view name) {
    for (const ControlFile& f : memory->legacy_files())
      if (f.name == name) return true;
    return false;
  }
  // "<content>" or "E<errno>".
  std::string read(Cgroup& c, std::string_view name, uid_t uid = 0) {
    const ControlFile& f = file(name);
    if (!f.read) return "E" + std::to_string(EINVAL);
    FileOpener opener{uid, uid, 1, false};
    FileCall call{*engine, c, opener, writer_tid};
    std::string out;
    if (int err = f.read(call, out)) return "E" + std::to_string(-err);
    return out;
  }
  int write(Cgroup& c, std::string_view name, std::string_view text, uid_t uid = 0) {
    const ControlFile& f = file(name);
    if (!f.write) return EINVAL;
    FileOpener opener{uid, uid, 1, false};
    FileCall call{*engine, c, opener, writer_tid};
    return -f.write(call, text);
  }
  uint64_t num(Cgroup& c, std::string_view name) { return std::stoull(read(c, name)); }
  std::set<pid_t> tids(Cgroup& c) {
    std::set<pid_t> out;
    for (auto m : engine->members(c)) out.insert(m.tid);
    return out;
  }
  std::string stat_value(Cgroup& c, const std::string& key) {
    const std::string text = read(c, "stat");
    const size_t at = text.find("\n" + key + " ");
    const size_t start = text.rfind(key + " ", 0) == 0 ? 0 : (at == std::string::npos ? std::string::npos : at + 1);
    if (start == std::string::npos) return "?";
    const size_t sp = text.find(' ', start), nl = text.find('\n', start);
    return text.substr(sp + 1, nl - sp - 1);
  }

  FakeTaskSource host;
  FakeMemoryHost::State state;
  MemoryController* memory = nullptr;
  RefusingController* refuser = nullptr;
  int refuser_cancels = 0;
  pid_t writer_tid = 1;
  std::unique_ptr<Engine> engine;
};

// ---- files and parsing --------------------------------------------------------------

TEST_F(MemoryTest, FileTableAndModes) {
  build();
  EXPECT_EQ(memory->legacy_files().size(), 27u);
  EXPECT_EQ(file("cgroup.event_control").flags & kCftNoPrefix, kCftNoPrefix);
  EXPECT_EQ(file("cgroup.event_control").mode(), 0200u);
  EXPECT_EQ(file("force_empty").mode(), 0200u);
  EXPECT_EQ(file("usage_in_bytes").mode(), 0444u);
  EXPECT_EQ(file("pressure_level").mode(), 0444u);
  EXPECT_EQ(file("stat").mode(), 0444u);
  EXPECT_EQ(file("kmem.slabinfo").mode(), 0444u);
  EXPECT_EQ(file("limit_in_bytes").mode(), 0644u);
  EXPECT_EQ(file("memsw.failcnt").mode(), 0644u);
  for (const ControlFile& f : memory->legacy_files()) EXPECT_EQ(f.flags & (kCftNotOnRoot | kCftOnlyOnRoot), 0u);
}

TEST_F(MemoryTest, NoMemswFilesWithoutSwapAccounting) {
  state.memsw = false;
  build();
  EXPECT_EQ(memory->legacy_files().size(), 23u);
  EXPECT_FALSE(has_file("memsw.usage_in_bytes"));
}

TEST_F(MemoryTest, SettingsParse) {
  EXPECT_TRUE(MemoryController::parse_settings({"oom_kill"}).oom_kill);
  EXPECT_TRUE(MemoryController::parse_settings({"oom_kill=1"}).oom_kill);
  EXPECT_FALSE(MemoryController::parse_settings({"oom_kill=0"}).oom_kill);
  EXPECT_EQ(MemoryController::parse_settings({"memsw=0"}).memsw, false);
  EXPECT_THROW(MemoryController::parse_settings({"oom_kill=2"}), std::invalid_argument);
  EXPECT_THROW(MemoryController::parse_settings({"bogus"}), std::invalid_argument);
}

struct LimitCase {
  std::string input;
  std::string expect;  // the value read back, or "E<errno>"
};

class MemoryLimitParse : public MemoryTest, public ::testing::WithParamInterface<LimitCase> {};

TEST_P(MemoryLimitParse, LimitInBytes) {
  build();
  Cgroup& a = mkdir(root(), "a");
  const LimitCase& c = GetParam();
  const int err = write(a, "limit_in_bytes", c.input);
  if (c.expect[0] == 'E') {
    EXPECT_EQ("E" + std::to_string(err), c.expect);
    EXPECT_EQ(read(a, "limit_in_bytes"), std::to_string(kMaxBytes) + "\n");
  } else {
    EXPECT_EQ(err, 0);
    EXPECT_EQ(read(a, "limit_in_bytes"), c.expect + "\n");
  }
  // The soft limit parses the same way.
  EXPECT_EQ(write(a, "soft_limit_in_bytes", c.input), c.expect[0] == 'E' ? EINVAL : 0);
}

const std::string kE = "E" + std::to_string(EINVAL);
INSTANTIATE_TEST_SUITE_P(
    Cases, MemoryLimitParse,
    ::testing::Values(LimitCase{"", "0"}, LimitCase{"\n", "0"}, LimitCase{"4095", "0"}, LimitCase{"4096", "4096"},
                      LimitCase{"4097\n", "4096"}, LimitCase{"1k", "0"}, LimitCase{"8k", "8192"},
                      LimitCase{"1M", "1048576"}, LimitCase{"  1m \n", "1048576"}, LimitCase{"1G", "1073741824"},
                      LimitCase{"0x2000", "8192"}, LimitCase{"020000", "8192"}, LimitCase{"-1", std::to_string(kMaxBytes)},
                      LimitCase{" -1\n", std::to_string(kMaxBytes)}, LimitCase{"8E", std::to_string(kMaxBytes)},
                      LimitCase{"16E", "0"}, LimitCase{"9999999999999999999999", "1864712049423020032"},
                      LimitCase{"1.5G", kE}, LimitCase{"1GB", kE}, LimitCase{"max", kE}, LimitCase{"-2", kE},
                      LimitCase{"+5", kE}, LimitCase{"0x", kE}, LimitCase{"1 2", kE}, LimitCase{"--1", kE}));

TEST_F(MemoryTest, RootRefusesLimitsButNotTheSoftLimit) {
  build();
  EXPECT_EQ(write(root(), "limit_in_bytes", "1M"), EINVAL);
  EXPECT_EQ(write(root(), "limit_in_bytes", "junk"), EINVAL);
  EXPECT_EQ(write(root(), "memsw.limit_in_bytes", "1M"), EINVAL);
  EXPECT_EQ(write(root(), "kmem.limit_in_bytes", "1M"), EINVAL);
  EXPECT_EQ(write(root(), "kmem.tcp.limit_in_bytes", "1M"), EINVAL);
  EXPECT_EQ(write(root(), "soft_limit_in_bytes", "1M"), 0);
  EXPECT_EQ(read(root(), "soft_limit_in_bytes"), "1048576\n");
  EXPECT_EQ(write(root(), "force_empty", "1"), EINVAL);
  EXPECT_EQ(write(root(), "oom_control", "1"), EINVAL);
  EXPECT_EQ(write(root(), "oom_control", "0"), EINVAL);
}

TEST_F(MemoryTest, KmemLimitIsAcceptedWithoutEffectTcpLimitIsStored) {
  build();
  Cgroup& a = mkdir(root(), "a");
  EXPECT_EQ(write(a, "kmem.limit_in_bytes", "1M"), 0);
  EXPECT_EQ(read(a, "kmem.limit_in_bytes"), std::to_string(kMaxBytes) + "\n");
  EXPECT_EQ(write(a, "kmem.limit_in_bytes", "x"), EINVAL);
  EXPECT_EQ(write(a, "kmem.tcp.limit_in_bytes", "1M"), 0);
  EXPECT_EQ(read(a, "kmem.tcp.limit_in_bytes"), "1048576\n");
  EXPECT_EQ(read(a, "kmem.usage_in_bytes"), "0\n");
  EXPECT_EQ(read(a, "kmem.tcp.usage_in_bytes"), "0\n");
}

TEST_F(MemoryTest, MemoryMustNotExceedMemsw) {
  build();
  Cgroup& a = mkdir(root(), "a");
  ASSERT_EQ(write(a, "memsw.limit_in_bytes", "1M"), EINVAL);  // below memory (max)
  ASSERT_EQ(write(a, "limit_in_bytes", "1M"), 0);
  ASSERT_EQ(write(a, "memsw.limit_in_bytes", "2M"), 0);
  EXPECT_EQ(write(a, "limit_in_bytes", "3M"), EINVAL);
  EXPECT_EQ(write(a, "memsw.limit_in_bytes", "512k"), EINVAL);
  EXPECT_EQ(write(a, "limit_in_bytes", "2M"), 0);
  EXPECT_EQ(read(a, "limit_in_bytes"), "2097152\n");
  EXPECT_EQ(read(a, "memsw.limit_in_bytes"), "2097152\n");
  EXPECT_EQ(write(a, "memsw.limit_in_bytes", "-1"), 0);
}

TEST_F(MemoryTest, U64Files) {
  build();
  Cgroup& a = mkdir(root(), "a");
  EXPECT_EQ(read(a, "use_hierarchy"), "1\n");
  EXPECT_EQ(write(a, "use_hierarchy", "1"), 0);
  EXPECT_EQ(write(a, "use_hierarchy", "0"), EINVAL);
  EXPECT_EQ(write(a, "use_hierarchy", "2"), EINVAL);
  EXPECT_EQ(write(a, "use_hierarchy", "1 "), EINVAL);
  EXPECT_EQ(read(a, "swappiness"), "60\n");
  EXPECT_EQ(write(a, "swappiness", "201"), EINVAL);
  EXPECT_EQ(write(a, "swappiness", "-1"), EINVAL);
  EXPECT_EQ(write(a, "swappiness", " 5"), EINVAL);
  EXPECT_EQ(write(a, "swappiness", "99999999999999999999"), ERANGE);
  EXPECT_EQ(write(a, "swappiness", "0x10\n"), 0);
  EXPECT_EQ(read(a, "swappiness"), "16\n");
  EXPECT_EQ(write(a, "swappiness", "200"), 0);
  EXPECT_EQ(write(root(), "swappiness", "30"), 0);  // the emulator's own vm.swappiness
  EXPECT_EQ(read(root(), "swappiness"), "30\n");
  EXPECT_EQ(read(mkdir(a, "b"), "swappiness"), "200\n");  // inherited at mkdir
  EXPECT_EQ(read(mkdir(root(), "c"), "swappiness"), "30\n");

  EXPECT_EQ(read(a, "move_charge_at_immigrate"), "0\n");
  for (const char* ok : {"0", "1", "2", "3"}) EXPECT_EQ(write(a, "move_charge_at_immigrate", ok), 0) << ok;
  EXPECT_EQ(read(a, "move_charge_at_immigrate"), "3\n");
  EXPECT_EQ(write(a, "move_charge_at_immigrate", "4"), EINVAL);
  EXPECT_EQ(write(a, "move_charge_at_immigrate", "-1"), EINVAL);
  EXPECT_EQ(read(mkdir(a, "d"), "move_charge_at_immigrate"), "0\n");  // not inherited

  EXPECT_EQ(read(a, "oom_control"), "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n");
  EXPECT_EQ(write(a, "oom_control", "2"), EINVAL);
  EXPECT_EQ(write(a, "oom_control", "1"), 0);
  EXPECT_EQ(read(a, "oom_control"), "oom_kill_disable 1\nunder_oom 0\noom_kill 0\n");
  EXPECT_EQ(read(mkdir(a, "e"), "oom_control"), "oom_kill_disable 1\nunder_oom 0\noom_kill 0\n");

  EXPECT_EQ(read(a, "pressure_level"), "E" + std::to_string(EINVAL));
  EXPECT_EQ(read(a, "force_empty"), "E" + std::to_string(EINVAL));
  EXPECT_EQ(write(a, "force_empty", "anything"), 0);
  EXPECT_EQ(read(a, "kmem.slabinfo"), "");
}

TEST_F(MemoryTest, StatKeysInOrder) {
  build();
  Cgroup& a = mkdir(root(), "a");
  const char* keys[] = {"cache", "rss", "rss_huge", "shmem", "mapped_file", "dirty", "writeback",
                        "workingset_refault_anon", "workingset_refault_file", "swap", "swapcached", "pgpgin",
                        "pgpgout", "pgfault", "pgmajfault", "inactive_anon", "active_anon", "inactive_file",
                        "active_file", "unevictable"};
  std::string expect;
  for (const char* k : keys) expect += std::string(k) + " 0\n";
  expect += "hierarchical_memory_limit " + std::to_string(kMaxBytes) + "\n";
  expect += "hierarchical_memsw_limit " + std::to_string(kMaxBytes) + "\n";
  for (const char* k : keys) expect += "total_" + std::string(k) + " 0\n";
  EXPECT_EQ(read(a, "stat"), expect);
  ASSERT_EQ(write(a, "limit_in_bytes", "8M"), 0);
  Cgroup& b = mkdir(a, "b");
  ASSERT_EQ(write(b, "limit_in_bytes", "16M"), 0);
  EXPECT_EQ(stat_value(b, "hierarchical_memory_limit"), "8388608");
  EXPECT_EQ(read(b, "numa_stat"),
            "total=0 N0=0\nfile=0 N0=0\nanon=0 N0=0\nunevictable=0 N0=0\n"
            "hierarchical_total=0 N0=0\nhierarchical_file=0 N0=0\nhierarchical_anon=0 N0=0\n"
            "hierarchical_unevictable=0 N0=0\n");
}

TEST_F(MemoryTest, RootReportsTheHost) {
  build();
  EXPECT_EQ(num(root(), "usage_in_bytes"), 1500 * kPage);  // nr_file_pages + nr_anon_pages
  EXPECT_EQ(stat_value(root(), "total_cache"), std::to_string(1000 * kPage));
  EXPECT_EQ(stat_value(root(), "total_pgfault"), "77");
  EXPECT_EQ(read(root(), "numa_stat").substr(0, 19), "total=500 N0=500\nfi");
}

// ---- the ledger -------------------------------------------------------------------------

TEST_F(MemoryTest, UsageFollowsWhatMembersAllocateHierarchically) {
  spawn(100, 10, 3);
  build();
  Cgroup& a = mkdir(root(), "a");
  Cgroup& b = mkdir(a, "b");
  ASSERT_EQ(move(b, 100), 0);
  // What it had stays charged where it was (the root).
  EXPECT_EQ(num(b, "usage_in_bytes"), 0u);
  set_anon(100, 110);
  EXPECT_EQ(num(b, "usage_in_bytes"), 100 * kPage);
  EXPECT_EQ(num(a, "usage_in_bytes"), 100 * kPage);
  EXPECT_EQ(num(b, "memsw.usage_in_bytes"), 100 * kPage);
  EXPECT_EQ(num(root(), "max_usage_in_bytes"), 100 * kPage);  // the root's counter: its children
  EXPECT_EQ(stat_value(b, "rss"), std::to_string(100 * kPage));
  EXPECT_EQ(stat_value(a, "rss"), "0");
  EXPECT_EQ(stat_value(a, "total_rss"), std::to_string(100 * kPage));
  EXPECT_EQ(stat_value(b, "pgpgin"), "100");
  // A shrink uncharges the newest pages first (b's), then the root's.
  set_anon(100, 50);
  EXPECT_EQ(num(b, "usage_in_bytes"), 40 * kPage);
  set_anon(100, 5);
  EXPECT_EQ(num(b, "usage_in_bytes"), 0u);
  EXPECT_EQ(num(b, "max_usage_in_bytes"), 100 * kPage);
  EXPECT_EQ(stat_value(b, "pgpgout"), "100");
  // max_usage: any write resets it to the current usage.
  set_anon(100, 15);
  EXPECT_EQ(write(b, "max_usage_in_bytes", "garbage"), 0);
  EXPECT_EQ(num(b, "max_usage_in_bytes"), 10 * kPage);
  // An exit uncharges everything.
  exit_proc(100);
  EXPECT_EQ(num(a, "usage_in_bytes"), 0u);
  EXPECT_EQ(memory->nr_processes(), 0u);
}

TEST_F(MemoryTest, ChargesStayWhereTheyWereMadeWithoutMoveCharge) {
  spawn(100, 0);
  build();
  Cgroup& a = mkdir(root(), "a");
  Cgroup& b = mkdir(root(), "b");
  ASSERT_EQ(move(a, 100), 0);
  set_anon(100, 64);
  EXPECT_EQ(num(a, "usage_in_bytes"), 64 * kPage);
  ASSERT_EQ(move(b, 100), 0);
  EXPECT_EQ(num(a, "usage_in_bytes"), 64 * kPage);  // spec §8.2: the old cgroup keeps the charge
  EXPECT_EQ(num(b, "usage_in_bytes"), 0u);
  set_anon(100, 80);
  EXPECT_EQ(num(b, "usage_in_bytes"), 16 * kPage);
  // rmdir of a: its charges go to the parent (the root).
  ASSERT_EQ(engine->rmdir(a), 0);
  EXPECT_EQ(num(root(), "max_usage_in_bytes"), 80 * kPage);
  set_anon(100, 0);
  EXPECT_EQ(num(b, "usage_in_bytes"), 0u);
}

TEST_F(MemoryTest, ForkedProcessIsChargedWhereItWasBorn) {
  spawn(100, 0);
  build();
  Cgroup& a = mkdir(root(), "a");
  ASSERT_EQ(move(a, 100), 0);
  // A fork the engine reports (no event source in unit tests: call the
  // callback as the engine would).
  spawn(200, 30);
  Task child;
  child.tid = child.tgid = 200;
  child.start_time = host.task(200)->start_time;
  child.cset = const_cast<CssSet*>(engine->tracked_task(100)->cset);
  memory->fork(child);
  EXPECT_EQ(num(a, "usage_in_bytes"), 30 * kPage);
}

TEST_F(MemoryTest, LimitBelowUsageIsEbusy) {
  spawn(100, 0);
  build();
  Cgroup& a = mkdir(root(), "a");
  ASSERT_EQ(move(a, 100), 0);
  set_anon(100, 100);
  EXPECT_EQ(write(a, "limit_in_bytes", std::to_string(99 * kPage)), EBUSY);
  EXPECT_EQ(read(a, "limit_in_bytes"), std::to_string(kMaxBytes) + "\n");
  EXPECT_EQ(write(a, "limit_in_bytes", std::to_string(100 * kPage)), 0);
  EXPECT_EQ(write(a, "memsw.limit_in_bytes", std::to_string(99 * kPage)), EINVAL);  // below memory
  EXPECT_EQ(write(a, "memsw.limit_in_bytes", std::to_string(100 * kPage)), 0);
}

// ---- move_charge_at_immigrate (kernels up to 6.12) --------------------------------------

TEST_F(MemoryTest, MoveChargeMovesTheChargeWithTheTask) {
  spawn(100, 0, 2);
  build();
  Cgroup& a = mkdir(root(), "a");
  Cgroup& b = mkdir(root(), "b");
  ASSERT_EQ(move(a, 100), 0);
  state.procs[100].pages[kMemFile] = 8;
  set_anon(100, 40);
  ASSERT_EQ(write(b, "move_charge_at_immigrate", "1"), 0);  // anon only
  ASSERT_EQ(move(b, 100), 0);
  EXPECT_EQ(num(a, "usage_in_bytes"), 8 * kPage);  // the file pages stay
  EXPECT_EQ(num(b, "usage_in_bytes"), 40 * kPage);
  EXPECT_EQ(num(b, "max_usage_in_bytes"), 40 * kPage);
  ASSERT_EQ(write(a, "move_charge_at_immigrate", "3"), 0);
  ASSERT_EQ(move(a, 100), 0);
  EXPECT_EQ(num(a, "usage_in_bytes"), 48 * kPage);
  EXPECT_EQ(num(b, "usage_in_bytes"), 0u);
  EXPECT_FALSE(memory->move_pending());
}

TEST_F(MemoryTest, MoveChargeWithoutRoomFailsAndLeavesEverythingAsItWas) {
  spawn(100, 0, 3);
  build();
  Cgroup& a = mkdir(root(), "a");
  Cgroup& b = mkdir(root(), "b");
  ASSERT_EQ(move(a, 100), 0);
  set_anon(100, 100);
  ASSERT_EQ(write(b, "limit_in_bytes", std::to_string(64 * kPage)), 0);
  ASSERT_EQ(write(b, "move_charge_at_immigrate", "1"), 0);
  const auto charges_before = memory->charges_of(100);
  const std::string stat_a = read(a, "stat"), stat_b = read(b, "stat");
  EXPECT_EQ(move(b, 100), -ENOMEM);
  EXPECT_EQ(move(b, 101, false), 0);  // a non-leader thread moves no charge
  EXPECT_EQ(move(a, 101, false), 0);
  EXPECT_EQ(tids(a), (std::set<pid_t>{100, 101, 102}));
  EXPECT_EQ(tids(b), (std::set<pid_t>{}));
  EXPECT_EQ(num(a, "usage_in_bytes"), 100 * kPage);
  EXPECT_EQ(num(b, "usage_in_bytes"), 0u);
  EXPECT_EQ(num(b, "max_usage_in_bytes"), 0u);
  EXPECT_EQ(num(b, "failcnt"), 1u);  // the refused charge, as try_charge counts it
  EXPECT_EQ(read(a, "stat"), stat_a);
  EXPECT_EQ(read(b, "stat"), stat_b);
  EXPECT_FALSE(memory->move_pending());
  ASSERT_EQ(memory->charges_of(100).size(), charges_before.size());
  for (size_t i = 0; i < charges_before.size(); ++i) {
    EXPECT_EQ(memory->charges_of(100)[i].css, charges_before[i].css);
    EXPECT_EQ(memory->charges_of(100)[i].pages, charges_before[i].pages);
  }
  // With room it moves.
  ASSERT_EQ(write(b, "limit_in_bytes", std::to_string(100 * kPage)), 0);
  ASSERT_EQ(move(b, 100), 0);
  EXPECT_EQ(tids(b), (std::set<pid_t>{100, 101, 102}));
  EXPECT_EQ(num(a, "usage_in_bytes"), 0u);
  EXPECT_EQ(num(b, "usage_in_bytes"), 100 * kPage);
}

TEST_F(MemoryTest, MoveChargeCountsTwiceInACommonAncestor) {
  spawn(100, 0);
  build();
  Cgroup& p = mkdir(root(), "p");
  Cgroup& a = mkdir(p, "a");
  Cgroup& b = mkdir(p, "b");
  ASSERT_EQ(move(a, 100), 0);
  set_anon(100, 100);
  ASSERT_EQ(write(p, "limit_in_bytes", std::to_string(150 * kPage)), 0);
  ASSERT_EQ(write(b, "move_charge_at_immigrate", "1"), 0);
  // The precharge goes up to p before a's charge leaves it (6.12's order).
  EXPECT_EQ(move(b, 100), -ENOMEM);
  EXPECT_EQ(num(p, "failcnt"), 1u);
  EXPECT_EQ(num(b, "failcnt"), 0u);
  EXPECT_EQ(num(p, "usage_in_bytes"), 100 * kPage);
  ASSERT_EQ(write(p, "limit_in_bytes", std::to_string(200 * kPage)), 0);
  ASSERT_EQ(move(b, 100), 0);
  EXPECT_EQ(num(p, "max_usage_in_bytes"), 200 * kPage);  // the precharge's peak
  EXPECT_EQ(num(p, "usage_in_bytes"), 100 * kPage);
  EXPECT_EQ(num(b, "usage_in_bytes"), 100 * kPage);
}

TEST_F(MemoryTest, LaterControllerRefusalCancelsThePrecharge) {
  spawn(100, 0, 2);
  build({}, /*with_refuser=*/true);
  Cgroup& a = mkdir(root(), "a");
  Cgroup& b = mkdir(root(), "b");
  ASSERT_EQ(move(a, 100), 0);
  set_anon(100, 50);
  ASSERT_EQ(write(b, "move_charge_at_immigrate", "1"), 0);
  refuser->refuse = true;
  EXPECT_EQ(move(b, 100), -ENOSPC);
  EXPECT_EQ(refuser_cancels, 0);  // the refusing controller itself gets no cancel
  EXPECT_FALSE(memory->move_pending());
  EXPECT_EQ(tids(a), (std::set<pid_t>{100, 101}));
  EXPECT_EQ(num(a, "usage_in_bytes"), 50 * kPage);
  EXPECT_EQ(num(b, "usage_in_bytes"), 0u);
  EXPECT_EQ(num(root(), "max_usage_in_bytes"), 100 * kPage);  // the precharge's peak, as in the kernel
  refuser->refuse = false;
  ASSERT_EQ(move(b, 100), 0);
  EXPECT_EQ(num(b, "usage_in_bytes"), 50 * kPage);
}

// ---- limits and OOM -------------------------------------------------------------------------

TEST_F(MemoryTest, OverTheLimitCountsFailcntAndUnderOomWithoutKilling) {
  spawn(100, 0);
  build();
  Cgroup& a = mkdir(root(), "a");
  Cgroup& b = mkdir(a, "b");
  ASSERT_EQ(move(b, 100), 0);
  ASSERT_EQ(write(a, "limit_in_bytes", std::to_string(50 * kPage)), 0);
  set_anon(100, 60);
  EXPECT_EQ(read(a, "oom_control"), "oom_kill_disable 0\nunder_oom 1\noom_kill 0\n");
  EXPECT_EQ(read(b, "oom_control"), "oom_kill_disable 0\nunder_oom 1\noom_kill 0\n");
  EXPECT_EQ(num(a, "failcnt"), 1u);
  EXPECT_EQ(num(b, "failcnt"), 0u);
  EXPECT_TRUE(state.killed.empty());
  EXPECT_EQ(write(a, "failcnt", "x"), 0);
  EXPECT_EQ(num(a, "failcnt"), 0u);
  set_anon(100, 40);
  EXPECT_EQ(read(a, "oom_control"), "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n");
}

TEST_F(MemoryTest, OomKillSettingKillsTheLargestMember) {
  spawn(100, 0);
  spawn(200, 0);
  spawn(300, 0);
  build({.oom_kill = true, .memsw = std::nullopt});
  Cgroup& a = mkdir(root(), "a");
  Cgroup& b = mkdir(a, "b");
  Cgroup& other = mkdir(root(), "other");
  ASSERT_EQ(move(a, 100), 0);
  ASSERT_EQ(move(b, 200), 0);
  ASSERT_EQ(move(other, 300), 0);
  ASSERT_EQ(write(a, "limit_in_bytes", std::to_string(100 * kPage)), 0);
  set_anon(100, 30);
  set_anon(200, 80);
  set_anon(300, 500);  // not a member of a
  EXPECT_EQ(read(a, "oom_control"), "oom_kill_disable 0\nunder_oom 1\noom_kill 0\n");
  EXPECT_EQ(state.killed, (std::vector<pid_t>{200}));
  EXPECT_EQ(read(b, "oom_control"), "oom_kill_disable 0\nunder_oom 1\noom_kill 1\n");  // the victim's memcg
  EXPECT_GE(num(a, "failcnt"), 1u);
  // Still exiting: nobody else is killed.
  EXPECT_EQ(num(a, "usage_in_bytes"), 110 * kPage);
  EXPECT_EQ(state.killed.size(), 1u);
  exit_proc(200);
  EXPECT_EQ(num(a, "usage_in_bytes"), 30 * kPage);
  EXPECT_EQ(read(a, "oom_control"), "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n");
}

TEST_F(MemoryTest, OomKillRespectsOomKillDisableAndScoreAdj) {
  spawn(100, 0);
  spawn(200, 0);
  build({.oom_kill = true, .memsw = std::nullopt});
  Cgroup& a = mkdir(root(), "a");
  ASSERT_EQ(move(a, 100), 0);
  ASSERT_EQ(move(a, 200), 0);
  ASSERT_EQ(write(a, "limit_in_bytes", std::to_string(100 * kPage)), 0);
  ASSERT_EQ(write(a, "oom_control", "1"), 0);
  state.adj[200] = -1000;
  set_anon(100, 30);
  set_anon(200, 80);
  EXPECT_EQ(read(a, "oom_control"), "oom_kill_disable 1\nunder_oom 1\noom_kill 0\n");
  EXPECT_TRUE(state.killed.empty());
  ASSERT_EQ(write(a, "oom_control", "0"), 0);  // recover: the OOM killer runs now
  EXPECT_EQ(state.killed, (std::vector<pid_t>{100}));  // 200 is OOM_SCORE_ADJ_MIN
}

TEST_F(MemoryTest, OomKillSkipsAProcessItMayNotKill) {
  spawn(100, 0);
  spawn(200, 0);
  build({.oom_kill = true, .memsw = std::nullopt});
  Cgroup& a = mkdir(root(), "a");
  ASSERT_EQ(move(a, 100), 0);
  ASSERT_EQ(move(a, 200), 0);
  ASSERT_EQ(write(a, "limit_in_bytes", std::to_string(100 * kPage)), 0);
  state.unkillable.insert(200);
  set_anon(100, 30);
  set_anon(200, 80);
  read(a, "usage_in_bytes");
  EXPECT_EQ(state.killed, (std::vector<pid_t>{100}));
  EXPECT_EQ(read(a, "oom_control"), "oom_kill_disable 0\nunder_oom 1\noom_kill 1\n");
}

// ---- cgroup.event_control ----------------------------------------------------------------------

TEST_F(MemoryTest, EventControlParsingAndErrnos) {
  spawn(100, 0);
  build();
  Cgroup& a = mkdir(root(), "a");
  Cgroup& b = mkdir(root(), "b");
  state.fds[{writer_tid, 5}] = "anon_inode:[eventfd]";
  state.fds[{writer_tid, 6}] = "/mnt/cg/a/memory.usage_in_bytes";
  state.fds[{writer_tid, 7}] = "pipe:[1234]";
  state.fds[{writer_tid, 8}] = "/mnt/cg/a/memory.stat";
  state.fds[{writer_tid, 9}] = "/mnt/cg/b/memory.oom_control";
  state.fds[{writer_tid, 10}] = "/mnt/cg/a/memory.oom_control";
  state.fds[{writer_tid, 11}] = "/mnt/cg/a/memory.pressure_level";
  state.fds[{writer_tid, 12}] = "/mnt/cg/a/memory.force_empty";
  state.fds[{writer_tid, 0}] = "/dev/null";
  const auto ev = [&](std::string_view s, uid_t uid = 0) { return write(a, "cgroup.event_control", s, uid); };
  EXPECT_EQ(read(a, "cgroup.event_control"), "E" + std::to_string(EINVAL));
  EXPECT_EQ(ev(""), EINVAL);
  EXPECT_EQ(ev("5"), EINVAL);
  EXPECT_EQ(ev("5 "), EINVAL);  // stripped to "5"
  EXPECT_EQ(ev("abc 6"), EINVAL);
  EXPECT_EQ(ev("5,6"), EINVAL);
  EXPECT_EQ(ev("5 6x"), EINVAL);
  EXPECT_EQ(ev("99 6 1M"), EBADF);
  EXPECT_EQ(ev("7 6 1M"), EINVAL);   // not an eventfd
  EXPECT_EQ(ev("5 99 1M"), EBADF);
  EXPECT_EQ(ev("5 8"), EINVAL);      // not a notifying file
  EXPECT_EQ(ev("5 9"), EINVAL);      // another cgroup's file
  EXPECT_EQ(ev("5 12", 1000), EACCES);  // no read permission
  EXPECT_EQ(ev("5 12"), EINVAL);
  EXPECT_EQ(ev("5  6"), EINVAL);     // cfd "" is 0 (/dev/null): not a cgroup file
  EXPECT_EQ(ev("5 6 junk"), EINVAL);
  EXPECT_EQ(ev("5 6 1.5M"), EINVAL);
  EXPECT_EQ(ev("5 11"), EINVAL);     // a pressure level is required
  EXPECT_EQ(ev("5 11 high"), EINVAL);
  EXPECT_EQ(ev("5 11 low,bogus"), EINVAL);
  EXPECT_EQ(ev("5 11 critical,hierarchy"), 0);
  EXPECT_EQ(ev("5 11 medium,local,ignored"), 0);
  EXPECT_EQ(ev("  5 6 1M \n"), 0);
  EXPECT_EQ(ev("5 6 -1"), 0);
  EXPECT_EQ(ev("5 6"), 0);          // threshold 0
  EXPECT_EQ(ev("5 10"), 0);
  EXPECT_EQ(ev("5 10 anything"), 0);
  (void)b;
}

TEST_F(MemoryTest, EventControlSignalsThresholdsOomAndRemoval) {
  spawn(100, 0);
  build();
  Cgroup& a = mkdir(root(), "a");
  ASSERT_EQ(move(a, 100), 0);
  state.fds[{writer_tid, 5}] = "anon_inode:[eventfd]";
  state.fds[{writer_tid, 6}] = "/mnt/cg/a/memory.usage_in_bytes";
  state.fds[{writer_tid, 7}] = "/mnt/cg/a/memory.oom_control";
  ASSERT_EQ(write(a, "cgroup.event_control", "5 6 " + std::to_string(50 * kPage)), 0);
  const int usage_fd = state.next_fd - 1;
  ASSERT_EQ(write(a, "cgroup.event_control", "5 7"), 0);
  const int oom_fd = state.next_fd - 1;
  set_anon(100, 40);
  read(a, "usage_in_bytes");
  EXPECT_EQ(state.signals[usage_fd], 0);
  set_anon(100, 60);
  read(a, "usage_in_bytes");
  EXPECT_EQ(state.signals[usage_fd], 1);
  read(a, "usage_in_bytes");
  EXPECT_EQ(state.signals[usage_fd], 1);
  set_anon(100, 10);  // crossing back down
  read(a, "usage_in_bytes");
  EXPECT_EQ(state.signals[usage_fd], 2);
  ASSERT_EQ(write(a, "limit_in_bytes", std::to_string(20 * kPage)), 0);
  set_anon(100, 30);
  read(a, "usage_in_bytes");
  EXPECT_EQ(state.signals[oom_fd], 1);
  read(a, "usage_in_bytes");
  EXPECT_EQ(state.signals[oom_fd], 1);  // once per episode
  set_anon(100, 0);
  ASSERT_EQ(engine->attach(root(), *host.task(100), true), 0);
  ASSERT_EQ(engine->rmdir(a), 0);
  EXPECT_EQ(state.signals[oom_fd], 2);  // removal signals every registration once
  EXPECT_EQ(state.signals[usage_fd], 3);
  EXPECT_TRUE(state.closed.count(oom_fd));
  EXPECT_TRUE(state.closed.count(usage_fd));
}

TEST_F(MemoryTest, EventControlWithoutDeliveryStillRegisters) {
  build();
  Cgroup& a = mkdir(root(), "a");
  state.can_grab = false;
  state.fds[{writer_tid, 5}] = "anon_inode:[eventfd]";
  state.fds[{writer_tid, 6}] = "/x/a/memory.oom_control";
  EXPECT_EQ(write(a, "cgroup.event_control", "5 6"), 0);
}

}  // namespace
}  // namespace cgemu
