#include "kiln/auth/audit.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <algorithm>
#include <map>

#include <fmt/format.h>

#include "auth/hex.h"
#include "kiln/base/hash.h"

namespace kiln::auth {

namespace {

void Field(std::string* out, std::string_view v) {
  fmt::format_to(std::back_inserter(*out), "{}:", v.size());
  out->append(v);
  out->push_back('\n');
}

bool SameText(std::string_view a, std::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace

std::string AuditHash(const AuditRecord& r) {
  std::string text = "kiln-audit-v1\n";
  const std::string seq = std::to_string(r.seq), time = std::to_string(r.time_ms);
  for (const std::string* v : {&seq, &time, &r.actor, &r.action, &r.target, &r.outcome,
                               &r.request_id, &r.detail, &r.prev_hash}) {
    Field(&text, *v);
  }
  return Sha256Hex(text);
}

std::string CheckpointMac(std::string_view key, int64_t seq, std::string_view hash) {
  const std::string text = fmt::format("kiln-audit\n{}\n{}", seq, hash);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(text.data()), text.size(), mac, &len);
  return HexLower(mac, len);
}

Result<std::string> NewAuditKey() {
  std::string key(32, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(key.data()), static_cast<int>(key.size())) != 1) {
    return UnavailableError("the random source failed: no audit key was made");
  }
  return key;
}

AuditVerdict VerifyAudit(const std::vector<AuditRecord>& records,
                         const std::vector<AuditCheckpoint>& checkpoints, std::string_view key) {
  AuditVerdict v;
  v.records = static_cast<int64_t>(records.size());
  v.checkpoints = static_cast<int64_t>(checkpoints.size());
  auto bad = [&](int64_t seq, std::string problem) {
    if (v.ok) {
      v.ok = false;
      v.first_bad = seq;
      v.problem = std::move(problem);
    }
  };
  std::string prev;
  for (size_t i = 0; i < records.size() && v.ok; ++i) {
    const AuditRecord& r = records[i];
    const int64_t want = static_cast<int64_t>(i) + 1;
    if (r.seq != want) {
      bad(r.seq, r.seq > want ? fmt::format("records {}..{} are missing", want, r.seq - 1)
                              : fmt::format("out of order: expected record {}", want));
    } else if (r.prev_hash != prev) {
      bad(r.seq,
          "its link to the record before does not match (a record was removed, inserted "
          "or moved)");
    } else if (!SameText(AuditHash(r), r.hash)) {
      bad(r.seq, "its contents do not match its hash (it was edited)");
    }
    prev = r.hash;
  }
  // Checkpoints: each signs the hash of its record; a good-looking chain rewritten from some
  // record on fails at the first checkpoint after it.
  std::map<int64_t, const AuditRecord*> by_seq;
  for (const auto& r : records) by_seq[r.seq] = &r;
  for (const AuditCheckpoint& c : key.empty() ? std::vector<AuditCheckpoint>() : checkpoints) {
    if (!SameText(CheckpointMac(key, c.seq, c.hash), c.mac)) {
      bad(c.seq,
          fmt::format("the checkpoint at record {} is not signed by this home's audit key", c.seq));
      continue;
    }
    auto it = by_seq.find(c.seq);
    if (it == by_seq.end()) {
      bad(c.seq, fmt::format("records from {} on were deleted (a checkpoint signs record {})",
                             records.empty() ? 1 : records.back().seq + 1, c.seq));
    } else if (!SameText(it->second->hash, c.hash)) {
      bad(c.seq, fmt::format("the chain up to record {} was rewritten (its signed checkpoint "
                             "does not match)",
                             c.seq));
    }
  }
  // Every kCheckpointEvery-th record has one: deleting a checkpoint is tampering too.
  for (int64_t seq = kCheckpointEvery; !key.empty() && seq <= v.records; seq += kCheckpointEvery) {
    const bool found = std::any_of(checkpoints.begin(), checkpoints.end(),
                                   [seq](const AuditCheckpoint& c) { return c.seq == seq; });
    if (!found) bad(seq, fmt::format("the signed checkpoint at record {} is missing", seq));
  }
  return v;
}

}  // namespace kiln::auth
