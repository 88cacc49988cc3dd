// The state file of --state FILE (crash recovery): the tree, each directory's
// and file's mode, owner and extended attributes, the settings of its
// control files, and where the tracked tasks are. A text file, one record a
// line, fields separated by one space and percent-encoded; replaced whole
// on every save by write and rename, so that it is never torn.
//
//   cgroupfs-emu state 1
//   mount <what the emulator was mounted with>
//   saved_at <now, on the clock of the tasks' start times>
//   top <mode> <uid> <gid>                         the default layout's root
//   cgroup <hierarchy index> <path>                parents before children
//   attrs <mode> <uid> <gid>                       of the cgroup's directory
//   file <name> <mode> <uid> <gid>                 a control file's, if not the default
//   xattr <. or file name> <name> <value>
//   set <file name> <saved text>                   in the order of the file table
//   task <tid> <tgid> <start time> <leader's start time> <path per hierarchy>...
//   end
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cgemu {

struct SavedAttrs {
  mode_t mode = 0;  // permission bits only
  uid_t uid = 0;
  gid_t gid = 0;
};

struct SavedCgroup {
  size_t hierarchy = 0;
  std::string path;  // "/" for a hierarchy root
  SavedAttrs attrs;
  std::map<std::string, SavedAttrs> files;  // control files whose attributes differ from the defaults
  // Node ("." for the directory, else a file name) -> xattr name -> value.
  std::map<std::string, std::map<std::string, std::string>> xattrs;
  std::vector<std::pair<std::string, std::string>> settings;  // file name, saved text
};

struct SavedTask {
  pid_t tid = 0;
  pid_t tgid = 0;
  uint64_t start_time = 0;  // 0: not learnt
  uint64_t group_start_time = 0;
  std::vector<std::string> paths;  // by hierarchy index
};

struct SavedState {
  std::string mount;
  uint64_t saved_at = 0;
  std::optional<SavedAttrs> top;
  std::vector<SavedCgroup> cgroups;
  std::vector<SavedTask> tasks;
};

// Writers of the records, for a saver that keeps parts of the text between
// saves (state_cgroup_body is everything of a cgroup after its "cgroup" line).
void append_state_header(std::string& out, std::string_view mount, uint64_t saved_at);
void append_state_top(std::string& out, const SavedAttrs& top);
void append_state_cgroup(std::string& out, size_t hierarchy, std::string_view path);
std::string state_cgroup_body(const SavedCgroup& cgroup);
void append_state_task(std::string& out, const SavedTask& task);
void append_state_end(std::string& out);

// nullopt with a message naming the line if the text is not a whole state.
std::optional<SavedState> parse_state(std::string_view text, std::string* error);

class StateFile {
 public:
  explicit StateFile(std::string path) : path_(std::move(path)) {}
  const std::string& path() const { return path_; }
  // The saved state; nullopt with an empty error if there is no file yet.
  std::optional<SavedState> load(std::string* error) const;
  // Replaces the file with text (written beside it, then renamed over it).
  // 0 or -errno.
  int save(std::string_view text) const;

 private:
  std::string path_;
};

}  // namespace cgemu
