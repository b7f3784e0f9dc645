// An annotated mutex for clang's -Wthread-safety analysis, and its RAII guard.
//
//   Mutex mu_;
//   int count_ KILN_GUARDED_BY(mu_);
//   void Inc() { MutexLock l(&mu_); ++count_; }
//
// Never hold a Mutex across IO or inference (docs/design/conventions.md).
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>

#if defined(__clang__)
#define KILN_THREAD_ANNOTATION_(x) __attribute__((x))
#else
#define KILN_THREAD_ANNOTATION_(x)
#endif

#define KILN_CAPABILITY(x) KILN_THREAD_ANNOTATION_(capability(x))
#define KILN_SCOPED_CAPABILITY KILN_THREAD_ANNOTATION_(scoped_lockable)
#define KILN_GUARDED_BY(x) KILN_THREAD_ANNOTATION_(guarded_by(x))
#define KILN_PT_GUARDED_BY(x) KILN_THREAD_ANNOTATION_(pt_guarded_by(x))
#define KILN_REQUIRES(...) KILN_THREAD_ANNOTATION_(requires_capability(__VA_ARGS__))
#define KILN_EXCLUDES(...) KILN_THREAD_ANNOTATION_(locks_excluded(__VA_ARGS__))
#define KILN_ACQUIRE(...) KILN_THREAD_ANNOTATION_(acquire_capability(__VA_ARGS__))
#define KILN_RELEASE(...) KILN_THREAD_ANNOTATION_(release_capability(__VA_ARGS__))

namespace kiln {

class KILN_CAPABILITY("mutex") Mutex {
 public:
  Mutex() = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  void Lock() KILN_ACQUIRE() { mu_.lock(); }
  void Unlock() KILN_RELEASE() { mu_.unlock(); }

 private:
  friend class CondVar;
  std::mutex mu_;
};

class KILN_SCOPED_CAPABILITY MutexLock {
 public:
  explicit MutexLock(Mutex* mu) KILN_ACQUIRE(mu) : mu_(mu) { mu_->Lock(); }
  ~MutexLock() KILN_RELEASE() { mu_->Unlock(); }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

 private:
  Mutex* mu_;
};

// Condition variable bound to a kiln::Mutex. Wait() must be called with `mu` held.
class CondVar {
 public:
  void Wait(Mutex* mu) KILN_REQUIRES(mu) {
    std::unique_lock<std::mutex> lock(mu->mu_, std::adopt_lock);
    cv_.wait(lock);
    lock.release();
  }
  // Waits until signalled or `until`; false on the timeout.
  template <class Clock, class Duration>
  bool WaitUntil(Mutex* mu, std::chrono::time_point<Clock, Duration> until) KILN_REQUIRES(mu) {
    std::unique_lock<std::mutex> lock(mu->mu_, std::adopt_lock);
    const bool signalled = cv_.wait_until(lock, until) == std::cv_status::no_timeout;
    lock.release();
    return signalled;
  }
  void Signal() { cv_.notify_one(); }
  void SignalAll() { cv_.notify_all(); }

 private:
  std::condition_variable cv_;
};

}  // namespace kiln
