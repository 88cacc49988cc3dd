#include "fs/cgroupfs.h"

#include <fcntl.h>
#include <linux/capability.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <unordered_map>

#include <spdlog/spdlog.h>

#include "controllers/subsystems.h"
#include "fs/kernfs_order.h"
#include "fs/proc_views.h"
#include "fs/v1_core_files.h"

namespace cgemu {
namespace {

// Every change to the tree passes through the kernel's VFS, which updates
// its own caches, so entries and attributes can be cached for long.
constexpr double kCacheTimeout = 86400.0;

timespec now() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return ts;
}

struct Node {
  enum class Kind { kTop, kDir, kFile, kSymlink };

  Kind kind;
  fuse_ino_t ino = 0;
  uint64_t nlookup = 0;
  bool removed = false;  // its cgroup was removed
  std::string name;      // of a file or symlink in its directory
  std::shared_ptr<Cgroup> cgroup;  // kDir, kFile
  const ControlFile* cft = nullptr;  // kFile
  std::string link_target;           // kSymlink
  mode_t mode = 0;
  uid_t uid = 0;
  gid_t gid = 0;
  timespec atime{}, mtime{}, ctime{};
  std::map<std::string, std::string> xattrs;
  std::vector<std::shared_ptr<Node>> files;  // kDir: its control files
};

struct OpenFile {
  std::shared_ptr<Node> node;
  FileOpener opener;
  // What reads return: taken at the first read, and again at each read from
  // offset 0, so that reads in small pieces see one consistent text.
  std::string snapshot;
  bool has_snapshot = false;
};

struct DirEntry {
  std::string name;
  fuse_ino_t ino;
  mode_t mode;
};

// A control file's name in one hierarchy.
struct FileSlot {
  std::string name;
  const ControlFile* cft;
};

}  // namespace

struct CgroupFs::Impl {
  Engine& engine;
  Layout layout;
  fuse_ino_t next_ino = FUSE_ROOT_ID + 1;
  std::unordered_map<fuse_ino_t, std::shared_ptr<Node>> inodes;
  std::unordered_map<const Cgroup*, std::shared_ptr<Node>> dirs;  // live cgroups
  std::map<std::string, std::shared_ptr<Node>> top_entries;       // default layout
  std::vector<std::vector<FileSlot>> files_by_hierarchy;
  uid_t daemon_uid = getuid();
  std::string daemon_userns;

  Impl(Engine& e, Layout l) : engine(e), layout(std::move(l)) {
    char buf[64] = {};
    if (readlink("/proc/self/ns/user", buf, sizeof buf - 1) > 0) daemon_userns = buf;
    for (const auto& h : engine.hierarchies()) files_by_hierarchy.push_back(control_files(*h));

    // A kernfs root directory is r-x for all, and root writes in it past
    // DAC. An unprivileged emulator's owner stands in for root, so it gets
    // write permission instead. The top of the default layout is a tmpfs.
    const mode_t root_mode = S_IFDIR | (layout.owner == 0 ? 0555 : 0755);
    if (layout.single_hierarchy) {
      make_dir_node(engine.hierarchies()[0]->root(), root_mode, layout.owner, layout.group, FUSE_ROOT_ID);
      return;
    }
    new_node(Node::Kind::kTop, S_IFDIR | 0755, layout.owner, layout.group, FUSE_ROOT_ID);
    for (const Layout::Entry& entry : layout.entries) {
      Cgroup& root = engine.hierarchies()[entry.hierarchy_index]->root();
      top_entries[entry.dir_name] = make_dir_node(root, root_mode, layout.owner, layout.group);
      for (const std::string& link : entry.symlinks) {
        auto node = new_node(Node::Kind::kSymlink, S_IFLNK | 0777, layout.owner, layout.group);
        node->link_target = entry.dir_name;
        top_entries[link] = node;
      }
    }
  }

  std::vector<FileSlot> control_files(const Hierarchy& h) const {
    std::vector<FileSlot> slots;
    for (const ControlFile& cft : v1_core_files()) slots.push_back({std::string(cft.name), &cft});
    const bool noprefix = h.index() < layout.noprefix.size() && layout.noprefix[h.index()];
    for (const Subsystem& ss : all_subsystems()) {
      Controller* controller = engine.controller(ss.ssid);
      if (!h.has_subsys(ss.ssid) || !controller) continue;
      for (const ControlFile& cft : controller->legacy_files()) {
        const bool bare = noprefix || (cft.flags & kCftNoPrefix);
        slots.push_back({bare ? std::string(cft.name) : std::string(ss.legacy_name) + "." + std::string(cft.name), &cft});
      }
    }
    return slots;
  }

  std::shared_ptr<Node> new_node(Node::Kind kind, mode_t mode, uid_t uid, gid_t gid, fuse_ino_t ino = 0) {
    auto node = std::make_shared<Node>();
    node->kind = kind;
    node->ino = ino ? ino : next_ino++;
    node->mode = mode;
    node->uid = uid;
    node->gid = gid;
    node->atime = node->mtime = node->ctime = now();
    inodes[node->ino] = node;
    return node;
  }

  std::shared_ptr<Node> make_dir_node(Cgroup& cgroup, mode_t mode, uid_t uid, gid_t gid, fuse_ino_t ino = 0) {
    std::shared_ptr<Cgroup> owned = shared_cgroup(cgroup);
    auto dir = new_node(Node::Kind::kDir, mode, uid, gid, ino);
    dir->cgroup = owned;
    for (const FileSlot& slot : files_by_hierarchy[cgroup.hierarchy().index()]) {
      if ((slot.cft->flags & kCftOnlyOnRoot) && !cgroup.is_root()) continue;
      if ((slot.cft->flags & kCftNotOnRoot) && cgroup.is_root()) continue;
      auto file = new_node(Node::Kind::kFile, S_IFREG | slot.cft->mode(), uid, gid);
      file->name = slot.name;
      file->cgroup = owned;
      file->cft = slot.cft;
      dir->files.push_back(file);
    }
    dirs[&cgroup] = dir;
    return dir;
  }

  std::shared_ptr<Cgroup> shared_cgroup(Cgroup& cgroup) const {
    if (cgroup.is_root()) {
      // Roots are owned by their hierarchy for the engine's lifetime.
      return std::shared_ptr<Cgroup>(std::shared_ptr<Cgroup>(), &cgroup);
    }
    auto it = cgroup.parent()->children().find(cgroup.name());
    return it->second;
  }

  Node* node(fuse_ino_t ino) {
    auto it = inodes.find(ino);
    return it == inodes.end() ? nullptr : it->second.get();
  }

  std::shared_ptr<Node> shared_node(fuse_ino_t ino) {
    auto it = inodes.find(ino);
    return it == inodes.end() ? nullptr : it->second;
  }

  Node* file_in(Node& dir, std::string_view name) {
    for (auto& f : dir.files)
      if (f->name == name) return f.get();
    return nullptr;
  }

  // A child of a directory (control file or cgroup), or of the top directory.
  Node* child_of(Node& dir, std::string_view name) {
    if (dir.kind == Node::Kind::kTop) {
      auto it = top_entries.find(std::string(name));
      return it == top_entries.end() ? nullptr : it->second.get();
    }
    if (dir.kind != Node::Kind::kDir || dir.removed) return nullptr;
    if (Node* f = file_in(dir, name)) return f;
    if (Cgroup* c = dir.cgroup->child(name)) return dirs.at(c).get();
    return nullptr;
  }

  fuse_ino_t parent_ino(const Node& dir) {
    if (dir.kind != Node::Kind::kDir || dir.cgroup->is_root()) return FUSE_ROOT_ID;
    auto it = dirs.find(dir.cgroup->parent());
    return it == dirs.end() ? FUSE_ROOT_ID : it->second->ino;
  }

  void fill_stat(const Node& n, struct stat* st) {
    *st = {};
    st->st_ino = n.ino;
    st->st_mode = n.mode;
    st->st_uid = n.uid;
    st->st_gid = n.gid;
    st->st_blksize = 4096;
    st->st_atim = n.atime;
    st->st_mtim = n.mtime;
    st->st_ctim = n.ctime;
    switch (n.kind) {
      case Node::Kind::kTop:
        st->st_nlink = 2 + layout.entries.size();
        break;
      case Node::Kind::kDir:
        st->st_nlink = n.removed ? 0 : 2 + n.cgroup->children().size();
        break;
      case Node::Kind::kSymlink:
        st->st_nlink = 1;
        st->st_size = static_cast<off_t>(n.link_target.size());
        break;
      case Node::Kind::kFile:
        st->st_nlink = 1;
        break;
    }
  }

  void reply_entry(fuse_req_t req, Node& n) {
    fuse_entry_param e{};
    e.ino = n.ino;
    fill_stat(n, &e.attr);
    e.attr_timeout = kCacheTimeout;
    e.entry_timeout = kCacheTimeout;
    if (fuse_reply_entry(req, &e) == 0) ++n.nlookup;
  }

  void forget(fuse_ino_t ino, uint64_t count) {
    auto it = inodes.find(ino);
    if (it == inodes.end()) return;
    Node& n = *it->second;
    n.nlookup -= std::min(count, n.nlookup);
    if (n.removed && n.nlookup == 0) inodes.erase(it);
  }

  // A removed cgroup's nodes live on while the kernel or open files still
  // refer to them.
  void mark_removed(const std::shared_ptr<Node>& dir) {
    dirs.erase(dir->cgroup.get());
    for (auto& f : dir->files) {
      f->removed = true;
      if (f->nlookup == 0) inodes.erase(f->ino);
    }
    dir->removed = true;
    if (dir->nlookup == 0) inodes.erase(dir->ino);
  }

  // CAP_SYS_ADMIN in the emulator's user namespace. An unprivileged
  // emulator's own user administers it: the release agent runs with that
  // user's rights, never more.
  bool opener_is_admin(const fuse_ctx& ctx) {
    if (daemon_uid != 0) return ctx.uid == daemon_uid;
    std::string base = "/proc/" + std::to_string(ctx.pid);
    char ns[64] = {};
    if (readlink((base + "/ns/user").c_str(), ns, sizeof ns - 1) <= 0 || daemon_userns != ns) return false;
    std::ifstream status(base + "/status");
    std::string line;
    while (std::getline(status, line)) {
      if (line.rfind("CapEff:", 0) == 0) {
        unsigned long long caps = std::stoull(line.substr(7), nullptr, 16);
        return caps & (1ULL << CAP_SYS_ADMIN);
      }
    }
    return false;
  }

  std::vector<DirEntry> list_dir(Node& dir) {
    std::vector<DirEntry> entries;
    entries.push_back({".", dir.ino, S_IFDIR});
    entries.push_back({"..", parent_ino(dir), S_IFDIR});
    if (dir.kind == Node::Kind::kTop) {
      for (auto& [name, n] : top_entries) entries.push_back({name, n->ino, n->mode});
      return entries;
    }
    if (dir.removed) return entries;
    const size_t first = entries.size();
    for (auto& f : dir.files) entries.push_back({f->name, f->ino, f->mode});
    for (auto& [name, child] : dir.cgroup->children()) {
      const Node& n = *dirs.at(child.get());
      entries.push_back({name, n.ino, n.mode});
    }
    std::sort(entries.begin() + first, entries.end(),
              [](const DirEntry& a, const DirEntry& b) { return kernfs_name_less(a.name, b.name); });
    return entries;
  }

  // ---- crash recovery (--state) ----

  const StateFile* state_file = nullptr;
  std::string state_mount;
  uint64_t saved_changes = 0;
  bool save_failing = false;
  // Each cgroup's records after its "cgroup" line, kept between saves:
  // they change only through writes, setattr and xattrs, which drop them
  // (a write its whole subtree's, as some settings propagate down).
  std::unordered_map<const Cgroup*, std::string> saved_bodies;

  // Settings are saved and restored as the emulator's administrator.
  FileOpener admin_opener() const { return {layout.owner, layout.group, getpid(), true}; }

  static SavedAttrs attrs_of(const Node& n) { return {n.mode & 07777, n.uid, n.gid}; }
  static void apply_attrs(Node& n, const SavedAttrs& a) {
    n.mode = (n.mode & S_IFMT) | (a.mode & 07777);
    n.uid = a.uid;
    n.gid = a.gid;
  }

  const std::string& saved_body(const Node& dir) {
    auto [it, fresh] = saved_bodies.try_emplace(dir.cgroup.get());
    if (!fresh) return it->second;
    SavedCgroup saved;
    saved.attrs = attrs_of(dir);
    if (!dir.xattrs.empty()) saved.xattrs["."] = dir.xattrs;
    const FileOpener opener = admin_opener();
    FileCall call{engine, *dir.cgroup, opener, getpid()};
    for (const auto& file : dir.files) {
      const SavedAttrs a = attrs_of(*file);
      // Files are made with the mode of their table and their directory's owner.
      if (a.mode != file->cft->mode() || a.uid != dir.uid || a.gid != dir.gid) saved.files[file->name] = a;
      if (!file->xattrs.empty()) saved.xattrs[file->name] = file->xattrs;
      if (!file->cft->saved()) continue;
      std::string text;
      if ((file->cft->save ? file->cft->save : file->cft->read)(call, text) == 0)
        saved.settings.emplace_back(file->name, std::move(text));
    }
    it->second = state_cgroup_body(saved);
    return it->second;
  }

  void forget_saved_body(const Cgroup& cgroup, bool subtree) {
    saved_bodies.erase(&cgroup);
    if (subtree)
      for (auto& [name, child] : cgroup.children()) forget_saved_body(*child, true);
  }

  void save_state() {
    if (!state_file) return;
    // The clock first: a task born after it is placed by inheritance on a
    // restore, whether or not the placements below include it.
    std::string out;
    append_state_header(out, state_mount, engine.task_source().clock());
    if (!layout.single_hierarchy) append_state_top(out, attrs_of(*inodes.at(FUSE_ROOT_ID)));
    std::unordered_map<const Cgroup*, std::string> paths;
    std::function<void(const Cgroup&)> save_tree = [&](const Cgroup& c) {
      const std::string& path = paths[&c] = c.path();
      append_state_cgroup(out, c.hierarchy().index(), path);
      out += saved_body(*dirs.at(&c));
      for (auto& [name, child] : c.children()) save_tree(*child);
    };
    for (const auto& h : engine.hierarchies()) save_tree(h->root());
    SavedTask task;
    for (const Engine::Placement& p : engine.placements()) {
      task.tid = p.tid;
      task.tgid = p.tgid;
      task.start_time = p.start_time;
      task.group_start_time = p.group_start_time;
      task.paths.clear();
      for (const Cgroup* c : p.cgroups) {
        auto it = paths.find(c);
        task.paths.push_back(it != paths.end() ? it->second : c->path());
      }
      append_state_task(out, task);
    }
    append_state_end(out);
    saved_changes = engine.changes();
    if (int err = state_file->save(out)) {
      if (!save_failing) spdlog::error("cannot save the state to {}: {}", state_file->path(), strerror(-err));
      save_failing = true;
    } else if (save_failing) {
      spdlog::info("the state is saved to {} again", state_file->path());
      save_failing = false;
    }
  }

  // After a request changed the tree, memberships or settings of cgroup.
  void state_changed(const Cgroup* settings_of = nullptr, bool subtree = false) {
    if (!state_file) return;
    if (settings_of) forget_saved_body(*settings_of, subtree);
    save_state();
  }

  void restore_state(const SavedState& state) {
    if (state.top && !layout.single_hierarchy) apply_attrs(*inodes.at(FUSE_ROOT_ID), *state.top);
    const FileOpener opener = admin_opener();
    std::map<std::pair<size_t, std::string>, Cgroup*> by_path;
    size_t nr_cgroups = 0, nr_unrestored = 0;
    for (const SavedCgroup& saved : state.cgroups) {
      if (saved.hierarchy >= engine.hierarchies().size()) continue;
      Cgroup& root = engine.hierarchies()[saved.hierarchy]->root();
      Cgroup* cgroup = &root;
      if (saved.path != "/") {
        const size_t slash = saved.path.rfind('/');
        auto parent = by_path.find({saved.hierarchy, slash == 0 ? std::string("/") : saved.path.substr(0, slash)});
        std::shared_ptr<Cgroup> created;
        const int err = parent == by_path.end() ? -ENOENT : engine.mkdir(*parent->second, saved.path.substr(slash + 1), &created);
        if (err) {
          spdlog::warn("could not restore cgroup {}: {}", saved.path, strerror(-err));
          continue;
        }
        make_dir_node(*created, S_IFDIR | saved.attrs.mode, saved.attrs.uid, saved.attrs.gid);
        cgroup = created.get();
        ++nr_cgroups;
      }
      by_path[{saved.hierarchy, saved.path}] = cgroup;
      Node& dir = *dirs.at(cgroup);
      apply_attrs(dir, saved.attrs);
      // In table order, and before any child exists: as the settings were made.
      FileCall call{engine, *cgroup, opener, getpid()};
      for (const auto& [name, text] : saved.settings) {
        Node* file = file_in(dir, name);
        const int err = !file || !file->cft->saved()
                            ? -ENOENT
                            : (file->cft->restore ? file->cft->restore : file->cft->write)(call, text);
        if (err) {
          spdlog::warn("could not restore {} of {}: {}", name, saved.path, strerror(-err));
          ++nr_unrestored;
        }
      }
      for (const auto& [name, attrs] : saved.files)
        if (Node* file = file_in(dir, name)) apply_attrs(*file, attrs);
      for (const auto& [name, xattrs] : saved.xattrs)
        if (Node* n = name == "." ? &dir : file_in(dir, name)) n->xattrs = xattrs;
    }

    std::vector<Engine::Placement> placements;
    for (const SavedTask& t : state.tasks) {
      if (t.paths.size() != engine.hierarchies().size()) continue;
      Engine::Placement p{t.tid, t.tgid, t.start_time, t.group_start_time, {}};
      for (size_t h = 0; h < t.paths.size(); ++h) {
        auto it = by_path.find({h, t.paths[h]});
        p.cgroups.push_back(it == by_path.end() ? nullptr : it->second);
      }
      placements.push_back(std::move(p));
    }
    const Engine::RestoreCounts counts = engine.restore_placements(placements, state.saved_at);
    spdlog::info(
        "restored {} cgroups ({} settings not restored) and {} tasks; {} tasks born since the save placed as "
        "their parents; {} saved tasks have exited, {} were refused",
        nr_cgroups, nr_unrestored, counts.restored, counts.inherited, counts.exited, counts.refused);
  }
};

namespace {

CgroupFs::Impl& fs(fuse_req_t req) { return *static_cast<CgroupFs::Impl*>(fuse_req_userdata(req)); }
OpenFile* open_file(fuse_file_info* fi) { return reinterpret_cast<OpenFile*>(fi->fh); }
std::vector<DirEntry>* dir_handle(fuse_file_info* fi) { return reinterpret_cast<std::vector<DirEntry>*>(fi->fh); }

void op_init(void*, fuse_conn_info* conn) {
  // `echo > file` opens with O_TRUNC; taking it in OPEN saves a SETATTR.
  if (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC) conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
  conn->want &= ~(FUSE_CAP_READDIRPLUS | FUSE_CAP_READDIRPLUS_AUTO | FUSE_CAP_WRITEBACK_CACHE);
}

void op_lookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
  auto& f = fs(req);
  std::lock_guard lock(f.engine.mutex());
  Node* dir = f.node(parent);
  if (!dir) return (void)fuse_reply_err(req, ENOENT);
  if (dir->kind == Node::Kind::kFile || dir->kind == Node::Kind::kSymlink) return (void)fuse_reply_err(req, ENOTDIR);
  if (Node* n = f.child_of(*dir, name)) return f.reply_entry(req, *n);
  if (dir->removed) return (void)fuse_reply_err(req, ENOENT);
  fuse_entry_param negative{};
  negative.entry_timeout = kCacheTimeout;
  fuse_reply_entry(req, &negative);
}

void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup) {
  auto& f = fs(req);
  std::lock_guard lock(f.engine.mutex());
  f.forget(ino, nlookup);
  fuse_reply_none(req);
}

void op_forget_multi(fuse_req_t req, size_t count, fuse_forget_data* forgets) {
  auto& f = fs(req);
  std::lock_guard lock(f.engine.mutex());
  for (size_t i = 0; i < count; ++i) f.forget(forgets[i].ino, forgets[i].nlookup);
  fuse_reply_none(req);
}

void op_getattr(fuse_req_t req, fuse_ino_t ino, fuse_file_info*) {
  auto& f = fs(req);
  std::lock_guard lock(f.engine.mutex());
  Node* n = f.node(ino);
  if (!n) return (void)fuse_reply_err(req, ENOENT);
  struct stat st;
  f.fill_stat(*n, &st);
  fuse_reply_attr(req, &st, kCacheTimeout);
}

// The kernel has checked ownership and capabilities (default_permissions);
// like kernfs, a size change is accepted and ignored.
void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat* attr, int to_set, fuse_file_info*) {
  auto& f = fs(req);
  std::lock_guard lock(f.engine.mutex());
  Node* n = f.node(ino);
  if (!n) return (void)fuse_reply_err(req, ENOENT);
  const timespec t = now();
  if (to_set & FUSE_SET_ATTR_MODE) n->mode = (n->mode & S_IFMT) | (attr->st_mode & 07777);
  if (to_set & FUSE_SET_ATTR_UID) n->uid = attr->st_uid;
  if (to_set & FUSE_SET_ATTR_GID) n->gid = attr->st_gid;
  if (to_set & FUSE_SET_ATTR_ATIME) n->atime = attr->st_atim;
  if (to_set & FUSE_SET_ATTR_ATIME_NOW) n->atime = t;
  if (to_set & FUSE_SET_ATTR_MTIME) n->mtime = attr->st_mtim;
  if (to_set & FUSE_SET_ATTR_MTIME_NOW) n->mtime = t;
  if (to_set & FUSE_SET_ATTR_CTIME) n->ctime = attr->st_ctim;
  else if (to_set & (FUSE_SET_ATTR_MODE | FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)) n->ctime = t;
  if ((to_set & (FUSE_SET_ATTR_MODE | FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)) && !n->removed)
    f.state_changed(n->cgroup.get());
  struct stat st;
  f.fill_stat(*n, &st);
  fuse_reply_attr(req, &st, kCacheTimeout);
}

void op_readlink(fuse_req_t req, fuse_ino_t ino) {
  auto& f = fs(req);
  std::lock_guard lock(f.engine.mutex());
  Node* n = f.node(ino);
  if (!n || n->kind != Node::Kind::kSymlink) return (void)fuse_reply_err(req, EINVAL);
  fuse_reply_readlink(req, n->link_target.c_str());
}

void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode) {
  auto& f = fs(req);
  std::lock_guard lock(f.engine.mutex());
  Node* dir = f.node(parent);
  if (!dir) return (void)fuse_reply_err(req, ENOENT);
  if (dir->kind == Node::Kind::kTop) return (void)fuse_reply_err(req, EPERM);
  if (dir->kind != Node::Kind::kDir) return (void)fuse_reply_err(req, ENOTDIR);
  if (dir->removed) return (void)fuse_reply_err(req, ENOENT);
  if (f.file_in(*dir, name)) return (void)fuse_reply_err(req, EEXIST);
  std::shared_ptr<Cgroup> created;
  if (int err = f.engine.mkdir(*dir->cgroup, name, &created)) return (void)fuse_reply_err(req, -err);
  const fuse_ctx* ctx = fuse_req_ctx(req);
  auto node = f.make_dir_node(*created, S_IFDIR | (mode & 07777), ctx->uid, ctx->gid);
  spdlog::debug("mkdir {} by uid {}", created->path(), ctx->uid);
  f.state_changed();
  f.reply_entry(req, *node);
}

void op_rmdir(fuse_req_t req, fuse_ino_t parent, const char* name) {
  auto& f = fs(req);
  std::lock_guard lock(f.engine.mutex());
  Node* dir = f.node(parent);
  if (!dir) return (void)fuse_reply_err(req, ENOENT);
  if (dir->kind == Node::Kind::kTop)  // hierarchy roots are mount points
    return (void)fuse_reply_err(req, f.top_entries.count(name) ? EBUSY : ENOENT);
  Node* child = f.child_of(*dir, name);
  if (!child) return (void)fuse_reply_err(req, ENOENT);
  if (child->kind != Node::Kind::kDir) return (void)fuse_reply_err(req, ENOTDIR);
  std::shared_ptr<Node> held = f.dirs.at(child->cgroup.get());
  if (int err = f.engine.rmdir(*held->cgroup)) return (void)fuse_reply_err(req, -err);
  spdlog::debug("rmdir {}", held->cgroup->path());
  f.mark_removed(held);
  f.saved_bodies.erase(held->cgroup.get());
  f.state_changed();
  fuse_reply_err(req, 0);
}

void op_rename(fuse_req_t req, fuse_ino_t parent, const char* name, fuse_ino_t newparent, const char* newname,
               unsigned int flags) {
  auto& f = fs(req);
  std::lock_guard lock(f.engine.mutex());
  if (flags) return (void)fuse_reply_err(req, EINVAL);
  Node* dir = f.node(parent);
  Node* newdir = f.node(newparent);
  if (!dir || !newdir) return (void)fuse_reply_err(req, ENOENT);
  if (dir->kind == Node::Kind::kTop) return (void)fuse_reply_err(req, f.top_entries.count(name) ? EBUSY : ENOENT);
  if (newdir->kind == Node::Kind::kTop) return (void)fuse_reply_err(req, EXDEV);
  // cgroup1_rename's order: the new name, then the kind, then the parent.
  if (strchr(newname, '\n')) return (void)fuse_reply_err(req, EINVAL);
  Node* child = f.child_of(*dir, name);
  if (!child) return (void)fuse_reply_err(req, ENOENT);
  if (child->kind != Node::Kind::kDir) return (void)fuse_reply_err(req, ENOTDIR);
  if (f.file_in(*newdir, newname)) return (void)fuse_reply_err(req, ENOTDIR);
  if (int err = f.engine.rename(*child->cgroup, *newdir->cgroup, newname)) return (void)fuse_reply_err(req, -err);
  f.state_changed();
  fuse_reply_err(req, 0);
}

void op_unlink(fuse_req_t req, fuse_ino_t parent, const char* name) {
  auto& f = fs(req);
  std::lock_guard lock(f.engine.mutex());
  Node* dir = f.node(parent);
  if (!dir) return (void)fuse_reply_err(req, ENOENT);
  Node* child = f.child_of(*dir, name);
  if (!child) return (void)fuse_reply_err(req, ENOENT);
  fuse_reply_err(req, child->kind == Node::Kind::kDir ? EISDIR : EPERM);
}

// cgroupfs has no ->symlink, ->link or ->mknod; mknod of a regular file
// goes to ->create instead, which it lacks too.
void op_mknod(fuse_req_t req, fuse_ino_t, const char*, mode_t mode, dev_t) {
  fuse_reply_err(req, S_ISREG(mode) ? EACCES : EPERM);
}
void op_symlink(fuse_req_t req, const char*, fuse_ino_t, const char*) { fuse_reply_err(req, EPERM); }
void op_link(fuse_req_t req, fuse_ino_t, fuse_ino_t, const char*) { fuse_reply_err(req, EPERM); }
// Nor ->create: open(O_CREAT) of a new name fails in lookup_open.
void op_create(fuse_req_t req, fuse_ino_t, const char*, mode_t, fuse_file_info*) { fuse_reply_err(req, EACCES); }

void op_open(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  auto& f = fs(req);
  std::lock_guard lock(f.engine.mutex());
  std::shared_ptr<Node> n = f.shared_node(ino);
  if (!n || n->removed) return (void)fuse_reply_err(req, ENOENT);
  if (n->kind != Node::Kind::kFile) return (void)fuse_reply_err(req, EISDIR);
  const fuse_ctx* ctx = fuse_req_ctx(req);
  auto of = std::make_unique<OpenFile>();
  of->node = std::move(n);
  of->opener = {ctx->uid, ctx->gid, ctx->pid, false};
  if (of->node->cft->flags & kCftCapturesAdmin) of->opener.sys_admin = f.opener_is_admin(*ctx);
  fi->fh = reinterpret_cast<uint64_t>(of.get());
  // Contents are made per read: no page cache, and no FLUSH on close.
  fi->direct_io = 1;
  fi->keep_cache = 0;
  fi->noflush = 1;
  if (fuse_reply_open(req, fi) == 0) of.release();
}

void op_read(fuse_req_t req, fuse_ino_t, size_t size, off_t off, fuse_file_info* fi) {
  auto& f = fs(req);
  std::lock_guard lock(f.engine.mutex());
  OpenFile& of = *open_file(fi);
  const Node& n = *of.node;
  if (n.cgroup->dead()) return (void)fuse_reply_err(req, ENODEV);
  if (!n.cft->read) return (void)fuse_reply_err(req, EINVAL);
  if (off == 0 || !of.has_snapshot) {
    std::string text;
    FileCall call{f.engine, *n.cgroup, of.opener, fuse_req_ctx(req)->pid};
    if (int err = n.cft->read(call, text)) return (void)fuse_reply_err(req, -err);
    of.snapshot = std::move(text);
    of.has_snapshot = true;
  }
  if (off < 0 || static_cast<size_t>(off) >= of.snapshot.size()) return (void)fuse_reply_buf(req, nullptr, 0);
  fuse_reply_buf(req, of.snapshot.data() + off, std::min(size, of.snapshot.size() - off));
}

// Each write is one whole command; the offset is ignored.
void op_write(fuse_req_t req, fuse_ino_t, const char* buf, size_t size, off_t, fuse_file_info* fi) {
  auto& f = fs(req);
  std::lock_guard lock(f.engine.mutex());
  OpenFile& of = *open_file(fi);
  const Node& n = *of.node;
  if (size > n.cft->max_write_len) return (void)fuse_reply_err(req, E2BIG);
  if (size == 0) return (void)fuse_reply_write(req, 0);
  if (n.cgroup->dead()) return (void)fuse_reply_err(req, ENODEV);
  if (!n.cft->write) return (void)fuse_reply_err(req, EINVAL);
  std::string_view input(buf, size);
  input = input.substr(0, input.find('\0'));  // the kernel's buffer is a C string
  FileCall call{f.engine, *n.cgroup, of.opener, fuse_req_ctx(req)->pid};
  if (int err = n.cft->write(call, input)) return (void)fuse_reply_err(req, -err);
  // Any write but to a membership list or a statistic may change settings
  // (devices.deny changes devices.list, and its descendants').
  if (n.cft->flags & kCftNotSaved) f.state_changed();
  else f.state_changed(n.cgroup.get(), true);
  fuse_reply_write(req, size);
}

void op_release(fuse_req_t req, fuse_ino_t, fuse_file_info* fi) {
  auto& f = fs(req);
  std::lock_guard lock(f.engine.mutex());
  delete open_file(fi);
  fuse_reply_err(req, 0);
}

void op_opendir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  auto& f = fs(req);
  std::lock_guard lock(f.engine.mutex());
  Node* n = f.node(ino);
  if (!n) return (void)fuse_reply_err(req, ENOENT);
  if (n->kind != Node::Kind::kDir && n->kind != Node::Kind::kTop) return (void)fuse_reply_err(req, ENOTDIR);
  auto entries = std::make_unique<std::vector<DirEntry>>(f.list_dir(*n));
  fi->fh = reinterpret_cast<uint64_t>(entries.get());
  if (fuse_reply_open(req, fi) == 0) entries.release();
}

void op_readdir(fuse_req_t req, fuse_ino_t, size_t size, off_t off, fuse_file_info* fi) {
  auto& entries = *dir_handle(fi);
  std::string buf(size, '\0');
  size_t used = 0;
  for (size_t i = static_cast<size_t>(std::max<off_t>(off, 0)); i < entries.size(); ++i) {
    struct stat st {};
    st.st_ino = entries[i].ino;
    st.st_mode = entries[i].mode;
    size_t need = fuse_add_direntry(req, buf.data() + used, size - used, entries[i].name.c_str(), &st,
                                    static_cast<off_t>(i + 1));
    if (need > size - used) break;
    used += need;
  }
  fuse_reply_buf(req, buf.data(), used);
}

void op_releasedir(fuse_req_t req, fuse_ino_t, fuse_file_info* fi) {
  delete dir_handle(fi);
  fuse_reply_err(req, 0);
}

void op_statfs(fuse_req_t req, fuse_ino_t) {
  struct statvfs st {};
  st.f_bsize = 4096;
  st.f_frsize = 4096;
  st.f_namemax = NAME_MAX;
  fuse_reply_statfs(req, &st);
}

// kernfs roots of v1 hierarchies accept user.*, trusted.* and security.*
// extended attributes.
bool xattr_supported(const char* name) {
  return strncmp(name, "user.", 5) == 0 || strncmp(name, "trusted.", 8) == 0 || strncmp(name, "security.", 9) == 0;
}

void op_setxattr(fuse_req_t req, fuse_ino_t ino, const char* name, const char* value, size_t size, int flags) {
  auto& f = fs(req);
  std::lock_guard lock(f.engine.mutex());
  Node* n = f.node(ino);
  if (!n) return (void)fuse_reply_err(req, ENOENT);
  if (!xattr_supported(name)) return (void)fuse_reply_err(req, EOPNOTSUPP);
  if (strcmp(name, kHierarchyXattr) == 0 || strcmp(name, kStatsXattr) == 0) return (void)fuse_reply_err(req, EPERM);
  const bool exists = n->xattrs.count(name);
  if ((flags & XATTR_CREATE) && exists) return (void)fuse_reply_err(req, EEXIST);
  if ((flags & XATTR_REPLACE) && !exists) return (void)fuse_reply_err(req, ENODATA);
  n->xattrs[name] = std::string(value, size);
  if (n->cgroup) f.state_changed(n->cgroup.get());
  fuse_reply_err(req, 0);
}

void reply_xattr_value(fuse_req_t req, const std::string& value, size_t size) {
  if (size == 0) return (void)fuse_reply_xattr(req, value.size());
  if (size < value.size()) return (void)fuse_reply_err(req, ERANGE);
  fuse_reply_buf(req, value.data(), value.size());
}

void op_getxattr(fuse_req_t req, fuse_ino_t ino, const char* name, size_t size) {
  auto& f = fs(req);
  std::lock_guard lock(f.engine.mutex());
  Node* n = f.node(ino);
  if (!n) return (void)fuse_reply_err(req, ENOENT);
  if (n->kind == Node::Kind::kDir && n->cgroup->is_root()) {
    const Hierarchy& h = n->cgroup->hierarchy();
    if (strcmp(name, kHierarchyXattr) == 0)
      return reply_xattr_value(
          req, std::to_string(h.id()) + "\t" + proc_cgroup_controllers(h.subsys_mask(), h.name()) + "\n", size);
    if (strcmp(name, kStatsXattr) == 0) {
      f.engine.sync();
      return reply_xattr_value(req,
                               "css_sets " + std::to_string(f.engine.nr_css_sets()) + "\ntracked_tasks " +
                                   std::to_string(f.engine.nr_tracked_tasks()) + "\n",
                               size);
    }
  }
  auto it = n->xattrs.find(name);
  if (it == n->xattrs.end()) return (void)fuse_reply_err(req, ENODATA);
  reply_xattr_value(req, it->second, size);
}

void op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size) {
  auto& f = fs(req);
  std::lock_guard lock(f.engine.mutex());
  Node* n = f.node(ino);
  if (!n) return (void)fuse_reply_err(req, ENOENT);
  std::string names;
  for (auto& [name, value] : n->xattrs) names.append(name).push_back('\0');
  reply_xattr_value(req, names, size);
}

void op_removexattr(fuse_req_t req, fuse_ino_t ino, const char* name) {
  auto& f = fs(req);
  std::lock_guard lock(f.engine.mutex());
  Node* n = f.node(ino);
  if (!n) return (void)fuse_reply_err(req, ENOENT);
  if (strcmp(name, kHierarchyXattr) == 0 || strcmp(name, kStatsXattr) == 0) return (void)fuse_reply_err(req, EPERM);
  if (!n->xattrs.erase(name)) return (void)fuse_reply_err(req, ENODATA);
  if (n->cgroup) f.state_changed(n->cgroup.get());
  fuse_reply_err(req, 0);
}

const fuse_lowlevel_ops kOperations = [] {
  fuse_lowlevel_ops ops{};
  ops.init = op_init;
  ops.lookup = op_lookup;
  ops.forget = op_forget;
  ops.forget_multi = op_forget_multi;
  ops.getattr = op_getattr;
  ops.setattr = op_setattr;
  ops.readlink = op_readlink;
  ops.mknod = op_mknod;
  ops.mkdir = op_mkdir;
  ops.unlink = op_unlink;
  ops.rmdir = op_rmdir;
  ops.symlink = op_symlink;
  ops.rename = op_rename;
  ops.link = op_link;
  ops.open = op_open;
  ops.read = op_read;
  ops.write = op_write;
  ops.release = op_release;
  ops.opendir = op_opendir;
  ops.readdir = op_readdir;
  ops.releasedir = op_releasedir;
  ops.statfs = op_statfs;
  ops.setxattr = op_setxattr;
  ops.getxattr = op_getxattr;
  ops.listxattr = op_listxattr;
  ops.removexattr = op_removexattr;
  ops.create = op_create;
  return ops;
}();

}  // namespace

CgroupFs::CgroupFs(Engine& engine, Layout layout) : impl_(std::make_unique<Impl>(engine, std::move(layout))) {}
CgroupFs::~CgroupFs() = default;
const fuse_lowlevel_ops& CgroupFs::operations() { return kOperations; }

void CgroupFs::restore_state(const SavedState& state) { impl_->restore_state(state); }

void CgroupFs::keep_state(const StateFile& file, std::string mount) {
  impl_->state_file = &file;
  impl_->state_mount = std::move(mount);
  impl_->save_state();
}

void CgroupFs::save_state_if_changed() {
  if (impl_->state_file && impl_->engine.changes() != impl_->saved_changes) impl_->save_state();
}
void* CgroupFs::userdata() const { return impl_.get(); }

}  // namespace cgemu
