// A control file as data (the kernel's struct cftype): the filesystem
// builds each cgroup's directory from tables of these.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <string>
#include <string_view>

namespace cgemu {

class Engine;
class Cgroup;

// Who opened the file. Writes are judged with the opener's credentials, not
// the writer's (the kernel uses of->file->f_cred).
struct FileOpener {
  uid_t uid = 0;
  gid_t gid = 0;
  pid_t pid = 0;
  // CAP_SYS_ADMIN in the emulator's user namespace, captured at open for
  // files flagged kCftCapturesAdmin.
  bool sys_admin = false;
};

struct FileCall {
  Engine& engine;
  Cgroup& cgroup;
  const FileOpener& opener;
  pid_t caller_tid;  // the thread doing the read or write
};

enum ControlFileFlags : unsigned {
  kCftOnlyOnRoot = 1u << 0,
  kCftNotOnRoot = 1u << 1,
  kCftNoPrefix = 1u << 2,
  kCftWorldWritable = 1u << 3,
  kCftCapturesAdmin = 1u << 4,
  // Its text is not a setting to keep across a restart (a statistic that a
  // write resets, or a list of members), though it can be read and written.
  kCftNotSaved = 1u << 5,
};

struct ControlFile {
  std::string_view name;
  unsigned flags = 0;
  // Each returns 0 or -errno. A file without read is write-only (reads give
  // EINVAL), one without write is read-only (writes give EINVAL).
  int (*read)(const FileCall& call, std::string& out) = nullptr;
  int (*write)(const FileCall& call, std::string_view input) = nullptr;
  size_t max_write_len = 4096;  // PAGE_SIZE; longer writes give E2BIG
  // Crash recovery (--state): a file that can be read and written is saved
  // as its read text and restored by writing that back, unless flagged
  // kCftNotSaved. These replace either half where the read text does not
  // say the whole setting, or cannot be written back as it is.
  int (*save)(const FileCall& call, std::string& out) = nullptr;
  int (*restore)(const FileCall& call, std::string_view saved) = nullptr;

  bool saved() const { return !(flags & kCftNotSaved) && (save || read) && (restore || write); }

  // The mode the kernel gives it (cgroup_file_mode).
  unsigned mode() const {
    unsigned m = 0;
    if (read) m |= 0444;
    if (write) m |= (flags & kCftWorldWritable) ? 0222 : 0200;
    return m;
  }
};

}  // namespace cgemu
