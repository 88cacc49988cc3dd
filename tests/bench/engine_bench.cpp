// Engine-only benchmarks (Google Benchmark) on the fake host of the unit
// tests: what a move, a whole-group migration and a `tasks` read cost inside
// the daemon without FUSE and without /proc, and the engine's memory per
// tracked task.
//
//   bench_engine [--benchmark_filter=REGEX] [--benchmark_min_time=SECONDS]
//
// The fake host (tests/unit/fake_task_source.h) is a std::map: its lookups
// (O(log n)) and its threads() (a scan of every task) are part of the times,
// much as the /proc reads are part of the daemon's.
#include <benchmark/benchmark.h>
#include <malloc.h>
#include <pthread.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "engine/host_threads.h"
#include "engine/proc_task_source.h"
#include "fs/v1_core_files.h"
#include "tests/unit/fake_task_source.h"

namespace cgemu {
namespace {

using testing::FakeTaskSource;

// A fake host with one thread group of `threads` tasks (tgid 1000) and an
// engine with one named hierarchy holding cgroups a and b, as the mount
// benchmarks use.
struct World {
  explicit World(int threads, int extra_processes = 0) {
    for (int i = 0; i < threads; ++i) host.add(kLeader + i, kLeader);
    for (int i = 0; i < extra_processes; ++i) host.add(kLeader + threads + i, kLeader + threads + i);
    engine = std::make_unique<Engine>(host, Controllers{}, std::vector<HierarchyConfig>{{"bench", 0, false, ""}});
    Cgroup& root = engine->hierarchies()[0]->root();
    std::shared_ptr<Cgroup> ca, cb;
    if (engine->mkdir(root, "a", &ca) || engine->mkdir(root, "b", &cb)) abort();
    a = ca.get();
    b = cb.get();
  }
  Cgroup& root() { return engine->hierarchies()[0]->root(); }
  // What a write of the leader's pid to dst/cgroup.procs does in the engine.
  void move(Cgroup& dst, bool threadgroup = true) {
    TaskInfo target;
    if (engine->find_migration_target(kLeader, 0, threadgroup, &target)) abort();
    if (engine->attach(dst, target, threadgroup)) abort();
  }

  static constexpr pid_t kLeader = 1000;
  FakeTaskSource host;
  std::unique_ptr<Engine> engine;
  Cgroup* a = nullptr;
  Cgroup* b = nullptr;
};

const ControlFile& core_file(std::string_view name) {
  for (const ControlFile& cft : v1_core_files())
    if (cft.name == name) return cft;
  abort();
}

// One thread group of N tasks moved between a and b, both tracked: the
// kernel's css_set migration of the whole group (N = 1 is the single-threaded
// `echo PID > cgroup.procs`). Each iteration is two moves.
void BM_MigrateThreadGroup(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  World w(n);
  w.move(*w.a);
  for (auto _ : state) {
    w.move(*w.b);
    w.move(*w.a);
  }
  if (w.engine->nr_tracked_tasks() != static_cast<size_t>(n)) state.SkipWithError("not every task is tracked");
  state.SetItemsProcessed(state.iterations() * 2 * n);
  state.counters["moves/s"] = benchmark::Counter(static_cast<double>(state.iterations() * 2), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_MigrateThreadGroup)->Arg(1)->Arg(1000)->Arg(10000)->Arg(100000)->Unit(benchmark::kMicrosecond);

// The same group moved out of the root and back: the records of every task
// are made and dropped each time (tracking starts and stops).
void BM_TrackAndUntrack(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  World w(n);
  for (auto _ : state) {
    w.move(*w.a);
    w.move(w.root());
  }
  if (w.engine->nr_tracked_tasks() != 0) state.SkipWithError("tasks stayed tracked in the root");
  state.SetItemsProcessed(state.iterations() * 2 * n);
}
BENCHMARK(BM_TrackAndUntrack)->Arg(1)->Arg(100000)->Unit(benchmark::kMicrosecond);

// A thread moved alone (a write to `tasks`) out of a group of 10000 whose
// other threads stay in a: the cost must not depend on the group's size.
void BM_MoveOneThreadOfBigGroup(benchmark::State& state) {
  World w(10000);
  w.move(*w.a);
  for (auto _ : state) {
    w.move(*w.b, false);
    w.move(*w.a, false);
  }
  state.SetItemsProcessed(state.iterations() * 2);
}
BENCHMARK(BM_MoveOneThreadOfBigGroup)->Unit(benchmark::kMicrosecond);

// The engine's part of `cat tasks` of a cgroup holding N threads: the
// liveness check of every member, the sort and the formatting.
void BM_ReadTasks(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  World w(n);
  w.move(*w.a);
  const ControlFile& tasks = core_file("tasks");
  FileOpener opener;
  size_t bytes = 0;
  for (auto _ : state) {
    std::string out;
    FileCall call{*w.engine, *w.a, opener, 1};
    if (tasks.read(call, out)) abort();
    bytes = out.size();
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(state.iterations() * bytes);
  state.SetItemsProcessed(state.iterations() * n);
}
BENCHMARK(BM_ReadTasks)->Arg(10000)->Arg(100000)->Unit(benchmark::kMicrosecond);

// `cat tasks` of a root: every host task is listed (here a host of N
// single-threaded processes, none of them tracked).
void BM_ReadRootTasks(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  World w(1, n - 1);
  const ControlFile& tasks = core_file("tasks");
  FileOpener opener;
  for (auto _ : state) {
    std::string out;
    FileCall call{*w.engine, w.root(), opener, 1};
    if (tasks.read(call, out)) abort();
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(state.iterations() * n);
}
BENCHMARK(BM_ReadRootTasks)->Arg(10000)->Unit(benchmark::kMicrosecond);

// mkdir then rmdir of 1000 cgroups in the engine.
void BM_MkdirRmdir1000(benchmark::State& state) {
  World w(1);
  std::vector<std::string> names;
  for (int i = 0; i < 1000; ++i) names.push_back("m" + std::to_string(i));
  std::vector<std::shared_ptr<Cgroup>> made(names.size());
  for (auto _ : state) {
    for (size_t i = 0; i < names.size(); ++i)
      if (w.engine->mkdir(w.root(), names[i], &made[i])) abort();
    for (size_t i = 0; i < names.size(); ++i)
      if (w.engine->rmdir(*made[i])) abort();
    for (auto& m : made) m.reset();
  }
  state.SetItemsProcessed(state.iterations() * 2000);
}
BENCHMARK(BM_MkdirRmdir1000)->Unit(benchmark::kMicrosecond);

// The engine's memory per tracked task: heap in use (mallinfo2) before and
// after a 100000-thread group is moved out of the root, divided by 100000.
// The fake host and the engine exist before the first reading, so only what
// tracking adds is counted: the task records, the registry's nodes and
// buckets, and the css_set.
void BM_MemoryPerTrackedTask(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  double per_task = 0;
  for (auto _ : state) {
    state.PauseTiming();
    auto w = std::make_unique<World>(n);
    malloc_trim(0);
    const size_t before = mallinfo2().uordblks;
    state.ResumeTiming();
    w->move(*w->a);
    state.PauseTiming();
    const size_t after = mallinfo2().uordblks;
    if (w->engine->nr_tracked_tasks() != static_cast<size_t>(n)) state.SkipWithError("not every task is tracked");
    per_task = static_cast<double>(after - before) / n;
    w.reset();
    state.ResumeTiming();
  }
  state.counters["bytes/task"] = per_task;
  state.counters["tasks"] = n;
}
BENCHMARK(BM_MemoryPerTrackedTask)->Arg(100000)->Iterations(1)->Unit(benchmark::kMillisecond);

// What the daemon also keeps for every host thread, tracked or not: the
// index of threads by process that fork and exit events maintain
// (engine/host_threads.h), measured as above over a host of n threads in
// processes of 10.
void BM_MemoryPerHostThread(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  double per_thread = 0;
  for (auto _ : state) {
    state.PauseTiming();
    testing::FakeTaskSource host;
    for (int tid = 1000; tid < 1000 + n; ++tid) host.add(tid, tid - tid % 10);
    auto index = std::make_unique<HostThreads>();
    malloc_trim(0);
    const size_t before = mallinfo2().uordblks;
    state.ResumeTiming();
    index->reset(host);
    state.PauseTiming();
    per_thread = static_cast<double>(mallinfo2().uordblks - before) / n;
    index.reset();
    state.ResumeTiming();
  }
  state.counters["bytes/thread"] = per_thread;
}
BENCHMARK(BM_MemoryPerHostThread)->Arg(100000)->Iterations(1)->Unit(benchmark::kMillisecond);

// ---- the real host: what the daemon's TaskSource costs per call -------------
// (These grow this process to 10000 threads, so they are registered last.)

void* block_forever(void*) {
  for (;;) pause();
}

// Extra threads of this process, blocked until the process ends, so that
// /proc/<pid>/task has `n` entries in all.
void grow_threads(int n) {
  static int have = 1;
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, 64 * 1024);
  for (; have < n; ++have) {
    pthread_t t;
    if (pthread_create(&t, &attr, block_forever, nullptr) != 0) abort();
    pthread_detach(t);
  }
  pthread_attr_destroy(&attr);
}

// ProcTaskSource::task() of this process's leader, in a group of N threads:
// what each write of a pid starts with, and what a group move does per thread.
void BM_ProcTask(benchmark::State& state) {
  grow_threads(static_cast<int>(state.range(0)));
  ProcTaskSource proc;
  const pid_t self = getpid();
  for (auto _ : state) benchmark::DoNotOptimize(proc.task(self));
}

// ProcTaskSource::threads(): the listing of /proc/<pid>/task a group move makes.
void BM_ProcThreads(benchmark::State& state) {
  grow_threads(static_cast<int>(state.range(0)));
  ProcTaskSource proc;
  const pid_t self = getpid();
  for (auto _ : state) benchmark::DoNotOptimize(proc.threads(self));
  state.SetItemsProcessed(state.iterations() * state.range(0));
}

// Threads are only ever added: sizes in increasing order.
BENCHMARK(BM_ProcTask)->Arg(1)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_ProcThreads)->Arg(1)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_ProcTask)->Arg(1000)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_ProcThreads)->Arg(1000)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_ProcTask)->Arg(10000)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_ProcThreads)->Arg(10000)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace cgemu

BENCHMARK_MAIN();
