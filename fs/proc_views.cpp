#include "fs/proc_views.h"

#include <dirent.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/xattr.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <functional>
#include <sstream>
#include <vector>

#include "controllers/subsystems.h"

namespace cgemu {
namespace {

struct MountedHierarchy {
  std::string root;  // directory of the hierarchy root
  int id;
  std::string controllers;
};

bool read_hierarchy(const std::string& dir, MountedHierarchy* out) {
  char buf[256];
  ssize_t n = getxattr(dir.c_str(), kHierarchyXattr, buf, sizeof buf - 1);
  if (n <= 0) return false;
  std::istringstream in(std::string(buf, n));
  out->root = dir;
  std::getline(in >> out->id >> std::ws, out->controllers);
  return true;
}

// The mount root itself (mounted with -o), or the hierarchies below it
// (the default layout; symlinks such as cpu -> cpu,cpuacct are skipped).
std::vector<MountedHierarchy> find_hierarchies(const std::string& mount) {
  std::vector<MountedHierarchy> found;
  MountedHierarchy h;
  if (read_hierarchy(mount, &h)) return {h};
  DIR* dir = opendir(mount.c_str());
  if (!dir) return found;
  while (dirent* e = readdir(dir)) {
    if (e->d_type != DT_DIR || e->d_name[0] == '.') continue;
    if (read_hierarchy(mount + "/" + e->d_name, &h)) found.push_back(h);
  }
  closedir(dir);
  return found;
}

// Calls fn(relative path) for every cgroup of the hierarchy, root first.
void for_each_cgroup(const std::string& root, const std::string& relative,
                     const std::function<bool(const std::string&)>& fn) {
  if (!fn(relative.empty() ? "/" : relative)) return;
  DIR* dir = opendir((root + relative).c_str());
  if (!dir) return;
  std::vector<std::string> children;
  while (dirent* e = readdir(dir))
    if (e->d_type == DT_DIR && strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
      children.push_back(e->d_name);
  closedir(dir);
  for (const std::string& child : children) for_each_cgroup(root, relative + "/" + child, fn);
}

bool lists(const std::string& tasks_file, pid_t id) {
  std::ifstream in(tasks_file);
  pid_t listed;
  while (in >> listed)
    if (listed == id) return true;
  return false;
}

}  // namespace

std::string proc_cgroups(const std::string& mount) {
  std::vector<MountedHierarchy> hierarchies = find_hierarchies(mount);
  std::string out = "#subsys_name\thierarchy\tnum_cgroups\tenabled\n";
  for (const Subsystem& ss : all_subsystems()) {
    int id = 0;
    int num_cgroups = 1;  // an unmounted controller sits in a lone root
    for (const MountedHierarchy& h : hierarchies) {
      std::istringstream names(h.controllers);
      std::string name;
      bool bound = false;
      while (std::getline(names, name, ',')) bound |= name == ss.legacy_name;
      if (!bound) continue;
      id = h.id;
      num_cgroups = 0;
      for_each_cgroup(h.root, "", [&](const std::string&) { return ++num_cgroups, true; });
    }
    out += std::string(ss.legacy_name) + "\t" + std::to_string(id) + "\t" + std::to_string(num_cgroups) + "\t" +
           (ss.enabled ? "1" : "0") + "\n";
  }
  return out;
}

std::string proc_pid_cgroup(const std::string& mount, pid_t id, std::string* error) {
  std::vector<MountedHierarchy> hierarchies = find_hierarchies(mount);
  if (hierarchies.empty()) {
    *error = mount + ": not a cgroupfs-emu mount";
    return {};
  }
  if (kill(id, 0) != 0 && errno == ESRCH) {
    *error = "no such process: " + std::to_string(id);
    return {};
  }
  // Newest hierarchy first, as the kernel lists its roots.
  std::sort(hierarchies.begin(), hierarchies.end(), [](auto& a, auto& b) { return a.id > b.id; });
  std::string out;
  for (const MountedHierarchy& h : hierarchies) {
    std::string where = "/";  // not listed anywhere: exiting, shown at the root as v1 does
    for_each_cgroup(h.root, "", [&](const std::string& path) {
      if (path != "/" && lists(h.root + path + "/tasks", id)) {
        where = path;
        return false;
      }
      return true;
    });
    out += std::to_string(h.id) + ":" + h.controllers + ":" + where + "\n";
  }
  return out;
}

}  // namespace cgemu
