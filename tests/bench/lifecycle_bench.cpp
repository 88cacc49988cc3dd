// Issue 3's benchmark: how soon a forked child is listed in its parent's
// cgroup (fork-to-visible latency), and whether the emulator keeps up with
// a fork storm, per tracking mechanism, beside the kernel's cgroupfs.
// Printed numbers, not a test: `scripts/bench.sh` runs it.
#include <fcntl.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

bool lists(const std::string& tasks_file, pid_t pid) {
  std::istringstream in(slurp(tasks_file));
  pid_t p;
  while (in >> p)
    if (p == pid) return true;
  return false;
}

bool write_file(const std::string& path, const std::string& text) {
  int fd = open(path.c_str(), O_WRONLY | O_TRUNC);
  if (fd < 0) return false;
  bool ok = write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  close(fd);
  return ok;
}

bool mounted(const std::string& dir) {
  return slurp("/proc/self/mountinfo").find(" " + dir + " ") != std::string::npos;
}

struct Backend {
  std::string label;
  std::string tracker;  // empty: the kernel
  std::string dir;
  pid_t daemon = -1;

  bool start(std::string* why) {
    char tmpl[] = "/tmp/cgemu-lifebench.XXXXXX";
    dir = mkdtemp(tmpl);
    const std::string name = "zz_lifebench_" + std::to_string(getpid()) + "_" + (tracker.empty() ? "k" : tracker);
    if (tracker.empty()) {
      if (geteuid() != 0) return *why = "not root", false;
      if (mount("cgroup", dir.c_str(), "cgroup", 0, ("none,name=" + name).c_str()) != 0)
        return *why = std::string("mount: ") + strerror(errno), false;
    } else {
      daemon = fork();
      if (daemon == 0) {
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        int null_fd = open("/dev/null", O_WRONLY);
        dup2(null_fd, 2);
        execl(CGEMU_BIN, CGEMU_BIN, "-f", ("--tracker=" + tracker).c_str(), "-o", ("none,name=" + name).c_str(),
              dir.c_str(), nullptr);
        _exit(127);
      }
      for (int i = 0; i < 500 && !mounted(dir); ++i) usleep(10000);
      if (!mounted(dir)) return *why = "the emulator did not mount", false;
    }
    return mkdir((dir + "/X").c_str(), 0755) == 0 || (*why = "mkdir X failed", false);
  }

  void stop() {
    write_file(dir + "/cgroup.procs", std::to_string(getpid()));
    rmdir((dir + "/X").c_str());
    if (daemon > 0) {
      kill(daemon, SIGTERM);
      waitpid(daemon, nullptr, 0);
    } else {
      umount2(dir.c_str(), 0);
    }
    rmdir(dir.c_str());
  }
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

void run(Backend& b, int samples, int storm) {
  std::string why;
  if (!b.start(&why)) {
    printf("| %s | skipped: %s | | |\n", b.label.c_str(), why.c_str());
    b.stop();
    return;
  }
  const std::string x = b.dir + "/X/tasks";
  // This process moves into X; its children must appear there.
  if (!write_file(b.dir + "/X/cgroup.procs", std::to_string(getpid()))) {
    printf("| %s | skipped: cannot move into X | | |\n", b.label.c_str());
    b.stop();
    return;
  }
  std::vector<double> latencies;
  for (int i = 0; i < samples; ++i) {
    auto t0 = Clock::now();
    pid_t child = fork();
    if (child == 0) {
      pause();
      _exit(0);
    }
    while (!lists(x, child)) {
    }
    latencies.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
    kill(child, SIGKILL);
    waitpid(child, nullptr, 0);
  }
  // A storm: children that exit at once, and one in ten that stays.
  std::vector<pid_t> kept;
  auto t0 = Clock::now();
  for (int i = 0; i < storm; ++i) {
    pid_t child = fork();
    if (child == 0) {
      if (i % 10 == 0) pause();
      _exit(0);
    }
    if (i % 10 == 0) kept.push_back(child);
    else waitpid(child, nullptr, 0);
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  std::istringstream listed_text(slurp(x));
  std::vector<pid_t> listed;
  for (pid_t p; listed_text >> p;) listed.push_back(p);
  size_t found = 0;
  for (pid_t k : kept) found += std::count(listed.begin(), listed.end(), k) ? 1 : 0;
  printf("| %s | %.0f µs | %.0f forks/s | %zu of %zu long-lived children listed in X |\n", b.label.c_str(),
         median(latencies), storm / seconds, found, kept.size());
  fflush(stdout);
  for (pid_t k : kept) kill(k, SIGKILL);
  for (pid_t k : kept) waitpid(k, nullptr, 0);
  b.stop();
}

}  // namespace

int main(int argc, char** argv) {
  int samples = 200, storm = 3000;
  if (argc > 1 && strcmp(argv[1], "--long") == 0) samples = 1000, storm = 20000;
  fprintf(stderr, "lifecycle bench: %d latency samples, a storm of %d forks per backend\n", samples, storm);
  printf("| backend | fork-to-visible (median) | storm fork rate | kept up |\n|---|---|---|---|\n");
  Backend backends[] = {{"emulator, netlink", "netlink", {}, -1},
                        {"emulator, procscan", "procscan", {}, -1},
                        {"kernel cgroupfs", "", {}, -1}};
  for (Backend& b : backends) {
    fprintf(stderr, "lifecycle bench: %s\n", b.label.c_str());
    run(b, samples, storm);
  }
}
