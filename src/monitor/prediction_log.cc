#include "kiln/monitor/prediction_log.h"

#include <algorithm>
#include <chrono>

#include <fmt/format.h>

#include "kiln/base/hash.h"
#include "kiln/base/logging.h"
#include "kiln/base/numbers.h"

namespace kiln::monitor {

namespace {

constexpr size_t kFlushBytes = 64 * 1024;
constexpr int64_t kFlushMs = 1000;
constexpr uint64_t kSegments = 8;  // a segment is an eighth of the cap
constexpr std::string_view kPrefix = "predictions-";
constexpr std::string_view kSuffix = ".log";

int64_t WallMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::vector<std::string_view> Split(std::string_view line, char sep) {
  std::vector<std::string_view> out;
  size_t start = 0;
  for (size_t i = 0; i <= line.size(); ++i) {
    if (i == line.size() || line[i] == sep) {
      out.push_back(line.substr(start, i - start));
      start = i + 1;
    }
  }
  return out;
}

}  // namespace

bool PredictionLog::ValidId(std::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == ':' || c == '-' || c == '#';
  });
}

PredictionLog::PredictionLog(FileSystem* fs, std::string dir, PredictionLogOptions options)
    : fs_(fs), dir_(std::move(dir)), options_(std::move(options)) {
  if (!options_.now_ms) options_.now_ms = WallMs;
  options_.sample = std::clamp(options_.sample, 0.0, 1.0);
  options_.max_bytes = std::max<uint64_t>(options_.max_bytes, kSegments * 4096);
}

Result<std::unique_ptr<PredictionLog>> PredictionLog::Open(FileSystem* fs, std::string dir,
                                                           PredictionLogOptions options) {
  std::unique_ptr<PredictionLog> log(new PredictionLog(fs, std::move(dir), std::move(options)));
  KILN_RETURN_IF_ERROR(fs->CreateDirs(log->dir_));
  MutexLock lock(&log->mu_);
  KILN_RETURN_IF_ERROR(log->Replay());
  KILN_RETURN_IF_ERROR(log->StartSegment());
  log->last_flush_ms_ = log->options_.now_ms();
  return log;
}

PredictionLog::~PredictionLog() {
  MutexLock lock(&mu_);
  if (Status s = FlushLocked(); !s.ok()) KILN_LOG_WARN("prediction log {}: {}", dir_, s.message());
  if (file_) file_->Close().IgnoreError();
}

std::string PredictionLog::SegmentPath(uint64_t seq) const {
  return fmt::format("{}/{}{:06}{}", dir_, kPrefix, seq, kSuffix);
}

bool PredictionLog::Sampled(std::string_view id) const {
  if (options_.sample >= 1) return true;
  return static_cast<double>(Xxh3_64(id) % 1'000'000) < options_.sample * 1e6;
}

Status PredictionLog::Replay() {
  KILN_ASSIGN_OR_RETURN(std::vector<std::string> names, fs_->ListDir(dir_));
  std::vector<uint64_t> seqs;
  for (const std::string& name : names) {
    std::string_view n = name;
    if (!n.starts_with(kPrefix) || !n.ends_with(kSuffix)) continue;
    auto seq = ParseInteger(n.substr(kPrefix.size(), n.size() - kPrefix.size() - kSuffix.size()),
                            "segment", 0, INT64_MAX);
    if (seq.ok()) seqs.push_back(static_cast<uint64_t>(*seq));
  }
  std::sort(seqs.begin(), seqs.end());
  for (uint64_t seq : seqs) {
    const std::string path = SegmentPath(seq);
    auto text = fs_->ReadFile(path, options_.max_bytes);
    if (!text.ok()) {
      KILN_LOG_WARN("prediction log: {} unreadable ({}); skipped", path, text.status().message());
      continue;
    }
    Segment segment{seq, text->size(), {}};
    for (std::string_view line : Split(*text, '\n')) {
      const auto f = Split(line, '\t');
      if (f.size() == 5 && f[0] == "P" && ValidId(f[1])) {
        Entry e;
        e.segment = seq;
        bool ok = true;
        for (std::string_view v : Split(f[4], ',')) {
          auto d = ParseDouble(v, "score");
          if (!d.ok()) {
            ok = false;
            break;
          }
          e.scores.push_back(static_cast<float>(*d));
        }
        if (!ok) continue;  // a torn line
        const std::string id(f[1]);
        segment.ids.push_back(id);
        index_[id] = std::move(e);
      } else if (f.size() == 3 && f[0] == "L") {
        auto it = index_.find(std::string(f[1]));
        if (it != index_.end()) it->second.labelled = true;
      }
    }
    total_bytes_ += segment.bytes;
    segments_.push_back(std::move(segment));
  }
  return Status::Ok();
}

Status PredictionLog::StartSegment() {
  if (file_) {
    KILN_RETURN_IF_ERROR(FlushLocked());
    KILN_RETURN_IF_ERROR(file_->Close());
    file_.reset();
  }
  const uint64_t seq = segments_.empty() ? 1 : segments_.back().seq + 1;
  KILN_ASSIGN_OR_RETURN(file_, fs_->NewWritableFile(SegmentPath(seq)));
  segments_.push_back({seq, 0, {}});
  // Past the cap the oldest segments go, and their predictions with them.
  while (segments_.size() > 1 &&
         total_bytes_ + options_.max_bytes / kSegments > options_.max_bytes) {
    Segment& old = segments_.front();
    for (const std::string& id : old.ids) {
      auto it = index_.find(id);
      if (it != index_.end() && it->second.segment == old.seq) index_.erase(it);
    }
    total_bytes_ -= std::min(total_bytes_, old.bytes);
    if (Status s = fs_->Remove(SegmentPath(old.seq)); !s.ok()) {
      KILN_LOG_WARN("prediction log: {}", s.message());
    }
    segments_.pop_front();
  }
  return Status::Ok();
}

Status PredictionLog::FlushLocked() {
  last_flush_ms_ = options_.now_ms();
  if (buffer_.empty() || !file_) return Status::Ok();
  Status s = file_->Append(buffer_);
  buffer_.clear();
  return s;
}

Status PredictionLog::Flush() {
  MutexLock lock(&mu_);
  return FlushLocked();
}

void PredictionLog::Append(std::string line, const std::string* id) {
  if (!write_error_.ok()) return;
  Segment& current = segments_.back();
  current.bytes += line.size();
  total_bytes_ += line.size();
  if (id) current.ids.push_back(*id);
  buffer_ += line;
  Status s;
  if (buffer_.size() >= kFlushBytes || options_.now_ms() - last_flush_ms_ >= kFlushMs) {
    s = FlushLocked();
  }
  if (s.ok() && current.bytes >= options_.max_bytes / kSegments) s = StartSegment();
  if (!s.ok()) {
    write_error_ = s;
    KILN_LOG_ERROR("prediction log {} stopped: {}", dir_, s.message());
  }
}

void PredictionLog::Record(const std::string& id, size_t rows, size_t cols, const double* values,
                           const float* scores, size_t width) {
  if (rows == 0 || width == 0 || !ValidId(id) || id.size() > 120 || !Sampled(id)) return;
  const int64_t now = options_.now_ms();
  MutexLock lock(&mu_);
  for (size_t r = 0; r < rows; ++r) {
    std::string row_id = rows == 1 ? id : fmt::format("{}#{}", id, r);
    const uint64_t hash = Xxh3_64(
        std::string_view(reinterpret_cast<const char*>(values + r * cols), cols * sizeof(double)));
    std::string line = fmt::format("P\t{}\t{}\t{:016x}\t", row_id, now, hash);
    Entry e;
    e.segment = segments_.back().seq;
    for (size_t k = 0; k < width; ++k) {
      const float v = scores[r * width + k];
      e.scores.push_back(v);
      if (k > 0) line += ',';
      line += fmt::format("{}", v);
    }
    line += '\n';
    Append(std::move(line), &row_id);
    Entry& slot = index_[std::move(row_id)];
    e.labelled = slot.labelled;  // an id logged again keeps its label
    slot = std::move(e);
  }
}

PredictionLog::Join PredictionLog::Take(const std::string& id, std::vector<float>* scores) {
  MutexLock lock(&mu_);
  auto it = index_.find(id);
  if (it == index_.end()) return Join::kUnknown;
  if (it->second.labelled) return Join::kDuplicate;
  it->second.labelled = true;
  *scores = it->second.scores;
  Append(fmt::format("L\t{}\t{}\n", id, options_.now_ms()), nullptr);
  return Join::kJoined;
}

PredictionLog::Stats PredictionLog::stats() const {
  MutexLock lock(&mu_);
  return {index_.size(), total_bytes_, segments_.size()};
}

}  // namespace kiln::monitor
