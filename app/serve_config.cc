#include "app/serve_config.h"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include "kiln/base/names.h"

namespace kiln::app {
namespace {

Result<uint64_t> Integer(const YAML::Node& n, const std::string& where, uint64_t max) {
  if (!n.IsScalar())
    return InvalidArgumentError(fmt::format("kiln.yaml: {} must be a number", where));
  const std::string& text = n.Scalar();
  uint64_t v = 0;
  if (text.empty() || text.size() > 19 ||
      text.find_first_not_of("0123456789") != std::string::npos) {
    return InvalidArgumentError(
        fmt::format("kiln.yaml: {} must be a whole number, not '{}'", where, Printable(text)));
  }
  v = std::stoull(text);
  if (v > max) {
    return InvalidArgumentError(fmt::format("kiln.yaml: {} must be at most {}", where, max));
  }
  return v;
}

// Reads the policy keys of `node` over `policy`; `allow_models` for the top level.
Status ReadPolicy(const YAML::Node& node, const std::string& where, bool top,
                  serve::BatchPolicy* policy) {
  if (!node.IsMap())
    return InvalidArgumentError(fmt::format("kiln.yaml: {} must be a mapping", where));
  for (const auto& kv : node) {
    const std::string key = kv.first.as<std::string>();
    const std::string at = where + "." + key;
    if (key == "max_batch_size") {
      KILN_ASSIGN_OR_RETURN(policy->max_batch_size, Integer(kv.second, at, 1u << 20));
      if (policy->max_batch_size == 0) {
        return InvalidArgumentError(fmt::format("kiln.yaml: {} must be at least 1", at));
      }
    } else if (key == "max_queue_delay_us") {
      KILN_ASSIGN_OR_RETURN(uint64_t v, Integer(kv.second, at, 1000000));
      policy->max_queue_delay_us = static_cast<uint32_t>(v);
    } else if (key == "cache") {
      if (!kv.second.IsMap()) {
        return InvalidArgumentError(fmt::format("kiln.yaml: {} must be a mapping", at));
      }
      policy->cache.max_entries = 10000;  // `cache:` turns it on; these are its defaults
      for (const auto& c : kv.second) {
        const std::string ckey = c.first.as<std::string>();
        const std::string cat = at + "." + ckey;
        if (ckey == "max_entries") {
          KILN_ASSIGN_OR_RETURN(policy->cache.max_entries, Integer(c.second, cat, 1ull << 32));
        } else if (ckey == "max_mb") {
          KILN_ASSIGN_OR_RETURN(uint64_t mb, Integer(c.second, cat, 1u << 20));
          policy->cache.max_bytes = mb << 20;
        } else if (ckey == "ttl_seconds") {
          KILN_ASSIGN_OR_RETURN(uint64_t s, Integer(c.second, cat, 30 * 86400));
          policy->cache.ttl_ms = static_cast<uint32_t>(s * 1000);
        } else {
          return InvalidArgumentError(fmt::format(
              "kiln.yaml: unknown key {} (max_entries, max_mb, ttl_seconds)", Printable(cat)));
        }
      }
    } else if (key != (top ? "models" : "routing")) {
      return InvalidArgumentError(
          fmt::format("kiln.yaml: unknown key {} (max_batch_size, max_queue_delay_us, cache, {})",
                      Printable(at), top ? "models" : "routing"));
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

Result<ServingConfig> ParseServingConfig(std::string_view yaml) {
  ServingConfig config;
  if (yaml.empty()) return config;
  try {
    const YAML::Node root = YAML::Load(std::string(yaml));
    if (!root.IsMap()) return config;
    const YAML::Node serving = root["serving"];
    if (!serving || serving.IsNull()) return config;
    KILN_RETURN_IF_ERROR(ReadPolicy(serving, "serving", true, &config.batcher.policy));
    const YAML::Node models = serving["models"];
    if (models && !models.IsNull()) {
      if (!models.IsMap())
        return InvalidArgumentError("kiln.yaml: serving.models must be a mapping");
      for (const auto& kv : models) {
        const std::string name = kv.first.as<std::string>();
        KILN_RETURN_IF_ERROR(ValidateName(name, "kiln.yaml: serving.models model name"));
        serve::BatchPolicy policy = config.batcher.policy;
        KILN_RETURN_IF_ERROR(ReadPolicy(kv.second, "serving.models." + name, false, &policy));
        config.batcher.per_model[name] = policy;
        if (const YAML::Node routing = kv.second["routing"]; routing && !routing.IsNull()) {
          KILN_ASSIGN_OR_RETURN(config.routing[name],
                                ReadRouting(routing, "serving.models." + name + ".routing"));
        }
      }
    }
  } catch (const YAML::Exception& e) {
    return InvalidArgumentError(fmt::format("kiln.yaml: {}", e.what()));
  }
  return config;
}

}  // namespace kiln::app
