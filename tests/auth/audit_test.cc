// The audit log's hash chain and signed checkpoints (SC-04): an intact chain verifies; an
// edited, deleted, inserted or reordered record, a truncated tail, a chain rewritten with
// recomputed hashes, a removed checkpoint and a foreign key each fail at the right record.
#include "kiln/auth/audit.h"

#include <algorithm>

#include <gtest/gtest.h>

namespace kiln::auth {
namespace {

class AuditChainTest : public ::testing::Test {
 protected:
  void SetUp() override {
    key_ = std::string(32, '\x5a');
    records_.clear();
    checkpoints_.clear();
    for (int i = 0; i < 40; ++i) Append(records_, checkpoints_, "alias.set", "m@production");
  }
  // Appends the way the catalog does: chained to the last record, a checkpoint every 16.
  void Append(std::vector<AuditRecord>& records, std::vector<AuditCheckpoint>& checkpoints,
              const std::string& action, const std::string& target) {
    AuditRecord r;
    r.seq = static_cast<int64_t>(records.size()) + 1;
    r.time_ms = 1000 + r.seq;
    r.actor = "token:ci";
    r.action = action;
    r.target = target;
    r.outcome = "ok";
    r.detail = "v" + std::to_string(r.seq);
    r.prev_hash = records.empty() ? "" : records.back().hash;
    r.hash = AuditHash(r);
    records.push_back(r);
    if (r.seq % kCheckpointEvery == 0) {
      checkpoints.push_back({r.seq, r.hash, CheckpointMac(key_, r.seq, r.hash), r.time_ms});
    }
  }
  AuditVerdict Verify() { return VerifyAudit(records_, checkpoints_, key_); }
  // Recomputes every hash from `from` on, as someone who rewrites the catalog would.
  void Rechain(size_t from) {
    for (size_t i = from; i < records_.size(); ++i) {
      records_[i].prev_hash = i == 0 ? "" : records_[i - 1].hash;
      records_[i].hash = AuditHash(records_[i]);
    }
  }

  std::string key_;
  std::vector<AuditRecord> records_;
  std::vector<AuditCheckpoint> checkpoints_;
};

TEST_F(AuditChainTest, IntactChainVerifies) {
  const AuditVerdict v = Verify();
  EXPECT_TRUE(v.ok) << v.problem;
  EXPECT_EQ(v.records, 40);
  EXPECT_EQ(v.checkpoints, 2);
  EXPECT_TRUE(VerifyAudit({}, {}, key_).ok);
  // Every field is covered by the hash.
  AuditRecord r = records_[4];
  for (std::string* f :
       {&r.actor, &r.action, &r.target, &r.outcome, &r.request_id, &r.detail, &r.prev_hash}) {
    const std::string saved = *f;
    *f += "x";
    EXPECT_NE(AuditHash(r), records_[4].hash);
    *f = saved;
  }
  r.time_ms += 1;
  EXPECT_NE(AuditHash(r), records_[4].hash);
}

TEST_F(AuditChainTest, EditedRecord) {
  records_[6].detail = "v7 -> v1";
  const AuditVerdict v = Verify();
  EXPECT_FALSE(v.ok);
  EXPECT_EQ(v.first_bad, 7);
  EXPECT_NE(v.problem.find("edited"), std::string::npos) << v.problem;
}

TEST_F(AuditChainTest, DeletedRecord) {
  records_.erase(records_.begin() + 9);  // record 10
  const AuditVerdict v = Verify();
  EXPECT_FALSE(v.ok);
  EXPECT_EQ(v.first_bad, 11);
  EXPECT_NE(v.problem.find("10..10 are missing"), std::string::npos) << v.problem;
}

TEST_F(AuditChainTest, InsertedRecord) {
  // A forged record slipped in after record 5, the ones after it renumbered.
  AuditRecord forged = records_[4];
  forged.action = "token.create";
  records_.insert(records_.begin() + 5, forged);
  for (size_t i = 5; i < records_.size(); ++i) records_[i].seq = static_cast<int64_t>(i) + 1;
  const AuditVerdict v = Verify();
  EXPECT_FALSE(v.ok);
  EXPECT_EQ(v.first_bad, 6);
}

TEST_F(AuditChainTest, ReorderedRecords) {
  std::swap(records_[11], records_[12]);
  std::swap(records_[11].seq, records_[12].seq);  // their numbers kept in place
  const AuditVerdict v = Verify();
  EXPECT_FALSE(v.ok);
  EXPECT_EQ(v.first_bad, 12);
}

TEST_F(AuditChainTest, TruncatedTail) {
  records_.resize(30);  // the newest records, and with them record 32's checkpoint, deleted
  const AuditVerdict v = Verify();
  EXPECT_FALSE(v.ok);
  EXPECT_EQ(v.first_bad, 32);
  EXPECT_NE(v.problem.find("deleted"), std::string::npos) << v.problem;
}

TEST_F(AuditChainTest, RewrittenChainFailsAtTheNextCheckpoint) {
  records_[20].outcome = "rejected";
  Rechain(20);  // every hash recomputed: the chain alone looks fine
  const AuditVerdict v = Verify();
  EXPECT_FALSE(v.ok);
  EXPECT_EQ(v.first_bad, 32);
  EXPECT_NE(v.problem.find("rewritten"), std::string::npos) << v.problem;
}

TEST_F(AuditChainTest, RemovedOrForgedCheckpoints) {
  checkpoints_.erase(checkpoints_.begin());
  AuditVerdict v = Verify();
  EXPECT_FALSE(v.ok);
  EXPECT_EQ(v.first_bad, 16);
  EXPECT_NE(v.problem.find("missing"), std::string::npos) << v.problem;

  SetUp();  // a fresh chain, checked with another home's key
  v = VerifyAudit(records_, checkpoints_, std::string(32, '\x01'));
  EXPECT_FALSE(v.ok);
  EXPECT_EQ(v.first_bad, 16);
  EXPECT_NE(v.problem.find("not signed"), std::string::npos) << v.problem;
}

TEST(AuditKeyTest, RandomKeysAndMacs) {
  auto a = NewAuditKey(), b = NewAuditKey();
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->size(), 32u);
  EXPECT_NE(*a, *b);
  EXPECT_EQ(CheckpointMac(*a, 16, "abc").size(), 64u);
  EXPECT_EQ(CheckpointMac(*a, 16, "abc"), CheckpointMac(*a, 16, "abc"));
  EXPECT_NE(CheckpointMac(*a, 16, "abc"), CheckpointMac(*a, 32, "abc"));
  EXPECT_NE(CheckpointMac(*a, 16, "abc"), CheckpointMac(*b, 16, "abc"));
}

}  // namespace
}  // namespace kiln::auth
