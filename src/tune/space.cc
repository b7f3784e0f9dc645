#include "kiln/tune/space.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "kiln/learn/params.h"

namespace kiln::tune {

namespace {

constexpr size_t kMaxParams = 64;
constexpr size_t kMaxValues = 256;

Status CheckSpec(const ParamSpec& p) {
  const std::string what = fmt::format("space.yaml: '{}'", p.name);
  if (learn::CanonicalParamName(p.name) != p.name) {
    return InvalidArgumentError(
        fmt::format("{}: not a parameter name (aliases are resolved by "
                    "whoever builds the space)",
                    what));
  }
  if (p.name == "max_bin" || p.name == "threads") {
    return InvalidArgumentError(
        fmt::format("{}: cannot be tuned (trials share one binning and the threads)", what));
  }
  if (p.type == ParamSpec::Type::kCategorical) {
    if (p.values.empty() || p.values.size() > kMaxValues) {
      return InvalidArgumentError(fmt::format("{}: values must list 1..256 choices", what));
    }
  } else {
    if (!(p.low <= p.high)) return InvalidArgumentError(fmt::format("{}: low > high", what));
    if (p.log && p.low <= 0)
      return InvalidArgumentError(fmt::format("{}: log needs low > 0", what));
    if (p.type == ParamSpec::Type::kInt &&
        (p.low != std::floor(p.low) || p.high != std::floor(p.high))) {
      return InvalidArgumentError(fmt::format("{}: int bounds must be whole numbers", what));
    }
  }
  // Every value the space can produce must be one the trainer takes: check the ends.
  std::vector<std::string> probes = p.values;
  if (p.type != ParamSpec::Type::kCategorical) probes = {ValueText(p, p.low), ValueText(p, p.high)};
  for (const auto& v : probes) {
    learn::GbdtParams params;
    Status s = params.Set(p.name, v);
    if (s.ok()) s = params.Validate();
    if (!s.ok()) return InvalidArgumentError(fmt::format("{}: {}", what, s.message()));
  }
  return Status::Ok();
}

}  // namespace

std::string ValueText(const ParamSpec& spec, double value) {
  switch (spec.type) {
    case ParamSpec::Type::kInt:
      return fmt::format("{}", static_cast<int64_t>(std::llround(value)));
    case ParamSpec::Type::kFloat:
      return fmt::format("{}", value);
    default: {
      const auto i = static_cast<size_t>(std::clamp<double>(value, 0, spec.values.size() - 1));
      return spec.values[i];
    }
  }
}

Result<double> ParseValue(const ParamSpec& spec, std::string_view text) {
  if (spec.type == ParamSpec::Type::kCategorical) {
    for (size_t i = 0; i < spec.values.size(); ++i) {
      if (spec.values[i] == text) return static_cast<double>(i);
    }
    return InvalidArgumentError(fmt::format("'{}' is not a value of {}", text, spec.name));
  }
  const std::string t(text);
  char* end = nullptr;
  const double v = std::strtod(t.c_str(), &end);
  if (t.empty() || end != t.c_str() + t.size() || !std::isfinite(v)) {
    return InvalidArgumentError(fmt::format("'{}' is not a number for {}", t, spec.name));
  }
  return v;
}

Status ValidateSpace(const SearchSpace& space) {
  if (space.params.empty()) return InvalidArgumentError("space.yaml: no parameters");
  if (space.params.size() > kMaxParams) {
    return InvalidArgumentError("space.yaml: more than 64 parameters");
  }
  for (size_t i = 0; i < space.params.size(); ++i) {
    for (size_t k = 0; k < i; ++k) {
      if (space.params[k].name == space.params[i].name) {
        return InvalidArgumentError(
            fmt::format("space.yaml: '{}' listed twice", space.params[i].name.substr(0, 64)));
      }
    }
    KILN_RETURN_IF_ERROR(CheckSpec(space.params[i]));
  }
  return Status::Ok();
}

}  // namespace kiln::tune
