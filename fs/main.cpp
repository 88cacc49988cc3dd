// cgroupfs-emu [-f] [-d] [-o OPTIONS] MOUNTPOINT
#include <fuse_lowlevel.h>
#include <getopt.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/sinks/syslog_sink.h>
#include <spdlog/spdlog.h>

#include "controllers/subsystems.h"
#include "engine/engine.h"
#include "engine/proc_task_source.h"
#include "engine/release_agent.h"
#include "engine/task_events.h"
#include "engine/task_watcher.h"
#include "fs/cgroupfs.h"
#include "fs/mount_options.h"
#include "fs/proc_views.h"
#include "fs/state_file.h"

namespace {

using namespace cgemu;

constexpr const char* kUsage =
    "usage: cgroupfs-emu [-f] [-d] [--tracker=KIND] [--state=FILE] [-o OPTIONS] MOUNTPOINT\n"
    "       cgroupfs-emu proc-cgroups MOUNTPOINT     what /proc/cgroups would show\n"
    "       cgroupfs-emu proc-cgroup MOUNTPOINT PID  what /proc/PID/cgroup would show\n"
    "\n"
    "Mounts an emulated cgroup v1 filesystem for the host's processes.\n"
    "\n"
    "  -o OPTIONS  options of `mount -t cgroup -o`: controller names, all, none,\n"
    "              name=NAME, noprefix, release_agent=PATH, clone_children, xattr,\n"
    "              cpuset_v2_mode; FUSE options such as allow_other pass through.\n"
    "              With -o the mount is that one hierarchy; without it, the layout\n"
    "              of /sys/fs/cgroup on a cgroup v1 host.\n"
    "  -f          stay in the foreground\n"
    "  -d          log debug messages\n"
    "  --tracker=auto|netlink|procscan\n"
    "              how forks and exits are followed (default auto: the kernel's\n"
    "              process events connector, else /proc scanning)\n"
    "  --state=FILE\n"
    "              keep the tree, settings, owners, modes and memberships in FILE,\n"
    "              saved on every change, and restore them from it at start (after\n"
    "              a crash, a kill -9 or an unmount), minus the tasks gone since\n"
    "  -h, --help  this text\n"
    "\n"
    "MOUNTPOINT may be /dev/fd/N: a /dev/fuse descriptor already mounted by\n"
    "the caller (as mount.fuse3's drop_privileges does).\n";

struct CommandLine {
  bool foreground = false;
  bool debug = false;
  bool has_options = false;
  TrackerKind tracker = TrackerKind::kAuto;
  std::string options;
  std::string mountpoint;
  std::string state_path;
};

int usage_error(const char* message) {
  fprintf(stderr, "cgroupfs-emu: %s\n%s", message, kUsage);
  return 2;
}

uint32_t mask_of(std::initializer_list<std::string_view> names) {
  uint32_t mask = 0;
  for (auto name : names) mask |= 1u << *subsystem_id(name);
  return mask;
}

// /sys/fs/cgroup on a systemd host with cgroup v1.
void default_layout(std::vector<HierarchyConfig>& hierarchies, Layout& layout) {
  struct Row {
    const char* dir;
    std::initializer_list<std::string_view> controllers;
    const char* name;
    std::vector<std::string> symlinks;
  };
  const Row rows[] = {
      {"cpuset", {"cpuset"}, "", {}},
      {"cpu,cpuacct", {"cpu", "cpuacct"}, "", {"cpu", "cpuacct"}},
      {"blkio", {"blkio"}, "", {}},
      {"memory", {"memory"}, "", {}},
      {"devices", {"devices"}, "", {}},
      {"freezer", {"freezer"}, "", {}},
      {"pids", {"pids"}, "", {}},
      {"systemd", {}, "systemd", {}},
  };
  layout.single_hierarchy = false;
  for (const Row& row : rows) {
    layout.entries.push_back({row.dir, hierarchies.size(), row.symlinks});
    layout.noprefix.push_back(false);
    hierarchies.push_back({row.name, mask_of(row.controllers), false, ""});
  }
}

// settings: "<controller>.key[=value]" mount options.
Controllers make_controllers(const std::vector<std::string>& settings) {
  Controllers controllers;
  for (const Subsystem& ss : all_subsystems()) {
    std::vector<std::string> mine;
    const std::string prefix = std::string(ss.legacy_name) + ".";
    for (const std::string& s : settings)
      if (s.rfind(prefix, 0) == 0) mine.push_back(s.substr(prefix.size()));
    if (!ss.enabled) continue;
    if (!ss.make) {
      if (!mine.empty()) throw std::invalid_argument("controller " + std::string(ss.legacy_name) + " has no settings");
      continue;
    }
    controllers[ss.ssid] = ss.make(mine);
  }
  return controllers;
}

void setup_logging(bool foreground, bool debug) {
  auto logger = foreground ? spdlog::stderr_color_mt("cgroupfs-emu")
                           : spdlog::syslog_logger_mt("cgroupfs-emu", "cgroupfs-emu", LOG_PID);
  logger->set_level(debug ? spdlog::level::debug : spdlog::level::info);
  spdlog::set_default_logger(logger);
}

}  // namespace

// The subcommands that read a live mount; -1 if argv names none.
int run_subcommand(int argc, char** argv) {
  if (argc < 2) return -1;
  const std::string command = argv[1];
  if (command == "proc-cgroups" && argc == 3) {
    fputs(proc_cgroups(argv[2]).c_str(), stdout);
    return 0;
  }
  if (command == "proc-cgroup" && argc == 4) {
    std::string error;
    std::string text = proc_pid_cgroup(argv[2], static_cast<pid_t>(atoi(argv[3])), &error);
    if (!error.empty()) {
      fprintf(stderr, "cgroupfs-emu: %s\n", error.c_str());
      return 1;
    }
    fputs(text.c_str(), stdout);
    return 0;
  }
  if (command == "proc-cgroups" || command == "proc-cgroup") return usage_error("wrong arguments");
  return -1;
}

int main(int argc, char** argv) {
  if (int status = run_subcommand(argc, argv); status >= 0) return status;
  // A move of a process of thousands of threads allocates and frees
  // hundreds of kilobytes; from the heap, kept between moves, rather than
  // fresh mmap()ed pages that fault in on every move.
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 64 << 20);
  CommandLine cmd;
  static const option long_options[] = {
      {"help", no_argument, nullptr, 'h'},
      {"tracker", required_argument, nullptr, 't'},
      {"state", required_argument, nullptr, 's'},
      {nullptr, 0, nullptr, 0}};
  int c;
  while ((c = getopt_long(argc, argv, "fdo:h", long_options, nullptr)) != -1) {
    switch (c) {
      case 'f': cmd.foreground = true; break;
      case 'd': cmd.debug = true; break;
      case 'o':
        if (cmd.has_options) cmd.options += ',';
        cmd.options += optarg;
        cmd.has_options = true;
        break;
      case 'h': fputs(kUsage, stdout); return 0;
      case 't':
        if (!strcmp(optarg, "auto")) cmd.tracker = TrackerKind::kAuto;
        else if (!strcmp(optarg, "netlink")) cmd.tracker = TrackerKind::kNetlink;
        else if (!strcmp(optarg, "procscan")) cmd.tracker = TrackerKind::kProcScan;
        else return usage_error("--tracker takes auto, netlink or procscan");
        break;
      case 's':
        if (!*optarg) return usage_error("--state needs a file name");
        cmd.state_path = optarg;
        break;
      default: return usage_error("unknown option");
    }
  }
  if (optind != argc - 1) return usage_error("exactly one MOUNTPOINT is needed");
  cmd.mountpoint = argv[optind];

  std::vector<HierarchyConfig> hierarchies;
  Layout layout;
  layout.owner = getuid();
  layout.group = getgid();
  std::vector<std::string> fuse_options;
  std::vector<std::string> controller_settings;
  std::string mount_description = "default layout";  // what a state file must have been saved for
  if (cmd.has_options) {
    MountOptionsResult parsed = parse_mount_options(cmd.options);
    if (!parsed.options) {
      fprintf(stderr, "cgroupfs-emu: bad mount options '%s': %s\n", cmd.options.c_str(), parsed.error.c_str());
      return 1;
    }
    const MountOptions& o = *parsed.options;
    // `name=X` alone mounts an existing hierarchy on the kernel; every
    // emulator starts a new one (cgroup1_root_to_use).
    if (!o.none && o.subsys_mask == 0) {
      fprintf(stderr, "cgroupfs-emu: bad mount options '%s': No subsys list or none specified\n",
              cmd.options.c_str());
      return 1;
    }
    hierarchies.push_back({o.name, o.subsys_mask, o.clone_children, o.release_agent.value_or("")});
    layout.single_hierarchy = true;
    layout.noprefix.push_back(o.noprefix);
    fuse_options = o.fuse_options;
    controller_settings = o.controller_options;
    if (o.cpuset_v2_mode) controller_settings.push_back("cpuset.v2_mode");
    mount_description = show_mount_options(o, "");
  } else {
    default_layout(hierarchies, layout);
  }

  struct stat st;
  if (cmd.mountpoint.rfind("/dev/fd/", 0) == 0) {
    // Already mounted by the caller: libfuse takes the descriptor as it is.
  } else if (stat(cmd.mountpoint.c_str(), &st) != 0) {
    fprintf(stderr, "cgroupfs-emu: mountpoint %s: %s\n", cmd.mountpoint.c_str(), strerror(errno));
    return 1;
  } else if (!S_ISDIR(st.st_mode)) {
    fprintf(stderr, "cgroupfs-emu: mountpoint %s: not a directory\n", cmd.mountpoint.c_str());
    return 1;
  }
  // Existence only: for an unprivileged user the setuid fusermount3 opens it.
  if (stat("/dev/fuse", &st) != 0) {
    fprintf(stderr, "cgroupfs-emu: /dev/fuse: %s (is the fuse module loaded, and fuse3 installed?)\n",
            strerror(errno));
    return 1;
  }

  // The daemon works in /, so the state file's name is made absolute; a
  // state saved for other options is refused, as the kernel refuses to
  // mount an existing hierarchy with other options.
  std::unique_ptr<StateFile> state_file;
  std::optional<SavedState> saved_state;
  if (!cmd.state_path.empty()) {
    std::string path = cmd.state_path;
    const size_t slash = path.rfind('/');
    const std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
    char* real_dir = realpath(dir.c_str(), nullptr);
    if (!real_dir || access(real_dir, W_OK | X_OK) != 0) {
      fprintf(stderr, "cgroupfs-emu: --state %s: cannot write in %s: %s\n", path.c_str(), dir.c_str(), strerror(errno));
      free(real_dir);
      return 1;
    }
    path = std::string(real_dir) + (std::string_view(real_dir) == "/" ? "" : "/") + path.substr(slash + 1);
    free(real_dir);
    state_file = std::make_unique<StateFile>(path);
    std::string error;
    saved_state = state_file->load(&error);
    if (!error.empty()) {
      fprintf(stderr, "cgroupfs-emu: --state %s\n", error.c_str());
      return 1;
    }
    if (saved_state && saved_state->mount != mount_description) {
      fprintf(stderr,
              "cgroupfs-emu: --state %s was saved for a mount with '%s', not '%s': mount with those options, or "
              "remove the file to start afresh\n",
              path.c_str(), saved_state->mount.c_str(), mount_description.c_str());
      return 1;
    }
  }

  Controllers controllers;
  try {
    controllers = make_controllers(controller_settings);
  } catch (const std::invalid_argument& e) {
    fprintf(stderr, "cgroupfs-emu: bad mount options '%s': %s\n", cmd.options.c_str(), e.what());
    return 1;
  }
  setup_logging(true, cmd.debug);
  ProcTaskSource tasks;
  std::string refusal;
  std::unique_ptr<TaskEvents> events = make_task_events(cmd.tracker, tasks, &refusal);
  if (!events) {
    fprintf(stderr, "cgroupfs-emu: cannot follow forks and exits with --tracker=netlink: %s\n", refusal.c_str());
    return 1;
  }
  if (events->name() == "procscan" && cmd.tracker == TrackerKind::kAuto)
    spdlog::warn("process events connector unavailable ({}); scanning /proc instead", refusal);
  spdlog::info("following forks and exits with {}", events->name());
  Engine engine(tasks, std::move(controllers), hierarchies);
  engine.set_task_events(events.get());
  CgroupFs fs(engine, layout);

  // default_permissions: the kernel checks modes and owners as for any
  // file. allow_other as root: cgroupfs serves every user.
  std::string fuse_opts = "fsname=cgroup,subtype=cgroupfs-emu,default_permissions";
  if (getuid() == 0) fuse_opts += ",allow_other";
  for (const std::string& o : fuse_options) fuse_opts += "," + o;
  std::vector<const char*> fuse_argv = {argv[0], "-o", fuse_opts.c_str()};
  if (cmd.debug) spdlog::debug("FUSE options: {}", fuse_opts);
  fuse_args args = FUSE_ARGS_INIT(static_cast<int>(fuse_argv.size()), const_cast<char**>(fuse_argv.data()));

  fuse_session* session = fuse_session_new(&args, &CgroupFs::operations(), sizeof(fuse_lowlevel_ops), fs.userdata());
  if (!session) {
    fprintf(stderr, "cgroupfs-emu: cannot start a FUSE session with options '%s'\n", fuse_opts.c_str());
    return 1;
  }
  int status = 1;
  if (fuse_set_signal_handlers(session) == 0) {
    if (fuse_session_mount(session, cmd.mountpoint.c_str()) == 0) {
      spdlog::info("mounted on {} ({})", cmd.mountpoint,
                   cmd.has_options ? cmd.options : std::string("default layout"));
      if (fuse_daemonize(cmd.foreground) == 0) {
        if (!cmd.foreground) {
          spdlog::drop_all();
          setup_logging(false, cmd.debug);
        }
        // Threads start here: fuse_daemonize forks, and threads do not
        // survive a fork. They block the signals that stop the mount, so
        // that those reach the thread reading /dev/fuse and end its read.
        sigset_t stop_signals, previous;
        sigemptyset(&stop_signals);
        for (int sig : {SIGINT, SIGTERM, SIGHUP}) sigaddset(&stop_signals, sig);
        pthread_sigmask(SIG_BLOCK, &stop_signals, &previous);
        ReleaseAgentLauncher launcher;
        engine.on_release = [&launcher](Cgroup& cgroup) {
          launcher.launch(cgroup.hierarchy().release_agent, cgroup.path());
        };
        TaskWatcher watcher(engine, *events, events->name() == "procscan" ? 100 : 250,
                            [&fs] { fs.save_state_if_changed(); });
        pthread_sigmask(SIG_SETMASK, &previous, nullptr);
        if (state_file) {
          std::lock_guard lock(engine.mutex());
          if (saved_state) fs.restore_state(*saved_state);
          fs.keep_state(*state_file, mount_description);
          spdlog::info("keeping the state in {}", state_file->path());
        }
        // One thread: a move costs a few microseconds of work against tens
        // for the FUSE round trip, and more threads only add wake-ups.
        // A positive result is the signal that ended the loop: a clean stop.
        status = fuse_session_loop(session) < 0 ? 1 : 0;
        spdlog::info("unmounting {}", cmd.mountpoint);
        std::lock_guard lock(engine.mutex());
        engine.on_release = nullptr;
      }
      fuse_session_unmount(session);
    } else {
      fprintf(stderr, "cgroupfs-emu: cannot mount on %s%s\n", cmd.mountpoint.c_str(),
              access("/dev/fuse", R_OK | W_OK) != 0 ? ": this user cannot open /dev/fuse (it is usually mode 0666)"
                                                    : " (see the message above)");
    }
    fuse_remove_signal_handlers(session);
  }
  fuse_session_destroy(session);
  return status;
}
