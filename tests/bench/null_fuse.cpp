// A null FUSE filesystem: the floor a FUSE cgroup emulator can reach.
//
//   bench_null_fuse [-o FUSE_OPTIONS] [--tasks-lines N] [--xattr] [--killpriv] MOUNTPOINT
//
// libfuse3 low-level API, single-threaded session loop, the emulator's
// settings (fs/cgroupfs.cpp and fs/main.cpp): direct_io and noflush at open,
// atomic_o_trunc, readdirplus and writeback cache off, entries and attributes
// cached for a day, default_permissions (and allow_other as root). It answers
// the same requests as the emulator doing no work:
//   /a, /b                         directories created at start
//   <dir>/cgroup.procs, <dir>/tasks  writes return their size; reads of
//                                  tasks return --tasks-lines synthetic pids
//   mkdir / rmdir                  of empty directories, anywhere below /
// Always in the foreground; SIGTERM/SIGINT unmount and exit, printing how
// many requests of each kind were answered.
//
// Experiments (not used by the default benchmark run):
//   --xattr        answer GETXATTR with ENODATA, as the emulator does for a
//                  name it does not hold (without it, the first GETXATTR gets
//                  ENOSYS and the kernel never sends another)
//   --killpriv     ask for FUSE_CAP_HANDLE_KILLPRIV
#include <fuse_lowlevel.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace {

constexpr double kCacheTimeout = 86400.0;  // as fs/cgroupfs.cpp

struct Node {
  fuse_ino_t ino = 0;
  bool dir = false;
  fuse_ino_t parent = FUSE_ROOT_ID;
  std::map<std::string, fuse_ino_t> children;  // dir: subdirectories and files
};

struct NullFs {
  std::unordered_map<fuse_ino_t, std::unique_ptr<Node>> nodes;
  fuse_ino_t next_ino = FUSE_ROOT_ID + 1;
  std::string tasks_text;  // what a read of `tasks` returns
  uid_t uid = getuid();
  gid_t gid = getgid();

  Node& add(fuse_ino_t parent, const std::string& name, bool dir) {
    auto n = std::make_unique<Node>();
    n->ino = parent == 0 ? FUSE_ROOT_ID : next_ino++;
    n->dir = dir;
    n->parent = parent == 0 ? FUSE_ROOT_ID : parent;
    Node& ref = *n;
    if (parent != 0) nodes.at(parent)->children[name] = ref.ino;
    nodes[ref.ino] = std::move(n);
    if (dir && parent != 0) {
      add(ref.ino, "cgroup.procs", false);
      add(ref.ino, "tasks", false);
    }
    return ref;
  }
  Node* get(fuse_ino_t ino) {
    auto it = nodes.find(ino);
    return it == nodes.end() ? nullptr : it->second.get();
  }
  void fill(const Node& n, struct stat* st) const {
    *st = {};
    st->st_ino = n.ino;
    st->st_mode = n.dir ? (S_IFDIR | 0755) : (S_IFREG | 0644);
    st->st_nlink = n.dir ? 2 : 1;
    st->st_uid = uid;
    st->st_gid = gid;
    st->st_blksize = 4096;
  }
  void reply_entry(fuse_req_t req, const Node& n) const {
    fuse_entry_param e{};
    e.ino = n.ino;
    fill(n, &e.attr);
    e.attr_timeout = kCacheTimeout;
    e.entry_timeout = kCacheTimeout;
    fuse_reply_entry(req, &e);
  }
};

bool g_killpriv = false;

NullFs& fs(fuse_req_t req) { return *static_cast<NullFs*>(fuse_req_userdata(req)); }

// Requests answered, by kind: one increment each, the name looked up once.
std::map<std::string, unsigned long> g_counts;
#define COUNT()                                                     \
  static unsigned long* const request_count = &g_counts[__func__ + 3]; \
  ++*request_count

void op_init(void*, fuse_conn_info* conn) {
  if (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC) conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
  if (g_killpriv && (conn->capable & FUSE_CAP_HANDLE_KILLPRIV)) conn->want |= FUSE_CAP_HANDLE_KILLPRIV;
  conn->want &= ~(FUSE_CAP_READDIRPLUS | FUSE_CAP_READDIRPLUS_AUTO | FUSE_CAP_WRITEBACK_CACHE);
}

void op_lookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
  COUNT();
  NullFs& f = fs(req);
  Node* dir = f.get(parent);
  if (!dir || !dir->dir) return (void)fuse_reply_err(req, ENOENT);
  auto it = dir->children.find(name);
  if (it == dir->children.end()) {
    fuse_entry_param negative{};
    negative.entry_timeout = kCacheTimeout;
    return (void)fuse_reply_entry(req, &negative);
  }
  f.reply_entry(req, *f.get(it->second));
}

void op_getattr(fuse_req_t req, fuse_ino_t ino, fuse_file_info*) {
  COUNT();
  NullFs& f = fs(req);
  Node* n = f.get(ino);
  if (!n) return (void)fuse_reply_err(req, ENOENT);
  struct stat st;
  f.fill(*n, &st);
  fuse_reply_attr(req, &st, kCacheTimeout);
}

void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat*, int, fuse_file_info* fi) {
  COUNT();
  op_getattr(req, ino, fi);
}

void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t) {
  COUNT();
  NullFs& f = fs(req);
  Node* dir = f.get(parent);
  if (!dir || !dir->dir) return (void)fuse_reply_err(req, ENOENT);
  if (dir->children.count(name)) return (void)fuse_reply_err(req, EEXIST);
  f.reply_entry(req, f.add(parent, name, true));
}

void op_rmdir(fuse_req_t req, fuse_ino_t parent, const char* name) {
  COUNT();
  NullFs& f = fs(req);
  Node* dir = f.get(parent);
  if (!dir) return (void)fuse_reply_err(req, ENOENT);
  auto it = dir->children.find(name);
  if (it == dir->children.end()) return (void)fuse_reply_err(req, ENOENT);
  Node* child = f.get(it->second);
  if (!child->dir) return (void)fuse_reply_err(req, ENOTDIR);
  // Nodes stay in the table (the kernel may still FORGET them); only the
  // name goes, which is all the bench needs.
  dir->children.erase(it);
  fuse_reply_err(req, 0);
}

void op_open(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  COUNT();
  Node* n = fs(req).get(ino);
  if (!n) return (void)fuse_reply_err(req, ENOENT);
  if (n->dir) return (void)fuse_reply_err(req, EISDIR);
  fi->direct_io = 1;
  fi->keep_cache = 0;
  fi->noflush = 1;
  fuse_reply_open(req, fi);
}

void op_read(fuse_req_t req, fuse_ino_t, size_t size, off_t off, fuse_file_info*) {
  COUNT();
  const std::string& text = fs(req).tasks_text;
  if (off < 0 || static_cast<size_t>(off) >= text.size()) return (void)fuse_reply_buf(req, nullptr, 0);
  fuse_reply_buf(req, text.data() + off, std::min(size, text.size() - static_cast<size_t>(off)));
}

void op_write(fuse_req_t req, fuse_ino_t, const char*, size_t size, off_t, fuse_file_info*) {
  COUNT();
  fuse_reply_write(req, size);
}

void op_release(fuse_req_t req, fuse_ino_t, fuse_file_info*) {
  COUNT();
  fuse_reply_err(req, 0);
}

void op_getxattr(fuse_req_t req, fuse_ino_t, const char*, size_t) {
  COUNT();
  fuse_reply_err(req, ENODATA);
}

void op_opendir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  COUNT();
  Node* n = fs(req).get(ino);
  if (!n || !n->dir) return (void)fuse_reply_err(req, ENOTDIR);
  fuse_reply_open(req, fi);
}

void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info*) {
  COUNT();
  NullFs& f = fs(req);
  Node* n = f.get(ino);
  if (!n) return (void)fuse_reply_err(req, ENOENT);
  std::vector<std::pair<std::string, fuse_ino_t>> entries = {{".", n->ino}, {"..", n->parent}};
  for (auto& [name, child] : n->children) entries.emplace_back(name, child);
  std::string buf(size, '\0');
  size_t used = 0;
  for (size_t i = static_cast<size_t>(std::max<off_t>(off, 0)); i < entries.size(); ++i) {
    struct stat st {};
    st.st_ino = entries[i].second;
    st.st_mode = S_IFDIR;
    size_t need = fuse_add_direntry(req, buf.data() + used, size - used, entries[i].first.c_str(), &st,
                                    static_cast<off_t>(i + 1));
    if (need > size - used) break;
    used += need;
  }
  fuse_reply_buf(req, buf.data(), used);
}

void op_releasedir(fuse_req_t req, fuse_ino_t, fuse_file_info*) {
  COUNT();
  fuse_reply_err(req, 0);
}

void op_forget(fuse_req_t req, fuse_ino_t, uint64_t) {
  COUNT();
  fuse_reply_none(req);
}
void op_forget_multi(fuse_req_t req, size_t, fuse_forget_data*) {
  COUNT();
  fuse_reply_none(req);
}

void op_statfs(fuse_req_t req, fuse_ino_t) {
  COUNT();
  struct statvfs st {};
  st.f_bsize = 4096;
  st.f_frsize = 4096;
  st.f_namemax = NAME_MAX;
  fuse_reply_statfs(req, &st);
}

}  // namespace

int main(int argc, char** argv) {
  std::string extra_options;
  long tasks_lines = 0;
  bool xattr = false;
  const char* mountpoint = nullptr;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "-o" && i + 1 < argc) {
      extra_options += std::string(",") + argv[++i];
    } else if (a == "--tasks-lines" && i + 1 < argc) {
      tasks_lines = strtol(argv[++i], nullptr, 10);
    } else if (a == "--xattr") {
      xattr = true;
    } else if (a == "--killpriv") {
      g_killpriv = true;
    } else if (a == "-f") {
      // always in the foreground
    } else if (!mountpoint && a[0] != '-') {
      mountpoint = argv[i];
    } else {
      fprintf(stderr, "usage: bench_null_fuse [-o FUSE_OPTIONS] [--tasks-lines N] [--xattr] [--killpriv] MOUNTPOINT\n");
      return 2;
    }
  }
  if (!mountpoint) {
    fprintf(stderr, "usage: bench_null_fuse [-o FUSE_OPTIONS] [--tasks-lines N] [--xattr] [--killpriv] MOUNTPOINT\n");
    return 2;
  }

  NullFs nullfs;
  nullfs.add(0, "", true);
  nullfs.add(FUSE_ROOT_ID, "a", true);
  nullfs.add(FUSE_ROOT_ID, "b", true);
  for (long i = 0; i < tasks_lines; ++i) nullfs.tasks_text += std::to_string(100000 + i) + "\n";

  fuse_lowlevel_ops ops{};
  ops.init = op_init;
  ops.lookup = op_lookup;
  ops.forget = op_forget;
  ops.forget_multi = op_forget_multi;
  ops.getattr = op_getattr;
  ops.setattr = op_setattr;
  ops.mkdir = op_mkdir;
  ops.rmdir = op_rmdir;
  ops.open = op_open;
  ops.read = op_read;
  ops.write = op_write;
  ops.release = op_release;
  ops.opendir = op_opendir;
  ops.readdir = op_readdir;
  ops.releasedir = op_releasedir;
  ops.statfs = op_statfs;
  if (xattr) ops.getxattr = op_getxattr;

  // The emulator's FUSE options (fs/main.cpp).
  std::string fuse_opts = "fsname=nullfuse,subtype=bench-null-fuse,default_permissions";
  if (getuid() == 0) fuse_opts += ",allow_other";
  fuse_opts += extra_options;
  std::vector<const char*> fuse_argv = {argv[0], "-o", fuse_opts.c_str()};
  fuse_args args = FUSE_ARGS_INIT(static_cast<int>(fuse_argv.size()), const_cast<char**>(fuse_argv.data()));
  fuse_session* session = fuse_session_new(&args, &ops, sizeof ops, &nullfs);
  if (!session) {
    fprintf(stderr, "bench_null_fuse: cannot start a FUSE session with options '%s'\n", fuse_opts.c_str());
    return 1;
  }
  int status = 1;
  if (fuse_set_signal_handlers(session) == 0) {
    if (fuse_session_mount(session, mountpoint) == 0) {
      status = fuse_session_loop(session) < 0 ? 1 : 0;
      fuse_session_unmount(session);
    } else {
      fprintf(stderr, "bench_null_fuse: cannot mount on %s\n", mountpoint);
    }
    fuse_remove_signal_handlers(session);
  }
  fuse_session_destroy(session);
  fprintf(stderr, "bench_null_fuse: requests:");
  for (auto& [op, n] : g_counts) fprintf(stderr, " %s=%lu", op.c_str(), n);
  fprintf(stderr, "\n");
  return status;
}
