// The FUSE adapter: presents the engine's hierarchies as cgroup v1
// filesystems through the libfuse3 low-level API. It knows control files
// only as tables (engine/control_file.h), never a controller's internals.
#pragma once

#include <fuse_lowlevel.h>
#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "fs/state_file.h"

namespace cgemu {

// What the mount root shows.
struct Layout {
  struct Entry {
    std::string dir_name;  // e.g. "cpu,cpuacct"
    size_t hierarchy_index;
    std::vector<std::string> symlinks;  // e.g. "cpu", "cpuacct"
  };
  // True: the mount root is hierarchy 0's root, as with `mount -t cgroup`.
  // False: the mount root is a plain directory holding one directory per
  // hierarchy, as /sys/fs/cgroup on a v1 host.
  bool single_hierarchy = true;
  std::vector<Entry> entries;
  // Controller files without the "<controller>." prefix (noprefix), per
  // hierarchy index.
  std::vector<bool> noprefix;
  uid_t owner = 0;  // of the mount root and the hierarchy roots
  gid_t group = 0;
};

class CgroupFs {
 public:
  CgroupFs(Engine& engine, Layout layout);
  ~CgroupFs();
  CgroupFs(const CgroupFs&) = delete;
  CgroupFs& operator=(const CgroupFs&) = delete;

  // Crash recovery (--state). restore_state rebuilds what a state file
  // saved: directories with their modes, owners and xattrs, settings, and
  // where the tasks that still live were. Call it once, before requests
  // are served, with the engine's mutex held.
  void restore_state(const SavedState& state);
  // From now on, saves the state to file after every request that changes
  // it; mount says what the emulator was mounted with.
  void keep_state(const StateFile& file, std::string mount);
  // Saves if forks or exits changed where tasks are since the last save;
  // called between requests with the engine's mutex held.
  void save_state_if_changed();

  // The operations table and the userdata to give fuse_session_new.
  static const fuse_lowlevel_ops& operations();
  void* userdata() const;

  struct Impl;  // defined in cgroupfs.cpp

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace cgemu
