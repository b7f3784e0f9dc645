#include "kiln/base/mem_file_system.h"

#include <algorithm>
#include <random>

#include <fmt/format.h>

namespace kiln {

class MemWritableFile final : public WritableFile {
 public:
  MemWritableFile(MemFileSystem* fs, std::shared_ptr<MemFileSystem::Inode> inode)
      : fs_(fs), inode_(std::move(inode)) {}
  Status Append(std::string_view data) override {
    MutexLock lock(&fs_->mu_);
    inode_->data.append(data);
    return Status::Ok();
  }
  Status Sync() override {
    MutexLock lock(&fs_->mu_);
    inode_->synced = inode_->data;
    return Status::Ok();
  }
  Status Close() override { return Status::Ok(); }

 private:
  MemFileSystem* fs_;
  std::shared_ptr<MemFileSystem::Inode> inode_;
};

namespace {

class MemSequentialFile final : public SequentialFile {
 public:
  explicit MemSequentialFile(std::string data) : data_(std::move(data)) {}
  Result<size_t> Read(char* buf, size_t n) override {
    size_t k = std::min(n, data_.size() - pos_);
    std::copy_n(data_.data() + pos_, k, buf);
    pos_ += k;
    return k;
  }
  Status Seek(uint64_t offset) override {
    pos_ = std::min<size_t>(offset, data_.size());
    return Status::Ok();
  }

 private:
  std::string data_;
  size_t pos_ = 0;
};

Status NoFile(const std::string& path) {
  return NotFoundError(fmt::format("{}: No such file or directory", path));
}

}  // namespace

Result<std::unique_ptr<WritableFile>> MemFileSystem::NewWritableFile(const std::string& path) {
  MutexLock lock(&mu_);
  if (!dirs_.count(DirName(path))) return NoFile(DirName(path));
  auto inode = std::make_shared<Inode>();
  live_[path] = inode;
  return std::unique_ptr<WritableFile>(new MemWritableFile(this, inode));
}

Result<std::unique_ptr<SequentialFile>> MemFileSystem::NewSequentialFile(const std::string& path) {
  MutexLock lock(&mu_);
  auto it = live_.find(path);
  if (it == live_.end()) return NoFile(path);
  return std::unique_ptr<SequentialFile>(new MemSequentialFile(it->second->data));
}

Result<std::string> MemFileSystem::ReadFile(const std::string& path, uint64_t max_bytes) {
  MutexLock lock(&mu_);
  auto it = live_.find(path);
  if (it == live_.end()) return NoFile(path);
  if (it->second->data.size() > max_bytes) {
    return ResourceExhaustedError(fmt::format("{} is over the limit of {} bytes", path, max_bytes));
  }
  return it->second->data;
}

Result<uint64_t> MemFileSystem::FileSize(const std::string& path) {
  MutexLock lock(&mu_);
  auto it = live_.find(path);
  if (it == live_.end()) return NoFile(path);
  return static_cast<uint64_t>(it->second->data.size());
}

Result<bool> MemFileSystem::Exists(const std::string& path) {
  MutexLock lock(&mu_);
  return live_.count(path) > 0 || dirs_.count(path) > 0;
}

Result<std::vector<std::string>> MemFileSystem::ListDir(const std::string& path) {
  MutexLock lock(&mu_);
  if (!dirs_.count(path)) return NoFile(path);
  std::set<std::string> names;
  auto child = [&](const std::string& p) {
    if (DirName(p) == path) names.insert(p.substr(path.size() + 1));
  };
  for (const auto& [p, inode] : live_) child(p);
  for (const auto& d : dirs_) child(d);
  return std::vector<std::string>(names.begin(), names.end());
}

Status MemFileSystem::CreateDirs(const std::string& path) {
  MutexLock lock(&mu_);
  for (std::string p = path; !p.empty() && p != "." && p != "/"; p = DirName(p)) {
    if (live_.count(p)) return FailedPreconditionError(fmt::format("{} is a file", p));
    dirs_.insert(p);  // directories are modelled as always durable
  }
  return Status::Ok();
}

Status MemFileSystem::Rename(const std::string& from, const std::string& to) {
  MutexLock lock(&mu_);
  auto it = live_.find(from);
  if (it == live_.end()) return NoFile(from);
  live_[to] = it->second;
  live_.erase(from);
  return Status::Ok();
}

Status MemFileSystem::Remove(const std::string& path) {
  MutexLock lock(&mu_);
  if (live_.erase(path) == 0) return NoFile(path);
  return Status::Ok();
}

Status MemFileSystem::SyncDir(const std::string& path) {
  MutexLock lock(&mu_);
  for (auto it = durable_.begin(); it != durable_.end();) {
    it = DirName(it->first) == path ? durable_.erase(it) : std::next(it);
  }
  for (const auto& [p, inode] : live_) {
    if (DirName(p) == path) durable_[p] = inode;
  }
  return Status::Ok();
}

Result<int64_t> MemFileSystem::ModifiedTime(const std::string& path) {
  MutexLock lock(&mu_);
  if (!live_.count(path)) return NoFile(path);
  return int64_t{0};
}

void MemFileSystem::Crash(CrashMode mode, uint64_t seed) {
  MutexLock lock(&mu_);
  std::mt19937_64 rng(seed);
  live_.clear();
  for (auto& [path, old] : durable_) {
    auto inode = std::make_shared<Inode>();
    inode->data = old->synced;
    const std::string& all = old->data;
    // Bytes appended after the last sync share the synced prefix when the file only grew.
    bool grew =
        all.size() > old->synced.size() && all.compare(0, old->synced.size(), old->synced) == 0;
    if (grew && mode == CrashMode::kKeepRandomPrefix) {
      size_t extra = rng() % (all.size() - old->synced.size() + 1);
      inode->data = all.substr(0, old->synced.size() + extra);
    } else if (grew && mode == CrashMode::kGarbleUnsynced) {
      inode->data = all;
      for (size_t i = old->synced.size(); i < inode->data.size(); i += 1 + rng() % 64) {
        inode->data[i] = static_cast<char>(inode->data[i] ^ (1 << (rng() % 8)));
      }
    }
    inode->synced = inode->data;
    live_[path] = inode;
  }
  durable_ = live_;
}

Status MemFileSystem::Corrupt(const std::string& path, const std::string& bytes) {
  MutexLock lock(&mu_);
  auto it = live_.find(path);
  if (it == live_.end()) return NoFile(path);
  it->second->data = bytes;
  it->second->synced = bytes;
  return Status::Ok();
}

// ---------------------------------------------------------------------------------------------

namespace {

Status FaultStatus(FaultInjectingFileSystem::Fault f, std::string_view what) {
  switch (f) {
    case FaultInjectingFileSystem::Fault::kEnospc:
    case FaultInjectingFileSystem::Fault::kShortWrite:
      return ErrnoToStatus(ENOSPC, fmt::format("{} (injected)", what));
    case FaultInjectingFileSystem::Fault::kPowerLoss:
      return UnavailableError(fmt::format("{}: simulated power loss", what));
    default:
      return ErrnoToStatus(EIO, fmt::format("{} (injected)", what));
  }
}

class FaultWritableFile final : public WritableFile {
 public:
  FaultWritableFile(FaultInjectingFileSystem* fs, std::unique_ptr<WritableFile> base,
                    std::string path)
      : fs_(fs), base_(std::move(base)), path_(std::move(path)) {}
  Status Append(std::string_view data) override {
    auto f = fs_->Tick();
    if (f == FaultInjectingFileSystem::Fault::kShortWrite) {
      base_->Append(data.substr(0, data.size() / 2)).IgnoreError();
    }
    if (f != FaultInjectingFileSystem::Fault::kNone) return FaultStatus(f, "write " + path_);
    return base_->Append(data);
  }
  Status Sync() override {
    auto f = fs_->Tick();
    if (f != FaultInjectingFileSystem::Fault::kNone) return FaultStatus(f, "fsync " + path_);
    return base_->Sync();
  }
  Status Close() override { return base_->Close(); }

 private:
  FaultInjectingFileSystem* fs_;
  std::unique_ptr<WritableFile> base_;
  std::string path_;
};

}  // namespace

void FaultInjectingFileSystem::Arm(Fault fault, int64_t n) {
  MutexLock lock(&mu_);
  fault_ = fault;
  fire_at_ = n;
  ops_ = 0;
  fired_ = false;
  dead_ = false;
}

int64_t FaultInjectingFileSystem::ops() const {
  MutexLock lock(&mu_);
  return ops_;
}

bool FaultInjectingFileSystem::fired() const {
  MutexLock lock(&mu_);
  return fired_;
}

FaultInjectingFileSystem::Fault FaultInjectingFileSystem::Tick() {
  MutexLock lock(&mu_);
  ++ops_;
  if (dead_) return Fault::kPowerLoss;
  if (fault_ == Fault::kNone || ops_ != fire_at_) return Fault::kNone;
  fired_ = true;
  if (fault_ == Fault::kPowerLoss) dead_ = true;
  return fault_;
}

Result<std::unique_ptr<WritableFile>> FaultInjectingFileSystem::NewWritableFile(
    const std::string& path) {
  {
    MutexLock lock(&mu_);
    if (dead_) return FaultStatus(Fault::kPowerLoss, "create " + path);
  }
  KILN_ASSIGN_OR_RETURN(auto base, base_->NewWritableFile(path));
  return std::unique_ptr<WritableFile>(new FaultWritableFile(this, std::move(base), path));
}

Status FaultInjectingFileSystem::CreateDirs(const std::string& path) {
  {
    MutexLock lock(&mu_);
    if (dead_) return FaultStatus(Fault::kPowerLoss, "mkdir " + path);
  }
  return base_->CreateDirs(path);
}

Status FaultInjectingFileSystem::Rename(const std::string& from, const std::string& to) {
  auto f = Tick();
  if (f != Fault::kNone) return FaultStatus(f, "rename " + from);
  return base_->Rename(from, to);
}

Status FaultInjectingFileSystem::Remove(const std::string& path) {
  auto f = Tick();
  if (f != Fault::kNone) return FaultStatus(f, "remove " + path);
  return base_->Remove(path);
}

Status FaultInjectingFileSystem::SyncDir(const std::string& path) {
  auto f = Tick();
  if (f != Fault::kNone) return FaultStatus(f, "fsync dir " + path);
  return base_->SyncDir(path);
}

}  // namespace kiln
