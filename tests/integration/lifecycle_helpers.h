// Helpers for the process-lifecycle tests (lifecycle_test.cpp): processes
// that fork, create threads and exit on command, a forking shell loop, a
// thread churner, per-thread filesystem credentials, a release-agent script
// that records how it was run, and pid steering through ns_last_pid.
//
// Every long-lived descendant these helpers create blocks on a "lifeline"
// pipe whose only write end the test process holds: when the helper object
// is destroyed (or the test process dies) they all see EOF and exit, even
// those re-parented away from the test process (double forks).
#pragma once

#include <sys/types.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace itest {

// Sets the calling thread's fsuid/fsgid to uid for the scope (nothing when
// uid is empty). FUSE reports the fsuid and default_permissions checks with
// it, so a root test thread acts on the mount as that user.
class FsCredsScope {
 public:
  explicit FsCredsScope(std::optional<uid_t> uid);
  ~FsCredsScope();
  FsCredsScope(const FsCredsScope&) = delete;
  FsCredsScope& operator=(const FsCredsScope&) = delete;

 private:
  std::optional<uid_t> uid_;
};

// A process that does, on command, what a test needs a task in a cgroup to
// do: fork a child, create a thread (from any of its threads), double fork,
// kill or reap its children, end its main thread. Children and threads block
// on the lifeline. Runs as `uid` when given.
class Puppet {
 public:
  static std::unique_ptr<Puppet> Spawn(std::optional<uid_t> uid = std::nullopt);
  ~Puppet();  // SIGKILL + reap the puppet; its descendants exit on the lifeline
  Puppet(const Puppet&) = delete;
  Puppet& operator=(const Puppet&) = delete;

  pid_t pid = -1;

  // Thread `by` (0 = the main thread; else a tid returned by NewThread)
  // forks a child that waits. Returns the child's pid, -1 on failure.
  pid_t Fork(pid_t by = 0);
  // Thread `by` creates a thread that waits (and obeys commands). Returns its
  // tid, -1 on failure.
  pid_t NewThread(pid_t by = 0);
  // The main thread forks a middle process that forks a waiting grandchild
  // and exits at once; the middle is reaped. Returns {middle, grandchild}.
  std::pair<pid_t, pid_t> DoubleFork();
  // SIGKILLs a child of the puppet, then reaps it (reap) or waits until it
  // is a zombie and leaves it unreaped. False on failure.
  bool KillChild(pid_t child, bool reap);
  bool ReapChild(pid_t child);
  // The main thread calls pthread_exit: with other threads alive the leader
  // becomes a zombie. No command is obeyed afterwards.
  bool EndMainThread();

 private:
  Puppet() = default;
  bool Command(pid_t thread, char op, int32_t arg, std::vector<int32_t>* reply, size_t n_reply);
  int cmd_w_ = -1, resp_r_ = -1, lifeline_w_ = -1;
  bool reaped_ = false;
};

// `/bin/sh -c SCRIPT` as `uid` (when given) with its stdin and stdout on
// pipes to the test; stderr to /dev/null.
class ShellProc {
 public:
  static std::unique_ptr<ShellProc> Spawn(const std::string& script,
                                          std::optional<uid_t> uid = std::nullopt);
  ~ShellProc();  // SIGKILL + reap if still running
  ShellProc(const ShellProc&) = delete;
  ShellProc& operator=(const ShellProc&) = delete;

  pid_t pid = -1;
  bool WriteLine(const std::string& line);
  // The next line of its stdout (without '\n'), nullopt on EOF/timeout.
  std::optional<std::string> ReadLine(int timeout_ms = 10000);
  // Waits (bounded) for it to exit and reaps it; its wait status or -1.
  int Wait(int timeout_ms = 10000);

 private:
  ShellProc() = default;
  int in_w_ = -1, out_r_ = -1;
  std::string buf_;
  bool reaped_ = false;
};

// A process whose `churners` threads create and join short-lived threads in
// a tight loop while its main thread waits. Runs as `uid` when given, at
// nice 10.
class ThreadChurner {
 public:
  static std::unique_ptr<ThreadChurner> Spawn(int churners, std::optional<uid_t> uid);
  ~ThreadChurner();
  ThreadChurner(const ThreadChurner&) = delete;
  ThreadChurner& operator=(const ThreadChurner&) = delete;
  pid_t pid = -1;
  std::vector<pid_t> churner_tids;  // the long-lived churning threads

 private:
  ThreadChurner() = default;
  int lifeline_w_ = -1;
};

// Thread ids listed in /proc/<pid>/task (sorted; empty if gone).
std::vector<pid_t> ProcTaskTids(pid_t pid);

// One run of the recording release agent.
struct AgentRun {
  std::string arg0;               // $0: the agent path
  std::vector<std::string> args;  // $1..$#
  std::vector<std::string> env;   // /proc/self/environ at exec, sorted
  std::string cwd, umask, fds;    // fds: "null,null,null" / "closed,..." / "other"
  long pid = -1, sid = -1, uid = -1;
  std::string raw;
};

// A directory holding an agent script (`agent()`) that records each run in a
// file of its own, and a second path (`with_space()`) to the same script.
// Both are readable and executable by everyone; the run directory belongs
// to `runs_owner` so a daemon running as that user can record.
class AgentLog {
 public:
  static std::unique_ptr<AgentLog> Make(uid_t runs_owner);
  ~AgentLog();
  AgentLog(const AgentLog&) = delete;
  AgentLog& operator=(const AgentLog&) = delete;

  const std::string& agent() const { return agent_; }
  std::string missing() const { return dir_ + "/no-such-agent"; }
  std::vector<AgentRun> Runs() const;  // completed runs, in no particular order
  // Polls (<= timeout_ms) until at least n runs completed; returns them.
  std::vector<AgentRun> WaitForRuns(size_t n, int timeout_ms = 5000) const;
  // The $1 of each completed run, sorted.
  std::vector<std::string> Paths() const;

 private:
  AgentLog() = default;
  std::string dir_, runs_, agent_;
};

// Writes `last` to /proc/sys/kernel/ns_last_pid (root). 0 or errno.
int SetNsLastPid(pid_t last);

// Whether the kernel's process events connector accepts a listener running
// as `uid` (empty: as the test process). "" if it does, else why not.
std::string ProcConnectorRefusal(std::optional<uid_t> uid);

}  // namespace itest
