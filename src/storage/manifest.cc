#include "kiln/storage/manifest.h"

#include <cmath>
#include <exception>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "kiln/base/hash.h"
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

std::optional<double> OptionalNumber(const json& j) {
  if (j.is_null()) return std::nullopt;
  return j.get<double>();
}

data::ColumnProfile ProfileFromJson(const json& j) {
  data::ColumnProfile p;
  p.count = j.at("count").get<uint64_t>();
  p.nulls = j.at("nulls").get<uint64_t>();
  p.min = OptionalNumber(j.at("min"));
  p.max = OptionalNumber(j.at("max"));
  p.mean = OptionalNumber(j.at("mean"));
  p.std = OptionalNumber(j.at("std"));
  p.infinities = j.at("infinities").get<uint64_t>();
  p.quantiles = j.at("quantiles").get<std::vector<double>>();
  for (const auto& v : j.at("top")) {
    p.top.push_back({v.at("value").get<std::string>(), v.at("count").get<uint64_t>()});
  }
  p.top_complete = j.at("top_complete").get<bool>();
  p.distinct = j.at("distinct").get<uint64_t>();
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
  try {
    json j = json::parse(blob.substr(kHeader, len));
    if (j.at("format") != "kiln.dataset.manifest") return loss("not a dataset manifest");
    Manifest m;
    m.name = j.at("name").get<std::string>();
    m.parent = j.at("parent").get<int64_t>();
    m.created_at = j.at("created_at").get<std::string>();
    m.message = j.at("message").get<std::string>();
    const json& src = j.at("source");
    m.source = {src.at("file").get<std::string>(), src.at("sha256").get<std::string>(),
                src.at("bytes").get<uint64_t>(), src.at("format").get<std::string>()};
    m.rows = j.at("rows").get<uint64_t>();
    std::vector<data::Field> fields;
    for (const auto& col : j.at("columns")) {
      data::Field f;
      f.name = col.at("name").get<std::string>();
      auto type = data::ParseDataType(col.at("type").get<std::string>());
      auto role = data::ParseColumnRole(col.at("role").get<std::string>());
      if (!type.ok() || !role.ok()) return loss("bad column type or role");
      f.type = *type;
      f.role = *role;
      fields.push_back(std::move(f));
      m.profiles.push_back(ProfileFromJson(col.at("profile")));
      m.dictionaries.push_back(col.contains("dictionary")
                                   ? col.at("dictionary").get<data::Dictionary>()
                                   : data::Dictionary{});
    }
    auto schema = data::Schema::Make(std::move(fields));
    if (!schema.ok()) return loss(schema.status().message());
    m.schema = std::move(*schema);
    for (const auto& g : j.at("row_groups")) {
      RowGroup rg;
      rg.rows = g.at("rows").get<uint64_t>();
      if (rg.rows > limits.max_chunk_rows) return loss("row group too large");
      for (const auto& c : g.at("chunks")) {
        ChunkRef ref;
        ref.hash = c.at("hash").get<std::string>();
        auto xxh3 = ParseHex64(c.at("xxh3").get<std::string>(), "chunk xxh3");
        if (!xxh3.ok()) return loss(xxh3.status().message());
        ref.xxh3 = *xxh3;
        ref.bytes = c.at("bytes").get<uint64_t>();
        rg.chunks.push_back(std::move(ref));
      }
      m.row_groups.push_back(std::move(rg));
    }
    m.content_hash = j.at("content_hash").get<std::string>();
    Status s = CheckManifest(m);
    if (!s.ok()) return loss(s.message());
    return m;
  } catch (const std::exception& e) {
    return loss(e.what());
  }
}

}  // namespace kiln::storage
