// ExecContext: the explicit runtime context every engine call takes — a thread cap, a deadline,
// cancellation and a seed — as a cheap view over the process's one ThreadPool. No globals, no
// environment variables (docs/design/conventions.md).
//
//   ThreadPool pool(0);                       // the entry point owns the process's pool
//   ExecContext ctx(ExecContext::Options{.threads = 4, .seed = 7, .pool = &pool});
//   ParallelFor(ctx.WithThreads(2), n, body);  // a narrower view: same pool, same cancellation
//   ctx.Cancel();                             // from any thread: every copy and view of ctx
//                                             // then returns Cancelled from CheckAlive()
//
// Copies and With*() views share the pool and the cancellation state; a context made from
// Options has a cancellation state of its own. Without Options::pool a context makes a pool on
// first use and shares it with its copies (tests, library callers); the entry points (`kiln`,
// the worker, the server) pass theirs so that one process has one pool. The pool grows to the
// largest thread cap used with it. A pool's own tasks never hold the last copy of a context
// that owns it (ParallelFor's tasks hold only references).
//
// Thread-safety: every method is thread-safe; a context is copied by value (two pointers).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>

#include "kiln/base/status.h"

namespace kiln {

class ThreadPool;

class ExecContext {
 public:
  using Clock = std::chrono::steady_clock;
  struct Options {
    int threads = 0;  // 0 = hardware concurrency
    uint64_t seed = 42;
    std::optional<Clock::time_point> deadline;
    ThreadPool* pool = nullptr;  // not owned; must outlive the context and its copies
  };

  ExecContext();
  explicit ExecContext(const Options& options);

  int threads() const { return threads_; }
  uint64_t seed() const { return seed_; }
  std::optional<Clock::time_point> deadline() const { return deadline_; }
  void Cancel() const;
  bool cancelled() const;
  // OK, Cancelled, or DeadlineExceeded.
  Status CheckAlive() const;

  // Views sharing this context's pool and cancellation. WithThreads: n > 0 replaces the cap (it
  // may be larger: the pool grows); n <= 0 keeps it. WithDeadline keeps the earlier deadline.
  ExecContext WithThreads(int n) const;
  ExecContext WithSeed(uint64_t seed) const;
  ExecContext WithDeadline(Clock::time_point deadline) const;

  // The pool, with at least threads() - 1 workers (the caller of ParallelFor works too).
  ThreadPool& pool() const;

 private:
  struct Shared;
  int threads_;
  uint64_t seed_;
  std::optional<Clock::time_point> deadline_;
  std::shared_ptr<Shared> shared_;
};

}  // namespace kiln
