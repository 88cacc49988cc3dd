// What /proc/cgroups and /proc/<pid>/cgroup show on a v1 host, for an
// emulated tree: read from a live mount by `cgroupfs-emu proc-cgroups` and
// `cgroupfs-emu proc-cgroup`, in the kernel's formats (spec §13.1, §13.2).
#pragma once

#include <sys/types.h>

#include <string>

namespace cgemu {

// Each hierarchy root answers this extended attribute (read-only, not
// listed) with "<hierarchy id>\t<controllers as in /proc/<pid>/cgroup>\n":
// the one fact about a hierarchy a client cannot see in its files.
inline constexpr char kHierarchyXattr[] = "user.cgroupfs_emu.hierarchy";
// And this one with the engine's counts, "css_sets N\ntracked_tasks M\n",
// for tests and benchmarks that must see leaks from outside.
inline constexpr char kStatsXattr[] = "user.cgroupfs_emu.stats";

// /proc/cgroups for the emulator mounted at `mount`.
std::string proc_cgroups(const std::string& mount);
// /proc/<id>/cgroup for a task id (a thread-group id stands for its
// leader). Empty, with `error` set, if the mount or the task is not there.
std::string proc_pid_cgroup(const std::string& mount, pid_t id, std::string* error);

}  // namespace cgemu
