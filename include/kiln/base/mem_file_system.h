// MemFileSystem: an in-memory FileSystem that models durability, for crash tests.
//
// Each file remembers the bytes it held at its last Sync(); each name remembers whether its
// directory was synced since it was created, renamed or removed. Crash() turns the file system
// into what a power loss would leave: unsynced names revert, unsynced bytes are dropped (or,
// with other CrashModes, garbled or cut to a random prefix).
// Thread-safety: thread-safe.
#pragma once

#include <map>
#include <memory>
#include <set>

#include "kiln/base/file_system.h"
#include "kiln/base/mutex.h"

namespace kiln {

enum class CrashMode {
  kDropUnsynced,      // unsynced bytes vanish
  kKeepRandomPrefix,  // a random prefix of the unsynced tail survives
  kGarbleUnsynced,    // the unsynced tail survives with random bit flips
};

class MemFileSystem final : public FileSystem {
 public:
  MemFileSystem() = default;

  Result<std::unique_ptr<WritableFile>> NewWritableFile(const std::string& path) override;
  Result<std::unique_ptr<SequentialFile>> NewSequentialFile(const std::string& path) override;
  Result<std::string> ReadFile(const std::string& path, uint64_t max_bytes) override;
  Result<uint64_t> FileSize(const std::string& path) override;
  Result<bool> Exists(const std::string& path) override;
  Result<std::vector<std::string>> ListDir(const std::string& path) override;
  Status CreateDirs(const std::string& path) override;
  Status Rename(const std::string& from, const std::string& to) override;
  Status Remove(const std::string& path) override;
  Status SyncDir(const std::string& path) override;
  Result<int64_t> ModifiedTime(const std::string& path) override;

  // Simulates a power loss; see CrashMode. Open file handles become stale.
  void Crash(CrashMode mode, uint64_t seed);
  // Test helper: overwrite a file's bytes (both live and durable), e.g. to flip bits.
  Status Corrupt(const std::string& path, const std::string& bytes);

 private:
  struct Inode {
    std::string data;
    std::string synced;
  };
  friend class MemWritableFile;

  Mutex mu_;
  std::map<std::string, std::shared_ptr<Inode>> live_ KILN_GUARDED_BY(mu_);
  std::map<std::string, std::shared_ptr<Inode>> durable_ KILN_GUARDED_BY(mu_);
  std::set<std::string> dirs_ KILN_GUARDED_BY(mu_);
};

// Fails one chosen operation, to prove every error path leaves storage consistent.
// Operations are counted in order across Append, Sync, Rename, Remove and SyncDir.
class FaultInjectingFileSystem final : public FileSystem {
 public:
  enum class Fault {
    kNone,
    kEio,         // the operation fails with EIO and has no effect
    kEnospc,      // the operation fails with ENOSPC
    kShortWrite,  // an Append writes half its bytes, then fails with ENOSPC
    kPowerLoss,   // the operation and every later one fail (call MemFileSystem::Crash after)
  };

  explicit FaultInjectingFileSystem(FileSystem* base) : base_(base) {}

  // Arms the fault for the `n`-th (1-based) counted operation.
  void Arm(Fault fault, int64_t n);
  int64_t ops() const;
  bool fired() const;

  Result<std::unique_ptr<WritableFile>> NewWritableFile(const std::string& path) override;
  Result<std::unique_ptr<SequentialFile>> NewSequentialFile(const std::string& path) override {
    return base_->NewSequentialFile(path);
  }
  Result<std::string> ReadFile(const std::string& path, uint64_t max_bytes) override {
    return base_->ReadFile(path, max_bytes);
  }
  Result<uint64_t> FileSize(const std::string& path) override { return base_->FileSize(path); }
  Result<bool> Exists(const std::string& path) override { return base_->Exists(path); }
  Result<std::vector<std::string>> ListDir(const std::string& path) override {
    return base_->ListDir(path);
  }
  Status CreateDirs(const std::string& path) override;
  Status Rename(const std::string& from, const std::string& to) override;
  Status Remove(const std::string& path) override;
  Status SyncDir(const std::string& path) override;
  Result<int64_t> ModifiedTime(const std::string& path) override {
    return base_->ModifiedTime(path);
  }

  // Counts one operation; returns the fault to apply now (kNone if none).
  Fault Tick();

 private:
  FileSystem* base_;
  mutable Mutex mu_;
  Fault fault_ KILN_GUARDED_BY(mu_) = Fault::kNone;
  int64_t fire_at_ KILN_GUARDED_BY(mu_) = 0;
  int64_t ops_ KILN_GUARDED_BY(mu_) = 0;
  bool fired_ KILN_GUARDED_BY(mu_) = false;
  bool dead_ KILN_GUARDED_BY(mu_) = false;
};

}  // namespace kiln
