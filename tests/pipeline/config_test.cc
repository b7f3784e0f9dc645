#include "kiln/pipeline/config.h"

#include <gtest/gtest.h>

namespace kiln::pipeline {
namespace {

TEST(ServeConfigTest, DefaultsAndPerModelPolicies) {
  auto none = ParseServingConfig("");
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(none->defaults.max_batch_size, 256u);
  EXPECT_EQ(none->defaults.cache.max_entries, 0u);  // no cache unless configured
  EXPECT_TRUE(ParseServingConfig("catalog: sqlite\n").ok());

  auto c = ParseServingConfig(R"(
catalog: sqlite
serving:
  max_batch_size: 128
  max_queue_delay_us: 50
  models:
    credit-risk:
      max_queue_delay_us: 200
      cache: {max_mb: 8, ttl_seconds: 5}
    churn:
      cache: {max_entries: 7}
      routing:
        split: {production: 90, "7": 10}
        sticky_key: customer
        shadow: staging
)");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->defaults.max_batch_size, 128u);
  EXPECT_EQ(c->defaults.max_queue_delay_us, 50u);
  auto per_model = c->PerModel(c->defaults);
  const auto& credit = per_model.at("credit-risk");
  EXPECT_EQ(credit.max_batch_size, 128u);  // from the defaults
  EXPECT_EQ(credit.max_queue_delay_us, 200u);
  EXPECT_EQ(credit.cache.max_entries, 10000u);
  EXPECT_EQ(credit.cache.max_bytes, 8u << 20);
  EXPECT_EQ(credit.cache.ttl_ms, 5000u);
  EXPECT_EQ(per_model.at("churn").cache.max_entries, 7u);
  EXPECT_EQ(per_model.at("churn").max_queue_delay_us, 50u);
  // Defaults changed afterwards (by command-line flags) reach models that do not set them.
  serve::BatchPolicy flags = c->defaults;
  flags.max_queue_delay_us = 0;
  flags.max_batch_size = 32;
  per_model = c->PerModel(flags);
  EXPECT_EQ(per_model.at("churn").max_queue_delay_us, 0u);
  EXPECT_EQ(per_model.at("churn").max_batch_size, 32u);
  EXPECT_EQ(per_model.at("credit-risk").max_queue_delay_us, 200u);  // its own setting stays
  // A model's cache block inherits what the section's cache block sets.
  auto inherit = ParseServingConfig(
      "serving:\n  cache: {max_entries: 500}\n  models:\n    m:\n      cache: {ttl_seconds: 5}\n");
  ASSERT_TRUE(inherit.ok()) << inherit.status().ToString();
  const auto m = inherit->PerModel(inherit->defaults).at("m");
  EXPECT_EQ(m.cache.max_entries, 500u);
  EXPECT_EQ(m.cache.ttl_ms, 5000u);
  ASSERT_EQ(c->routing.size(), 1u);
  const auto& r = c->routing.at("churn");
  ASSERT_EQ(r.split.size(), 2u);
  EXPECT_EQ(r.split[0].target, "production");
  EXPECT_EQ(r.split[0].weight, 90u);
  EXPECT_EQ(r.split[1].target, "7");
  EXPECT_EQ(r.sticky_key, "customer");
  EXPECT_EQ(r.shadow, "staging");
}

// Each kiln.yaml text is refused with InvalidArgument, its message holding the expected text.
template <size_t N>
void ExpectRefused(const std::pair<const char*, const char*> (&cases)[N]) {
  for (const auto& [yaml, expected] : cases) {
    auto c = ParseConfig(yaml);
    ASSERT_FALSE(c.ok()) << yaml;
    EXPECT_EQ(c.status().code(), StatusCode::kInvalidArgument) << yaml;
    EXPECT_NE(c.status().message().find(expected), std::string::npos)
        << yaml << " -> " << c.status().message();
  }
}

TEST(ServeConfigTest, MistakesNameTheKey) {
  const std::pair<const char*, const char*> cases[] = {
      {"serving:\n  max_batch_sise: 3\n", "serving.max_batch_sise"},
      {"serving:\n  max_batch_size: 0\n", "at least 1"},
      {"serving:\n  max_batch_size: -4\n", "whole number"},
      {"serving:\n  max_queue_delay_us: 99999999\n", "at most"},
      {"serving:\n  models:\n    m:\n      cache: {ttl: 3}\n", "serving.models.m.cache.ttl"},
      {"serving:\n  models:\n    m:\n      models: {}\n", "serving.models.m.models"},
      {"serving:\n  models:\n    ../x: {}\n", "model name"},
      {"serving:\n  models: [a, b]\n", "mapping"},
      {"serving: [1\n", "kiln.yaml"},
      {"serving:\n  routing: {}\n", "serving.routing"},
      {"serving:\n  models:\n    m:\n      routing: {split: {a: 0}}\n", "positive"},
      {"serving:\n  models:\n    m:\n      routing: {split: [a]}\n", "weights"},
      {"serving:\n  models:\n    m:\n      routing: {mirror: a}\n", "routing.mirror"},
      {"serving:\n  rate_limit: {per_user: {rate: 1}}\n", "serving.rate_limit.per_user"},
      {"serving:\n  rate_limit: {per_token: {rate: 0}}\n", "per_token.rate must be a number"},
      {"serving:\n  rate_limit: {per_token: {rate: -1}}\n", "per_token.rate"},
      {"serving:\n  rate_limit: {per_token: {rate: nan}}\n", "per_token.rate"},
      {"serving:\n  rate_limit: {per_token: {burst: 5}}\n", "needs a rate"},
      {"serving:\n  rate_limit: {per_address: {rate: 5, burst: 0.5}}\n", "per_address.burst"},
      {"serving:\n  rate_limit: {per_address: {rate: 5, every: 1}}\n", "per_address.every"},
      {"serving:\n  rate_limit: 5\n", "serving.rate_limit must be a mapping"},
      {"serving:\n  max_connections_per_address: -1\n", "max_connections_per_address"},
      {"serving:\n  models:\n    m:\n      rate_limit: {}\n", "serving.models.m.rate_limit"},
      {"serving:\n  reject_out_of_range: yes\n", "reject_out_of_range must be true or false"},
  };
  ExpectRefused(cases);
}

TEST(ServeConfigTest, RateLimits) {
  auto c = ParseConfig(
      "serving:\n  rate_limit:\n    per_token: {rate: 100, burst: 250}\n"
      "    per_address: {rate: 0.5}\n  max_connections_per_address: 64\n");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->serving.per_token.rate, 100);
  EXPECT_EQ(c->serving.per_token.burst, 250);
  EXPECT_EQ(c->serving.per_address.rate, 0.5);
  EXPECT_EQ(c->serving.per_address.burst, 0);
  EXPECT_EQ(c->serving.max_connections_per_address, 64u);
  auto none = ParseConfig("");
  EXPECT_EQ(none->serving.per_token.rate, 0);
  EXPECT_EQ(none->serving.max_connections_per_address, 0u);
  EXPECT_FALSE(none->serving.reject_out_of_range);
  auto r = ParseConfig(
      "serving:\n  reject_out_of_range: true\n  models:\n    a: {reject_out_of_range: false}\n"
      "    b: {max_batch_size: 4}\n");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->serving.reject_out_of_range);
  EXPECT_EQ(r->serving.RejectOutOfRange(), (std::map<std::string, bool>{{"a", false}}));
}

TEST(ConfigTest, OneTypedConfigForEverySection) {
  auto none = ParseConfig("");
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(none->catalog, "sqlite");
  auto c = ParseConfig("catalog: postgresql://kiln@db/kiln\nserving:\n  max_batch_size: 8\n");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->catalog, "postgresql://kiln@db/kiln");
  EXPECT_EQ(c->serving.defaults.max_batch_size, 8u);
  EXPECT_TRUE(ParseConfig("# only a comment\n").ok());
  EXPECT_EQ(none->queue.backend, "catalog");
  EXPECT_EQ(none->queue.lease_seconds, 30);
  auto q = ParseConfig("queue: {backend: redis://127.0.0.1:6379/0, lease_seconds: 5}\n");
  ASSERT_TRUE(q.ok()) << q.status().ToString();
  EXPECT_EQ(q->queue.backend, "redis://127.0.0.1:6379/0");
  EXPECT_EQ(q->queue.lease_seconds, 5);
  EXPECT_EQ(ParseConfig("queue: redis://h:1/0\n")->queue.backend, "redis://h:1/0");
  EXPECT_TRUE(ParseConfig("serving:\n").ok());
  EXPECT_TRUE(none->monitoring.enabled);
  EXPECT_EQ(none->monitoring.window_ms, 600'000);
  EXPECT_EQ(none->monitoring.log_max_mb, 16u);
  EXPECT_EQ(none->monitoring.log_sample, 1.0);
  auto m = ParseConfig(
      "monitoring: {enabled: false, window: 90s, min_samples: 50,\n"
      "             prediction_log: {max_mb: 4, sample: 0.25}}\n");
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_FALSE(m->monitoring.enabled);
  EXPECT_EQ(m->monitoring.window_ms, 90'000);
  EXPECT_EQ(m->monitoring.min_samples, 50u);
  EXPECT_EQ(m->monitoring.log_max_mb, 4u);
  EXPECT_EQ(m->monitoring.log_sample, 0.25);
  EXPECT_TRUE(none->monitoring.alerts.empty());
  EXPECT_EQ(none->monitoring.evaluate_ms, 15'000);
}

TEST(ConfigTest, AlertRules) {
  auto c = ParseConfig(
      "monitoring:\n"
      "  evaluate_every: 5s\n"
      "  alerts:\n"
      "    - {name: drift, expr: drift.share > 0.3, for: 5m, severity: critical}\n"
      "    - name: income\n"
      "      model: credit-risk\n"
      "      expr: feature_drift.Income.psi > 0.25 and live.auc < model.valid.auc - 0.05\n"
      "      webhook: http://127.0.0.1:9000/hooks/kiln\n"
      "  webhook_allow: [127.0.0.1]\n");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  const auto& a = c->monitoring.alerts;
  ASSERT_EQ(a.size(), 2u);
  EXPECT_EQ(c->monitoring.evaluate_ms, 5'000);
  EXPECT_EQ(a[0].name, "drift");
  EXPECT_EQ(a[0].for_ms, 300'000);
  EXPECT_EQ(a[0].severity, "critical");
  EXPECT_EQ(a[0].condition.clauses(), 1u);
  EXPECT_EQ(a[1].model, "credit-risk");
  EXPECT_EQ(a[1].severity, "warning");
  EXPECT_EQ(a[1].condition.clauses(), 2u);
  EXPECT_EQ(a[1].webhook, "http://127.0.0.1:9000/hooks/kiln");

  const std::pair<const char*, const char*> bad[] = {
      {"monitoring: {alerts: [{name: a, expr: drift.share >}]}\n", "alert 'a': unexpected end"},
      {"monitoring: {alerts: [{name: a, expr: drift.shares > 1}]}\n",
       "unknown value 'drift.shares'"},
      {"monitoring: {alerts: [{name: a, expr: feature_drift.x.pis > 1}]}\n",
       "unknown value 'feature_drift.x.pis'"},
      {"monitoring: {alerts: [{expr: drift.share > 1}]}\n", "needs a name and an expr"},
      {"monitoring: {alerts: [{name: a, expr: drift.share > 1}, {name: a, expr: live.auc < 1}]}\n",
       "two alerts are named 'a'"},
      {"monitoring: {alerts: [{name: a, expr: drift.share > 1, severity: loud}]}\n",
       "must be info, warning or critical"},
      {"monitoring: {alerts: [{name: a, expr: drift.share > 1, webhook: http://evil.example/x}]}\n",
       "webhook host 'evil.example' is not in monitoring.webhook_allow"},
      {"monitoring: {alerts: [{name: a, expr: drift.share > 1, webhook: file:///etc/passwd}]}\n",
       "not an http:// URL"},
      {"monitoring: {alerts: [{name: ../a, expr: drift.share > 1}]}\n", "alerts[0].name"},
      {"monitoring: {alerts: [{name: a, expr: drift.share > 1, retrain: true}]}\n",
       "alert 'a' retrains, but monitoring.retraining has no policy for any model"},
      {"monitoring: {alerts: [{name: a, expr: drift.share > 1, retrain: yes please}]}\n",
       "alerts[0].retrain must be true or false"},
      {"monitoring: {alerts: [{name: a, expr: drift.share > 1, retriain: true}]}\n",
       "unknown key monitoring.alerts[0].retriain"},
      {"monitoring: {evaluate_every: 10ms}\n", "monitoring.evaluate_every"},
  };
  for (const auto& [yaml, message] : bad) {
    auto r = ParseConfig(yaml);
    ASSERT_FALSE(r.ok()) << yaml;
    EXPECT_NE(r.status().message().find(message), std::string::npos)
        << yaml << " -> " << r.status().message();
  }
}

TEST(ConfigTest, RetrainingPolicies) {
  auto c = ParseConfig(
      "monitoring:\n"
      "  alerts:\n"
      "    - {name: acc, model: credit-risk, expr: live.auc < 0.7, retrain: true}\n"
      "  retraining:\n"
      "    - model: credit-risk\n"
      "      data: credit\n"
      "      holdout: credit-q1@v1\n"
      "      gate: auc >= champion.auc - 0.005\n"
      "      new_data: true\n"
      "      cron: \"0 3 * * *\"\n"
      "      cooldown: 2h\n"
      "      max_per_day: 5\n"
      "    - {model: other, alias: live, holdout: x@v2, gate: rmse <= champion.rmse, every: 6h}\n");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  const auto& m = c->monitoring;
  EXPECT_TRUE(m.alerts[0].retrain);
  ASSERT_EQ(m.retraining.size(), 2u);
  const RetrainPolicy* p = m.Policy("credit-risk");
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->alias, "production");
  EXPECT_EQ(p->data, "credit");
  EXPECT_EQ(p->holdout, "credit-q1@v1");
  EXPECT_EQ(p->gate, "auc >= champion.auc - 0.005");
  EXPECT_TRUE(p->new_data);
  EXPECT_EQ(p->cron, "0 3 * * *");
  EXPECT_EQ(p->cooldown_ms, 7'200'000);
  EXPECT_EQ(p->max_per_day, 5);
  const RetrainPolicy* q = m.Policy("other");
  ASSERT_NE(q, nullptr);
  EXPECT_EQ(q->alias, "live");
  EXPECT_EQ(q->every, "6h");
  EXPECT_FALSE(q->new_data);
  EXPECT_EQ(q->cooldown_ms, 3'600'000);
  EXPECT_EQ(q->max_per_day, 3);
  EXPECT_EQ(m.Policy("nobody"), nullptr);

  const std::string base = "monitoring: {retraining: [{model: m, holdout: h@v1, gate: auc >= 0";
  const std::pair<std::string, const char*> bad[] = {
      {"monitoring: {retraining: [{model: m, gate: auc >= 0}]}\n",
       "needs a model, a holdout dataset version and a gate"},
      {"monitoring: {retraining: [{model: m, holdout: h, gate: auc >= 0}]}\n",
       "holdout must be a dataset version NAME@vN"},
      {"monitoring: {retraining: [{model: m, holdout: /etc/h.csv, gate: auc >= 0}]}\n",
       "monitoring.retraining[0].holdout: dataset name"},
      {base + ", data: ../x.csv}]}\n", "retraining[0].data: dataset name"},
      {base + ", data: x.csv}]}\n", "retraining[0].data must be a dataset NAME or NAME@vN"},
      {base + ", gate: auc >=}]}\n", "retraining[0].gate: "},
      {base + ", every: 10s}]}\n", "retraining[0].every must be between 60000 ms"},
      {base + ", every: 1d, cron: '0 3 * * *'}]}\n", "every or cron, not both"},
      {base + ", cooldown: soon}]}\n", "retraining[0].cooldown"},
      {base + ", max_per_day: 0}]}\n", "max_per_day must be 1..1000"},
      {base + ", new_data: often}]}\n", "new_data must be true or false"},
      {base + ", schedule: 1d}]}\n", "unknown key monitoring.retraining[0].schedule"},
      {base + "}, {model: m, holdout: h@v1, gate: auc >= 0}]}\n",
       "two retraining policies for model 'm'"},
      {"monitoring: {retraining: {model: m}}\n", "must be a list of policies"},
      {base + "}], alerts: [{name: a, model: n, expr: drift.share > 1, retrain: true}]}\n",
       "alert 'a' retrains, but monitoring.retraining has no policy for model 'n'"},
  };
  for (const auto& [yaml, message] : bad) {
    auto r = ParseConfig(yaml);
    ASSERT_FALSE(r.ok()) << yaml;
    EXPECT_NE(r.status().message().find(message), std::string::npos)
        << yaml << " -> " << r.status().message();
  }
}

TEST(ConfigTest, UnknownSectionsAndBadValuesNameThemselves) {
  const std::pair<const char*, const char*> cases[] = {
      {"catalgo: sqlite\n", "unknown section 'catalgo': did you mean 'catalog'?"},
      {"monitoring_x: {}\n", "unknown section 'monitoring_x': did you mean 'monitoring'?"},
      {"sections: {}\n",
       "unknown section 'sections' (auth, catalog, monitoring, queue, serving, train)"},
      {"monitoring: {window: 1s}\n", "monitoring.window must be between 5000 ms"},
      {"monitoring: {prediction_log: {sample: 2}}\n",
       "monitoring.prediction_log.sample must be a number from 0 to 1"},
      {"monitoring: {prediction_log: {max_mb: 0}}\n",
       "monitoring.prediction_log.max_mb must be at least 1"},
      {"monitoring: {prediction_log: {max_bytes: 3}}\n",
       "unknown key monitoring.prediction_log.max_bytes"},
      {"monitoring: {window: 10 minutes}\n", "expected a whole number and a unit"},
      {"monitoring: {window: 8d}\n", "monitoring.window"},
      {"monitoring: {enabled: maybe}\n", "monitoring.enabled must be true or false"},
      {"monitoring: {min_samples: -1}\n", "monitoring.min_samples"},
      {"monitoring: {windows: 10m}\n", "unknown key monitoring.windows"},
      {"monitoring: [1]\n", "monitoring must be a mapping"},
      {"catalog: [a]\n", "catalog must be"},
      {"- a\n- b\n", "mapping of settings"},
      {"catalog: {a: [1\n", "kiln.yaml"},
      {"queue: rabbitmq://x\n", "queue must be 'catalog' or a redis:// URL"},
      {"queue: {lease_seconds: 0.1}\n", "0.2..86400"},
      {"queue: {lease_seconds: x}\n", "0.2..86400"},
      {"queue: {max_attempts: 0}\n", "at least 1"},
      {"queue: {lease: 5}\n", "queue.lease"},
  };
  ExpectRefused(cases);
}

}  // namespace
}  // namespace kiln::pipeline
