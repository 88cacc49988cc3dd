#include "fs/state_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>

namespace cgemu {
namespace {

constexpr std::string_view kMagic = "cgroupfs-emu state 1";

// One field: printable ASCII but '%' as it is, every other byte %HH, and
// the empty string as a lone '%'.
void append_field(std::string& out, std::string_view value) {
  out.push_back(' ');
  if (value.empty()) {
    out.push_back('%');
    return;
  }
  static constexpr char kHex[] = "0123456789ABCDEF";
  for (unsigned char c : value) {
    if (c > ' ' && c < 0x7f && c != '%') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
}

template <typename T>
void append_number(std::string& out, T value, int base = 10) {
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, value, base);
  out.push_back(' ');
  out.append(buf, end);
}

void append_attrs(std::string& out, const SavedAttrs& a) {
  append_number(out, a.mode & 07777, 8);
  append_number(out, a.uid);
  append_number(out, a.gid);
}

bool decode_field(std::string_view field, std::string* out) {
  out->clear();
  if (field == "%") return true;
  for (size_t i = 0; i < field.size(); ++i) {
    if (field[i] != '%') {
      out->push_back(field[i]);
      continue;
    }
    unsigned byte;
    if (i + 2 >= field.size()) return false;
    auto [end, ec] = std::from_chars(field.data() + i + 1, field.data() + i + 3, byte, 16);
    if (ec != std::errc() || end != field.data() + i + 3) return false;
    out->push_back(static_cast<char>(byte));
    i += 2;
  }
  return true;
}

template <typename T>
bool decode_number(std::string_view field, T* out, int base = 10) {
  auto [end, ec] = std::from_chars(field.data(), field.data() + field.size(), *out, base);
  return ec == std::errc() && end == field.data() + field.size();
}

std::vector<std::string_view> split_fields(std::string_view line) {
  std::vector<std::string_view> fields;
  size_t start = 0;
  while (start <= line.size()) {
    size_t space = line.find(' ', start);
    if (space == std::string_view::npos) space = line.size();
    fields.push_back(line.substr(start, space - start));
    start = space + 1;
  }
  return fields;
}

bool decode_attrs(const std::vector<std::string_view>& f, size_t at, SavedAttrs* a) {
  unsigned mode;
  if (!decode_number(f[at], &mode, 8) || !decode_number(f[at + 1], &a->uid) || !decode_number(f[at + 2], &a->gid))
    return false;
  a->mode = mode & 07777;
  return true;
}

}  // namespace

void append_state_header(std::string& out, std::string_view mount, uint64_t saved_at) {
  out.append(kMagic);
  out.append("\nmount");
  append_field(out, mount);
  out.append("\nsaved_at");
  append_number(out, saved_at);
  out.push_back('\n');
}

void append_state_top(std::string& out, const SavedAttrs& top) {
  out.append("top");
  append_attrs(out, top);
  out.push_back('\n');
}

void append_state_cgroup(std::string& out, size_t hierarchy, std::string_view path) {
  out.append("cgroup");
  append_number(out, hierarchy);
  append_field(out, path);
  out.push_back('\n');
}

std::string state_cgroup_body(const SavedCgroup& cgroup) {
  std::string out = "attrs";
  append_attrs(out, cgroup.attrs);
  out.push_back('\n');
  for (const auto& [name, attrs] : cgroup.files) {
    out.append("file");
    append_field(out, name);
    append_attrs(out, attrs);
    out.push_back('\n');
  }
  for (const auto& [node, xattrs] : cgroup.xattrs) {
    for (const auto& [name, value] : xattrs) {
      out.append("xattr");
      append_field(out, node);
      append_field(out, name);
      append_field(out, value);
      out.push_back('\n');
    }
  }
  for (const auto& [name, text] : cgroup.settings) {
    out.append("set");
    append_field(out, name);
    append_field(out, text);
    out.push_back('\n');
  }
  return out;
}

void append_state_task(std::string& out, const SavedTask& task) {
  out.append("task");
  append_number(out, task.tid);
  append_number(out, task.tgid);
  append_number(out, task.start_time);
  append_number(out, task.group_start_time);
  for (const std::string& path : task.paths) append_field(out, path);
  out.push_back('\n');
}

void append_state_end(std::string& out) { out.append("end\n"); }

std::optional<SavedState> parse_state(std::string_view text, std::string* error) {
  SavedState state;
  size_t line_no = 0;
  bool ended = false;
  auto fail = [&](const std::string& why) {
    *error = "line " + std::to_string(line_no) + ": " + why;
    return std::nullopt;
  };
  while (!text.empty()) {
    ++line_no;
    const size_t eol = text.find('\n');
    if (eol == std::string_view::npos) return fail("unterminated line");
    std::string_view line = text.substr(0, eol);
    text.remove_prefix(eol + 1);
    if (ended) return fail("text after end");
    if (line_no == 1) {
      if (line != kMagic) return fail("not a cgroupfs-emu state file (expected \"" + std::string(kMagic) + "\")");
      continue;
    }
    const std::vector<std::string_view> f = split_fields(line);
    const std::string_view kind = f[0];
    auto need = [&](size_t n) { return f.size() == n; };
    SavedCgroup* cgroup = state.cgroups.empty() ? nullptr : &state.cgroups.back();
    std::string a, b, c;
    if (kind == "mount" && need(2)) {
      if (!decode_field(f[1], &state.mount)) return fail("bad field");
    } else if (kind == "saved_at" && need(2)) {
      if (!decode_number(f[1], &state.saved_at)) return fail("bad number");
    } else if (kind == "top" && need(4)) {
      SavedAttrs attrs;
      if (!decode_attrs(f, 1, &attrs)) return fail("bad attributes");
      state.top = attrs;
    } else if (kind == "cgroup" && need(3)) {
      SavedCgroup next;
      if (!decode_number(f[1], &next.hierarchy) || !decode_field(f[2], &next.path) || next.path.empty() ||
          next.path[0] != '/')
        return fail("bad cgroup");
      state.cgroups.push_back(std::move(next));
    } else if (kind == "attrs" && need(4) && cgroup) {
      if (!decode_attrs(f, 1, &cgroup->attrs)) return fail("bad attributes");
    } else if (kind == "file" && need(5) && cgroup) {
      SavedAttrs attrs;
      if (!decode_field(f[1], &a) || !decode_attrs(f, 2, &attrs)) return fail("bad file attributes");
      cgroup->files[a] = attrs;
    } else if (kind == "xattr" && need(4) && cgroup) {
      if (!decode_field(f[1], &a) || !decode_field(f[2], &b) || !decode_field(f[3], &c)) return fail("bad xattr");
      cgroup->xattrs[a][b] = c;
    } else if (kind == "set" && need(3) && cgroup) {
      if (!decode_field(f[1], &a) || !decode_field(f[2], &b)) return fail("bad setting");
      cgroup->settings.emplace_back(a, b);
    } else if (kind == "task" && f.size() >= 5) {
      SavedTask task;
      if (!decode_number(f[1], &task.tid) || !decode_number(f[2], &task.tgid) ||
          !decode_number(f[3], &task.start_time) || !decode_number(f[4], &task.group_start_time))
        return fail("bad task");
      for (size_t i = 5; i < f.size(); ++i) {
        if (!decode_field(f[i], &a) || a.empty() || a[0] != '/') return fail("bad task path");
        task.paths.push_back(a);
      }
      state.tasks.push_back(std::move(task));
    } else if (kind == "end" && need(1)) {
      ended = true;
    } else {
      return fail("unknown record \"" + std::string(line.substr(0, 40)) + "\"");
    }
  }
  if (!ended) return fail("no end record: the file is incomplete");
  return state;
}

std::optional<SavedState> StateFile::load(std::string* error) const {
  error->clear();
  int fd = open(path_.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno != ENOENT) *error = path_ + ": " + strerror(errno);
    return std::nullopt;
  }
  std::string text;
  char buf[65536];
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0) text.append(buf, static_cast<size_t>(n));
  const int read_errno = errno;
  close(fd);
  if (n < 0) {
    *error = path_ + ": " + strerror(read_errno);
    return std::nullopt;
  }
  std::string why;
  auto state = parse_state(text, &why);
  if (!state) *error = path_ + ": " + why;
  return state;
}

int StateFile::save(std::string_view text) const {
  // A new file exchanged with the old one, which is then unlinked: ext4
  // starts writeback synchronously when a file is renamed over another or
  // rewritten after truncation (auto_da_alloc), which made every save cost
  // hundreds of microseconds; an exchange is as atomic and costs tens.
  const std::string tmp = path_ + ".tmp";
  unlink(tmp.c_str());  // left by a crash between writing and exchanging
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return -errno;
  while (!text.empty()) {
    ssize_t n = write(fd, text.data(), text.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      close(fd);
      unlink(tmp.c_str());
      return -err;
    }
    text.remove_prefix(static_cast<size_t>(n));
  }
  if (close(fd) != 0) {
    const int err = errno;
    unlink(tmp.c_str());
    return -err;
  }
  if (renameat2(AT_FDCWD, tmp.c_str(), AT_FDCWD, path_.c_str(), RENAME_EXCHANGE) == 0) {
    unlink(tmp.c_str());  // the previous state
    return 0;
  }
  // No file yet to exchange with, or a filesystem without exchange.
  if (rename(tmp.c_str(), path_.c_str()) != 0) {
    const int err = errno;
    unlink(tmp.c_str());
    return -err;
  }
  return 0;
}

}  // namespace cgemu
