#include "kiln/ingest/config.h"

#include <charconv>
#include <exception>
#include <vector>

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

namespace kiln::ingest {
namespace {

// A plain tree copied out of yaml-cpp under limits (so alias bombs and deep nesting stop here).
struct Tree {
  enum class Kind { kNull, kScalar, kSeq, kMap } kind = Kind::kNull;
  std::string scalar;
  std::vector<Tree> seq;
  std::vector<std::string> keys;  // a map: keys[i] -> values[i], in document order
  std::vector<Tree> values;
};

struct Budget {
  const Limits& limits;
  uint64_t nodes = 0;
};

Status Copy(const YAML::Node& n, uint32_t depth, Budget* b, Tree* out) {
  if (depth > b->limits.max_nesting_depth) {
    return InvalidArgumentError(fmt::format("nested deeper than {}", b->limits.max_nesting_depth));
  }
  if (++b->nodes > b->limits.max_config_nodes) {
    return InvalidArgumentError(
        fmt::format("more than {} nodes (alias expansion?)", b->limits.max_config_nodes));
  }
  const std::string& tag = n.Tag();
  if (!tag.empty() && tag != "?" && tag != "!") {
    return InvalidArgumentError(fmt::format("explicit tag '{}' is not allowed", tag.substr(0, 64)));
  }
  switch (n.Type()) {
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      out->kind = Tree::Kind::kNull;
      break;
    case YAML::NodeType::Scalar:
      out->kind = Tree::Kind::kScalar;
      out->scalar = n.Scalar();
      break;
    case YAML::NodeType::Sequence:
      out->kind = Tree::Kind::kSeq;
      for (const auto& child : n) {
        out->seq.emplace_back();
        KILN_RETURN_IF_ERROR(Copy(child, depth + 1, b, &out->seq.back()));
      }
      break;
    case YAML::NodeType::Map:
      out->kind = Tree::Kind::kMap;
      for (const auto& kv : n) {
        if (!kv.first.IsScalar()) return InvalidArgumentError("map keys must be scalars");
        out->keys.push_back(kv.first.Scalar());
        out->values.emplace_back();
        KILN_RETURN_IF_ERROR(Copy(kv.second, depth + 1, b, &out->values.back()));
      }
      break;
  }
  return Status::Ok();
}

Result<Tree> Load(std::string_view text, const Limits& limits) {
  if (text.size() > limits.max_config_bytes) {
    return InvalidArgumentError(fmt::format("larger than {} bytes", limits.max_config_bytes));
  }
  try {
    YAML::Node root = YAML::Load(std::string(text));
    Tree t;
    Budget b{limits};
    KILN_RETURN_IF_ERROR(Copy(root, 0, &b, &t));
    return t;
  } catch (const std::exception& e) {
    return InvalidArgumentError(fmt::format("invalid YAML: {}", e.what()));
  }
}

Status Expect(const Tree& t, Tree::Kind kind, std::string_view where) {
  if (t.kind == kind) return Status::Ok();
  static constexpr std::string_view kNames[] = {"null", "a scalar", "a list", "a map"};
  return InvalidArgumentError(
      fmt::format("{}: expected {}", where, kNames[static_cast<int>(kind)]));
}

Result<double> Number(const Tree& t, std::string_view where) {
  KILN_RETURN_IF_ERROR(Expect(t, Tree::Kind::kScalar, where));
  double v;
  const std::string& s = t.scalar;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) {
    return InvalidArgumentError(fmt::format("{}: '{}' is not a number", where, s.substr(0, 64)));
  }
  return v;
}

// A whole number of rows in [0, 2^53] (exactly representable, no overflow converting it).
Result<int64_t> RowCount(const Tree& t, const std::string& where) {
  KILN_ASSIGN_OR_RETURN(double v, Number(t, where));
  if (!(v >= 0 && v <= 9007199254740992.0) || v != static_cast<double>(static_cast<int64_t>(v))) {
    return InvalidArgumentError(fmt::format("{}: expected a whole number of rows", where));
  }
  return static_cast<int64_t>(v);
}

Result<bool> Bool(const Tree& t, std::string_view where) {
  KILN_RETURN_IF_ERROR(Expect(t, Tree::Kind::kScalar, where));
  if (t.scalar == "true") return true;
  if (t.scalar == "false") return false;
  return InvalidArgumentError(fmt::format("{}: expected true or false", where));
}

Status UnknownKey(std::string_view key, std::string_view where, std::string_view allowed) {
  return InvalidArgumentError(
      fmt::format("{}: unknown key '{}' (allowed: {})", where, key.substr(0, 64), allowed));
}

Result<ColumnOverride> ParseOverride(const Tree& t, const std::string& where) {
  KILN_RETURN_IF_ERROR(Expect(t, Tree::Kind::kMap, where));
  ColumnOverride o;
  for (size_t i_k = 0; i_k < t.keys.size(); ++i_k) {
    const std::string& k = t.keys[i_k];
    const Tree& v = t.values[i_k];
    KILN_RETURN_IF_ERROR(Expect(v, Tree::Kind::kScalar, where + "." + k));
    if (k == "type") {
      KILN_ASSIGN_OR_RETURN(o.type, data::ParseDataType(v.scalar));
    } else if (k == "role") {
      KILN_ASSIGN_OR_RETURN(o.role, data::ParseColumnRole(v.scalar));
    } else {
      return UnknownKey(k, where, "type, role");
    }
  }
  return o;
}

Result<data::ColumnRule> ParseColumnRule(const std::string& name, const Tree& t) {
  const std::string where = "columns." + name.substr(0, 100);
  KILN_RETURN_IF_ERROR(Expect(t, Tree::Kind::kMap, where));
  data::ColumnRule r;
  r.name = name;
  for (size_t i_k = 0; i_k < t.keys.size(); ++i_k) {
    const std::string& k = t.keys[i_k];
    const Tree& v = t.values[i_k];
    const std::string at = where + "." + k;
    if (k == "required") {
      KILN_ASSIGN_OR_RETURN(r.required, Bool(v, at));
    } else if (k == "type") {
      KILN_RETURN_IF_ERROR(Expect(v, Tree::Kind::kScalar, at));
      KILN_ASSIGN_OR_RETURN(r.type, data::ParseDataType(v.scalar));
    } else if (k == "max_null_fraction") {
      KILN_ASSIGN_OR_RETURN(r.max_null_fraction, Number(v, at));
    } else if (k == "min") {
      KILN_ASSIGN_OR_RETURN(r.min, Number(v, at));
    } else if (k == "max") {
      KILN_ASSIGN_OR_RETURN(r.max, Number(v, at));
    } else if (k == "unique") {
      KILN_ASSIGN_OR_RETURN(r.unique, Bool(v, at));
    } else if (k == "max_psi") {
      KILN_ASSIGN_OR_RETURN(r.max_psi, Number(v, at));
    } else if (k == "allowed") {
      KILN_RETURN_IF_ERROR(Expect(v, Tree::Kind::kSeq, at));
      std::vector<std::string> values;
      for (const auto& e : v.seq) {
        KILN_RETURN_IF_ERROR(Expect(e, Tree::Kind::kScalar, at));
        values.push_back(e.scalar);
      }
      r.allowed = std::move(values);
    } else {
      return UnknownKey(k, where,
                        "required, type, max_null_fraction, min, max, allowed, unique, max_psi");
    }
  }
  return r;
}

}  // namespace

Result<SchemaOverrides> ParseSchemaYaml(std::string_view text, const Limits& limits) {
  KILN_ASSIGN_OR_RETURN(Tree root, Load(text, limits));
  KILN_RETURN_IF_ERROR(Expect(root, Tree::Kind::kMap, "schema"));
  SchemaOverrides out;
  for (size_t i_k = 0; i_k < root.keys.size(); ++i_k) {
    const std::string& k = root.keys[i_k];
    const Tree& v = root.values[i_k];
    if (k != "columns") return UnknownKey(k, "schema", "columns");
    KILN_RETURN_IF_ERROR(Expect(v, Tree::Kind::kMap, "columns"));
    for (size_t i_name = 0; i_name < v.keys.size(); ++i_name) {
      const std::string& name = v.keys[i_name];
      const Tree& spec = v.values[i_name];
      KILN_ASSIGN_OR_RETURN(out[name], ParseOverride(spec, "columns." + name.substr(0, 100)));
    }
  }
  return out;
}

Result<data::Rules> ParseRulesYaml(std::string_view text, const Limits& limits) {
  KILN_ASSIGN_OR_RETURN(Tree root, Load(text, limits));
  KILN_RETURN_IF_ERROR(Expect(root, Tree::Kind::kMap, "rules"));
  data::Rules rules;
  for (size_t i_k = 0; i_k < root.keys.size(); ++i_k) {
    const std::string& k = root.keys[i_k];
    const Tree& v = root.values[i_k];
    if (k == "rows") {
      KILN_RETURN_IF_ERROR(Expect(v, Tree::Kind::kMap, "rows"));
      for (size_t i_rk = 0; i_rk < v.keys.size(); ++i_rk) {
        const std::string& rk = v.keys[i_rk];
        const Tree& rv = v.values[i_rk];
        if (rk != "min" && rk != "max") return UnknownKey(rk, "rows", "min, max");
        KILN_ASSIGN_OR_RETURN(int64_t n, RowCount(rv, "rows." + rk));
        (rk == "min" ? rules.min_rows : rules.max_rows) = n;
      }
    } else if (k == "allow_extra_columns") {
      KILN_ASSIGN_OR_RETURN(rules.allow_extra_columns, Bool(v, k));
    } else if (k == "columns") {
      KILN_RETURN_IF_ERROR(Expect(v, Tree::Kind::kMap, "columns"));
      for (size_t i_name = 0; i_name < v.keys.size(); ++i_name) {
        const std::string& name = v.keys[i_name];
        const Tree& spec = v.values[i_name];
        KILN_ASSIGN_OR_RETURN(auto rule, ParseColumnRule(name, spec));
        rules.columns.push_back(std::move(rule));
      }
    } else {
      return UnknownKey(k, "rules", "rows, allow_extra_columns, columns");
    }
  }
  return rules;
}

Result<SchemaOverrides> LoadSchemaFile(FileSystem& fs, const std::string& path,
                                       const Limits& limits) {
  KILN_ASSIGN_OR_RETURN(std::string text, fs.ReadFile(path, limits.max_config_bytes));
  auto r = ParseSchemaYaml(text, limits);
  if (!r.ok()) return r.status().WithContext(path);
  return r;
}

Result<data::Rules> LoadRulesFile(FileSystem& fs, const std::string& path, const Limits& limits) {
  KILN_ASSIGN_OR_RETURN(std::string text, fs.ReadFile(path, limits.max_config_bytes));
  auto r = ParseRulesYaml(text, limits);
  if (!r.ok()) return r.status().WithContext(path);
  return r;
}

}  // namespace kiln::ingest
