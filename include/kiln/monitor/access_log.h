// AccessLog: the server's structured access log — one JSON object per line for every request
// that failed (status not 2xx / gRPC code not OK) and a sample of the others:
//
//   {"ts":"2026-11-22T03:15:05.123Z","request_id":"9f2c...","protocol":"http","route":"infer",
//    "model":"churn","version":"3","status":"200","duration_us":412}
//
// The request id is the client's (`X-Request-Id`, checked) or one made here; the server sends
// it back so a client can quote it. Lines are written whole under a lock (sampled requests
// only, so the cost stays off the hot path).
// Thread-safety: all methods may be called concurrently.
#pragma once

#include <atomic>
#include <cstdio>
#include <memory>
#include <string>
#include <string_view>

#include "kiln/base/mutex.h"
#include "kiln/base/status.h"

namespace kiln::monitor {

class AccessLog {
 public:
  // `path` "-" is stderr. `sample` in [0, 1]: the share of successful requests logged.
  static Result<std::unique_ptr<AccessLog>> Open(const std::string& path, double sample);
  ~AccessLog();

  struct Entry {
    std::string_view request_id;  // empty: one is made for the line
    std::string_view protocol, route, model, version, status;
    bool ok = true;  // 2xx / OK: sampled; otherwise always logged
    int64_t duration_us = 0;
  };
  void Log(const Entry& e);

  // A request id: the client's when it is 1..64 characters of [A-Za-z0-9._-], else a new one.
  static std::string RequestId(std::string_view client);

 private:
  AccessLog(FILE* out, bool owned, double sample) : out_(out), owned_(owned), sample_(sample) {}
  bool Sampled();

  Mutex mu_;
  FILE* out_;
  const bool owned_;
  const double sample_;
  std::atomic<uint64_t> seen_{0};
};

}  // namespace kiln::monitor
