#include "kiln/model/model_io.h"

#include <cmath>
#include <cstring>
#include <limits>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "kiln/base/hash.h"
#include "kiln/base/json_reader.h"

namespace kiln::model {

using nlohmann::json;

namespace {

constexpr size_t kNodeBytes = 56;
constexpr uint64_t kMaxModelBytes = 2ull << 30;

void PutDouble(std::string* out, double v) {
  uint64_t bits;
  std::memcpy(&bits, &v, 8);
  PutFixed64(out, bits);
}

double GetDouble(const char* p) {
  uint64_t bits = DecodeFixed64(p);
  double v;
  std::memcpy(&v, &bits, 8);
  return v;
}

constexpr std::string_view kScoreKinds[] = {"none", "probability", "class", "value"};

json ReferenceJson(const ReferenceProfile& r) {
  json features = json::array();
  for (const auto& f : r.features) {
    json one = {{"counts", f.counts}, {"missing", f.missing}};
    if (!std::isnan(f.min) && !std::isnan(f.max)) {
      one["min"] = f.min;
      one["max"] = f.max;
    }
    features.push_back(std::move(one));
  }
  json out = {{"data", r.data},
              {"rows", r.rows},
              {"features", std::move(features)},
              {"score_kind", kScoreKinds[static_cast<size_t>(r.score_kind)]},
              {"score_edges", r.score_edges},
              {"score_counts", r.score_counts},
              {"score_data", r.score_data},
              {"valid_metrics", json::object()}};
  for (const auto& [k, v] : r.valid_metrics) out["valid_metrics"][k] = v;
  return out;
}

void ParseReference(JsonReader<json> r, ReferenceProfile* out) {
  auto counts = [](const std::vector<int64_t>& v) {
    return std::vector<uint64_t>(v.begin(), v.end());
  };
  out->data = r.String("data");
  out->rows = r.Unsigned("rows");
  r.Each("features", [&](JsonReader<json>& f) {
    FeatureReference one{counts(f.Integers("counts", 0, INT64_MAX)), f.Unsigned("missing")};
    if (f.Has("min") || f.Has("max")) {
      one.min = f.Number("min");
      one.max = f.Number("max");
    }
    out->features.push_back(std::move(one));
  });
  const std::string kind = r.String("score_kind");
  bool known = false;
  for (size_t k = 0; k < std::size(kScoreKinds); ++k) {
    if (kind == kScoreKinds[k]) out->score_kind = static_cast<ScoreKind>(k), known = true;
  }
  if (!known) r.Fail("unknown score_kind");
  out->score_edges = r.Numbers("score_edges");
  out->score_counts = counts(r.Integers("score_counts", 0, INT64_MAX));
  out->score_data = r.String("score_data");
  out->valid_metrics = r.NumberMap("valid_metrics");
}

json MetaJson(const TreeModel& m) {
  json features = json::array();
  for (const auto& f : m.features) {
    // The last numeric edge is always +inf (JSON has no infinity): it is implied, not stored.
    std::vector<double> edges = f.bin_edges;
    if (!edges.empty() && std::isinf(edges.back())) edges.pop_back();
    features.push_back({{"name", f.name},
                        {"categorical", f.categorical},
                        {"categories", f.categories},
                        {"bin_edges", edges}});
  }
  json out = {{"format", "kiln.model"},          {"objective", ObjectiveName(m.objective)},
              {"num_classes", m.num_classes},    {"base_score", m.base_score},
              {"features", std::move(features)}, {"target", m.target},
              {"class_labels", m.class_labels},  {"best_iteration", m.best_iteration},
              {"params", m.params_json},         {"train_state", m.train_state_json},
              {"num_trees", m.trees.size()}};
  if (!m.reference.empty()) out["reference"] = ReferenceJson(m.reference);
  return out;
}

// Detects formats that must never be parsed by anything that can run code (BI-14).
std::string_view ForeignFormat(std::string_view b) {
  if (!b.empty() && static_cast<unsigned char>(b[0]) == 0x80) return "a Python pickle";
  if (b.substr(0, 2) == "PK") return "a zip archive (e.g. a torch or joblib file)";
  if (b.substr(0, 6) == "\x93NUMPY") return "a NumPy array";
  if (b.substr(0, 1) == "{") return "JSON (import XGBoost models with `kiln model import`)";
  return "";
}

}  // namespace

std::string EncodeModel(const TreeModel& m) {
  std::string out(kModelMagic);
  PutFixed32(&out, kModelFormatVersion);
  PutFixed32(&out, 0);
  const std::string meta = MetaJson(m).dump(-1, ' ', false, json::error_handler_t::replace);
  PutFixed64(&out, meta.size());
  out += meta;
  for (const Tree& t : m.trees) {
    PutFixed32(&out, static_cast<uint32_t>(t.class_index));
    PutFixed32(&out, static_cast<uint32_t>(t.nodes.size()));
    PutFixed32(&out, static_cast<uint32_t>(t.categories.size()));
    for (const Node& n : t.nodes) {
      PutFixed32(&out, static_cast<uint32_t>(n.left));
      PutFixed32(&out, static_cast<uint32_t>(n.right));
      PutFixed32(&out, n.feature);
      out.push_back(static_cast<char>((n.default_left ? 1 : 0) | (n.categorical ? 2 : 0)));
      out.append(3, '\0');
      PutDouble(&out, n.threshold);
      PutFixed32(&out, n.cat_begin);
      PutFixed32(&out, n.cat_end);
      PutDouble(&out, n.value);
      PutDouble(&out, n.gain);
      PutDouble(&out, n.cover);
    }
    for (uint32_t c : t.categories) PutFixed32(&out, c);
  }
  PutFixed64(&out, Xxh3_64(out));
  return out;
}

namespace {

Status ParseMeta(const json& j, TreeModel* m, uint64_t* num_trees) {
  JsonReader<json> r(j, "metadata");
  if (r.String("format") != "kiln.model" && r.ok()) return InvalidArgumentError("not a kiln model");
  const std::string objective = r.String("objective");
  m->num_classes = static_cast<int32_t>(r.Integer("num_classes", 0, INT32_MAX));
  m->base_score = r.Numbers("base_score");
  Status edges = Status::Ok();
  r.Each("features", [&](JsonReader<json>& f) {
    FeatureInfo fi;
    fi.name = f.String("name");
    fi.categorical = f.Bool("categorical");
    fi.categories = f.Strings("categories");
    fi.bin_edges = f.Numbers("bin_edges");
    for (size_t i = 0; i < fi.bin_edges.size(); ++i) {
      if (!std::isfinite(fi.bin_edges[i]) || (i > 0 && fi.bin_edges[i] <= fi.bin_edges[i - 1])) {
        f.Fail("bin edges must be finite and increasing");
      }
    }
    if (!fi.categorical) fi.bin_edges.push_back(std::numeric_limits<double>::infinity());
    m->features.push_back(std::move(fi));
  });
  m->target = r.String("target");
  m->class_labels = r.Strings("class_labels");
  m->best_iteration = static_cast<int32_t>(r.Integer("best_iteration", -1, INT32_MAX));
  m->params_json = r.String("params");
  if (r.Has("reference")) ParseReference(r.Object("reference"), &m->reference);
  if (r.Has("train_state")) m->train_state_json = r.String("train_state");
  *num_trees = r.Unsigned("num_trees");
  KILN_RETURN_IF_ERROR(r.status());
  KILN_ASSIGN_OR_RETURN(m->objective, ParseObjective(objective));
  return Status::Ok();
}

}  // namespace

Result<TreeModel> DecodeModel(std::string_view b, std::string_view source) {
  auto loss = [&](std::string_view what) {
    return DataLossError(fmt::format("{}: corrupt model file: {}", source, what));
  };
  if (b.substr(0, 8) != kModelMagic) {
    std::string_view foreign = ForeignFormat(b);
    if (!foreign.empty()) {
      return InvalidArgumentError(fmt::format(
          "{}: not a kiln model file: it looks like {}; refused unparsed", source, foreign));
    }
    return loss("bad magic");
  }
  if (b.size() < 32) return loss("shorter than its header");
  if (Xxh3_64(b.substr(0, b.size() - 8)) != DecodeFixed64(b.data() + b.size() - 8)) {
    return loss("checksum mismatch");
  }
  if (DecodeFixed32(b.data() + 8) != kModelFormatVersion) return loss("unsupported format version");
  const uint64_t meta_len = DecodeFixed64(b.data() + 16);
  const size_t end = b.size() - 8;
  if (meta_len > end - 24) return loss("metadata length past the end");
  TreeModel m;
  uint64_t num_trees = 0;
  const json meta = json::parse(b.substr(24, meta_len), nullptr, /*allow_exceptions=*/false);
  if (meta.is_discarded()) return loss("metadata is not JSON");
  if (Status s = ParseMeta(meta, &m, &num_trees); !s.ok()) return loss(s.message());
  size_t pos = 24 + meta_len;
  if (num_trees > (end - pos) / 12) return loss("tree count larger than the file");
  m.trees.resize(num_trees);
  for (Tree& t : m.trees) {
    if (end - pos < 12) return loss("truncated tree header");
    t.class_index = static_cast<int32_t>(DecodeFixed32(b.data() + pos));
    const uint64_t n = DecodeFixed32(b.data() + pos + 4);
    const uint64_t cats = DecodeFixed32(b.data() + pos + 8);
    pos += 12;
    if (n * kNodeBytes + cats * 4 > end - pos) return loss("tree larger than the file");
    t.nodes.resize(n);
    for (Node& node : t.nodes) {
      const char* p = b.data() + pos;
      node.left = static_cast<int32_t>(DecodeFixed32(p));
      node.right = static_cast<int32_t>(DecodeFixed32(p + 4));
      node.feature = DecodeFixed32(p + 8);
      const uint8_t flags = static_cast<uint8_t>(p[12]);
      if (flags > 3) return loss("unknown node flags");
      node.default_left = flags & 1;
      node.categorical = flags & 2;
      node.threshold = GetDouble(p + 16);
      node.cat_begin = DecodeFixed32(p + 24);
      node.cat_end = DecodeFixed32(p + 28);
      node.value = GetDouble(p + 32);
      node.gain = GetDouble(p + 40);
      node.cover = GetDouble(p + 48);
      pos += kNodeBytes;
    }
    t.categories.resize(cats);
    for (uint32_t& c : t.categories) {
      c = DecodeFixed32(b.data() + pos);
      pos += 4;
    }
  }
  if (pos != end) return loss("trailing bytes after the trees");
  Status valid = m.Validate();
  if (!valid.ok()) return loss(valid.message());
  return m;
}

Status SaveModel(FileSystem& fs, const std::string& path, const TreeModel& model) {
  return AtomicWriteFile(fs, path, EncodeModel(model));
}

Result<std::shared_ptr<const TreeModel>> LoadModel(FileSystem& fs, const std::string& path) {
  KILN_ASSIGN_OR_RETURN(std::string bytes, fs.ReadFile(path, kMaxModelBytes));
  KILN_ASSIGN_OR_RETURN(TreeModel m, DecodeModel(bytes, path));
  return std::make_shared<const TreeModel>(std::move(m));
}

}  // namespace kiln::model
