#include "kiln/storage/blob_store.h"

#include <atomic>
#include <random>
#include <set>

#include <fmt/format.h>

#include "kiln/base/hash.h"

namespace kiln::storage {

bool IsObjectName(std::string_view h) {
  if (h.size() != 64) return false;
  for (char c : h) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

Status BlobStore::Init() { return fs_->CreateDirs(root_); }

std::string BlobStore::PathOf(std::string_view hash) const {
  return fmt::format("{}/{}/{}", root_, hash.substr(0, 2), hash.substr(2));
}

Result<std::string> BlobStore::Read(std::string_view hash, uint64_t max_bytes) const {
  if (!IsObjectName(hash)) return InvalidArgumentError("malformed object name");
  auto r = fs_->ReadFile(PathOf(hash), max_bytes);
  if (!r.ok() && r.status().code() == StatusCode::kNotFound) {
    return DataLossError(fmt::format("object {} is missing", hash));
  }
  return r;
}

Result<std::string> BlobStore::ReadVerified(std::string_view hash, uint64_t max_bytes) const {
  KILN_ASSIGN_OR_RETURN(std::string bytes, Read(hash, max_bytes));
  if (Sha256Hex(bytes) != hash) {
    return DataLossError(fmt::format(
        "object {} does not match its SHA-256: it was replaced or damaged on disk", hash));
  }
  return bytes;
}

Result<bool> BlobStore::Contains(std::string_view hash) const {
  if (!IsObjectName(hash)) return InvalidArgumentError("malformed object name");
  return fs_->Exists(PathOf(hash));
}

Status BlobStore::Remove(std::string_view hash) {
  if (!IsObjectName(hash)) return InvalidArgumentError("malformed object name");
  return fs_->Remove(PathOf(hash));
}

Result<std::vector<std::string>> BlobStore::List() const {
  std::vector<std::string> out;
  KILN_ASSIGN_OR_RETURN(auto dirs, fs_->ListDir(root_));
  for (const auto& d : dirs) {
    if (d.size() != 2) continue;
    KILN_ASSIGN_OR_RETURN(auto names, fs_->ListDir(JoinPath(root_, d)));
    for (const auto& n : names) {
      if (IsObjectName(d + n)) out.push_back(d + n);
    }
  }
  return out;
}

Result<uint64_t> BlobStore::RemoveTempFiles() {
  uint64_t removed = 0;
  KILN_ASSIGN_OR_RETURN(auto dirs, fs_->ListDir(root_));
  for (const auto& d : dirs) {
    const std::string dir = JoinPath(root_, d);
    auto names = fs_->ListDir(dir);
    if (!names.ok()) continue;  // not a directory
    for (const auto& n : *names) {
      if (!IsTempFileName(n)) continue;
      KILN_RETURN_IF_ERROR(fs_->Remove(JoinPath(dir, n)));
      ++removed;
    }
  }
  return removed;
}

Result<std::string> BlobStore::Put(std::string_view bytes) {
  Batch batch(this);
  KILN_ASSIGN_OR_RETURN(std::string hash, batch.Add(bytes));
  KILN_RETURN_IF_ERROR(batch.Publish());
  return hash;
}

// ---- Batch -----------------------------------------------------------------------------------

namespace {
std::string TempName(const std::string& final_path) {
  static std::atomic<uint64_t> counter{0};
  thread_local std::mt19937_64 rng(std::random_device{}());
  return fmt::format("{}.tmp-{:x}{:x}", final_path, rng() & 0xffffffff, counter.fetch_add(1));
}
}  // namespace

BlobStore::Batch::~Batch() {
  if (!published_) Abandon();
}

Result<std::string> BlobStore::Batch::Add(std::string_view bytes) {
  std::string hash = Sha256Hex(bytes);
  const std::string path = store_->PathOf(hash);
  KILN_ASSIGN_OR_RETURN(bool exists, store_->fs_->Exists(path));
  if (exists) {
    MutexLock lock(&mu_);
    existing_dirs_.insert(DirName(path));
    return hash;
  }
  {
    MutexLock lock(&mu_);
    for (const auto& s : staged_) {
      if (s.hash == hash) return hash;
    }
  }
  KILN_RETURN_IF_ERROR(store_->fs_->CreateDirs(DirName(path)));
  const std::string tmp = TempName(path);
  {
    // Register first so that Abandon() removes the file even if writing fails half way.
    MutexLock lock(&mu_);
    staged_.push_back({hash, tmp});
  }
  KILN_ASSIGN_OR_RETURN(auto file, store_->fs_->NewWritableFile(tmp));
  KILN_RETURN_IF_ERROR(file->Append(bytes));
  KILN_RETURN_IF_ERROR(file->Sync());
  KILN_RETURN_IF_ERROR(file->Close());
  return hash;
}

Result<std::string> BlobStore::Batch::Read(const std::string& hash, uint64_t max_bytes) {
  std::string tmp;
  {
    MutexLock lock(&mu_);
    for (const auto& s : staged_) {
      if (s.hash == hash) tmp = s.tmp;
    }
  }
  if (tmp.empty()) return store_->Read(hash, max_bytes);
  return store_->fs_->ReadFile(tmp, max_bytes);
}

Status BlobStore::Batch::Publish() {
  MutexLock lock(&mu_);
  std::set<std::string> dirs = existing_dirs_;
  for (const auto& s : staged_) {
    const std::string path = store_->PathOf(s.hash);
    KILN_RETURN_IF_ERROR(store_->fs_->Rename(s.tmp, path));
    dirs.insert(DirName(path));
  }
  for (const auto& d : dirs) KILN_RETURN_IF_ERROR(store_->fs_->SyncDir(d));
  staged_.clear();
  existing_dirs_.clear();
  published_ = true;
  return Status::Ok();
}

void BlobStore::Batch::Abandon() {
  MutexLock lock(&mu_);
  for (const auto& s : staged_) store_->fs_->Remove(s.tmp).IgnoreError();
  staged_.clear();
}

}  // namespace kiln::storage
