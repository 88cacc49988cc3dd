#include "lifecycle_helpers.h"

#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/cn_proc.h>
#include <linux/connector.h>
#include <linux/netlink.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <fstream>
#include <mutex>
#include <sstream>

#include "mount_harness.h"

namespace itest {

namespace {

pid_t GetTid() { return static_cast<pid_t>(syscall(SYS_gettid)); }

bool DropTo(uid_t uid) {
  gid_t gid = static_cast<gid_t>(uid);
  return setgroups(0, nullptr) == 0 && setresgid(gid, gid, gid) == 0 &&
         setresuid(uid, uid, uid) == 0;
}

// In a freshly forked child of the test process: become uid (if given), then
// die with the parent (the uid change clears the death signal, so it comes
// after).
void BecomeAndTieToParent(pid_t parent, std::optional<uid_t> uid) {
  if (uid && !DropTo(*uid)) _exit(120);
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != parent) _exit(0);
}

// Closes every descriptor >= 3 except those in keep.
void CloseAllExcept(std::vector<int> keep) {
  std::sort(keep.begin(), keep.end());
  unsigned from = 3;
  for (int k : keep) {
    if (k < 3) continue;
    if (static_cast<unsigned>(k) > from) close_range(from, static_cast<unsigned>(k) - 1, 0);
    from = static_cast<unsigned>(k) + 1;
  }
  close_range(from, ~0u, 0);
}


// Blocks until the lifeline's write end is gone, then ends the process.
[[noreturn]] void WaitOnLifeline(int lifeline_r) {
  char c;
  while (read(lifeline_r, &c, 1) < 0 && errno == EINTR) {
  }
  _exit(0);
}

// ---- the puppet process ------------------------------------------------------

struct PuppetState {
  int cmd_r, resp_w, lifeline_r;
  std::mutex mu;
  struct Worker {
    pid_t tid;
    int cmd_w;
  };
  std::vector<Worker> workers;
};
PuppetState* g_puppet = nullptr;  // in the puppet process only

struct Msg {
  int32_t thread, op, arg;
};

void Reply(int32_t v) { WriteAllFd(g_puppet->resp_w, &v, sizeof v); }

void* PuppetWorker(void* p);

pid_t ForkWaiter() {
  pid_t c = fork();
  if (c == 0) {
    CloseAllExcept({g_puppet->lifeline_r});
    WaitOnLifeline(g_puppet->lifeline_r);
  }
  return c;
}

void Execute(const Msg& m) {
  switch (m.op) {
    case 'F':
      Reply(ForkWaiter());
      break;
    case 'T': {
      int p[2];
      if (pipe2(p, O_CLOEXEC) != 0) {
        Reply(-1);
        break;
      }
      pthread_t th;
      auto* fds = new int[2]{p[0], p[1]};
      if (pthread_create(&th, nullptr, PuppetWorker, fds) != 0) {
        Reply(-1);
        break;
      }
      pthread_detach(th);
      break;  // the new thread replies with its tid once registered
    }
    case 'D': {
      pid_t middle = fork();
      if (middle == 0) {
        pid_t g = fork();
        if (g == 0) {
          CloseAllExcept({g_puppet->lifeline_r});
          WaitOnLifeline(g_puppet->lifeline_r);
        }
        Reply(g);
        _exit(0);
      }
      if (middle > 0) {
        int st;
        while (waitpid(middle, &st, 0) < 0 && errno == EINTR) {
        }
      } else {
        Reply(-1);  // no grandchild either
      }
      Reply(middle);
      break;
    }
    case 'K': {
      if (kill(m.arg, SIGKILL) != 0) {
        Reply(errno);
        break;
      }
      int st;
      pid_t r;
      while ((r = waitpid(m.arg, &st, 0)) < 0 && errno == EINTR) {
      }
      Reply(r == m.arg ? 0 : errno);
      break;
    }
    case 'Z': {
      if (kill(m.arg, SIGKILL) != 0) {
        Reply(errno);
        break;
      }
      siginfo_t si;
      memset(&si, 0, sizeof si);
      int r;
      while ((r = waitid(P_PID, static_cast<id_t>(m.arg), &si, WEXITED | WNOWAIT)) < 0 &&
             errno == EINTR) {
      }
      Reply(r == 0 ? 0 : errno);
      break;
    }
    case 'R': {
      int st;
      pid_t r;
      while ((r = waitpid(m.arg, &st, 0)) < 0 && errno == EINTR) {
      }
      Reply(r == m.arg ? 0 : errno);
      break;
    }
    case 'E':
      Reply(0);
      // The exit system call ends this thread only, without unwinding: the
      // stack below is a copy of the test's (gtest would catch pthread_exit's
      // forced unwind and carry on running the test in this process).
      syscall(SYS_exit, 0);
      _exit(121);
    default:
      Reply(-1);
  }
}

void* PuppetWorker(void* p) {
  int* fds = static_cast<int*>(p);
  int cmd_r = fds[0], cmd_w = fds[1];
  delete[] fds;
  {
    std::lock_guard lock(g_puppet->mu);
    g_puppet->workers.push_back({GetTid(), cmd_w});
  }
  Reply(GetTid());
  for (;;) {
    struct pollfd pf[2] = {{cmd_r, POLLIN, 0}, {g_puppet->lifeline_r, POLLIN, 0}};
    if (poll(pf, 2, -1) < 0) continue;
    if (pf[1].revents) _exit(0);  // the test is gone
    Msg m;
    if (!ReadExactFd(cmd_r, &m, sizeof m, 10000)) _exit(0);
    Execute(m);
  }
}

[[noreturn]] void PuppetMain(int cmd_r, int resp_w, int lifeline_r) {
  static PuppetState state;
  state.cmd_r = cmd_r;
  state.resp_w = resp_w;
  state.lifeline_r = lifeline_r;
  g_puppet = &state;
  for (;;) {
    Msg m;
    ssize_t n;
    size_t got = 0;
    while (got < sizeof m) {
      n = read(cmd_r, reinterpret_cast<char*>(&m) + got, sizeof m - got);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) _exit(0);
      got += static_cast<size_t>(n);
    }
    if (m.thread == 0 || m.thread == getpid()) {
      Execute(m);
      continue;
    }
    int fd = -1;
    {
      std::lock_guard lock(state.mu);
      for (auto& w : state.workers)
        if (w.tid == m.thread) fd = w.cmd_w;
    }
    if (fd < 0 || !WriteAllFd(fd, &m, sizeof m)) Reply(-1);
  }
}

}  // namespace

// ---- FsCredsScope ----------------------------------------------------------------

FsCredsScope::FsCredsScope(std::optional<uid_t> uid) : uid_(uid) {
  if (!uid_) return;
  setfsgid(static_cast<gid_t>(*uid_));
  setfsuid(*uid_);
}

FsCredsScope::~FsCredsScope() {
  if (!uid_) return;
  setfsuid(0);
  setfsgid(0);
}

// ---- Puppet ------------------------------------------------------------------------

std::unique_ptr<Puppet> Puppet::Spawn(std::optional<uid_t> uid) {
  int cmd[2], resp[2], life[2];
  if (pipe2(cmd, O_CLOEXEC) != 0) return nullptr;
  if (pipe2(resp, O_CLOEXEC) != 0) {
    close(cmd[0]);
    close(cmd[1]);
    return nullptr;
  }
  if (pipe2(life, O_CLOEXEC) != 0) {
    close(cmd[0]);
    close(cmd[1]);
    close(resp[0]);
    close(resp[1]);
    return nullptr;
  }
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid == 0) {
    CloseAllExcept({cmd[0], resp[1], life[0]});
    BecomeAndTieToParent(parent, uid);
    PuppetMain(cmd[0], resp[1], life[0]);
  }
  close(cmd[0]);
  close(resp[1]);
  close(life[0]);
  std::unique_ptr<Puppet> p(new Puppet());
  p->cmd_w_ = cmd[1];
  p->resp_r_ = resp[0];
  p->lifeline_w_ = life[1];
  if (pid < 0) return nullptr;
  p->pid = pid;
  if (uid) {  // wait until the uid change is visible
    for (int i = 0; i < 500; ++i) {
      struct stat st;
      if (stat(("/proc/" + std::to_string(pid)).c_str(), &st) == 0 && st.st_uid == *uid) break;
      SleepMs(2);
    }
  }
  return p;
}

Puppet::~Puppet() {
  if (lifeline_w_ >= 0) close(lifeline_w_);
  if (cmd_w_ >= 0) close(cmd_w_);
  if (resp_r_ >= 0) close(resp_r_);
  if (pid > 0 && !reaped_) {
    kill(pid, SIGKILL);
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
  }
}

bool Puppet::Command(pid_t thread, char op, int32_t arg, std::vector<int32_t>* reply,
                     size_t n_reply) {
  Msg m{thread, op, arg};
  if (!WriteAllFd(cmd_w_, &m, sizeof m)) return false;
  reply->assign(n_reply, 0);
  if (n_reply == 0) return true;
  return ReadExactFd(resp_r_, reply->data(), n_reply * sizeof(int32_t), 10000);
}

pid_t Puppet::Fork(pid_t by) {
  std::vector<int32_t> r;
  if (!Command(by, 'F', 0, &r, 1)) return -1;
  return r[0];
}

pid_t Puppet::NewThread(pid_t by) {
  std::vector<int32_t> r;
  if (!Command(by, 'T', 0, &r, 1)) return -1;
  return r[0];
}

std::pair<pid_t, pid_t> Puppet::DoubleFork() {
  std::vector<int32_t> r;
  if (!Command(0, 'D', 0, &r, 2)) return {-1, -1};
  return {r[1], r[0]};
}

bool Puppet::KillChild(pid_t child, bool reap) {
  std::vector<int32_t> r;
  if (!Command(0, reap ? 'K' : 'Z', child, &r, 1)) return false;
  if (r[0] != 0) return false;
  if (!reap) {  // visible as a zombie
    for (int i = 0; i < 1000; ++i) {
      if (ProcState(child) == 'Z') return true;
      SleepMs(2);
    }
    return false;
  }
  return true;
}

bool Puppet::ReapChild(pid_t child) {
  std::vector<int32_t> r;
  return Command(0, 'R', child, &r, 1) && r[0] == 0;
}

bool Puppet::EndMainThread() {
  std::vector<int32_t> r;
  if (!Command(0, 'E', 0, &r, 1) || r[0] != 0) return false;
  for (int i = 0; i < 1000; ++i) {
    if (ProcState(pid) == 'Z') return true;
    SleepMs(2);
  }
  return false;
}

// ---- ShellProc -----------------------------------------------------------------------

std::unique_ptr<ShellProc> ShellProc::Spawn(const std::string& script, std::optional<uid_t> uid) {
  int in[2], out[2];
  if (pipe2(in, O_CLOEXEC) != 0) return nullptr;
  if (pipe2(out, O_CLOEXEC) != 0) {
    close(in[0]);
    close(in[1]);
    return nullptr;
  }
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid == 0) {
    dup2(in[0], 0);
    dup2(out[1], 1);
    int devnull = open("/dev/null", O_WRONLY);
    if (devnull >= 0) dup2(devnull, 2);
    close_range(3, ~0u, 0);
    BecomeAndTieToParent(parent, uid);
    if (chdir("/") != 0) _exit(122);
    execl("/bin/sh", "sh", "-c", script.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  close(in[0]);
  close(out[1]);
  std::unique_ptr<ShellProc> s(new ShellProc());
  s->in_w_ = in[1];
  s->out_r_ = out[0];
  if (pid < 0) return nullptr;
  s->pid = pid;
  if (uid) {  // wait until the uid change is visible
    for (int i = 0; i < 500; ++i) {
      struct stat st;
      if (stat(("/proc/" + std::to_string(pid)).c_str(), &st) == 0 && st.st_uid == *uid) break;
      SleepMs(2);
    }
  }
  return s;
}

ShellProc::~ShellProc() {
  if (in_w_ >= 0) close(in_w_);
  if (out_r_ >= 0) close(out_r_);
  if (pid > 0 && !reaped_) {
    kill(pid, SIGKILL);
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
  }
}

bool ShellProc::WriteLine(const std::string& line) {
  std::string l = line + "\n";
  return WriteAllFd(in_w_, l.data(), l.size());
}

std::optional<std::string> ShellProc::ReadLine(int timeout_ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    size_t nl = buf_.find('\n');
    if (nl != std::string::npos) {
      std::string line = buf_.substr(0, nl);
      buf_.erase(0, nl + 1);
      return line;
    }
    int left = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                    deadline - std::chrono::steady_clock::now())
                                    .count());
    if (left <= 0) return std::nullopt;
    struct pollfd pfd = {out_r_, POLLIN, 0};
    int pr = poll(&pfd, 1, left);
    if (pr < 0 && errno == EINTR) continue;
    if (pr <= 0) return std::nullopt;
    char b[512];
    ssize_t n = read(out_r_, b, sizeof b);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return std::nullopt;
    buf_.append(b, static_cast<size_t>(n));
  }
}

int ShellProc::Wait(int timeout_ms) {
  if (reaped_) return -1;
  for (int waited = 0; waited <= timeout_ms; waited += 2) {
    int st;
    pid_t r = waitpid(pid, &st, WNOHANG);
    if (r == pid) {
      reaped_ = true;
      return st;
    }
    if (r < 0 && errno != EINTR) return -1;
    SleepMs(2);
  }
  return -1;
}

// ---- ThreadChurner ---------------------------------------------------------------------

namespace {
void* Nothing(void*) { return nullptr; }
void* Churn(void* report) {
  pid_t me = GetTid();
  WriteAllFd(*static_cast<int*>(report), &me, sizeof me);
  for (;;) {
    pthread_t t;
    if (pthread_create(&t, nullptr, Nothing, nullptr) == 0) pthread_join(t, nullptr);
  }
}
}  // namespace

std::unique_ptr<ThreadChurner> ThreadChurner::Spawn(int churners, std::optional<uid_t> uid) {
  int life[2], report[2];
  if (pipe2(life, O_CLOEXEC) != 0) return nullptr;
  if (pipe2(report, O_CLOEXEC) != 0) {
    close(life[0]);
    close(life[1]);
    return nullptr;
  }
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid == 0) {
    CloseAllExcept({life[0], report[1]});
    BecomeAndTieToParent(parent, uid);
    // Churn whenever a CPU is free, but let the daemon and the test run.
    setpriority(PRIO_PROCESS, 0, 10);
    static int report_fd;
    report_fd = report[1];
    for (int i = 0; i < churners; ++i) {
      pthread_t t;
      if (pthread_create(&t, nullptr, Churn, &report_fd) != 0) _exit(121);
    }
    WaitOnLifeline(life[0]);
  }
  close(life[0]);
  close(report[1]);
  std::unique_ptr<ThreadChurner> c(new ThreadChurner());
  c->lifeline_w_ = life[1];
  if (pid < 0) {
    close(report[0]);
    return nullptr;
  }
  c->pid = pid;
  for (int i = 0; i < churners; ++i) {
    pid_t t;
    if (!ReadExactFd(report[0], &t, sizeof t, 10000)) {
      close(report[0]);
      return nullptr;
    }
    c->churner_tids.push_back(t);
  }
  close(report[0]);
  std::sort(c->churner_tids.begin(), c->churner_tids.end());
  if (uid) {  // wait until the uid change is visible
    for (int i = 0; i < 500; ++i) {
      struct stat st;
      if (stat(("/proc/" + std::to_string(pid)).c_str(), &st) == 0 && st.st_uid == *uid) break;
      SleepMs(2);
    }
  }
  return c;
}

ThreadChurner::~ThreadChurner() {
  if (lifeline_w_ >= 0) close(lifeline_w_);
  if (pid > 0) {
    kill(pid, SIGKILL);
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
  }
}

std::vector<pid_t> ProcTaskTids(pid_t pid) {
  std::vector<pid_t> out;
  for (auto& n : ListDirRaw("/proc/" + std::to_string(pid) + "/task")) {
    if (n == "." || n == "..") continue;
    out.push_back(static_cast<pid_t>(std::stol(n)));
  }
  std::sort(out.begin(), out.end());
  return out;
}

// ---- AgentLog ----------------------------------------------------------------------------

namespace {

// Records one run, with shell builtins where it can (agents run on busy
// machines). The descriptors are looked at before anything opens one. The
// record ends with "end": a reader ignores records not yet complete.
std::string AgentScript(const std::string& runs) {
  return "#!/bin/sh\n"
         "f0=closed f1=closed f2=closed\n"
         "[ -e /proc/$$/fd/0 ] && f0=other\n"
         "[ -e /proc/$$/fd/1 ] && f1=other\n"
         "[ -e /proc/$$/fd/2 ] && f2=other\n"
         "[ /proc/$$/fd/0 -ef /dev/null ] && f0=null\n"
         "[ /proc/$$/fd/1 -ef /dev/null ] && f1=null\n"
         "[ /proc/$$/fd/2 -ef /dev/null ] && f2=null\n"
         "exec </dev/null 2>/dev/null >'" + runs + "/run.'$$\n"
         "echo \"argc=$#\"\n"
         "echo \"arg0=$0\"\n"
         "for a in \"$@\"; do echo \"arg=$a\"; done\n"
         "tr '\\000' '\\n' </proc/$$/environ | while IFS= read -r e; do echo \"env=$e\"; done\n"
         "printf 'cwd='; pwd -P\n"
         "printf 'umask='; umask\n"
         "echo \"pid=$$\"\n"
         "read -r st </proc/$$/stat; st=${st##*) }; set -- $st; echo \"sid=$4\"\n"
         "while read -r k v rest; do [ \"$k\" = Uid: ] && echo \"uid=$v\"; done </proc/$$/status\n"
         "echo \"fds=$f0,$f1,$f2\"\n"
         "echo end\n";
}

AgentRun ParseRun(const std::string& text) {
  AgentRun r;
  r.raw = text;
  std::istringstream in(text);
  std::string line;
  auto num = [](const std::string& s) {
    try {
      return std::stol(s);
    } catch (...) {
      return -1L;
    }
  };
  while (std::getline(in, line)) {
    size_t eq = line.find('=');
    if (eq == std::string::npos) continue;
    std::string k = line.substr(0, eq), v = line.substr(eq + 1);
    if (k == "arg0") r.arg0 = v;
    else if (k == "arg") r.args.push_back(v);
    else if (k == "env") r.env.push_back(v);
    else if (k == "cwd") r.cwd = v;
    else if (k == "umask") r.umask = v;
    else if (k == "fds") r.fds = v;
    else if (k == "pid") r.pid = num(v);
    else if (k == "sid") r.sid = num(v);
    else if (k == "uid") r.uid = num(v);
  }
  std::sort(r.env.begin(), r.env.end());
  return r;
}

}  // namespace

std::unique_ptr<AgentLog> AgentLog::Make(uid_t runs_owner) {
  char tmpl[] = "/tmp/cgagent_itest_XXXXXX";
  if (!mkdtemp(tmpl)) return nullptr;
  std::unique_ptr<AgentLog> a(new AgentLog());
  a->dir_ = tmpl;
  chmod(a->dir_.c_str(), 0755);
  a->runs_ = a->dir_ + "/runs";
  a->agent_ = a->dir_ + "/agent";
  if (mkdir(a->runs_.c_str(), 0755) != 0) return nullptr;
  if (chown(a->runs_.c_str(), runs_owner, static_cast<gid_t>(runs_owner)) != 0 &&
      geteuid() == 0)
    return nullptr;
  {
    std::ofstream f(a->agent_);
    f << AgentScript(a->runs_);
    if (!f) return nullptr;
  }
  if (chmod(a->agent_.c_str(), 0755) != 0) return nullptr;
  return a;
}

AgentLog::~AgentLog() {
  if (dir_.empty()) return;
  for (auto& n : ListDirRaw(runs_))
    if (n != "." && n != "..") unlink((runs_ + "/" + n).c_str());
  rmdir(runs_.c_str());
  unlink(agent_.c_str());
  rmdir(dir_.c_str());
}

std::vector<AgentRun> AgentLog::Runs() const {
  std::vector<AgentRun> out;
  for (auto& n : ListDirRaw(runs_)) {
    if (n.rfind("run.", 0) != 0) continue;
    ReadResult r = ReadAll(runs_ + "/" + n);
    if (r.err) continue;
    const std::string tail = "\nend\n";
    if (r.data.size() < tail.size() || r.data.compare(r.data.size() - tail.size(), tail.size(), tail) != 0)
      continue;  // still being written
    out.push_back(ParseRun(r.data));
  }
  return out;
}

std::vector<AgentRun> AgentLog::WaitForRuns(size_t n, int timeout_ms) const {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    auto runs = Runs();
    if (runs.size() >= n || std::chrono::steady_clock::now() >= deadline) return runs;
    SleepMs(5);
  }
}

std::vector<std::string> AgentLog::Paths() const {
  std::vector<std::string> out;
  for (auto& r : Runs()) out.push_back(r.args.empty() ? "<no argument>" : r.args[0]);
  std::sort(out.begin(), out.end());
  return out;
}

// ---- pids and the connector ------------------------------------------------------------------

int SetNsLastPid(pid_t last) {
  return WriteStr("/proc/sys/kernel/ns_last_pid", std::to_string(last));
}

std::string ProcConnectorRefusal(std::optional<uid_t> uid) {
  // Codes: 0 ok, 1 socket, 2 bind, 3 send, 4 no acknowledgement, 10+err refused.
  int code = RunInChild(
      [] {
        int fd = socket(PF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_CONNECTOR);
        if (fd < 0) return 1;
        struct sockaddr_nl addr = {};
        addr.nl_family = AF_NETLINK;
        addr.nl_groups = CN_IDX_PROC;
        if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return 2;
        struct __attribute__((packed)) {
          nlmsghdr h;
          struct {
            __u32 idx, val, seq, ack;
            __u16 len, flags;
          } c;  // struct cn_msg without its flexible array
          proc_cn_mcast_op op;
        } req = {};
        req.h.nlmsg_len = sizeof req;
        req.h.nlmsg_type = NLMSG_DONE;
        req.c.idx = CN_IDX_PROC;
        req.c.val = CN_VAL_PROC;
        req.c.len = sizeof(proc_cn_mcast_op);
        req.op = PROC_CN_MCAST_LISTEN;
        if (send(fd, &req, sizeof req, 0) != static_cast<ssize_t>(sizeof req)) return 3;
        alignas(nlmsghdr) char buf[4096];
        for (int tries = 0; tries < 64; ++tries) {
          struct pollfd p = {fd, POLLIN, 0};
          if (poll(&p, 1, 1000) != 1) return 4;
          ssize_t n = recv(fd, buf, sizeof buf, 0);
          if (n <= 0) return 4;
          for (auto* nl = reinterpret_cast<nlmsghdr*>(buf); NLMSG_OK(nl, static_cast<unsigned>(n));
               nl = NLMSG_NEXT(nl, n)) {
            auto* cn = static_cast<cn_msg*>(NLMSG_DATA(nl));
            auto* ev = reinterpret_cast<proc_event*>(cn->data);
            if (ev->what != proc_event::PROC_EVENT_NONE) continue;
            return ev->event_data.ack.err == 0 ? 0 : 10 + static_cast<int>(ev->event_data.ack.err);
          }
        }
        return 4;
      },
      uid);
  switch (code) {
    case 0: return "";
    case 1: return "socket(NETLINK_CONNECTOR) failed";
    case 2: return "bind to CN_IDX_PROC failed";
    case 3: return "PROC_CN_MCAST_LISTEN could not be sent";
    case 4: return "no acknowledgement of PROC_CN_MCAST_LISTEN";
    case -1: return "probe process died";
    default: return "PROC_CN_MCAST_LISTEN refused: " + ErrName(code - 10);
  }
}

}  // namespace itest
