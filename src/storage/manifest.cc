#include "kiln/storage/manifest.h"

#include <cmath>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "kiln/base/hash.h"
#include "kiln/base/json_reader.h"
#include "kiln/base/numbers.h"
#include "kiln/storage/blob_store.h"

namespace kiln::storage {

using nlohmann::json;

namespace {

json Optional(const std::optional<double>& v) { return v ? json(*v) : json(nullptr); }

json ProfileJson(const data::ColumnProfile& p) {
  json j;
  j["count"] = p.count;
  j["nulls"] = p.nulls;
  j["min"] = Optional(p.min);
  j["max"] = Optional(p.max);
  j["mean"] = Optional(p.mean);
  j["std"] = Optional(p.std);
  j["infinities"] = p.infinities;
  j["quantiles"] = p.quantiles;
  json top = json::array();
  for (const auto& v : p.top) top.push_back({{"value", v.value}, {"count", v.count}});
  j["top"] = std::move(top);
  j["top_complete"] = p.top_complete;
  j["distinct"] = p.distinct;
  return j;
}

data::ColumnProfile ProfileFromJson(JsonReader<json> r) {
  data::ColumnProfile p;
  p.count = r.Unsigned("count");
  p.nulls = r.Unsigned("nulls");
  p.min = r.OptionalNumber("min");
  p.max = r.OptionalNumber("max");
  p.mean = r.OptionalNumber("mean");
  p.std = r.OptionalNumber("std");
  p.infinities = r.Unsigned("infinities");
  p.quantiles = r.Numbers("quantiles");
  r.Each("top", [&](JsonReader<json>& v) {
    p.top.push_back({v.String("value"), v.Unsigned("count")});
  });
  p.top_complete = r.Bool("top_complete");
  p.distinct = r.Unsigned("distinct");
  return p;
}

Status CheckManifest(const Manifest& m) {
  const size_t cols = m.schema.size();
  if (m.dictionaries.size() != cols || m.profiles.size() != cols) {
    return InvalidArgumentError("per-column lists do not match the schema");
  }
  uint64_t rows = 0;
  for (const auto& rg : m.row_groups) {
    if (rg.chunks.size() != cols) return InvalidArgumentError("row group column count mismatch");
    for (const auto& c : rg.chunks) {
      if (!IsObjectName(c.hash)) return InvalidArgumentError("bad chunk object name");
    }
    rows += rg.rows;
  }
  if (rows != m.rows) return InvalidArgumentError("row groups do not add up to the row count");
  if (m.content_hash != ComputeContentHash(m)) return InvalidArgumentError("content hash mismatch");
  return Status::Ok();
}

}  // namespace

std::string ProfileToJson(const data::ColumnProfile& p) { return ProfileJson(p).dump(); }

std::string ComputeContentHash(const Manifest& m) {
  Sha256Stream s;
  for (size_t c = 0; c < m.schema.size(); ++c) {
    const auto& f = m.schema.field(c);
    s.Update(fmt::format("col {} {} {} {}\n", f.name.size(), f.name, data::DataTypeName(f.type),
                         data::ColumnRoleName(f.role)));
    if (c < m.dictionaries.size()) {
      for (const auto& v : m.dictionaries[c]) s.Update(fmt::format("cat {} {}\n", v.size(), v));
    }
  }
  for (const auto& rg : m.row_groups) {
    s.Update(fmt::format("rg {}\n", rg.rows));
    for (const auto& c : rg.chunks) s.Update(c.hash);
  }
  return s.FinishHex();
}

std::string EncodeManifest(const Manifest& m) {
  json j;
  j["format"] = "kiln.dataset.manifest";
  j["format_version"] = kManifestFormatVersion;
  j["name"] = m.name;
  j["parent"] = m.parent;
  j["created_at"] = m.created_at;
  j["message"] = m.message;
  j["source"] = {{"file", m.source.file},
                 {"sha256", m.source.sha256},
                 {"bytes", m.source.bytes},
                 {"format", m.source.format}};
  j["rows"] = m.rows;
  json cols = json::array();
  for (size_t c = 0; c < m.schema.size(); ++c) {
    const auto& f = m.schema.field(c);
    json col = {{"name", f.name},
                {"type", data::DataTypeName(f.type)},
                {"role", data::ColumnRoleName(f.role)},
                {"profile", ProfileJson(m.profiles[c])}};
    if (f.type == data::DataType::kCategorical) col["dictionary"] = m.dictionaries[c];
    cols.push_back(std::move(col));
  }
  j["columns"] = std::move(cols);
  json groups = json::array();
  for (const auto& rg : m.row_groups) {
    json chunks = json::array();
    for (const auto& c : rg.chunks) {
      chunks.push_back(
          {{"hash", c.hash}, {"xxh3", fmt::format("{:016x}", c.xxh3)}, {"bytes", c.bytes}});
    }
    groups.push_back({{"rows", rg.rows}, {"chunks", std::move(chunks)}});
  }
  j["row_groups"] = std::move(groups);
  j["content_hash"] = m.content_hash;
  // Invalid UTF-8 never reaches here (readers reject it); replace defensively anyway.
  const std::string body = j.dump(-1, ' ', false, json::error_handler_t::replace);
  std::string out(kManifestMagic);
  PutFixed32(&out, kManifestFormatVersion);
  PutFixed32(&out, 0);
  PutFixed64(&out, body.size());
  out += body;
  PutFixed64(&out, Xxh3_64(out));
  return out;
}

Result<Manifest> DecodeManifest(std::string_view blob, std::string_view object,
                                const Limits& limits) {
  auto loss = [&](std::string_view what) {
    return DataLossError(fmt::format("object {}: corrupt manifest: {}", object, what));
  };
  constexpr size_t kHeader = 24;
  if (blob.size() < kHeader + 8) return loss("shorter than its header");
  if (blob.substr(0, 8) != kManifestMagic) return loss("bad magic");
  if (Xxh3_64(blob.substr(0, blob.size() - 8)) != DecodeFixed64(blob.data() + blob.size() - 8)) {
    return loss("checksum mismatch");
  }
  if (DecodeFixed32(blob.data() + 8) != kManifestFormatVersion) {
    return loss("unsupported format version");
  }
  const uint64_t len = DecodeFixed64(blob.data() + 16);
  if (len > limits.max_manifest_bytes || len != blob.size() - kHeader - 8) {
    return loss("body length mismatch");
  }
  const json j = json::parse(blob.substr(kHeader, len), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return loss("body is not JSON");
  JsonReader<json> r(j, "manifest");
  if (r.String("format") != "kiln.dataset.manifest" && r.ok()) {
    return loss("not a dataset manifest");
  }
  Manifest m;
  m.name = r.String("name");
  m.parent = r.Integer("parent", 0, INT64_MAX);
  m.created_at = r.String("created_at");
  m.message = r.String("message");
  JsonReader<json> src = r.Object("source");
  m.source = {src.String("file"), src.String("sha256"), src.Unsigned("bytes"),
              src.String("format")};
  m.rows = r.Unsigned("rows");
  std::vector<data::Field> fields;
  r.Each("columns", [&](JsonReader<json>& col) {
    data::Field f;
    f.name = col.String("name");
    auto type = data::ParseDataType(col.String("type"));
    auto role = data::ParseColumnRole(col.String("role"));
    if (col.ok() && (!type.ok() || !role.ok())) return col.Fail("bad column type or role");
    if (col.ok()) f.type = *type, f.role = *role;
    fields.push_back(std::move(f));
    m.profiles.push_back(ProfileFromJson(col.Object("profile")));
    m.dictionaries.push_back(col.Has("dictionary") ? col.Strings("dictionary")
                                                   : data::Dictionary{});
  });
  if (!r.ok()) return loss(r.status().message());
  auto schema = data::Schema::Make(std::move(fields));
  if (!schema.ok()) return loss(schema.status().message());
  m.schema = std::move(*schema);
  r.Each("row_groups", [&](JsonReader<json>& g) {
    RowGroup rg;
    rg.rows = g.Unsigned("rows", limits.max_chunk_rows);
    g.Each("chunks", [&](JsonReader<json>& c) {
      ChunkRef ref;
      ref.hash = c.String("hash");
      auto xxh3 = ParseHex64(c.String("xxh3"), "chunk xxh3");
      if (c.ok() && !xxh3.ok()) return c.Fail(xxh3.status().message());
      ref.xxh3 = xxh3.ok() ? *xxh3 : 0;
      ref.bytes = c.Unsigned("bytes");
      rg.chunks.push_back(std::move(ref));
    });
    m.row_groups.push_back(std::move(rg));
  });
  m.content_hash = r.String("content_hash");
  if (!r.ok()) return loss(r.status().message());
  Status s = CheckManifest(m);
  if (!s.ok()) return loss(s.message());
  return m;
}

}  // namespace kiln::storage
