#include "kiln/pipeline/config.h"

#include <algorithm>

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include "kiln/base/condition.h"
#include "kiln/base/names.h"
#include "kiln/base/numbers.h"
#include "kiln/registry/gate.h"

namespace kiln::pipeline {
namespace {

Result<uint64_t> Integer(const YAML::Node& n, const std::string& where, uint64_t max) {
  if (!n.IsScalar())
    return InvalidArgumentError(fmt::format("kiln.yaml: {} must be a number", where));
  auto v = ParseUnsigned(n.Scalar(), where, max);
  if (!v.ok()) return InvalidArgumentError(fmt::format("kiln.yaml: {}", v.status().message()));
  return *v;
}

// Reads the policy keys of `node` into `settings` (`top`: the serving section itself).
Status ReadSettings(const YAML::Node& node, const std::string& where, bool top,
                    ModelSettings* settings) {
  if (!node.IsMap())
    return InvalidArgumentError(fmt::format("kiln.yaml: {} must be a mapping", where));
  for (const auto& kv : node) {
    const std::string key = kv.first.as<std::string>();
    const std::string at = where + "." + key;
    if (key == "max_batch_size") {
      KILN_ASSIGN_OR_RETURN(settings->max_batch_size, Integer(kv.second, at, 1u << 20));
      if (*settings->max_batch_size == 0) {
        return InvalidArgumentError(fmt::format("kiln.yaml: {} must be at least 1", at));
      }
    } else if (key == "max_queue_delay_us") {
      KILN_ASSIGN_OR_RETURN(uint64_t v, Integer(kv.second, at, 1000000));
      settings->max_queue_delay_us = static_cast<uint32_t>(v);
    } else if (key == "reject_out_of_range") {
      if (!kv.second.IsScalar() ||
          (kv.second.Scalar() != "true" && kv.second.Scalar() != "false")) {
        return InvalidArgumentError(fmt::format("kiln.yaml: {} must be true or false", at));
      }
      settings->reject_out_of_range = kv.second.Scalar() == "true";
    } else if (key == "cache") {
      if (!kv.second.IsMap()) {
        return InvalidArgumentError(fmt::format("kiln.yaml: {} must be a mapping", at));
      }
      settings->cache = true;
      for (const auto& c : kv.second) {
        const std::string ckey = c.first.as<std::string>();
        const std::string cat = at + "." + ckey;
        if (ckey == "max_entries") {
          KILN_ASSIGN_OR_RETURN(settings->cache_max_entries, Integer(c.second, cat, 1ull << 32));
        } else if (ckey == "max_mb") {
          KILN_ASSIGN_OR_RETURN(uint64_t mb, Integer(c.second, cat, 1u << 20));
          settings->cache_max_bytes = mb << 20;
        } else if (ckey == "ttl_seconds") {
          KILN_ASSIGN_OR_RETURN(uint64_t secs, Integer(c.second, cat, 30 * 86400));
          settings->cache_ttl_ms = static_cast<uint32_t>(secs * 1000);
        } else {
          return InvalidArgumentError(fmt::format(
              "kiln.yaml: unknown key {} (max_entries, max_mb, ttl_seconds)", Printable(cat)));
        }
      }
    } else if (key != (top ? "models" : "routing") &&
               !(top && (key == "rate_limit" || key == "max_connections_per_address"))) {
      return InvalidArgumentError(fmt::format(
          "kiln.yaml: unknown key {} (max_batch_size, max_queue_delay_us, cache, "
          "reject_out_of_range, {})",
          Printable(at), top ? "rate_limit, max_connections_per_address, models" : "routing"));
    }
  }
  return Status::Ok();
}

Result<serve::RoutingPolicy> ReadRouting(const YAML::Node& node, const std::string& where) {
  if (!node.IsMap())
    return InvalidArgumentError(fmt::format("kiln.yaml: {} must be a mapping", where));
  serve::RoutingPolicy policy;
  auto text = [&](const YAML::Node& n, const std::string& at) -> Result<std::string> {
    if (!n.IsScalar()) return InvalidArgumentError(fmt::format("kiln.yaml: {} must be text", at));
    return n.Scalar();
  };
  for (const auto& kv : node) {
    const std::string key = kv.first.as<std::string>();
    const std::string at = where + "." + key;
    if (key == "split") {
      if (!kv.second.IsMap()) {
        return InvalidArgumentError(fmt::format(
            "kiln.yaml: {} must map aliases or versions to weights, e.g. {{production: 90, "
            "canary: 10}}",
            at));
      }
      for (const auto& route : kv.second) {
        const std::string target = route.first.as<std::string>();
        KILN_ASSIGN_OR_RETURN(uint64_t weight, Integer(route.second, at + "." + target, 1000000));
        policy.split.push_back({target, static_cast<uint32_t>(weight)});
      }
    } else if (key == "sticky_key") {
      KILN_ASSIGN_OR_RETURN(policy.sticky_key, text(kv.second, at));
    } else if (key == "shadow") {
      KILN_ASSIGN_OR_RETURN(policy.shadow, text(kv.second, at));
    } else {
      return InvalidArgumentError(
          fmt::format("kiln.yaml: unknown key {} (split, sticky_key, shadow)", Printable(at)));
    }
  }
  if (Status s = serve::ValidateRouting(policy); !s.ok()) {
    return InvalidArgumentError(fmt::format("kiln.yaml: {}: {}", where, s.message()));
  }
  return policy;
}

}  // namespace

serve::BatchPolicy ModelSettings::Over(serve::BatchPolicy p) const {
  if (max_batch_size) p.max_batch_size = *max_batch_size;
  if (max_queue_delay_us) p.max_queue_delay_us = *max_queue_delay_us;
  if (cache) {
    // `cache:` turns the cache on: 10,000 entries unless it says or the defaults do.
    if (p.cache.max_entries == 0) p.cache.max_entries = 10000;
    if (cache_max_entries) p.cache.max_entries = *cache_max_entries;
    if (cache_max_bytes) p.cache.max_bytes = *cache_max_bytes;
    if (cache_ttl_ms) p.cache.ttl_ms = *cache_ttl_ms;
  }
  return p;
}

std::map<std::string, serve::BatchPolicy> ServingConfig::PerModel(
    const serve::BatchPolicy& base) const {
  std::map<std::string, serve::BatchPolicy> out;
  for (const auto& [name, settings] : models) out[name] = settings.Over(base);
  return out;
}

std::map<std::string, bool> ServingConfig::RejectOutOfRange() const {
  std::map<std::string, bool> out;
  for (const auto& [name, settings] : models) {
    if (settings.reject_out_of_range) out[name] = *settings.reject_out_of_range;
  }
  return out;
}

namespace {

// `{rate: R, burst: B}`: R in (0, 1e6] requests per second, B in [1, 1e7] (default 2R).
Result<RateLimit> ReadRate(const YAML::Node& node, const std::string& where) {
  if (!node.IsMap()) {
    return InvalidArgumentError(
        fmt::format("kiln.yaml: {} must be a mapping like {{rate: 100, burst: 200}}", where));
  }
  RateLimit r;
  for (const auto& kv : node) {
    const std::string key = kv.first.as<std::string>();
    const std::string at = where + "." + key;
    if (key != "rate" && key != "burst") {
      return InvalidArgumentError(
          fmt::format("kiln.yaml: unknown key {} (rate, burst)", Printable(at)));
    }
    auto v = kv.second.IsScalar() ? ParseDouble(kv.second.Scalar(), at) : Result<double>(0.0);
    const double hi = key == "rate" ? 1e6 : 1e7, lo = key == "rate" ? 0 : 1;
    if (!v.ok() || !(*v > lo || (key == "burst" && *v == lo)) || *v > hi) {
      return InvalidArgumentError(fmt::format("kiln.yaml: {} must be a number in {}{}, {}]", at,
                                              key == "rate" ? "(" : "[", lo, hi));
    }
    (key == "rate" ? r.rate : r.burst) = *v;
  }
  if (r.rate == 0) return InvalidArgumentError(fmt::format("kiln.yaml: {} needs a rate", where));
  return r;
}

Result<ServingConfig> ReadServing(const YAML::Node& serving) {
  ServingConfig config;
  ModelSettings top;
  KILN_RETURN_IF_ERROR(ReadSettings(serving, "serving", true, &top));
  if (const YAML::Node limit = serving["rate_limit"]; limit && !limit.IsNull()) {
    if (!limit.IsMap())
      return InvalidArgumentError("kiln.yaml: serving.rate_limit must be a mapping");
    for (const auto& kv : limit) {
      const std::string key = kv.first.as<std::string>();
      const std::string at = "serving.rate_limit." + key;
      if (key == "per_token") {
        KILN_ASSIGN_OR_RETURN(config.per_token, ReadRate(kv.second, at));
      } else if (key == "per_address") {
        KILN_ASSIGN_OR_RETURN(config.per_address, ReadRate(kv.second, at));
      } else {
        return InvalidArgumentError(
            fmt::format("kiln.yaml: unknown key {} (per_token, per_address)", Printable(at)));
      }
    }
  }
  if (const YAML::Node n = serving["max_connections_per_address"]; n && !n.IsNull()) {
    KILN_ASSIGN_OR_RETURN(uint64_t v, Integer(n, "serving.max_connections_per_address", 1u << 20));
    config.max_connections_per_address = static_cast<uint32_t>(v);
  }
  config.defaults = top.Over(config.defaults);
  config.reject_out_of_range = top.reject_out_of_range.value_or(false);
  const YAML::Node models = serving["models"];
  if (models && !models.IsNull()) {
    if (!models.IsMap()) return InvalidArgumentError("kiln.yaml: serving.models must be a mapping");
    for (const auto& kv : models) {
      const std::string name = kv.first.as<std::string>();
      KILN_RETURN_IF_ERROR(ValidateName(name, "kiln.yaml: serving.models model name"));
      KILN_RETURN_IF_ERROR(
          ReadSettings(kv.second, "serving.models." + name, false, &config.models[name]));
      if (const YAML::Node routing = kv.second["routing"]; routing && !routing.IsNull()) {
        KILN_ASSIGN_OR_RETURN(config.routing[name],
                              ReadRouting(routing, "serving.models." + name + ".routing"));
      }
    }
  }
  return config;
}

Result<std::string> ReadCatalog(const YAML::Node& catalog) {
  if (!catalog.IsScalar() || catalog.Scalar().empty()) {
    return InvalidArgumentError("kiln.yaml: catalog must be 'sqlite' or a postgresql:// URL");
  }
  return catalog.Scalar();
}

Result<QueueConfig> ReadQueue(const YAML::Node& node) {
  QueueConfig q;
  auto backend = [](const std::string& text) -> Result<std::string> {
    if (text == "catalog" || text.starts_with("redis://")) return text;
    return InvalidArgumentError(fmt::format(
        "kiln.yaml: queue must be 'catalog' or a redis:// URL, not '{}'", Printable(text)));
  };
  if (node.IsScalar()) {
    KILN_ASSIGN_OR_RETURN(q.backend, backend(node.Scalar()));
    return q;
  }
  if (!node.IsMap()) return InvalidArgumentError("kiln.yaml: queue must be a URL or a mapping");
  for (const auto& kv : node) {
    const std::string key = kv.first.as<std::string>();
    const std::string at = "queue." + key;
    if (key == "backend" && kv.second.IsScalar()) {
      KILN_ASSIGN_OR_RETURN(q.backend, backend(kv.second.Scalar()));
    } else if (key == "lease_seconds") {
      double v = 0;
      if (!kv.second.IsScalar() || !YAML::convert<double>::decode(kv.second, v) ||
          !(v >= 0.2 && v <= 86400)) {
        return InvalidArgumentError("kiln.yaml: queue.lease_seconds must be 0.2..86400");
      }
      q.lease_seconds = v;
    } else if (key == "max_attempts") {
      KILN_ASSIGN_OR_RETURN(uint64_t v, Integer(kv.second, at, 100));
      if (v < 1) return InvalidArgumentError("kiln.yaml: queue.max_attempts must be at least 1");
      q.max_attempts = static_cast<int>(v);
    } else {
      return InvalidArgumentError(fmt::format(
          "kiln.yaml: unknown key {} (backend, lease_seconds, max_attempts)", Printable(at)));
    }
  }
  return q;
}

// Calls `f(key, where, value)` for each entry of the mapping `node` (found at `at`), whose values
// must be single values; the first error stops it.
template <typename F>
Status ForEachValue(const YAML::Node& node, const std::string& at, F&& f) {
  if (!node.IsMap())
    return InvalidArgumentError(fmt::format("kiln.yaml: {} must be a mapping", at));
  for (const auto& kv : node) {
    const std::string key = kv.first.as<std::string>();
    const std::string where = at + "." + key;
    if (!kv.second.IsScalar()) {
      return InvalidArgumentError(fmt::format("kiln.yaml: {} must be a single value", where));
    }
    KILN_RETURN_IF_ERROR(f(key, where, kv.second));
  }
  return Status::Ok();
}

// One entry of `monitoring.alerts` (its webhook host is checked against the allowlist later).
Result<monitor::AlertRule> ReadAlert(const YAML::Node& node, size_t index) {
  const std::string at = fmt::format("monitoring.alerts[{}]", index);
  monitor::AlertRule rule;
  Status read = ForEachValue(
      node, at,
      [&](const std::string& key, const std::string& where, const YAML::Node& n) -> Status {
        const std::string value = n.Scalar();
        if (key == "name") {
          KILN_RETURN_IF_ERROR(ValidateName(value, "kiln.yaml: " + where));
          rule.name = value;
        } else if (key == "model") {
          KILN_RETURN_IF_ERROR(ValidateName(value, "kiln.yaml: " + where));
          rule.model = value;
        } else if (key == "expr") {
          rule.expr = value;
        } else if (key == "for") {
          auto ms = ParseDuration(value, where, 0, int64_t{7} * 86'400'000);
          if (!ms.ok())
            return InvalidArgumentError(fmt::format("kiln.yaml: {}", ms.status().message()));
          rule.for_ms = *ms;
        } else if (key == "severity") {
          if (value != "info" && value != "warning" && value != "critical") {
            return InvalidArgumentError(
                fmt::format("kiln.yaml: {} must be info, warning or critical", where));
          }
          rule.severity = value;
        } else if (key == "webhook") {
          KILN_RETURN_IF_ERROR(ParseHttpUrl(value, "kiln.yaml: " + where, 80).status());
          rule.webhook = value;
        } else if (key == "retrain") {
          if (!YAML::convert<bool>::decode(n, rule.retrain)) {
            return InvalidArgumentError(fmt::format("kiln.yaml: {} must be true or false", where));
          }
        } else {
          return InvalidArgumentError(fmt::format(
              "kiln.yaml: unknown key {} (name, model, expr, for, severity, webhook, retrain)",
              Printable(where)));
        }
        return Status::Ok();
      });
  KILN_RETURN_IF_ERROR(read);
  if (rule.name.empty() || rule.expr.empty()) {
    return InvalidArgumentError(fmt::format("kiln.yaml: {} needs a name and an expr", at));
  }
  KILN_ASSIGN_OR_RETURN(
      rule.condition, Condition::Parse(rule.expr, fmt::format("kiln.yaml: alert '{}'", rule.name)));
  for (size_t i = 0; i < rule.condition.clauses(); ++i) {
    for (const std::string& name : rule.condition.Names(i)) {
      if (Status s = monitor::ValidateAlertValueName(name); !s.ok()) {
        return InvalidArgumentError(
            fmt::format("kiln.yaml: alert '{}': {}", rule.name, s.message()));
      }
    }
  }
  return rule;
}

// One entry of `monitoring.retraining`.
Result<RetrainPolicy> ReadRetrainPolicy(const YAML::Node& node, size_t index) {
  const std::string at = fmt::format("monitoring.retraining[{}]", index);
  RetrainPolicy p;
  Status read = ForEachValue(
      node, at,
      [&](const std::string& key, const std::string& where, const YAML::Node& n) -> Status {
        const std::string value = n.Scalar();
        if (key == "model" || key == "alias") {
          KILN_RETURN_IF_ERROR(ValidateName(value, "kiln.yaml: " + where));
          (key == "model" ? p.model : p.alias) = value;
        } else if (key == "data" || key == "holdout") {
          if (auto ref = ParseDatasetRef(value); !ref.ok()) {
            return InvalidArgumentError(
                fmt::format("kiln.yaml: {}: {}", where, ref.status().message()));
          }
          if (!AsDatasetRef(value) || (key == "holdout" && AsDatasetRef(value)->version == 0)) {
            return InvalidArgumentError(fmt::format(
                "kiln.yaml: {} must be a dataset {}, not '{}'", where,
                key == "holdout" ? "version NAME@vN" : "NAME or NAME@vN", Printable(value)));
          }
          (key == "data" ? p.data : p.holdout) = value;
        } else if (key == "gate") {
          if (Status s = registry::ValidateGate(value); !s.ok()) {
            return InvalidArgumentError(fmt::format("kiln.yaml: {}: {}", where, s.message()));
          }
          p.gate = value;
        } else if (key == "new_data") {
          if (!YAML::convert<bool>::decode(n, p.new_data)) {
            return InvalidArgumentError(fmt::format("kiln.yaml: {} must be true or false", where));
          }
        } else if (key == "every") {
          KILN_RETURN_IF_ERROR(
              ParseDuration(value, "kiln.yaml: " + where, 60'000, int64_t{366} * 86'400'000)
                  .status());
          p.every = value;
        } else if (key == "cron") {
          p.cron = value;  // its fields are checked where it becomes a queue schedule
        } else if (key == "cooldown") {
          KILN_ASSIGN_OR_RETURN(p.cooldown_ms, ParseDuration(value, "kiln.yaml: " + where, 0,
                                                             int64_t{30} * 86'400'000));
        } else if (key == "max_per_day") {
          KILN_ASSIGN_OR_RETURN(uint64_t most, Integer(n, where, 1000));
          if (most == 0) {
            return InvalidArgumentError(fmt::format("kiln.yaml: {} must be 1..1000", where));
          }
          p.max_per_day = static_cast<int>(most);
        } else {
          return InvalidArgumentError(
              fmt::format("kiln.yaml: unknown key {} (model, alias, data, holdout, gate, new_data, "
                          "every, cron, cooldown, max_per_day)",
                          Printable(where)));
        }
        return Status::Ok();
      });
  KILN_RETURN_IF_ERROR(read);
  if (p.model.empty() || p.holdout.empty() || p.gate.empty()) {
    return InvalidArgumentError(
        fmt::format("kiln.yaml: {} needs a model, a holdout dataset version and a gate", at));
  }
  if (!p.every.empty() && !p.cron.empty()) {
    return InvalidArgumentError(fmt::format("kiln.yaml: {}: every or cron, not both", at));
  }
  return p;
}

Result<MonitoringConfig> ReadMonitoring(const YAML::Node& node) {
  MonitoringConfig m;
  if (!node.IsMap()) return InvalidArgumentError("kiln.yaml: monitoring must be a mapping");
  for (const auto& kv : node) {
    const std::string key = kv.first.as<std::string>();
    const std::string at = "monitoring." + key;
    if (key == "enabled") {
      bool v = false;
      if (!kv.second.IsScalar() || !YAML::convert<bool>::decode(kv.second, v)) {
        return InvalidArgumentError("kiln.yaml: monitoring.enabled must be true or false");
      }
      m.enabled = v;
    } else if (key == "window" && kv.second.IsScalar()) {
      auto ms = ParseDuration(kv.second.Scalar(), at, 5'000, int64_t{7} * 86'400'000);
      if (!ms.ok())
        return InvalidArgumentError(fmt::format("kiln.yaml: {}", ms.status().message()));
      m.window_ms = *ms;
    } else if (key == "min_samples") {
      KILN_ASSIGN_OR_RETURN(m.min_samples, Integer(kv.second, at, uint64_t{1} << 40));
    } else if (key == "evaluate_every" && kv.second.IsScalar()) {
      auto ms = ParseDuration(kv.second.Scalar(), at, 1'000, 3'600'000);
      if (!ms.ok())
        return InvalidArgumentError(fmt::format("kiln.yaml: {}", ms.status().message()));
      m.evaluate_ms = *ms;
    } else if (key == "webhook_allow") {
      if (!kv.second.IsSequence()) {
        return InvalidArgumentError("kiln.yaml: monitoring.webhook_allow must be a list of hosts");
      }
      for (const auto& host : kv.second) {
        if (!host.IsScalar()) {
          return InvalidArgumentError(
              "kiln.yaml: monitoring.webhook_allow must be a list of hosts");
        }
        m.webhook_allow.push_back(host.Scalar());
      }
    } else if (key == "alerts") {
      if (!kv.second.IsSequence()) {
        return InvalidArgumentError("kiln.yaml: monitoring.alerts must be a list of rules");
      }
      for (size_t i = 0; i < kv.second.size(); ++i) {
        KILN_ASSIGN_OR_RETURN(monitor::AlertRule rule, ReadAlert(kv.second[i], i));
        for (const auto& other : m.alerts) {
          if (other.name == rule.name) {
            return InvalidArgumentError(
                fmt::format("kiln.yaml: two alerts are named '{}'", rule.name));
          }
        }
        m.alerts.push_back(std::move(rule));
      }
    } else if (key == "retraining") {
      if (!kv.second.IsSequence()) {
        return InvalidArgumentError("kiln.yaml: monitoring.retraining must be a list of policies");
      }
      for (size_t i = 0; i < kv.second.size(); ++i) {
        KILN_ASSIGN_OR_RETURN(RetrainPolicy p, ReadRetrainPolicy(kv.second[i], i));
        if (m.Policy(p.model)) {
          return InvalidArgumentError(
              fmt::format("kiln.yaml: two retraining policies for model '{}'", p.model));
        }
        m.retraining.push_back(std::move(p));
      }
    } else if (key == "prediction_log") {
      if (!kv.second.IsMap()) {
        return InvalidArgumentError("kiln.yaml: monitoring.prediction_log must be a mapping");
      }
      for (const auto& log : kv.second) {
        const std::string name = log.first.as<std::string>();
        const std::string where = at + "." + name;
        if (name == "max_mb") {
          KILN_ASSIGN_OR_RETURN(m.log_max_mb, Integer(log.second, where, 65536));
          if (m.log_max_mb == 0) {
            return InvalidArgumentError(fmt::format("kiln.yaml: {} must be at least 1", where));
          }
        } else if (name == "sample") {
          auto v = log.second.IsScalar() ? ParseDouble(log.second.Scalar(), where)
                                         : Result<double>(InvalidArgumentError(where));
          if (!v.ok() || !(*v >= 0 && *v <= 1)) {
            return InvalidArgumentError(
                fmt::format("kiln.yaml: {} must be a number from 0 to 1", where));
          }
          m.log_sample = *v;
        } else {
          return InvalidArgumentError(
              fmt::format("kiln.yaml: unknown key {} (max_mb, sample)", Printable(where)));
        }
      }
    } else {
      return InvalidArgumentError(
          fmt::format("kiln.yaml: unknown key {} (enabled, window, min_samples, prediction_log, "
                      "alerts, evaluate_every, webhook_allow, retraining)",
                      Printable(at)));
    }
  }
  // An alert that retrains names a model with a policy (or, for every model, some policy exists).
  for (const auto& rule : m.alerts) {
    if (!rule.retrain) continue;
    if (rule.model.empty() ? m.retraining.empty() : !m.Policy(rule.model)) {
      return InvalidArgumentError(fmt::format(
          "kiln.yaml: alert '{}' retrains, but monitoring.retraining has no policy for {}",
          rule.name, rule.model.empty() ? "any model" : "model '" + rule.model + "'"));
    }
  }
  // A webhook goes only to a host the allowlist names (none by default): a rule cannot make the
  // server post to anywhere else.
  for (const auto& rule : m.alerts) {
    if (rule.webhook.empty()) continue;
    KILN_ASSIGN_OR_RETURN(HttpUrl url, ParseHttpUrl(rule.webhook, "webhook", 80));
    if (std::find(m.webhook_allow.begin(), m.webhook_allow.end(), url.host) ==
        m.webhook_allow.end()) {
      return InvalidArgumentError(
          fmt::format("kiln.yaml: alert '{}': webhook host '{}' is not in monitoring.webhook_allow",
                      rule.name, Printable(url.host)));
    }
  }
  return m;
}

}  // namespace

const RetrainPolicy* MonitoringConfig::Policy(const std::string& model) const {
  for (const auto& p : retraining) {
    if (p.model == model) return &p;
  }
  return nullptr;
}

Result<Config> ParseConfig(std::string_view yaml) {
  Config config;
  if (yaml.empty()) return config;
  try {
    const YAML::Node root = YAML::Load(std::string(yaml));
    if (root.IsNull()) return config;
    if (!root.IsMap()) return InvalidArgumentError("kiln.yaml: expected a mapping of settings");
    for (const auto& kv : root) {
      const std::string key = kv.first.as<std::string>();
      if (kv.second.IsNull()) continue;
      if (key == "catalog") {
        KILN_ASSIGN_OR_RETURN(config.catalog, ReadCatalog(kv.second));
      } else if (key == "train") {
        if (!kv.second.IsMap()) return InvalidArgumentError("kiln.yaml: train must be a mapping");
        for (const auto& t : kv.second) {
          const std::string tkey = t.first.as<std::string>();
          if (tkey != "require_validated" || !t.second.IsScalar() ||
              (t.second.Scalar() != "true" && t.second.Scalar() != "false")) {
            return InvalidArgumentError(fmt::format(
                "kiln.yaml: train.{}: expected require_validated: true or false", Printable(tkey)));
          }
          config.train_require_validated = t.second.Scalar() == "true";
        }
      } else if (key == "auth") {
        const std::string mode = kv.second.IsScalar() ? kv.second.Scalar() : "";
        if (mode != "required" && mode != "off") {
          return InvalidArgumentError("kiln.yaml: auth must be 'required' or 'off'");
        }
        config.auth_required = mode == "required";
      } else if (key == "serving") {
        KILN_ASSIGN_OR_RETURN(config.serving, ReadServing(kv.second));
      } else if (key == "queue") {
        KILN_ASSIGN_OR_RETURN(config.queue, ReadQueue(kv.second));
      } else if (key == "monitoring") {
        KILN_ASSIGN_OR_RETURN(config.monitoring, ReadMonitoring(kv.second));
      } else {
        const std::string guess =
            ClosestWord(key, {"auth", "catalog", "serving", "queue", "monitoring", "train"});
        return InvalidArgumentError(fmt::format(
            "kiln.yaml: unknown section '{}'{} (auth, catalog, monitoring, queue, serving, train)",
            Printable(key), guess.empty() ? "" : fmt::format(": did you mean '{}'?", guess)));
      }
    }
  } catch (const YAML::Exception& e) {
    return InvalidArgumentError(fmt::format("kiln.yaml: {}", e.what()));
  }
  return config;
}

Result<ServingConfig> ParseServingConfig(std::string_view yaml) {
  KILN_ASSIGN_OR_RETURN(Config config, ParseConfig(yaml));
  return config.serving;
}

}  // namespace kiln::pipeline
