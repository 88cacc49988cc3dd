// tasks / cgroup.procs (spec §3), checked against the emulator and the kernel.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "fs_fixture.h"

namespace itest {
namespace {

class FsTasksTest : public FsTest {};

std::string Hex(pid_t p) {
  char b[32];
  snprintf(b, sizeof b, "0x%x", static_cast<unsigned>(p));
  return b;
}
std::string HexUpper(pid_t p) {
  char b[32];
  snprintf(b, sizeof b, "0X%X", static_cast<unsigned>(p));
  return b;
}
std::string Oct(pid_t p) {
  char b[32];
  snprintf(b, sizeof b, "0%o", static_cast<unsigned>(p));
  return b;
}

bool IsSortedUnique(const std::vector<pid_t>& v) {
  for (size_t i = 1; i < v.size(); ++i)
    if (v[i - 1] >= v[i]) return false;
  return true;
}

TEST_P(FsTasksTest, MoveProcess) {
  ASSERT_EQ(Mkdir("a"), 0);
  auto s = SpawnSleeper();
  ASSERT_TRUE(s);
  std::string pid = std::to_string(s->pid);
  EXPECT_TRUE(Contains(Pids("tasks"), s->pid));
  EXPECT_TRUE(Contains(Pids("cgroup.procs"), s->pid));
  ssize_t n = -2;
  ASSERT_EQ(ErrName(Write("a/tasks", pid, &n)), "OK");
  EXPECT_EQ(n, static_cast<ssize_t>(pid.size()));
  EXPECT_EQ(Read("a/tasks"), pid + "\n");
  EXPECT_EQ(Read("a/cgroup.procs"), pid + "\n");
  EXPECT_FALSE(Contains(Pids("tasks"), s->pid));
  EXPECT_FALSE(Contains(Pids("cgroup.procs"), s->pid));
  // Already there: silent success.
  EXPECT_EQ(ErrName(Write("a/tasks", pid)), "OK");
  EXPECT_EQ(ErrName(Write("a/cgroup.procs", pid)), "OK");
  EXPECT_EQ(Read("a/tasks"), pid + "\n");
  // Back to the root through cgroup.procs.
  ASSERT_EQ(ErrName(Write("cgroup.procs", pid)), "OK");
  EXPECT_EQ(Read("a/tasks"), "");
  EXPECT_EQ(Read("a/cgroup.procs"), "");
  EXPECT_TRUE(Contains(Pids("tasks"), s->pid));
  // A process that exits leaves the listing.
  ASSERT_EQ(Write("a/tasks", pid), 0);
  s->Kill();
  EXPECT_EQ(Read("a/tasks"), "");
  EXPECT_EQ(ErrName(Rmdir("a")), "OK");
}

TEST_P(FsTasksTest, NonLeaderThreadViaTasksMovesOnlyThatThread) {
  ASSERT_EQ(Mkdir("a"), 0);
  ASSERT_EQ(Mkdir("b"), 0);
  auto s = SpawnSleeper(2);
  ASSERT_TRUE(s);
  ASSERT_EQ(s->tids.size(), 2u);
  pid_t t0 = s->tids[0], t1 = s->tids[1];
  ASSERT_EQ(ErrName(Write("a/tasks", std::to_string(t0))), "OK");
  EXPECT_EQ(Read("a/tasks"), PidLines({t0}));
  EXPECT_EQ(Read("a/cgroup.procs"), PidLines({s->pid}));
  auto root_tasks = Pids("tasks");
  EXPECT_FALSE(Contains(root_tasks, t0));
  EXPECT_TRUE(Contains(root_tasks, s->pid));
  EXPECT_TRUE(Contains(root_tasks, t1));
  auto root_procs = Pids("cgroup.procs");
  EXPECT_EQ(std::count(root_procs.begin(), root_procs.end(), s->pid), 1);
  EXPECT_FALSE(Contains(root_procs, t0));
  // The leader alone into b: a still holds t0, b the leader.
  ASSERT_EQ(ErrName(Write("b/tasks", std::to_string(s->pid))), "OK");
  EXPECT_EQ(Read("b/tasks"), PidLines({s->pid}));
  EXPECT_EQ(Read("b/cgroup.procs"), PidLines({s->pid}));
  EXPECT_EQ(Read("a/cgroup.procs"), PidLines({s->pid}));
  EXPECT_EQ(Read("a/tasks"), PidLines({t0}));
  EXPECT_TRUE(Contains(Pids("cgroup.procs"), s->pid));  // t1 is still in the root
  EXPECT_TRUE(Contains(Pids("tasks"), t1));
}

TEST_P(FsTasksTest, NonLeaderTidToProcsMovesWholeProcess) {
  ASSERT_EQ(Mkdir("a"), 0);
  ASSERT_EQ(Mkdir("b"), 0);
  auto s = SpawnSleeper(2);
  ASSERT_TRUE(s);
  ASSERT_EQ(Write("a/tasks", std::to_string(s->tids[0])), 0);
  ASSERT_EQ(ErrName(Write("b/cgroup.procs", std::to_string(s->tids[1]))), "OK");
  EXPECT_EQ(Read("b/tasks"), PidLines({s->pid, s->tids[0], s->tids[1]}));
  EXPECT_EQ(Read("b/cgroup.procs"), PidLines({s->pid}));
  EXPECT_EQ(Read("a/tasks"), "");
  EXPECT_EQ(Read("a/cgroup.procs"), "");
  auto root_tasks = Pids("tasks");
  EXPECT_FALSE(Contains(root_tasks, s->pid));
  EXPECT_FALSE(Contains(root_tasks, s->tids[0]));
  EXPECT_FALSE(Contains(root_tasks, s->tids[1]));
}

TEST_P(FsTasksTest, ListsAreSortedAndProcsDeduplicated) {
  ASSERT_EQ(Mkdir("a"), 0);
  auto s1 = SpawnSleeper(4);
  auto s2 = SpawnSleeper(3);
  auto s3 = SpawnSleeper();
  ASSERT_TRUE(s1 && s2 && s3);
  // Insert in an order that is not sorted.
  ASSERT_EQ(Write("a/cgroup.procs", std::to_string(s3->pid)), 0);
  ASSERT_EQ(Write("a/cgroup.procs", std::to_string(s1->tids[2])), 0);
  ASSERT_EQ(Write("a/tasks", std::to_string(s2->tids[1])), 0);
  ASSERT_EQ(Write("a/tasks", std::to_string(s2->tids[0])), 0);
  std::vector<pid_t> want = s1->AllTids();
  want.push_back(s3->pid);
  want.push_back(s2->tids[0]);
  want.push_back(s2->tids[1]);
  std::sort(want.begin(), want.end());
  auto tasks = Pids("a/tasks");
  EXPECT_TRUE(IsSortedUnique(tasks));
  EXPECT_EQ(Read("a/tasks"), PidLines(want));
  EXPECT_EQ(Read("a/cgroup.procs"), PidLines({s1->pid, s2->pid, s3->pid}));
  auto root_tasks = Pids("tasks");
  EXPECT_TRUE(IsSortedUnique(root_tasks));
  auto root_procs = Pids("cgroup.procs");
  EXPECT_TRUE(IsSortedUnique(root_procs));
  EXPECT_TRUE(Contains(root_procs, s2->pid));  // s2's leader is still in the root
}

TEST_P(FsTasksTest, ZeroMovesTheWriter) {
  ASSERT_EQ(Mkdir("a"), 0);
  ASSERT_EQ(Mkdir("b"), 0);
  ASSERT_EQ(Mkdir("c"), 0);
  auto w = SpawnWriter(P("a/tasks"), "0", false);
  ASSERT_TRUE(w);
  EXPECT_EQ(ErrName(w->result_errno), "OK");
  EXPECT_EQ(Read("a/tasks"), PidLines({w->pid}));
  auto w2 = SpawnWriter(P("b/cgroup.procs"), "-0", false);
  ASSERT_TRUE(w2);
  EXPECT_EQ(ErrName(w2->result_errno), "OK");
  EXPECT_EQ(Read("b/tasks"), PidLines({w2->pid}));
  auto w3 = SpawnWriter(P("c/tasks"), "-0\n", false);
  ASSERT_TRUE(w3);
  EXPECT_EQ(ErrName(w3->result_errno), "OK");
  EXPECT_EQ(Read("c/tasks"), PidLines({w3->pid}));
}

TEST_P(FsTasksTest, ZeroFromThreadViaTasksMovesOnlyThatThread) {
  ASSERT_EQ(Mkdir("a"), 0);
  auto w = SpawnWriter(P("a/tasks"), "0", true);
  ASSERT_TRUE(w);
  ASSERT_EQ(w->tids.size(), 1u);
  pid_t tid = w->tids[0];
  ASSERT_NE(tid, w->pid);
  EXPECT_EQ(ErrName(w->result_errno), "OK");
  EXPECT_EQ(Read("a/tasks"), PidLines({tid}));
  EXPECT_EQ(Read("a/cgroup.procs"), PidLines({w->pid}));
  auto root_tasks = Pids("tasks");
  EXPECT_TRUE(Contains(root_tasks, w->pid));
  EXPECT_FALSE(Contains(root_tasks, tid));
}

TEST_P(FsTasksTest, ZeroFromThreadViaProcsMovesWholeProcess) {
  ASSERT_EQ(Mkdir("a"), 0);
  auto w = SpawnWriter(P("a/cgroup.procs"), "0", true);
  ASSERT_TRUE(w);
  EXPECT_EQ(ErrName(w->result_errno), "OK");
  EXPECT_EQ(Read("a/tasks"), PidLines({w->pid, w->tids[0]}));
  EXPECT_EQ(Read("a/cgroup.procs"), PidLines({w->pid}));
}

struct ParseCase {
  std::string in;
  std::string err;  // errno name, "OK"
};

TEST_P(FsTasksTest, WriteParseTable) {
  ASSERT_EQ(Mkdir("a"), 0);
  auto s = SpawnSleeper();
  auto q = SpawnSleeper();
  ASSERT_TRUE(s && q);
  const std::string P_ = std::to_string(s->pid), Q = std::to_string(q->pid);
  const std::string nonexistent = std::to_string(PidMax());
  const std::vector<ParseCase> cases = {
      {P_, "OK"},
      {P_ + "\n", "OK"},
      {" " + P_ + " \n", "OK"},
      {"\t" + P_ + "\n\n", "OK"},
      {P_ + "\n\n", "OK"},
      {"+" + P_, "OK"},
      {Hex(s->pid), "OK"},
      {HexUpper(s->pid), "OK"},
      {Oct(s->pid), "OK"},
      {Oct(s->pid) + "\n", "OK"},
      {std::string(P_ + '\0' + "junk"), "OK"},
      {P_ + std::string(4096 - P_.size(), ' '), "OK"},  // exactly 4096 bytes
      {"\n", "EINVAL"},
      {" ", "EINVAL"},
      {P_ + " " + Q, "EINVAL"},
      {P_ + "," + Q, "EINVAL"},
      {P_ + "\n" + Q + "\n", "EINVAL"},
      {"abc", "EINVAL"},
      {P_ + "x", "EINVAL"},
      {"-1", "EINVAL"},
      {"-5", "EINVAL"},
      {"-" + P_, "EINVAL"},
      {"++" + P_, "EINVAL"},
      {"99999999999", "EINVAL"},
      {"2147483648", "EINVAL"},
      {"0x", "EINVAL"},
      {"09", "EINVAL"},
      {std::string(4096, 'x'), "EINVAL"},
      {std::string(4097, ' '), "E2BIG"},
      {P_ + std::string(4097 - P_.size(), ' '), "E2BIG"},
      {nonexistent, "ESRCH"},
      {"2147483647", "ESRCH"},
  };
  for (std::string file : {"a/tasks", "a/cgroup.procs"}) {
    for (auto& c : cases) {
      ASSERT_EQ(Write("tasks", P_), 0);  // start from the root
      ASSERT_EQ(Read("a/tasks"), "");
      ssize_t n = -2;
      std::string printable = c.in.size() > 40 ? c.in.substr(0, 20) + "...(" +
                                                     std::to_string(c.in.size()) + " bytes)"
                                               : c.in;
      EXPECT_EQ(ErrName(Write(file, c.in, &n)), c.err) << file << " <- '" << printable << "'";
      if (c.err == "OK") {
        EXPECT_EQ(n, static_cast<ssize_t>(c.in.size())) << file << " <- '" << printable << "'";
        EXPECT_EQ(Read("a/tasks"), P_ + "\n") << file << " <- '" << printable << "'";
      } else {
        EXPECT_EQ(Read("a/tasks"), "") << file << " <- '" << printable << "'";
      }
    }
    ssize_t n = -2;
    EXPECT_EQ(ErrName(Write(file, "", &n)), "OK");
    EXPECT_EQ(n, 0);
  }
  EXPECT_TRUE(Contains(Pids("tasks"), q->pid));
}

TEST_P(FsTasksTest, ZombieIsInvisibleAndDoesNotBlockRmdir) {
  ASSERT_EQ(Mkdir("a"), 0);
  ASSERT_EQ(Mkdir("b"), 0);
  auto z = SpawnZombieable();
  ASSERT_TRUE(z);
  ASSERT_EQ(Write("a/tasks", std::to_string(z->pid)), 0);
  ASSERT_EQ(Read("a/tasks"), PidLines({z->pid}));
  ASSERT_TRUE(z->MakeZombie());
  ASSERT_EQ(ProcState(z->pid), 'Z');
  EXPECT_EQ(Read("a/tasks"), "");
  EXPECT_EQ(Read("a/cgroup.procs"), "");
  EXPECT_FALSE(Contains(Pids("tasks"), z->pid));
  EXPECT_FALSE(Contains(Pids("cgroup.procs"), z->pid));
  std::string zs = std::to_string(z->pid);
  ssize_t n = -2;
  EXPECT_EQ(ErrName(Write("b/tasks", zs, &n)), "OK");
  EXPECT_EQ(n, static_cast<ssize_t>(zs.size()));
  EXPECT_EQ(ErrName(Write("b/cgroup.procs", zs)), "OK");
  EXPECT_EQ(Read("b/tasks"), "");
  EXPECT_EQ(ErrName(Rmdir("a")), "OK");
  EXPECT_EQ(ErrName(Rmdir("b")), "OK");
  z->Kill();  // reap
}

TEST_P(FsTasksTest, KthreaddCannotBeMoved) {
  std::ifstream comm("/proc/2/comm");
  std::string name;
  std::getline(comm, name);
  if (name != "kthreadd") GTEST_SKIP() << "pid 2 is not kthreadd in this pid namespace";
  ASSERT_EQ(Mkdir("a"), 0);
  EXPECT_EQ(ErrName(Write("a/tasks", "2")), "EINVAL");
  EXPECT_EQ(ErrName(Write("a/cgroup.procs", "2")), "EINVAL");
  EXPECT_EQ(Read("a/tasks"), "");
  EXPECT_TRUE(Contains(Pids("tasks"), 2));
}

ITEST_INSTANTIATE_BACKENDS(FsTasksTest);

}  // namespace
}  // namespace itest
