// Kernel-differential test: the same scripted sequence of operations runs on
// the emulator and on a private named kernel hierarchy. Each run produces a
// transcript (step -> content read or errno name) in which pids/tids are
// replaced by symbolic names; the two transcripts must be equal.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "mount_harness.h"

namespace itest {
namespace {

std::string Escape(std::string_view s, size_t max = 200) {
  std::string out;
  for (char c : s) {
    if (out.size() >= max) {
      out += "...(" + std::to_string(s.size()) + " bytes)";
      break;
    }
    switch (c) {
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      case '\0': out += "\\0"; break;
      default: out.push_back(c);
    }
  }
  return out;
}

// One run of a script against one mount.
class Script {
 public:
  explicit Script(CgroupMount& m) : m_(m) {}

  std::vector<std::string> transcript;

  // Registers a symbolic name for an id; {NAME} in templates expands to it,
  // {NAME:x} to 0x-hex, {NAME:o} to 0-octal.
  void Name(const std::string& name, pid_t id) {
    ids_[name] = id;
    names_[id] = name;
  }
  void NameProc(const std::string& name, const ChildProc& c) {
    Name(name, c.pid);
    for (size_t i = 0; i < c.tids.size(); ++i)
      if (c.tids[i] != c.pid) Name(name + ".t" + std::to_string(i + 1), c.tids[i]);
  }
  std::string Sub(const std::string& tmpl) const {
    std::string out;
    for (size_t i = 0; i < tmpl.size(); ++i) {
      if (tmpl[i] == '{') {
        size_t e = tmpl.find('}', i);
        if (e != std::string::npos) {
          std::string key = tmpl.substr(i + 1, e - i - 1);
          std::string fmt;
          size_t colon = key.find(':');
          if (colon != std::string::npos) {
            fmt = key.substr(colon + 1);
            key = key.substr(0, colon);
          }
          auto it = ids_.find(key);
          if (it != ids_.end()) {
            char b[32];
            if (fmt == "x")
              snprintf(b, sizeof b, "0x%x", static_cast<unsigned>(it->second));
            else if (fmt == "o")
              snprintf(b, sizeof b, "0%o", static_cast<unsigned>(it->second));
            else
              snprintf(b, sizeof b, "%d", it->second);
            out += b;
            i = e;
            continue;
          }
        }
      }
      out.push_back(tmpl[i]);
    }
    return out;
  }
  std::string Path(const std::string& rel) const { return m_.Path(rel); }
  void Note(const std::string& what, const std::string& result) {
    transcript.push_back(what + " -> " + result);
  }

  // A pid list: names of the ids (sorted by name), "?" for unknown ids,
  // plus whether the numeric list was sorted and unique.
  std::string SymbolizeList(const std::string& content, bool only_known) const {
    std::vector<pid_t> ids = ParsePids(content);
    bool sorted = true;
    for (size_t i = 1; i < ids.size(); ++i)
      if (ids[i - 1] >= ids[i]) sorted = false;
    bool well_formed = content.empty() || content.back() == '\n';
    std::vector<std::string> syms;
    for (pid_t id : ids) {
      auto it = names_.find(id);
      if (it != names_.end())
        syms.push_back(it->second);
      else if (!only_known)
        syms.push_back("?");
    }
    std::sort(syms.begin(), syms.end());
    std::string out = "[";
    for (size_t i = 0; i < syms.size(); ++i) out += (i ? " " : "") + syms[i];
    out += "]";
    if (!sorted) out += " UNSORTED";
    if (!well_formed) out += " NO-TRAILING-NEWLINE";
    return out;
  }

  void Mkdir(const std::string& rel, mode_t mode = 0755) {
    Note("mkdir " + Escape(rel), ErrName(Errno(::mkdir(Path(rel).c_str(), mode))));
  }
  void Rmdir(const std::string& rel) {
    Note("rmdir " + Escape(rel), ErrName(Errno(::rmdir(Path(rel).c_str()))));
  }
  void Rename(const std::string& a, const std::string& b, unsigned flags = 0) {
    int r = flags ? renameat2(AT_FDCWD, Path(a).c_str(), AT_FDCWD, Path(b).c_str(), flags)
                  : rename(Path(a).c_str(), Path(b).c_str());
    Note("rename" + (flags ? "2(" + std::to_string(flags) + ") " : std::string(" ")) +
             Escape(a) + " " + Escape(b),
         ErrName(Errno(r)));
  }
  void Unlink(const std::string& rel) {
    Note("unlink " + rel, ErrName(Errno(unlink(Path(rel).c_str()))));
  }
  // One write() of Sub(tmpl).
  void Write(const std::string& rel, const std::string& tmpl) {
    std::string data = Sub(tmpl);
    ssize_t n = -1;
    int e = WriteStr(Path(rel), data, &n);
    std::string res = ErrName(e);
    if (!e) res += "(" + std::string(n == static_cast<ssize_t>(data.size()) ? "all" : std::to_string(n)) + ")";
    Note("write " + rel + " '" + Escape(tmpl, 60) + "'", res);
  }
  void Read(const std::string& rel) {
    ReadResult r = ReadAll(Path(rel));
    Note("read " + rel, r.err ? ErrName(r.err) : "'" + Escape(r.data) + "'");
  }
  void ReadPids(const std::string& rel) {
    ReadResult r = ReadAll(Path(rel));
    Note("readpids " + rel, r.err ? ErrName(r.err) : SymbolizeList(r.data, false));
  }
  // For the root cgroup (which holds the whole host): only our ids.
  void ReadKnownPids(const std::string& rel) {
    ReadResult r = ReadAll(Path(rel));
    Note("readknown " + rel, r.err ? ErrName(r.err) : SymbolizeList(r.data, true));
  }
  void List(const std::string& rel) {
    int err = 0;
    auto v = ListDirRaw(Path(rel), &err);
    std::string s;
    for (size_t i = 0; i < v.size(); ++i) s += (i ? " | " : "") + Escape(v[i]);
    Note("ls -f " + (rel.empty() ? "/" : rel), err ? ErrName(err) : s);
  }
  void StatEntry(const std::string& rel) {
    auto st = Lstat(Path(rel));
    if (!st) {
      Note("stat " + rel, ErrName(errno));
      return;
    }
    char b[128];
    snprintf(b, sizeof b, "%s mode=%04o nlink=%lu uid=%u gid=%u size=%lld",
             S_ISDIR(st->st_mode) ? "dir" : S_ISREG(st->st_mode) ? "reg" : "other",
             PermBits(*st), static_cast<unsigned long>(st->st_nlink), st->st_uid, st->st_gid,
             static_cast<long long>(st->st_size));
    Note("stat " + rel, b);
  }
  // Runs fn in a child as nobody; fn returns an errno or a special code.
  void AsNobody(const std::string& what, const std::function<int()>& fn) {
    int c = RunInChild(fn, kNobody);
    Note("as-nobody " + what, c == 200 ? "open failed" : ErrName(c));
  }

 private:
  CgroupMount& m_;
  std::map<std::string, pid_t> ids_;
  std::map<pid_t, std::string> names_;
};

using ScriptFn = std::function<void(Script&)>;

// Runs `fn` on both backends and compares the transcripts.
void RunDifferential(const std::string& extra_options, const ScriptFn& fn) {
  std::string why = KernelUnavailableReason();
  if (!why.empty()) GTEST_SKIP() << why;
  why = EmulatorUnavailableReason();
  if (!why.empty()) GTEST_SKIP() << "emulator backend unavailable: " << why;

  std::vector<std::string> kernel, emulator;
  {
    std::string skip, err;
    auto km = CgroupMount::Make(Backend::kKernel, NamedOptions(extra_options), &skip, &err);
    if (!km) {
      if (!skip.empty()) GTEST_SKIP() << skip;
      FAIL() << err;
    }
    Script s(*km);
    fn(s);
    kernel = s.transcript;
  }
  // ITEST_DUMP_TRANSCRIPT=1 prints the kernel's transcript (to review a script).
  if (const char* dump = getenv("ITEST_DUMP_TRANSCRIPT"); dump && *dump) {
    for (size_t i = 0; i < kernel.size(); ++i) printf("K %3zu %s\n", i, kernel[i].c_str());
  }
  {
    std::string skip, err;
    auto em = CgroupMount::Make(Backend::kEmulator, NamedOptions(extra_options), &skip, &err);
    if (!em) {
      if (!skip.empty()) GTEST_SKIP() << skip;
      FAIL() << err;
    }
    Script s(*em);
    fn(s);
    emulator = s.transcript;
  }
  size_t n = std::max(kernel.size(), emulator.size());
  int shown = 0, differing = 0;
  std::ostringstream os;
  for (size_t i = 0; i < n; ++i) {
    std::string k = i < kernel.size() ? kernel[i] : "<missing>";
    std::string e = i < emulator.size() ? emulator[i] : "<missing>";
    if (k == e) continue;
    ++differing;
    if (shown++ < 15) {
      os << "step " << i << ":\n  kernel:   " << k << "\n  emulator: " << e << "\n";
    }
  }
  EXPECT_EQ(differing, 0) << differing << " of " << n << " steps differ; first differences:\n"
                          << os.str();
}

bool Pid2IsKthreadd() {
  std::ifstream comm("/proc/2/comm");
  std::string name;
  std::getline(comm, name);
  return name == "kthreadd";
}

// --------------------------------------------------------------- scripts

void LayoutAndFilesScript(Script& s) {
  s.List("");
  for (std::string f : {"", "tasks", "cgroup.procs", "notify_on_release", "cgroup.clone_children",
                        "cgroup.sane_behavior", "release_agent"})
    s.StatEntry(f);
  s.Mkdir("a");
  s.Mkdir("a/b");
  s.Mkdir("c");
  s.Mkdir("a");
  s.Mkdir("tasks");
  s.Mkdir("a/cgroup.procs");
  s.Mkdir("x\ny");
  s.Mkdir("cgroup.foo");
  s.Mkdir("with space");
  s.Mkdir("a/release_agent");
  s.List("");
  s.List("a");
  s.List("a/b");
  for (std::string f : {"", "a", "a/b", "a/tasks", "a/notify_on_release", "a/release_agent"})
    s.StatEntry(f);
  for (std::string f : {"notify_on_release", "cgroup.clone_children", "release_agent",
                        "cgroup.sane_behavior", "a/notify_on_release", "a/cgroup.clone_children",
                        "a/tasks", "a/cgroup.procs", "a/cgroup.sane_behavior"})
    s.Read(f);
  // u64 flag files.
  for (std::string f : {"notify_on_release", "a/cgroup.clone_children"}) {
    for (std::string v : {"1", "0", "2", "0x1", "0", "+1", "1\n", " 1", "1 ", "-1", "0\n\n", "\n",
                          "", "abc", "010", "09", "99999999999999999999999"}) {
      s.Write(f, v);
      s.Read(f);
    }
  }
  s.Write("cgroup.clone_children", "1");
  s.Mkdir("a/d");
  s.Read("a/d/notify_on_release");
  s.Read("a/d/cgroup.clone_children");
  s.Mkdir("e");
  s.Read("e/notify_on_release");
  s.Read("e/cgroup.clone_children");
  s.Write("cgroup.clone_children", "0");
  s.Write("notify_on_release", "0");
  s.Write("cgroup.sane_behavior", "0");
  s.Read("cgroup.sane_behavior");
  // release_agent.
  for (const std::string& v :
       std::vector<std::string>{"/x y z \n", "   ", "/a", "", std::string("/b\0c", 4),
                                "rel/path\t", "/" + std::string(4094, 'r'),
                                "/" + std::string(4095, 'r'), "\n"}) {
    s.Write("release_agent", v);
    s.Read("release_agent");
  }
  // Directory operations.
  s.Rmdir("a");
  s.Rmdir("a/tasks");
  s.Rmdir("nonexistent");
  s.Rmdir("");
  s.Rename("a", "a");
  s.Rename("a", "a2");
  s.List("");
  s.Rename("a2/b", "c/b");
  s.Rename("a2/b", "b");
  s.Rename("c", "a2");
  s.Rename("c", "tasks");
  s.Rename("a2/tasks", "a2/t2");
  s.Rename("c", "c\nd");
  s.Rename("c", "c2", RENAME_NOREPLACE);
  s.Rename("c", "a2", RENAME_EXCHANGE);
  s.Unlink("tasks");
  s.Unlink("c");
  s.Note("open(O_CREAT) new", ErrName(Errno(open(s.Path("c/new").c_str(), O_CREAT | O_WRONLY, 0644))));
  s.Note("open(O_CREAT|O_EXCL) tasks",
         ErrName(Errno(open(s.Path("c/tasks").c_str(), O_CREAT | O_EXCL | O_WRONLY, 0644))));
  s.Note("symlink", ErrName(Errno(symlink("x", s.Path("c/l").c_str()))));
  s.Note("link", ErrName(Errno(link(s.Path("c/tasks").c_str(), s.Path("c/t2").c_str()))));
  s.Note("mkfifo", ErrName(Errno(mkfifo(s.Path("c/f").c_str(), 0644))));
  s.Note("truncate", ErrName(Errno(truncate(s.Path("c/tasks").c_str(), 0))));
  s.List("c");
  // Stale descriptors.
  int fd = open(s.Path("e/tasks").c_str(), O_RDWR);
  int dfd = open(s.Path("e").c_str(), O_RDONLY | O_DIRECTORY);
  s.Rmdir("e");
  char buf[16];
  s.Note("read stale fd", ErrName(Errno(static_cast<int>(read(fd, buf, sizeof buf)))));
  s.Note("write stale fd", ErrName(WriteFd(fd, "0")));
  s.Note("openat removed dir", ErrName(Errno(openat(dfd, "tasks", O_RDONLY))));
  s.Note("mkdirat removed dir", ErrName(Errno(mkdirat(dfd, "z", 0755))));
  if (fd >= 0) close(fd);
  if (dfd >= 0) close(dfd);
  // Cleanup, deepest first.
  for (std::string d : {"a2/d", "a2/b", "a2/release_agent", "a2", "c", "cgroup.foo", "with space"})
    s.Rmdir(d);
  s.List("");
  s.StatEntry("");
}

void TasksScript(Script& s) {
  auto p = SpawnSleeper(2);
  auto q = SpawnSleeper();
  auto z = SpawnZombieable();
  if (!p || !q || !z) {
    s.Note("spawn", "FAILED");
    return;
  }
  s.NameProc("P", *p);
  s.NameProc("Q", *q);
  s.Name("Z", z->pid);
  s.Name("NOPID", PidMax());
  s.Mkdir("a");
  s.Mkdir("a/b");
  s.Mkdir("c");
  s.ReadKnownPids("tasks");
  s.ReadKnownPids("cgroup.procs");
  s.Write("a/tasks", "{P}");
  s.ReadPids("a/tasks");
  s.ReadPids("a/cgroup.procs");
  s.ReadKnownPids("tasks");
  s.ReadKnownPids("cgroup.procs");
  s.Write("c/tasks", "{P.t1}");
  s.ReadPids("a/tasks");
  s.ReadPids("c/tasks");
  s.ReadPids("a/cgroup.procs");
  s.ReadPids("c/cgroup.procs");
  s.ReadKnownPids("tasks");
  s.ReadKnownPids("cgroup.procs");
  s.Write("a/b/cgroup.procs", "{P.t2}");
  s.ReadPids("a/tasks");
  s.ReadPids("a/b/tasks");
  s.ReadPids("a/b/cgroup.procs");
  s.ReadPids("c/tasks");
  s.ReadKnownPids("tasks");
  s.Write("a/b/tasks", "{P}");
  // Parse cases, each followed by a read of the target.
  for (std::string v :
       {"", "\n", "{Q}", "{P}", " {Q} \n", "{P}", "{Q}\n\n", "{P}", "+{Q}", "{P}", "{Q:x}", "{P}",
        "{Q:o}", "{P}", "abc", "-1", "-{Q}", "{Q}x", "99999999999", "{Q} {P}", "{Q},{P}",
        "{Q}\n{P}\n", "0x", "{NOPID}", "2147483647"}) {
    s.Write("c/tasks", v);
    s.ReadPids("c/tasks");
  }
  s.Write("c/tasks", std::string("{Q}") + '\0' + "junk");
  s.ReadPids("c/tasks");
  s.Write("a/tasks", std::string(4097, ' '));
  s.Write("a/tasks", std::string(4096, 'x'));
  s.Write("a/tasks", "{Q}" + std::string(4090, ' '));
  s.ReadPids("a/tasks");
  if (Pid2IsKthreadd()) {
    s.Write("a/tasks", "2");
    s.Write("a/cgroup.procs", "2");
  }
  s.ReadPids("a/tasks");
  s.ReadKnownPids("tasks");
  // Same for cgroup.procs.
  for (std::string v : {"", "\n", "{P.t1}", "abc", "{NOPID}", "{Q}", "{Q:x}"}) {
    s.Write("a/b/cgroup.procs", v);
    s.ReadPids("a/b/tasks");
    s.ReadPids("a/b/cgroup.procs");
  }
  // Writers moving themselves: "0"/"-0", from the main thread and a thread.
  auto w1 = SpawnWriter(s.Path("c/tasks"), "0", false);
  auto w2 = SpawnWriter(s.Path("c/cgroup.procs"), "-0", false);
  auto w3 = SpawnWriter(s.Path("a/tasks"), "0", true);
  auto w4 = SpawnWriter(s.Path("a/b/cgroup.procs"), "0\n", true);
  if (!w1 || !w2 || !w3 || !w4) {
    s.Note("spawn writers", "FAILED");
    return;
  }
  s.Name("W1", w1->pid);
  s.Name("W2", w2->pid);
  s.Name("W3", w3->pid);
  s.Name("W3.thread", w3->tids[0]);
  s.Name("W4", w4->pid);
  s.Name("W4.thread", w4->tids[0]);
  s.Note("W1 writes 0 to c/tasks", ErrName(w1->result_errno));
  s.Note("W2 writes -0 to c/cgroup.procs", ErrName(w2->result_errno));
  s.Note("W3 thread writes 0 to a/tasks", ErrName(w3->result_errno));
  s.Note("W4 thread writes 0 to a/b/cgroup.procs", ErrName(w4->result_errno));
  for (std::string f : {"a/tasks", "a/cgroup.procs", "a/b/tasks", "a/b/cgroup.procs", "c/tasks",
                        "c/cgroup.procs"})
    s.ReadPids(f);
  s.ReadKnownPids("tasks");
  s.ReadKnownPids("cgroup.procs");
  // Zombie.
  s.Write("c/tasks", "{Z}");
  s.ReadPids("c/tasks");
  s.Note("make zombie", z->MakeZombie() ? "OK" : "FAILED");
  s.ReadPids("c/tasks");
  s.ReadKnownPids("tasks");
  s.Write("a/tasks", "{Z}");
  s.Write("a/cgroup.procs", "{Z}");
  s.ReadPids("a/tasks");
  s.Mkdir("zc");
  s.Write("zc/tasks", "{Z}");
  s.ReadPids("zc/tasks");
  s.Rmdir("zc");
  // Busy rmdir, then exits.
  s.Rmdir("c");
  s.Rmdir("a/b");
  w1->Kill();
  w2->Kill();
  s.ReadPids("c/tasks");
  s.Rmdir("c");
  p->Kill();
  w3->Kill();
  w4->Kill();
  s.ReadPids("a/tasks");
  s.ReadPids("a/b/tasks");
  s.Rmdir("a");    // a live child
  s.Rmdir("a/b");  // Q is still there
  s.Write("tasks", "{Q}");
  s.ReadPids("a/b/tasks");
  s.Rmdir("a/b");
  s.Rmdir("a");
  s.ReadKnownPids("tasks");
  s.List("");
  z->Kill();
}

void PermissionScript(Script& s) {
  auto mine = SpawnSleeper(1, kNobody);
  auto roots = SpawnSleeper();
  if (!mine || !roots) {
    s.Note("spawn", "FAILED");
    return;
  }
  s.NameProc("N", *mine);
  s.NameProc("R", *roots);
  const std::string root_path = s.Path("");
  auto open_write = [&](const std::string& rel, const std::string& tmpl) {
    std::string path = s.Path(rel), data = s.Sub(tmpl);
    return [path, data] {
      int fd = open(path.c_str(), O_WRONLY | O_CLOEXEC);
      if (fd < 0) return 200;
      int e = WriteFd(fd, data);
      close(fd);
      return e;
    };
  };
  s.Mkdir("a");
  s.AsNobody("open a/tasks for write", [&] { return Errno(open(s.Path("a/tasks").c_str(), O_WRONLY)); });
  s.AsNobody("read a/tasks", [&] { return ReadAll(s.Path("a/tasks")).err; });
  s.AsNobody("mkdir b", [&] { return Errno(mkdir(s.Path("b").c_str(), 0755)); });
  s.Mkdir("d");
  for (std::string f : {"d", "d/tasks", "d/cgroup.procs"})
    s.Note("chown " + f, ErrName(Errno(chown(s.Path(f).c_str(), kNobody, kNobody))));
  s.AsNobody("mkdir d/sub", [&] { return Errno(mkdir(s.Path("d/sub").c_str(), 0750)); });
  s.StatEntry("d");
  s.StatEntry("d/sub");
  s.List("d/sub");
  for (std::string f : {"tasks", "cgroup.procs", "notify_on_release", "cgroup.clone_children"})
    s.StatEntry("d/sub/" + f);
  s.AsNobody("write N to d/sub/tasks", open_write("d/sub/tasks", "{N}"));
  s.AsNobody("write N.t1 to d/cgroup.procs", open_write("d/cgroup.procs", "{N.t1}"));
  s.AsNobody("write N.t1 to d/sub/tasks", open_write("d/sub/tasks", "{N.t1}"));
  s.AsNobody("write R to d/sub/tasks", open_write("d/sub/tasks", "{R}"));
  s.AsNobody("write R to d/cgroup.procs", open_write("d/cgroup.procs", "{R}"));
  s.AsNobody("write 0 to d/sub/tasks", open_write("d/sub/tasks", "0"));
  s.AsNobody("write N to root tasks", open_write("tasks", "{N}"));
  s.AsNobody("write garbage to d/sub/tasks", open_write("d/sub/tasks", "abc"));
  s.AsNobody("write nonexistent to d/sub/tasks", open_write("d/sub/tasks", "{NOPID}"));
  s.ReadPids("d/tasks");
  s.ReadPids("d/sub/tasks");
  s.ReadKnownPids("tasks");
  // Open-time credentials.
  int fd = open(s.Path("a/tasks").c_str(), O_WRONLY);
  std::string rpid = s.Sub("{R}");
  s.AsNobody("write R via root's fd", [&] { return WriteFd(fd, rpid); });
  if (fd >= 0) close(fd);
  s.ReadPids("a/tasks");
  // release_agent.
  s.Note("chown release_agent", ErrName(Errno(chown(s.Path("release_agent").c_str(), kNobody, kNobody))));
  s.AsNobody("write release_agent", open_write("release_agent", "/x"));
  fd = open(s.Path("release_agent").c_str(), O_WRONLY);
  s.AsNobody("write release_agent via root's fd", [&] { return WriteFd(fd, "/by/root"); });
  if (fd >= 0) close(fd);
  s.Read("release_agent");
  // chmod/chown by owner and non-owner.
  s.AsNobody("chmod d/sub/tasks", [&] { return Errno(chmod(s.Path("d/sub/tasks").c_str(), 0600)); });
  s.AsNobody("chmod a/tasks", [&] { return Errno(chmod(s.Path("a/tasks").c_str(), 0600)); });
  s.StatEntry("d/sub/tasks");
  s.AsNobody("rmdir d/sub (busy)", [&] { return Errno(rmdir(s.Path("d/sub").c_str())); });
  s.Write("tasks", "{N.t1}");
  s.AsNobody("rmdir d/sub", [&] { return Errno(rmdir(s.Path("d/sub").c_str())); });
  mine->Kill();
  roots->Kill();
  s.ReadPids("d/tasks");
  s.ReadPids("a/tasks");
  s.Rmdir("d");
  s.Rmdir("a");
  (void)root_path;
}

TEST(KernelDiff, LayoutAndFiles) { RunDifferential("", LayoutAndFilesScript); }
TEST(KernelDiff, TasksAndProcs) { RunDifferential("", TasksScript); }
TEST(KernelDiff, Permissions) {
  // (Only as root, which RunDifferential requires anyway.)
  RunDifferential("", [](Script& s) {
    s.Name("NOPID", PidMax());
    PermissionScript(s);
  });
}
TEST(KernelDiff, MountOptionsCloneChildrenReleaseAgent) {
  RunDifferential("clone_children,release_agent=/sbin/itest", [](Script& s) {
    s.Read("cgroup.clone_children");
    s.Read("release_agent");
    s.Mkdir("a");
    s.Read("a/cgroup.clone_children");
    s.List("");
    s.List("a");
    s.Rmdir("a");
  });
}

// Raw readdir order of the same names on both backends.
TEST(KernelDiff, ReaddirOrderMatchesKernel) {
  std::vector<std::string> names;
  for (int i = 0; i < 40; ++i) names.push_back("g" + std::to_string(i * 7919 % 1000));
  for (std::string n : {"a", "b", "A", "zz", "cgroup.x", "tasks.d", "notify", ".hidden", "-",
                        "_", "0", "00", "a b", "ü"})
    names.push_back(n);
  RunDifferential("", [&](Script& s) {
    for (auto& n : names) s.Mkdir(n);
    for (size_t i = 0; i < 10; ++i) s.Mkdir(names[0] + "/" + names[i + 5]);
    s.List("");
    s.List(names[0]);
    for (size_t i = 0; i < 10; ++i) s.Rmdir(names[0] + "/" + names[i + 5]);
    for (auto& n : names) s.Rmdir(n);
  });
}

}  // namespace
}  // namespace itest
