#include "engine/proc_task_source.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <charconv>
#include <ctime>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <string_view>

namespace cgemu {
namespace {

// Reads a small /proc file relative to proc_fd into buf; returns its length
// or -1 if it cannot be opened (the task is gone).
ssize_t read_proc_file(int proc_fd, const char* path, char* buf, size_t size) {
  int fd = openat(proc_fd, path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  ssize_t n = read(fd, buf, size - 1);
  close(fd);
  if (n < 0) return -1;
  buf[n] = '\0';
  return n;
}

bool is_pid_name(const char* name) {
  if (!*name) return false;
  for (const char* p = name; *p; ++p)
    if (*p < '0' || *p > '9') return false;
  return true;
}

template <typename T>
bool parse_number(std::string_view& s, T* out) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  if (ec != std::errc()) return false;
  s.remove_prefix(end - s.data());
  return true;
}

// Calls fn(tid) for each entry of /proc/<tgid>/task.
template <typename Fn>
void for_each_thread(int proc_fd, pid_t tgid, Fn fn) {
  char path[32];
  snprintf(path, sizeof path, "%d/task", tgid);
  int fd = openat(proc_fd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  DIR* dir = fdopendir(fd);
  if (!dir) {
    close(fd);
    return;
  }
  while (dirent* entry = readdir(dir))
    if (is_pid_name(entry->d_name)) fn(static_cast<pid_t>(atoi(entry->d_name)));
  closedir(dir);
}

}  // namespace

ProcTaskSource::ProcTaskSource(const char* proc_root)
    : proc_fd_(open(proc_root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) {
  if (proc_fd_ < 0) throw std::runtime_error(std::string("cannot open ") + proc_root + ": " + strerror(errno));
}

ProcTaskSource::~ProcTaskSource() { close(proc_fd_); }

std::optional<ProcTaskSource::Stat> ProcTaskSource::read_stat(pid_t tid) {
  char path[32];
  char buf[1024];
  snprintf(path, sizeof path, "%d/task/%d/stat", tid, tid);
  ssize_t n = read_proc_file(proc_fd_, path, buf, sizeof buf);
  if (n <= 0) return std::nullopt;
  // The command name may hold spaces and parentheses: fields start after
  // the last ')'.
  const char* close_paren = static_cast<const char*>(memrchr(buf, ')', n));
  if (!close_paren) return std::nullopt;
  std::string_view s(close_paren + 1, buf + n - (close_paren + 1));
  Stat st{};
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  if (s.empty()) return std::nullopt;
  st.state = s.front();
  s.remove_prefix(1);
  // Fields 4..22 (ppid ... starttime); keep flags (9), num_threads (20)
  // and starttime (22).
  for (int field = 4; field <= 22; ++field) {
    long long value;  // every one of these fields fits, some are negative
    if (!parse_number(s, &value)) return std::nullopt;
    if (field == 4) st.ppid = static_cast<pid_t>(value);
    if (field == 9) st.flags = static_cast<unsigned>(value);
    if (field == 20) st.num_threads = static_cast<long>(value);
    if (field == 22) st.start_time = static_cast<uint64_t>(value);
  }
  return st;
}

std::optional<TaskInfo> ProcTaskSource::task(pid_t tid) { return read_task(tid, true); }

std::optional<TaskInfo> ProcTaskSource::task_without_credentials(pid_t tid) { return read_task(tid, false); }

std::optional<TaskInfo> ProcTaskSource::thread(pid_t tgid, pid_t tid) {
  auto st = read_stat(tid);
  if (!st) return std::nullopt;
  TaskInfo info;
  info.tid = tid;
  info.tgid = tgid;
  info.state = st->state;
  info.flags = st->flags;
  info.start_time = st->start_time;
  info.ppid = st->ppid;
  info.num_threads = st->num_threads;
  info.no_cgroup_migration = (st->flags & kPfKthread) && st->ppid == 0;
  return info;
}

std::optional<TaskInfo> ProcTaskSource::read_task(pid_t tid, bool credentials) {
  if (tid <= 0) return std::nullopt;
  auto info = thread(tid, tid);
  if (!info) return std::nullopt;
  if (!credentials && info->num_threads == 1) return info;  // its own leader
  char path[32];
  char buf[4096];
  snprintf(path, sizeof path, "%d/status", tid);
  ssize_t n = read_proc_file(proc_fd_, path, buf, sizeof buf);
  if (n <= 0) return std::nullopt;
  std::string_view text(buf, n);
  auto field = [&](std::string_view key) -> std::string_view {
    size_t at = text.find(key);
    if (at == std::string_view::npos) return {};
    std::string_view rest = text.substr(at + key.size());
    return rest.substr(0, rest.find('\n'));
  };
  auto skip_ws = [](std::string_view& s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  };
  std::string_view tgid = field("\nTgid:");
  skip_ws(tgid);
  if (!parse_number(tgid, &info->tgid)) return std::nullopt;
  if (!credentials) return info;
  std::string_view uids = field("\nUid:");
  for (uid_t* id : {&info->ruid, &info->euid, &info->suid}) {
    skip_ws(uids);
    if (!parse_number(uids, id)) return std::nullopt;
  }
  return info;
}

bool ProcTaskSource::alive(pid_t tid, uint64_t start_time) {
  auto st = read_stat(tid);
  if (!st || st->start_time != start_time) return false;
  return !(st->state == 'Z' || st->state == 'X' || (st->flags & kPfExiting));
}

bool ProcTaskSource::thread_exists(pid_t tgid, pid_t tid) {
  if (tid == tgid) {
    auto st = read_stat(tid);
    return st && !(st->state == 'Z' || st->state == 'X');
  }
  // Signal 0 only asks whether the thread is there; a released thread is not.
  return syscall(SYS_tgkill, tgid, tid, 0) == 0 || errno == EPERM;
}

std::vector<pid_t> ProcTaskSource::threads(pid_t tgid) {
  std::vector<pid_t> tids;
  for_each_thread(proc_fd_, tgid, [&](pid_t tid) { tids.push_back(tid); });
  return tids;
}

void ProcTaskSource::scan(const std::function<void(const ScannedTask&)>& fn) {
  auto dying = [](const Stat& st) { return st.state == 'Z' || st.state == 'X' || (st.flags & kPfExiting); };
  for_each_process([&](pid_t tgid) {
    auto leader = read_stat(tgid);
    if (!leader) return;
    fn({tgid, tgid, leader->ppid, leader->start_time, dying(*leader)});
    if (leader->num_threads <= 1) return;
    for_each_thread(proc_fd_, tgid, [&](pid_t tid) {
      if (tid == tgid) return;
      if (auto st = read_stat(tid)) fn({tid, tgid, leader->ppid, st->start_time, dying(*st)});
    });
  });
}

uint64_t ProcTaskSource::clock() {
  // /proc/<pid>/stat gives start times in clock ticks of CLOCK_BOOTTIME.
  static const long hz = sysconf(_SC_CLK_TCK);
  timespec ts;
  clock_gettime(CLOCK_BOOTTIME, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * hz + static_cast<uint64_t>(ts.tv_nsec) / (1000000000 / hz);
}

void ProcTaskSource::for_each_process(const std::function<void(pid_t tgid)>& fn) {
  int fd = openat(proc_fd_, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  DIR* dir = fdopendir(fd);
  if (!dir) {
    close(fd);
    return;
  }
  while (dirent* entry = readdir(dir))
    if (is_pid_name(entry->d_name)) fn(static_cast<pid_t>(atoi(entry->d_name)));
  closedir(dir);
}

void ProcTaskSource::for_each_live_task(const std::function<void(pid_t tid, pid_t tgid)>& fn) {
  for_each_process([&](pid_t tgid) {
    auto leader = read_stat(tgid);
    if (!leader) return;
    const bool leader_dying = leader->state == 'Z' || leader->state == 'X' || (leader->flags & kPfExiting);
    if (leader->num_threads <= 1) {
      if (!leader_dying) fn(tgid, tgid);
      return;
    }
    // Other threads are released as they exit; only a zombie leader lingers.
    for_each_thread(proc_fd_, tgid, [&](pid_t tid) {
      if (tid != tgid || !leader_dying) fn(tid, tgid);
    });
  });
}

}  // namespace cgemu
