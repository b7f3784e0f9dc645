// BlobStore: an immutable, content-addressed object store under `<home>/objects/`.
// An object's name is the SHA-256 of its bytes; its path is objects/<hh>/<rest>.
//
// Writes are staged in a Batch and published together: each staged object is written to a temp
// file, and Publish() fsyncs them, renames them into place and fsyncs their directories. An
// object is therefore visible only once it is complete and durable; a crash leaves at most temp
// files, which RemoveTempFiles() (run by GC) deletes.
// Thread-safety: thread-safe; a Batch may be fed from several threads.
#pragma once

#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "kiln/base/file_system.h"
#include "kiln/base/mutex.h"
#include "kiln/base/status.h"

namespace kiln::storage {

// True if `hash` is 64 lower-case hex digits (the only names the store accepts, BI-18).
bool IsObjectName(std::string_view hash);

class BlobStore {
 public:
  BlobStore(FileSystem* fs, std::string root) : fs_(fs), root_(std::move(root)) {}
  Status Init();

  class Batch {
   public:
    explicit Batch(BlobStore* store) : store_(store) {}
    ~Batch();
    Batch(const Batch&) = delete;
    Batch& operator=(const Batch&) = delete;
    // Stages `bytes`; returns the object name. Objects that already exist are not rewritten.
    Result<std::string> Add(std::string_view bytes);
    // Reads a staged or already published object.
    Result<std::string> Read(const std::string& hash, uint64_t max_bytes);
    // Makes every staged object durable and visible.
    Status Publish();
    // Deletes the staged temp files (also done by the destructor if not published).
    void Abandon();

   private:
    struct Staged {
      std::string hash;
      std::string tmp;
    };
    BlobStore* store_;
    Mutex mu_;
    std::vector<Staged> staged_ KILN_GUARDED_BY(mu_);
    // Directories of objects that already existed: their entries may not be durable yet (an
    // earlier publish may have failed after its rename), so Publish syncs them too.
    std::set<std::string> existing_dirs_ KILN_GUARDED_BY(mu_);
    bool published_ = false;
  };

  std::string PathOf(std::string_view hash) const;
  Result<std::string> Read(std::string_view hash, uint64_t max_bytes) const;
  // Read, and the bytes' SHA-256 checked against the name: DataLoss naming the object if they
  // differ (an object replaced on disk, even by another valid one). Model artifacts are read so.
  Result<std::string> ReadVerified(std::string_view hash, uint64_t max_bytes) const;
  Result<bool> Contains(std::string_view hash) const;
  Status Remove(std::string_view hash);
  // Every complete object name in the store.
  Result<std::vector<std::string>> List() const;
  // Deletes leftover temp files of interrupted writes; returns how many.
  Result<uint64_t> RemoveTempFiles();
  // Writes one object durably (a batch of one).
  Result<std::string> Put(std::string_view bytes);

 private:
  FileSystem* fs_;
  std::string root_;
};

}  // namespace kiln::storage
