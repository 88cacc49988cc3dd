#include "fs/v1_core_files.h"

#include <linux/limits.h>

#include <algorithm>
#include <cerrno>
#include <string>

#include "engine/engine.h"
#include "engine/kernel_parse.h"

namespace cgemu {
namespace {

enum class PidList { kTasks, kProcs };

// Sorted "%d\n" lines; cgroup.procs lists each member thread's tgid once.
int read_pidlist(const FileCall& call, std::string& out, PidList kind) {
  std::vector<pid_t> ids;
  for (const Engine::Member& m : call.engine.members(call.cgroup))
    ids.push_back(kind == PidList::kTasks ? m.tid : m.tgid);
  std::sort(ids.begin(), ids.end());
  if (kind == PidList::kProcs) ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  out.reserve(ids.size() * 8);
  for (pid_t id : ids) {
    out += std::to_string(id);
    out += '\n';
  }
  return 0;
}

// __cgroup1_procs_write.
int write_pidlist(const FileCall& call, std::string_view input, bool threadgroup) {
  int pid;
  if (kstrtoint(strstrip(input), 0, &pid) || pid < 0) return -EINVAL;
  TaskInfo target;
  // Root may move anything: the target's uids matter only to others.
  const bool need_credentials = call.opener.uid != 0;
  if (int err = call.engine.find_migration_target(pid, call.caller_tid, threadgroup, &target, need_credentials))
    return err;
  // The v1 rule: root, or the target's real or saved uid. For a thread
  // group only the leader is checked.
  const uid_t euid = call.opener.uid;
  if (euid != 0 && euid != target.ruid && euid != target.suid) return -EACCES;
  return call.engine.attach(call.cgroup, target, threadgroup);
}

int read_flag(bool value, std::string& out) {
  out = value ? "1\n" : "0\n";
  return 0;
}

int write_flag(std::string_view input, bool* flag) {
  unsigned long long value;
  if (int err = kstrtoull(input, 0, &value)) return err;
  *flag = value != 0;
  return 0;
}

constexpr ControlFile kCoreFiles[] = {
    {
        .name = "cgroup.procs",
        .flags = kCftNotSaved,  // memberships are saved as such
        .read = [](const FileCall& c, std::string& out) { return read_pidlist(c, out, PidList::kProcs); },
        .write = [](const FileCall& c, std::string_view in) { return write_pidlist(c, in, true); },
    },
    {
        .name = "cgroup.clone_children",
        .read = [](const FileCall& c, std::string& out) { return read_flag(c.cgroup.clone_children, out); },
        .write = [](const FileCall& c, std::string_view in) { return write_flag(in, &c.cgroup.clone_children); },
    },
    {
        .name = "cgroup.sane_behavior",
        .flags = kCftOnlyOnRoot,
        .read = [](const FileCall&, std::string& out) { return read_flag(false, out); },
    },
    {
        .name = "tasks",
        .flags = kCftNotSaved,
        .read = [](const FileCall& c, std::string& out) { return read_pidlist(c, out, PidList::kTasks); },
        .write = [](const FileCall& c, std::string_view in) { return write_pidlist(c, in, false); },
    },
    {
        .name = "notify_on_release",
        .read = [](const FileCall& c, std::string& out) { return read_flag(c.cgroup.notify_on_release, out); },
        .write = [](const FileCall& c, std::string_view in) { return write_flag(in, &c.cgroup.notify_on_release); },
    },
    {
        .name = "release_agent",
        .flags = kCftOnlyOnRoot | kCftCapturesAdmin,
        .read =
            [](const FileCall& c, std::string& out) {
              out = c.cgroup.hierarchy().release_agent + "\n";
              return 0;
            },
        .write =
            [](const FileCall& c, std::string_view in) {
              if (!c.opener.sys_admin) return -EPERM;
              std::string_view agent = strstrip(in);
              c.cgroup.hierarchy().release_agent = std::string(agent.substr(0, PATH_MAX - 1));
              return 0;
            },
        .max_write_len = PATH_MAX - 1,
    },
};

}  // namespace

std::span<const ControlFile> v1_core_files() { return kCoreFiles; }

}  // namespace cgemu
