// The CatalogStore contract: every backend must pass these. The suites are instantiated per
// backend: SQLite in sqlite_catalog_test.cc, PostgreSQL in postgres_catalog_test.cc.
#include "registry/catalog_contract.h"

#include <filesystem>
#include <thread>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "kiln/registry/audit.h"

namespace kiln::registry {
namespace {

RunRecord MakeRun(const std::string& experiment, std::map<std::string, std::string> params,
                  std::map<std::string, std::string> tags = {}) {
  RunRecord r;
  r.experiment = experiment;
  r.params = std::move(params);
  r.tags = std::move(tags);
  r.attributes.train_data = "credit@v1";
  r.attributes.train_hash = std::string(64, 'a');
  r.attributes.host = "box";
  return r;
}

const std::string kArtifact(64, 'b');

RunAttributes Finished(const std::string& artifact = kArtifact) {
  RunAttributes a;
  a.train_data = "credit@v1";
  a.train_hash = std::string(64, 'a');
  a.artifact = artifact;
  a.cpu_seconds = 1.5;
  a.peak_rss_bytes = 1 << 20;
  return a;
}

// Runs as people name them: a unique id prefix or a unique run name.
TEST_P(CatalogContractTest, RunReferences) {
  RunRecord a = MakeRun("exp", {});
  a.name = "baseline";
  auto ra = store_->CreateRun(a);
  auto rb = store_->CreateRun(MakeRun("exp", {}));
  ASSERT_TRUE(ra.ok() && rb.ok());
  EXPECT_EQ(*ResolveRunRef(*store_, ra->id), ra->id);
  EXPECT_EQ(*ResolveRunRef(*store_, "baseline"), ra->id);
  // The shortest prefix that tells the two apart.
  size_t n = 4;
  while (ra->id.substr(0, n) == rb->id.substr(0, n)) ++n;
  EXPECT_EQ(*ResolveRunRef(*store_, rb->id.substr(0, n)), rb->id);
  EXPECT_EQ(ResolveRunRef(*store_, "nope").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(ResolveRunRef(*store_, "abc").status().code(), StatusCode::kNotFound);  // too short
  EXPECT_EQ(ResolveRunRef(*store_, "").status().code(), StatusCode::kInvalidArgument);
  RunRecord twin = MakeRun("exp", {});
  twin.name = "baseline";
  ASSERT_TRUE(store_->CreateRun(twin).ok());
  auto both = ResolveRunRef(*store_, "baseline");
  EXPECT_EQ(both.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(both.status().message().find("2 runs"), std::string::npos) << both.status().message();
  EXPECT_EQ(store_->FindRuns(ra->id.substr(0, 4), "", 10)->size() >= 1, true);
}

TEST_P(CatalogContractTest, RunLifecycle) {
  auto run = store_->CreateRun(
      MakeRun("exp", {{"eta", "0.1"}, {"objective", "binary"}}, {{"team", "risk"}}));
  ASSERT_TRUE(run.ok()) << run.status().ToString();
  EXPECT_TRUE(IsRunId(run->id));
  EXPECT_GT(run->start_ms, 0);
  auto got = store_->GetRun(run->id);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->status, RunStatus::kRunning);
  EXPECT_EQ(got->params.at("eta"), "0.1");
  EXPECT_EQ(got->tags.at("team"), "risk");
  EXPECT_EQ(got->attributes.train_data, "credit@v1");
  EXPECT_EQ(got->end_ms, 0);
  // Duplicate id.
  RunRecord dup = MakeRun("exp", {});
  dup.id = run->id;
  EXPECT_EQ(store_->CreateRun(dup).status().code(), StatusCode::kAlreadyExists);

  std::vector<Curve> curves = {{"train.logloss", {0, 1, 2}, {0.6, 0.5, 0.45}},
                               {"valid.auc", {0, 1, 2}, {0.7, 0.75, 0.76}}};
  ASSERT_TRUE(
      store_->FinishRun(run->id, RunStatus::kFinished, {{"auc", 0.76}}, curves, Finished()).ok());
  EXPECT_EQ(store_->FinishRun(run->id, RunStatus::kFailed, {}, {}, Finished()).code(),
            StatusCode::kFailedPrecondition);
  got = store_->GetRun(run->id);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->status, RunStatus::kFinished);
  EXPECT_GE(got->end_ms, got->start_ms);
  EXPECT_EQ(got->metrics.at("auc"), 0.76);
  EXPECT_EQ(got->attributes.artifact, kArtifact);
  EXPECT_EQ(got->attributes.peak_rss_bytes, 1 << 20);
  auto all = store_->GetCurves(run->id, "");
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].key, "train.logloss");
  EXPECT_EQ((*all)[0].values, (std::vector<double>{0.6, 0.5, 0.45}));
  EXPECT_EQ((*all)[1].steps, (std::vector<int64_t>{0, 1, 2}));
  auto one = store_->GetCurves(run->id, "valid.auc");
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(one->size(), 1u);
  ASSERT_TRUE(store_->SetRunTags(run->id, {{"note", "baseline"}}).ok());
  EXPECT_EQ(store_->GetRun(run->id)->tags.at("note"), "baseline");
  // Only a killed run can be reopened (a job resuming it), and only once per kill.
  EXPECT_EQ(store_->ReopenRun(run->id).code(), StatusCode::kFailedPrecondition);
  auto victim = store_->CreateRun(MakeRun("exp", {}));
  ASSERT_TRUE(victim.ok());
  ASSERT_TRUE(store_->FinishRun(victim->id, RunStatus::kKilled, {}, {}, {}).ok());
  EXPECT_EQ(store_->GetRun(victim->id)->attributes.host, "box");  // the lineage stays
  EXPECT_EQ(store_->GetRun(victim->id)->attributes.train_data, "credit@v1");
  ASSERT_TRUE(store_->ReopenRun(victim->id).ok());
  EXPECT_EQ(store_->GetRun(victim->id)->status, RunStatus::kRunning);
  EXPECT_EQ(store_->GetRun(victim->id)->end_ms, 0);
  EXPECT_EQ(store_->ReopenRun(victim->id).code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(store_->ReopenRun(std::string(32, 'e')).code(), StatusCode::kNotFound);
  // Unknown and malformed ids.
  EXPECT_EQ(store_->GetRun(std::string(32, 'f')).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store_->GetRun("../../etc/passwd").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->DeleteRun(std::string(32, 'f')).code(), StatusCode::kNotFound);
  ASSERT_TRUE(store_->DeleteRun(run->id).ok());
  EXPECT_EQ(store_->GetRun(run->id).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store_->GetCurves(run->id, "").status().code(), StatusCode::kNotFound);
}

class SearchTest : public CatalogContractTest {
 protected:
  void Populate() {
    // 12 runs: depth 4..9 x eta {0.1, 0.3}; auc grows with depth; even depths tagged "risk".
    for (int i = 0; i < 12; ++i) {
      const int depth = 4 + i / 2;
      const std::string eta = i % 2 ? "0.3" : "0.1";
      std::map<std::string, std::string> tags;
      if (depth % 2 == 0) tags["team"] = "risk";
      auto r = store_->CreateRun(MakeRun(
          i < 10 ? "exp" : "other",
          {{"max_depth", std::to_string(depth)}, {"eta", eta}, {"objective", "binary"}}, tags));
      ASSERT_TRUE(r.ok());
      ids_.push_back(r->id);
      if (i == 11) continue;  // left running, no metrics
      ASSERT_TRUE(store_
                      ->FinishRun(r->id, RunStatus::kFinished,
                                  {{"auc", 0.7 + 0.01 * depth + (i % 2) * 0.001},
                                   {"valid.logloss", 0.5 - 0.01 * depth}},
                                  {}, Finished())
                      .ok());
    }
  }
  std::vector<RunRecord> Search(const std::string& filter, const std::string& order = "",
                                const std::string& experiment = "") {
    auto r = store_->SearchRuns({experiment, filter, order, 100});
    EXPECT_TRUE(r.ok()) << filter << ": " << r.status().ToString();
    return r.ok() ? *r : std::vector<RunRecord>{};
  }
  std::vector<std::string> ids_;
};

TEST_P(SearchTest, Filters) {
  Populate();
  EXPECT_EQ(Search("").size(), 12u);
  EXPECT_EQ(Search("", "", "exp").size(), 10u);
  EXPECT_EQ(Search("metrics.auc > 0.7805").size(), 2u);
  EXPECT_EQ(Search("params.max_depth >= 8").size(), 4u);
  EXPECT_EQ(Search("params.max_depth = 8 and params.eta = '0.3'").size(), 1u);
  EXPECT_EQ(Search("params.eta = 0.3").size(), 6u);  // numeric comparison of a param
  EXPECT_EQ(Search("params.max_depth = 4 or params.max_depth = 9").size(), 4u);
  EXPECT_EQ(Search("(params.max_depth = 4 or params.max_depth = 9) and params.eta = 0.1").size(),
            2u);
  EXPECT_EQ(Search("params.max_depth in (4, 5, 6)").size(), 6u);
  EXPECT_EQ(Search("params.max_depth not in (4, 5, 6)").size(), 6u);
  EXPECT_EQ(Search("tags.team = 'risk'").size(), 6u);
  EXPECT_EQ(Search("tags.team is null").size(), 6u);
  EXPECT_EQ(Search("tags.team is not null").size(), 6u);
  EXPECT_EQ(Search("not tags.team is null").size(), 6u);
  EXPECT_EQ(Search("metrics.auc is null").size(), 1u);
  EXPECT_EQ(Search("metrics.valid.logloss < 0.425").size(), 3u);  // keys may contain dots
  EXPECT_EQ(Search("metrics.`valid.logloss` < 0.415").size(), 1u);
  EXPECT_EQ(Search("attributes.status = 'running'").size(), 1u);
  EXPECT_EQ(Search("attributes.status = 'finished' and attributes.experiment = 'other'").size(),
            1u);
  EXPECT_EQ(Search("params.objective like 'bin%'").size(), 12u);
  EXPECT_EQ(Search("params.objective != 'binary'").size(), 0u);
  EXPECT_EQ(Search("attributes.run_id = '" + ids_[3] + "'").size(), 1u);
  EXPECT_EQ(Search("params.missing = 1").size(), 0u);
  // Ordering and limit.
  auto best = Search("attributes.status = 'finished'", "metrics.auc desc");
  ASSERT_EQ(best.size(), 11u);
  EXPECT_EQ(best[0].params.at("max_depth"), "9");
  EXPECT_EQ(best[0].params.at("eta"), "0.1");
  EXPECT_GE(best[0].metrics.at("auc"), best[1].metrics.at("auc"));
  auto asc = Search("", "params.max_depth asc, params.eta desc");
  ASSERT_EQ(asc.size(), 12u);
  EXPECT_EQ(asc[0].params.at("max_depth"), "4");
  EXPECT_EQ(asc[0].params.at("eta"), "0.3");
  auto limited = store_->SearchRuns({"", "", "metrics.auc asc", 3});
  ASSERT_TRUE(limited.ok());
  EXPECT_EQ(limited->size(), 3u);
  EXPECT_EQ(limited->front().params.at("max_depth"), "4");
}

TEST_P(SearchTest, BadFiltersAndInjection) {
  Populate();
  for (const char* bad :
       {"metrics.auc >", "metrics.auc > 'x'", "foo.bar = 1", "attributes.nope = 1", "(", ")",
        "metrics.auc > 1 and", "params.a = 'unterminated", "params.a in ()", "params.a in (1, 'x')",
        "metrics.auc = 1; DROP TABLE runs", "params.a = 1 -- comment", "params.a like 3",
        "metrics.auc ! 1", "params"}) {
    auto r = store_->SearchRuns({"", bad, "", 10});
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << bad;
    EXPECT_NE(r.status().message().find("position"), std::string::npos) << bad;
  }
  EXPECT_EQ(store_->SearchRuns({"", "", "metrics.auc sideways", 10}).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->SearchRuns({"x'; DROP TABLE runs; --", "", "", 10}).status().code(),
            StatusCode::kInvalidArgument);
  // Quotes inside values and keys are data, never SQL.
  EXPECT_EQ(Search("params.eta = '0.1'' OR ''1''=''1'").size(), 0u);
  EXPECT_EQ(Search("params.`eta') OR 1=1 --` = 1").size(), 0u);
  EXPECT_EQ(Search("tags.team = \"risk\" or tags.team = 'x''); DELETE FROM runs; --'").size(), 6u);
  std::string deep;
  for (int i = 0; i < 200; ++i) deep += "(";
  EXPECT_EQ(store_->SearchRuns({"", deep, "", 10}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(Search("").size(), 12u);  // nothing was dropped or deleted
}

TEST_P(CatalogContractTest, ModelRegistryAndAliases) {
  auto a = store_->CreateRun(MakeRun("exp", {{"eta", "0.1"}}));
  auto b = store_->CreateRun(MakeRun("exp", {{"eta", "0.2"}}));
  ASSERT_TRUE(a.ok() && b.ok());
  // A run without an artifact cannot be registered; an unknown run is NotFound.
  ModelVersion mv{.name = "churn", .run_id = a->id, .description = "first"};
  EXPECT_EQ(store_->RegisterModel(mv).status().code(), StatusCode::kFailedPrecondition);
  ASSERT_TRUE(store_->FinishRun(a->id, RunStatus::kFinished, {{"auc", 0.8}}, {}, Finished()).ok());
  ASSERT_TRUE(store_
                  ->FinishRun(b->id, RunStatus::kFinished, {{"auc", 0.81}}, {},
                              Finished(std::string(64, 'c')))
                  .ok());
  mv.tags = {{"owner", "ana"}};
  auto v1 = store_->RegisterModel(mv);
  ASSERT_TRUE(v1.ok()) << v1.status().ToString();
  EXPECT_EQ(v1->version, 1);
  EXPECT_EQ(v1->artifact, kArtifact);
  auto v2 = store_->RegisterModel({.name = "churn", .run_id = b->id, .actor = "ci"});
  ASSERT_TRUE(v2.ok());
  EXPECT_EQ(v2->version, 2);
  EXPECT_EQ(
      store_->RegisterModel({.name = "churn", .run_id = std::string(32, 'e')}).status().code(),
      StatusCode::kNotFound);
  EXPECT_EQ(store_->RegisterModel({.name = "../x", .run_id = a->id}).status().code(),
            StatusCode::kInvalidArgument);
  auto got = store_->GetModelVersion("churn", 1);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->tags.at("owner"), "ana");
  EXPECT_EQ(got->description, "first");
  EXPECT_EQ(store_->GetModelVersion("churn", 0)->version, 2);  // 0 = latest
  EXPECT_EQ(store_->GetModelVersion("churn", 9).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store_->GetModelVersion("nope", 1).status().code(), StatusCode::kNotFound);

  // Aliases, their history and the change counter.
  const int64_t before = *store_->LastAliasChange();
  EXPECT_EQ(store_->ResolveAlias("churn", "production").status().code(), StatusCode::kNotFound);
  ASSERT_TRUE(
      store_->SetAlias("churn", "production", 1, "ana", "first release", std::nullopt).ok());
  auto moved = store_->SetAlias("churn", "production", 2, "ci", "better auc", int64_t{1});
  ASSERT_TRUE(moved.ok());
  EXPECT_EQ(moved->previous, 1);
  EXPECT_GT(*store_->LastAliasChange(), before);
  EXPECT_EQ(*store_->ResolveAlias("churn", "production"), 2);
  // A compare-and-set that lost the race changes nothing.
  EXPECT_EQ(store_->SetAlias("churn", "production", 1, "bob", "stale", int64_t{1}).status().code(),
            StatusCode::kFailedPrecondition);
  EXPECT_EQ(*store_->ResolveAlias("churn", "production"), 2);
  EXPECT_EQ(store_->SetAlias("churn", "production", 7, "x", "", std::nullopt).status().code(),
            StatusCode::kNotFound);
  EXPECT_EQ(store_->SetAlias("churn", "bad alias!", 1, "x", "", std::nullopt).status().code(),
            StatusCode::kInvalidArgument);
  ASSERT_TRUE(store_->SetAlias("churn", "staging", 1, "ana", "", std::nullopt).ok());
  auto versions = store_->ListModelVersions("churn");
  ASSERT_TRUE(versions.ok());
  ASSERT_EQ(versions->size(), 2u);
  EXPECT_EQ((*versions)[0].aliases, std::vector<std::string>{"staging"});
  EXPECT_EQ((*versions)[1].aliases, std::vector<std::string>{"production"});
  auto history = store_->AliasHistory("churn");
  ASSERT_TRUE(history.ok());
  ASSERT_EQ(history->size(), 3u);
  EXPECT_EQ((*history)[1].alias, "production");
  EXPECT_EQ((*history)[1].version, 2);
  EXPECT_EQ((*history)[1].previous, 1);
  EXPECT_EQ((*history)[1].actor, "ci");
  EXPECT_EQ((*history)[1].reason, "better auc");
  // Removing an alias.
  ASSERT_TRUE(store_->SetAlias("churn", "staging", 0, "ana", "retired", std::nullopt).ok());
  EXPECT_EQ(store_->ResolveAlias("churn", "staging").status().code(), StatusCode::kNotFound);
  auto models = store_->ListModels();
  ASSERT_TRUE(models.ok());
  ASSERT_EQ(models->size(), 1u);
  EXPECT_EQ((*models)[0].latest_version, 2);
  EXPECT_EQ((*models)[0].aliases.at("production"), 2);
  // A registered run cannot be deleted; its artifact is a GC root.
  EXPECT_EQ(store_->DeleteRun(a->id).code(), StatusCode::kFailedPrecondition);
  auto live = store_->LiveArtifacts();
  ASSERT_TRUE(live.ok());
  EXPECT_EQ(live->size(), 2u);
  // Gate reports.
  GateReport rep{.name = "churn",
                 .challenger = 2,
                 .champion = 1,
                 .alias = "production",
                 .gate = "auc >= champion.auc",
                 .data = "credit@v2",
                 .passed = true,
                 .report_json = "{}",
                 .actor = "ci"};
  ASSERT_TRUE(store_->StoreGateReport(rep).ok());
  auto reports = store_->GateReports("churn");
  ASSERT_TRUE(reports.ok());
  ASSERT_EQ(reports->size(), 1u);
  EXPECT_TRUE((*reports)[0].passed);
  EXPECT_EQ((*reports)[0].gate, "auc >= champion.auc");
}

// Alert events are kept in order; the newest `limit` come back oldest first.
TEST_P(CatalogContractTest, AlertEvents) {
  for (int i = 0; i < 5; ++i) {
    AlertEventRecord e{0,        "drift",   "churn",
                       2,        "warning", i % 2 ? "resolved" : "firing",
                       1000 + i, 900,       fmt::format("psi {}", i)};
    auto stored = store_->RecordAlertEvent(e);
    ASSERT_TRUE(stored.ok()) << stored.status().ToString();
    EXPECT_GT(stored->id, 0);
  }
  auto last = store_->AlertEvents(3);
  ASSERT_TRUE(last.ok());
  ASSERT_EQ(last->size(), 3u);
  EXPECT_EQ((*last)[0].detail, "psi 2");
  EXPECT_EQ((*last)[2].detail, "psi 4");
  EXPECT_EQ((*last)[2].state, "firing");
  EXPECT_EQ((*last)[2].model, "churn");
  EXPECT_EQ((*last)[2].version, 2);
  EXPECT_EQ((*last)[2].time_ms, 1004);
  EXPECT_EQ((*last)[2].since_ms, 900);
  AlertEventRecord bad{0, "r", "../x", 1, "warning", "firing", 1, 1, ""};
  EXPECT_EQ(store_->RecordAlertEvent(bad).status().code(), StatusCode::kInvalidArgument);
  bad.model = "churn";
  bad.state = "exploded";
  EXPECT_EQ(store_->RecordAlertEvent(bad).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->AlertEvents(100)->size(), 5u);
}

TEST_P(CatalogContractTest, Tokens) {
  auth::TokenRecord t;
  t.name = "ci";
  t.role = auth::Role::kDeployer;
  t.hash = std::string(64, 'a');
  t.expires_ms = 5000;
  auto made = store_->CreateToken(t);
  ASSERT_TRUE(made.ok()) << made.status().ToString();
  EXPECT_GT(made->id, 0);
  EXPECT_GT(made->created_ms, 0);
  // One unrevoked token per name; one row per hash.
  t.hash = std::string(64, 'b');
  EXPECT_EQ(store_->CreateToken(t).status().code(), StatusCode::kAlreadyExists);
  t.name = "other";
  t.hash = std::string(64, 'a');
  EXPECT_EQ(store_->CreateToken(t).status().code(), StatusCode::kAlreadyExists);
  t.name = "../x";
  t.hash = std::string(64, 'c');
  EXPECT_EQ(store_->CreateToken(t).status().code(), StatusCode::kInvalidArgument);
  t.name = "short";
  t.hash = "abc";
  EXPECT_EQ(store_->CreateToken(t).status().code(), StatusCode::kInvalidArgument);

  ASSERT_TRUE(store_->TouchTokens({{std::string(64, 'a'), 1234}, {std::string(64, 'f'), 9}}).ok());
  ASSERT_TRUE(store_->TouchTokens({{std::string(64, 'a'), 1000}}).ok());  // never goes back
  auto revoked = store_->RevokeToken("ci", 7777);
  ASSERT_TRUE(revoked.ok()) << revoked.status().ToString();
  EXPECT_EQ(revoked->revoked_ms, 7777);
  EXPECT_EQ(store_->RevokeToken("ci", 8888).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store_->RevokeToken("nobody", 1).status().code(), StatusCode::kNotFound);
  // The name is free again once revoked.
  t.name = "ci";
  t.role = auth::Role::kViewer;
  t.hash = std::string(64, 'd');
  t.expires_ms = 0;
  ASSERT_TRUE(store_->CreateToken(t).ok());

  auto all = store_->ListTokens();
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  ASSERT_EQ(all->size(), 2u);
  const auth::TokenRecord& first = (*all)[0];
  EXPECT_EQ(first.name, "ci");
  EXPECT_EQ(first.role, auth::Role::kDeployer);
  EXPECT_EQ(first.hash, std::string(64, 'a'));
  EXPECT_EQ(first.expires_ms, 5000);
  EXPECT_EQ(first.revoked_ms, 7777);
  EXPECT_EQ(first.last_used_ms, 1234);
  EXPECT_EQ((*all)[1].role, auth::Role::kViewer);
  EXPECT_EQ((*all)[1].revoked_ms, 0);
  EXPECT_EQ((*all)[1].last_used_ms, 0);
}

TEST_P(CatalogContractTest, ConcurrentWritersLoseNothing) {
  constexpr int kThreads = 4, kRuns = 25;
  std::vector<std::thread> threads;
  std::vector<Status> errors(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      auto store = Reopen();
      if (!store.ok()) {
        errors[static_cast<size_t>(t)] = store.status();
        return;
      }
      for (int i = 0; i < kRuns; ++i) {
        auto r = (*store)->CreateRun(MakeRun("conc", {{"t", std::to_string(t)}}));
        Status s = r.status();
        if (s.ok()) {
          s = (*store)->FinishRun(r->id, RunStatus::kFinished, {{"i", double(i)}}, {}, Finished());
        }
        if (s.ok() && i % 5 == 0) {
          s = (*store)->RegisterModel({.name = "conc", .run_id = r->id}).status();
        }
        if (!s.ok()) {
          errors[static_cast<size_t>(t)] = s;
          return;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  for (const auto& e : errors) EXPECT_TRUE(e.ok()) << e.ToString();
  auto all = store_->SearchRuns({"conc", "attributes.status = 'finished'", "", 1000});
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), size_t{kThreads * kRuns});
  auto versions = store_->ListModelVersions("conc");
  ASSERT_TRUE(versions.ok());
  ASSERT_EQ(versions->size(), size_t{kThreads * kRuns / 5});
  for (size_t i = 0; i < versions->size(); ++i) EXPECT_EQ((*versions)[i].version, int64_t(i + 1));
  // Writers on four connections kept one unbroken audit chain: every change, in order.
  auto log = store_->AuditLog(0, "", 100000);
  ASSERT_TRUE(log.ok()) << log.status().ToString();
  EXPECT_EQ(log->size(), size_t{kThreads * kRuns * 2 + kThreads * kRuns / 5});
  auto checkpoints = store_->AuditCheckpoints();
  ASSERT_TRUE(checkpoints.ok());
  const auth::AuditVerdict v = auth::VerifyAudit(*log, *checkpoints, "");
  EXPECT_TRUE(v.ok) << v.first_bad << ": " << v.problem;
}

// Every change is audited in its own transaction, with the caller's actor and request id; a
// change that fails leaves no record.
TEST_P(CatalogContractTest, AuditLogRecordsEveryChange) {
  std::string run_id;
  {
    AuditScope scope({"token:ci", "req-1"});
    auto r = store_->CreateRun(MakeRun("audit", {}));
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    run_id = r->id;
    ASSERT_TRUE(store_->FinishRun(run_id, RunStatus::kFinished, {}, {}, Finished()).ok());
    ASSERT_TRUE(store_->RegisterModel({.name = "churn", .run_id = run_id}).ok());
    ASSERT_TRUE(store_->SetAlias("churn", "production", 1, "token:ci", "ship", std::nullopt).ok());
    // A compare-and-set that fails changes nothing and records nothing.
    EXPECT_FALSE(store_->SetAlias("churn", "production", 1, "token:ci", "x", 7).ok());
    auth::TokenRecord t;
    t.name = "bot";
    t.hash = std::string(64, 'e');
    ASSERT_TRUE(store_->CreateToken(t).ok());
    ASSERT_TRUE(store_->RevokeToken("bot", 5).ok());
  }
  ASSERT_TRUE(store_->AppendAudit("model.load", "churn", "ok", "").ok());
  auto log = store_->AuditLog(0, "", 100);
  ASSERT_TRUE(log.ok()) << log.status().ToString();
  std::vector<std::string> actions;
  for (const auto& r : *log) actions.push_back(r.action + " " + r.target);
  EXPECT_EQ(actions,
            (std::vector<std::string>{"run.start " + run_id, "run.end " + run_id,
                                      "model.register churn:1", "alias.set churn@production",
                                      "token.create bot", "token.revoke bot", "model.load churn"}));
  ASSERT_EQ(log->size(), 7u);
  EXPECT_EQ((*log)[3].actor, "token:ci");
  EXPECT_EQ((*log)[3].request_id, "req-1");
  EXPECT_NE((*log)[3].detail.find("v0 -> v1"), std::string::npos) << (*log)[3].detail;
  EXPECT_EQ((*log)[1].outcome, "finished");
  EXPECT_NE((*log)[6].actor, "token:ci");  // outside the scope: the process default
  EXPECT_EQ((*log)[6].request_id, "");
  EXPECT_EQ(store_->AuditLog(0, "token:ci", 100)->size(), 6u);
  EXPECT_EQ(store_->AuditLog(0, "", 2)->front().action, "token.revoke");  // the newest two
  EXPECT_EQ(store_->AuditLog(INT64_MAX, "", 100)->size(), 0u);
  const auth::AuditVerdict v = auth::VerifyAudit(*log, *store_->AuditCheckpoints(), "");
  EXPECT_TRUE(v.ok) << v.first_bad << ": " << v.problem;
}

TEST_P(CatalogContractTest, DatasetValidations) {
  storage::VersionRecord rec;
  rec.name = "credit";
  rec.manifest = std::string(64, 'a');
  rec.content_hash = std::string(64, 'c');
  ASSERT_TRUE(store_->CommitVersion(rec).ok());
  ValidationRecord v{0, "credit", 1, std::string(64, 'e'), 7, false, "max_rows", 0};
  ASSERT_TRUE(store_->RecordValidation(v).ok());
  v.passed = true;
  v.failed = "";
  auto second = store_->RecordValidation(v);
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  EXPECT_GT(second->at_ms, 0);
  auto checks = store_->Validations("credit", 1);
  ASSERT_TRUE(checks.ok());
  ASSERT_EQ(checks->size(), 2u);
  EXPECT_FALSE((*checks)[0].passed);
  EXPECT_EQ((*checks)[0].failed, "max_rows");
  EXPECT_TRUE((*checks)[1].passed);
  EXPECT_EQ((*checks)[1].checks, 7);
  EXPECT_EQ((*checks)[1].rules_hash, std::string(64, 'e'));
  EXPECT_EQ(store_->Validations("credit", 2)->size(), 0u);
  v.version = 2;  // no such version
  EXPECT_EQ(store_->RecordValidation(v).status().code(), StatusCode::kNotFound);
  v.name = "../x";
  EXPECT_EQ(store_->RecordValidation(v).status().code(), StatusCode::kInvalidArgument);
}

TEST_P(CatalogContractTest, DatasetVersions) {
  storage::VersionRecord rec;
  rec.name = "credit";
  rec.manifest = std::string(64, 'a');
  rec.content_hash = std::string(64, 'c');
  rec.rows = 10;
  rec.message = "it's \"quoted\"; DROP TABLE runs; --";
  EXPECT_EQ(store_->CommitVersion(rec)->version, 1);
  EXPECT_EQ(store_->CommitVersion(rec)->version, 2);
  rec.name = "other";
  EXPECT_EQ(store_->CommitVersion(rec)->version, 1);
  ASSERT_TRUE(store_->DeleteVersion("credit", 2).ok());
  EXPECT_EQ(store_->DeleteVersion("credit", 2).code(), StatusCode::kNotFound);
  rec.name = "credit";
  EXPECT_EQ(store_->CommitVersion(rec)->version, 3);  // numbers are never reused
  auto latest = store_->GetVersion("credit", 0);
  ASSERT_TRUE(latest.ok());
  EXPECT_EQ(latest->version, 3);
  EXPECT_EQ(latest->message, rec.message);
  EXPECT_EQ(store_->GetVersion("credit", 2).status().code(), StatusCode::kNotFound);
  auto versions = store_->ListVersions("credit");
  ASSERT_TRUE(versions.ok());
  ASSERT_EQ(versions->size(), 2u);
  EXPECT_EQ((*versions)[0].version, 1);
  auto all = store_->ListDatasets();
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].name, "credit");
  EXPECT_EQ((*all)[0].version, 3);
  EXPECT_EQ(store_->LiveManifests()->size(), 3u);
  // A second connection sees the same data.
  auto other = Reopen();
  ASSERT_TRUE(other.ok());
  EXPECT_EQ((*other)->GetVersion("other", 1)->rows, 10);
}

INSTANTIATE_TEST_SUITE_P(Backend, CatalogContractTest, ::testing::Values(ContractBackend()));
INSTANTIATE_TEST_SUITE_P(Backend, SearchTest, ::testing::Values(ContractBackend()));

}  // namespace
}  // namespace kiln::registry
