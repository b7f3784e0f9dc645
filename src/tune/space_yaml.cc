// space.yaml -> SearchSpace, the one place the tuner reads YAML.
#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include "kiln/learn/params.h"
#include "kiln/tune/space.h"

namespace kiln::tune {

// space.yaml -> SearchSpace (checked by ValidateSpace).
Result<SearchSpace> ParseSpace(std::string_view yaml) {
  SearchSpace space;
  try {
    const YAML::Node root = YAML::Load(std::string(yaml));
    if (!root.IsMap() || root.size() == 0) {
      return InvalidArgumentError("space.yaml: expected a mapping of parameter -> {type, ...}");
    }
    for (const auto& kv : root) {
      ParamSpec p;
      p.name = kv.first.as<std::string>();
      const std::string what = fmt::format("space.yaml: '{}'", p.name.substr(0, 64));
      // Aliases (eta, n_estimators, ...) become the names trials record their params under.
      const std::string_view canonical = learn::CanonicalParamName(p.name);
      if (canonical.empty()) return InvalidArgumentError(what + ": unknown parameter");
      p.name = std::string(canonical);
      const YAML::Node& n = kv.second;
      if (!n.IsMap()) return InvalidArgumentError(what + ": expected {type, low, high, ...}");
      for (const auto& field : n) {
        const std::string f = field.first.as<std::string>();
        if (f != "type" && f != "low" && f != "high" && f != "log" && f != "values") {
          return InvalidArgumentError(fmt::format("{}: unknown field '{}'", what, f.substr(0, 32)));
        }
      }
      const std::string type = n["type"] ? n["type"].as<std::string>() : "";
      if (type == "int") {
        p.type = ParamSpec::Type::kInt;
      } else if (type == "float") {
        p.type = ParamSpec::Type::kFloat;
      } else if (type == "categorical") {
        p.type = ParamSpec::Type::kCategorical;
      } else {
        return InvalidArgumentError(what + ": type must be int, float or categorical");
      }
      if (p.type == ParamSpec::Type::kCategorical) {
        if (!n["values"] || !n["values"].IsSequence()) {
          return InvalidArgumentError(what + ": categorical needs values: [...]");
        }
        for (const auto& v : n["values"]) {
          if (!v.IsScalar()) return InvalidArgumentError(what + ": values must be scalars");
          p.values.push_back(v.Scalar());
        }
      } else {
        for (const char* bound : {"low", "high"}) {
          if (!n[bound] || !n[bound].IsScalar()) {
            return InvalidArgumentError(fmt::format("{}: {} must be a number", what, bound));
          }
          auto v = ParseValue(p, n[bound].Scalar());
          if (!v.ok()) return v.status().WithContext(fmt::format("{} {}", what, bound));
          (std::string_view(bound) == "low" ? p.low : p.high) = *v;
        }
        if (n["log"]) p.log = n["log"].as<bool>();
      }
      space.params.push_back(std::move(p));
    }
  } catch (const YAML::Exception& e) {
    return InvalidArgumentError(fmt::format("space.yaml: {}", e.what()));
  }
  KILN_RETURN_IF_ERROR(ValidateSpace(space));
  return space;
}

}  // namespace kiln::tune
