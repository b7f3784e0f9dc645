// PredictionLog: a bounded, sampled record of what one served model version answered, kept in
// the kiln home, so that the ground truth that comes back later (feedback) can be joined to the
// prediction by request id.
//
//   auto log = PredictionLog::Open(fs, home + "/monitoring/churn/v3", {});
//   (*log)->Record("req-17", rows, cols, x.values.data(), probs.data(), width);
//   std::vector<float> scores;
//   switch ((*log)->Take("req-17", &scores)) { case PredictionLog::Join::kJoined: ... }
//
// Ids: a request's id (the V2 `id`, else its X-Request-Id) names its row when it has one row,
// and `ID#r` names row r (from 0) of a request with more. Ids are 1–128 characters of
// [A-Za-z0-9._:-]; a request without one, or with another, is not logged. Sampling keeps a
// share of the ids, chosen by their hash (a retried request is sampled alike).
//
// On disk: segment files `predictions-NNNNNN.log` of tab-separated lines, `P id time_ms
// inputs_hash score,score,...` for a prediction and `L id time_ms` when it got its label;
// appended through a buffer flushed at 64 KiB and at least every second, so a crash loses at
// most the last second. A new segment starts at an eighth of the cap; the oldest are deleted
// past the cap (their predictions can no longer be joined). Reopening reads the segments back
// (a torn last line is skipped) and continues in a new one. Memory holds an index entry per
// logged prediction, about three times the log's bytes at most.
// Thread-safety: every method from any thread (one mutex).
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "kiln/base/file_system.h"
#include "kiln/base/mutex.h"
#include "kiln/base/status.h"

namespace kiln::monitor {

struct PredictionLogOptions {
  uint64_t max_bytes = uint64_t{16} << 20;  // all segments together
  double sample = 1.0;                      // share of ids logged, in [0, 1]
  std::function<int64_t()> now_ms;          // wall clock, ms since the epoch (tests set it)
};

class PredictionLog {
 public:
  static Result<std::unique_ptr<PredictionLog>> Open(FileSystem* fs, std::string dir,
                                                     PredictionLogOptions options);
  ~PredictionLog();  // flushes
  PredictionLog(const PredictionLog&) = delete;
  PredictionLog& operator=(const PredictionLog&) = delete;

  // Whether `id` is one the log accepts (charset and length above).
  static bool ValidId(std::string_view id);

  // Logs the `rows` rows of one answered request (`cols` feature values each, row-major, hashed;
  // `width` scores each). Nothing for an invalid id or one not sampled.
  void Record(const std::string& id, size_t rows, size_t cols, const double* values,
              const float* scores, size_t width);

  enum class Join { kJoined, kUnknown, kDuplicate };
  // The scores logged for `id`, which is marked labelled: kJoined the first time, kDuplicate
  // after, kUnknown for an id never logged (or evicted).
  Join Take(const std::string& id, std::vector<float>* scores);

  // Writes the buffered lines to the current segment.
  Status Flush();

  struct Stats {
    uint64_t predictions = 0;  // joinable now
    uint64_t bytes = 0;        // on disk, flushed or buffered
    uint64_t segments = 0;
  };
  Stats stats() const;

 private:
  struct Entry {
    std::vector<float> scores;
    uint64_t segment = 0;
    bool labelled = false;
  };
  struct Segment {
    uint64_t seq = 0;
    uint64_t bytes = 0;
    std::vector<std::string> ids;  // logged in it, for eviction
  };
  PredictionLog(FileSystem* fs, std::string dir, PredictionLogOptions options);
  Status Replay() KILN_REQUIRES(mu_);
  Status StartSegment() KILN_REQUIRES(mu_);
  Status FlushLocked() KILN_REQUIRES(mu_);
  void Append(std::string line, const std::string* id) KILN_REQUIRES(mu_);
  std::string SegmentPath(uint64_t seq) const;
  bool Sampled(std::string_view id) const;

  FileSystem* fs_;
  const std::string dir_;
  PredictionLogOptions options_;
  mutable Mutex mu_;
  std::unordered_map<std::string, Entry> index_ KILN_GUARDED_BY(mu_);
  std::deque<Segment> segments_ KILN_GUARDED_BY(mu_);  // oldest first; the last is written
  uint64_t total_bytes_ KILN_GUARDED_BY(mu_) = 0;
  std::unique_ptr<WritableFile> file_ KILN_GUARDED_BY(mu_);
  std::string buffer_ KILN_GUARDED_BY(mu_);
  int64_t last_flush_ms_ KILN_GUARDED_BY(mu_) = 0;
  Status write_error_ KILN_GUARDED_BY(mu_);  // the first failed write; logging stops then
};

}  // namespace kiln::monitor
