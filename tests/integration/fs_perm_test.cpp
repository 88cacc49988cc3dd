// Removed cgroups seen through open descriptors (spec §1.3, §4), and
// permissions / delegation (spec §1.3, §3.1 step 6, §4, §6.3), checked against
// the emulator and the kernel.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "fs_fixture.h"

namespace itest {
namespace {

class FsStaleTest : public FsTest {};
class FsPermTest : public FsTest {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "permission tests need root";
    FsTest::SetUp();
  }
};

constexpr int kOpenFailed = 200;  // RunInChild code: open() itself failed

// open(O_WRONLY) + one write(); open failure -> kOpenFailed, else write's errno.
int OpenThenWrite(const std::string& path, const std::string& data) {
  int fd = open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return kOpenFailed;
  int e = WriteFd(fd, data);
  close(fd);
  return e;
}

std::string Code(int c) { return c == kOpenFailed ? "open failed" : ErrName(c); }

TEST_P(FsStaleTest, OpenFdsOfRemovedCgroupGiveENODEV) {
  ASSERT_EQ(Mkdir("a"), 0);
  auto s = SpawnSleeper();
  ASSERT_TRUE(s);
  ASSERT_EQ(Write("a/tasks", std::to_string(s->pid)), 0);
  int tasks_r = open(P("a/tasks").c_str(), O_RDONLY);
  int tasks_w = open(P("a/tasks").c_str(), O_WRONLY);
  int procs_rw = open(P("a/cgroup.procs").c_str(), O_RDWR);
  int nor_rw = open(P("a/notify_on_release").c_str(), O_RDWR);
  int dirfd = open(P("a").c_str(), O_RDONLY | O_DIRECTORY);
  ASSERT_TRUE(tasks_r >= 0 && tasks_w >= 0 && procs_rw >= 0 && nor_rw >= 0 && dirfd >= 0);
  // Empty it, then remove it.
  ASSERT_EQ(Write("tasks", std::to_string(s->pid)), 0);
  ASSERT_EQ(ErrName(Rmdir("a")), "OK");
  char buf[64];
  EXPECT_EQ(ErrName(Errno(static_cast<int>(read(tasks_r, buf, sizeof buf)))), "ENODEV");
  EXPECT_EQ(ErrName(WriteFd(tasks_w, std::to_string(s->pid))), "ENODEV");
  EXPECT_EQ(ErrName(WriteFd(tasks_w, "abc")), "ENODEV");
  EXPECT_EQ(ErrName(Errno(static_cast<int>(read(procs_rw, buf, sizeof buf)))), "ENODEV");
  EXPECT_EQ(ErrName(WriteFd(procs_rw, "0")), "ENODEV");
  EXPECT_EQ(ErrName(Errno(static_cast<int>(read(nor_rw, buf, sizeof buf)))), "ENODEV");
  EXPECT_EQ(ErrName(WriteFd(nor_rw, "1")), "ENODEV");
  // Lookups through the removed directory: ENOENT.
  EXPECT_EQ(ErrName(Errno(openat(dirfd, "tasks", O_RDONLY))), "ENOENT");
  EXPECT_EQ(ErrName(Errno(mkdirat(dirfd, "x", 0755))), "ENOENT");
  // The same through a cwd inside the removed directory.
  EXPECT_EQ(ErrName(RunInChild([&] {
              if (fchdir(dirfd) != 0) return 199;
              return Errno(open("tasks", O_RDONLY));
            })),
            "ENOENT");
  EXPECT_EQ(ErrName(RunInChild([&] {
              if (fchdir(dirfd) != 0) return 199;
              return Errno(mkdir("x", 0755));
            })),
            "ENOENT");
  EXPECT_EQ(ErrName(RunInChild([&] {
              if (fchdir(dirfd) != 0) return 199;
              return Errno(open("notify_on_release", O_WRONLY));
            })),
            "ENOENT");
  // Listing the removed directory (from a cwd inside it): completely empty,
  // not even "." and "..".
  EXPECT_EQ(RunInChild([&] {
              if (fchdir(dirfd) != 0) return 199;
              int err = 0;
              auto v = ListDirRaw(".", &err);
              return err ? 150 + err : static_cast<int>(v.size());
            }),
            0);
  EXPECT_FALSE(Contains(Pids("tasks"), 0));
  EXPECT_TRUE(Contains(Pids("tasks"), s->pid));
  for (int fd : {tasks_r, tasks_w, procs_rw, nor_rw, dirfd}) close(fd);
  EXPECT_FALSE(Stat(P("a")));
}

TEST_P(FsStaleTest, FdOpenedBeforeRmdirAndReadBeforeStillENODEVAfterRecreate) {
  ASSERT_EQ(Mkdir("a"), 0);
  int fd = open(P("a/notify_on_release").c_str(), O_RDWR);
  ASSERT_GE(fd, 0);
  char buf[8];
  EXPECT_EQ(read(fd, buf, sizeof buf), 2);
  ASSERT_EQ(Rmdir("a"), 0);
  ASSERT_EQ(Mkdir("a"), 0);  // same name, new cgroup
  EXPECT_EQ(ErrName(WriteFd(fd, "1")), "ENODEV");
  EXPECT_EQ(ErrName(Errno(static_cast<int>(pread(fd, buf, sizeof buf, 0)))), "ENODEV");
  close(fd);
  EXPECT_EQ(Read("a/notify_on_release"), "0\n");
}

TEST_P(FsPermTest, NobodyCannotOpenRootOwnedTasksForWriting) {
  ASSERT_EQ(Mkdir("a"), 0);
  EXPECT_EQ(ErrName(RunInChild([&] { return Errno(open(P("a/tasks").c_str(), O_WRONLY)); },
                               kNobody)),
            "EACCES");
  EXPECT_EQ(ErrName(RunInChild([&] { return Errno(open(P("tasks").c_str(), O_RDWR)); },
                               kNobody)),
            "EACCES");
  EXPECT_EQ(ErrName(RunInChild(
                [&] { return Errno(open(P("notify_on_release").c_str(), O_WRONLY)); }, kNobody)),
            "EACCES");
  // Reading is allowed (0644).
  EXPECT_EQ(ErrName(RunInChild([&] { return ReadAll(P("a/tasks")).err; }, kNobody)), "OK");
  EXPECT_EQ(ErrName(RunInChild([&] { return ReadAll(P("tasks")).err; }, kNobody)), "OK");
  // mkdir/rmdir in root-owned directories: EACCES.
  EXPECT_EQ(ErrName(RunInChild([&] { return Errno(mkdir(P("x").c_str(), 0755)); }, kNobody)),
            "EACCES");
  EXPECT_EQ(ErrName(RunInChild([&] { return Errno(mkdir(P("a/x").c_str(), 0755)); }, kNobody)),
            "EACCES");
  EXPECT_EQ(ErrName(RunInChild([&] { return Errno(rmdir(P("a").c_str())); }, kNobody)),
            "EACCES");
}

TEST_P(FsPermTest, DelegatedSubtree) {
  ASSERT_EQ(Mkdir("d"), 0);
  for (std::string f : {"d", "d/tasks", "d/cgroup.procs"})
    ASSERT_EQ(Errno(chown(P(f).c_str(), kNobody, kNobody)), 0) << f;
  // nobody can mkdir in the delegated dir; everything new is owned by nobody.
  ASSERT_EQ(ErrName(RunInChild([&] { return Errno(mkdir(P("d/sub").c_str(), 0755)); },
                               kNobody)),
            "OK");
  auto st = Stat(P("d/sub"));
  ASSERT_TRUE(st);
  EXPECT_EQ(st->st_uid, kNobody);
  EXPECT_EQ(st->st_gid, kNobody);
  for (std::string f : {"tasks", "cgroup.procs", "notify_on_release", "cgroup.clone_children"}) {
    auto fs = Stat(P("d/sub/" + f));
    ASSERT_TRUE(fs) << f;
    EXPECT_EQ(fs->st_uid, kNobody) << f;
    EXPECT_EQ(fs->st_gid, kNobody) << f;
    EXPECT_EQ(PermBits(*fs), 0644u) << f;
  }
  // Files of the delegated dir that were not chowned stay root's.
  EXPECT_EQ(Stat(P("d/notify_on_release"))->st_uid, 0u);

  auto mine = SpawnSleeper(1, kNobody);
  auto roots = SpawnSleeper();
  ASSERT_TRUE(mine && roots);
  // Own process into the delegated cgroups: OK.
  EXPECT_EQ(Code(RunInChild([&] { return OpenThenWrite(P("d/sub/tasks"), std::to_string(mine->pid)); },
                            kNobody)),
            "OK");
  EXPECT_EQ(Read("d/sub/tasks"), PidLines({mine->pid}));
  EXPECT_EQ(Code(RunInChild(
                [&] { return OpenThenWrite(P("d/cgroup.procs"), std::to_string(mine->tids[0])); },
                kNobody)),
            "OK");
  EXPECT_EQ(Read("d/tasks"), PidLines({mine->pid, mine->tids[0]}));
  EXPECT_EQ(Read("d/sub/tasks"), "");
  // Own thread via tasks.
  EXPECT_EQ(Code(RunInChild(
                [&] { return OpenThenWrite(P("d/sub/tasks"), std::to_string(mine->tids[0])); },
                kNobody)),
            "OK");
  EXPECT_EQ(Read("d/sub/tasks"), PidLines({mine->tids[0]}));
  // A root-owned process through its own fd: EACCES at write().
  EXPECT_EQ(Code(RunInChild(
                [&] { return OpenThenWrite(P("d/sub/tasks"), std::to_string(roots->pid)); },
                kNobody)),
            "EACCES");
  EXPECT_EQ(Code(RunInChild(
                [&] { return OpenThenWrite(P("d/cgroup.procs"), std::to_string(roots->pid)); },
                kNobody)),
            "EACCES");
  EXPECT_EQ(Read("d/sub/tasks"), PidLines({mine->tids[0]}));
  EXPECT_TRUE(Contains(Pids("tasks"), roots->pid));
  // Moving back to the root-owned root cgroup fails at open.
  EXPECT_EQ(Code(RunInChild([&] { return OpenThenWrite(P("tasks"), std::to_string(mine->pid)); },
                            kNobody)),
            "open failed");
  // nobody can rmdir its own empty child.
  ASSERT_EQ(Write("tasks", std::to_string(mine->tids[0])), 0);
  EXPECT_EQ(ErrName(RunInChild([&] { return Errno(rmdir(P("d/sub").c_str())); }, kNobody)),
            "OK");
}

TEST_P(FsPermTest, PermissionUsesOpenTimeCredentials) {
  ASSERT_EQ(Mkdir("a"), 0);
  auto roots = SpawnSleeper();
  ASSERT_TRUE(roots);
  int fd = open(P("a/tasks").c_str(), O_WRONLY);
  ASSERT_GE(fd, 0);
  // The child inherits the root-opened fd, drops to nobody, writes a root pid.
  EXPECT_EQ(ErrName(RunInChild([&] { return WriteFd(fd, std::to_string(roots->pid)); }, kNobody)),
            "OK");
  close(fd);
  EXPECT_EQ(Read("a/tasks"), PidLines({roots->pid}));
  // An fd opened by nobody (file chowned to it) cannot move root's process,
  // not even to the cgroup it is already in: the uid check comes first.
  ASSERT_EQ(Errno(chown(P("a/tasks").c_str(), kNobody, kNobody)), 0);
  EXPECT_EQ(Code(RunInChild([&] { return OpenThenWrite(P("a/tasks"), std::to_string(roots->pid)); },
                            kNobody)),
            "EACCES");
  EXPECT_EQ(Read("a/tasks"), PidLines({roots->pid}));
}

TEST_P(FsPermTest, ReleaseAgentNeedsCapSysAdmin) {
  ASSERT_EQ(Errno(chown(P("release_agent").c_str(), kNobody, kNobody)), 0);
  EXPECT_EQ(Code(RunInChild([&] { return OpenThenWrite(P("release_agent"), "/x"); }, kNobody)),
            "EPERM");
  EXPECT_EQ(Read("release_agent"), "\n");
  // Opened by root, written after dropping to nobody: OK (open-time creds).
  int fd = open(P("release_agent").c_str(), O_WRONLY);
  ASSERT_GE(fd, 0);
  EXPECT_EQ(ErrName(RunInChild([&] { return WriteFd(fd, "/opened/by/root"); }, kNobody)), "OK");
  close(fd);
  EXPECT_EQ(Read("release_agent"), "/opened/by/root\n");
  // And the other way round: opened by nobody: EPERM even for an empty-ish value.
  EXPECT_EQ(Code(RunInChild([&] { return OpenThenWrite(P("release_agent"), " "); }, kNobody)),
            "EPERM");
  EXPECT_EQ(Read("release_agent"), "/opened/by/root\n");
}

ITEST_INSTANTIATE_BACKENDS(FsStaleTest);
ITEST_INSTANTIATE_BACKENDS(FsPermTest);

}  // namespace
}  // namespace itest
