#include "kiln/api/control_plane.h"

#include <algorithm>
#include <set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "api/request_body.h"
#include "kiln/api/v2_service.h"
#include "kiln/base/names.h"
#include "kiln/base/numbers.h"
#include "kiln/data/column.h"
#include "kiln/pipeline/promote.h"
#include "kiln/pipeline/result_json.h"
#include "kiln/storage/manifest.h"

namespace kiln::api {

using nlohmann::json;

namespace {

json RecordValue(const storage::VersionRecord& r) {
  return {{"name", r.name},
          {"version", r.version},
          {"ref", fmt::format("{}@v{}", r.name, r.version)},
          {"rows", r.rows},
          {"content_hash", r.content_hash},
          {"manifest", r.manifest},
          {"parent", r.parent},
          {"message", r.message},
          {"created_at", data::FormatMillis(r.created_at_ms)}};
}

json RunValue(const registry::RunRecord& r) {
  const auto& a = r.attributes;
  return {{"run_id", r.id},
          {"experiment", r.experiment},
          {"name", r.name},
          {"status", registry::RunStatusName(r.status)},
          {"start_ms", r.start_ms},
          {"end_ms", r.end_ms},
          {"params", r.params},
          {"metrics", r.metrics},
          {"tags", r.tags},
          {"attributes",
           {{"train_data", a.train_data},
            {"train_hash", a.train_hash},
            {"valid_data", a.valid_data},
            {"valid_hash", a.valid_hash},
            {"artifact", a.artifact},
            {"kiln_version", a.kiln_version},
            {"build_commit", a.build_commit},
            {"host", a.host},
            {"parent_id", a.parent_id},
            {"cpu_seconds", a.cpu_seconds},
            {"peak_rss_bytes", a.peak_rss_bytes}}}};
}

json VersionValue(const registry::ModelVersion& v) {
  return {{"name", v.name},         {"version", v.version},         {"run_id", v.run_id},
          {"artifact", v.artifact}, {"description", v.description}, {"tags", v.tags},
          {"actor", v.actor},       {"created_ms", v.created_ms},   {"aliases", v.aliases}};
}

}  // namespace

std::string DatasetRecordJson(const storage::VersionRecord& r) { return RecordValue(r).dump(); }

std::string DatasetVersionJson(const storage::VersionRecord& r, const storage::Manifest& m) {
  json j = RecordValue(r);
  j["source"] = {{"file", m.source.file},
                 {"sha256", m.source.sha256},
                 {"bytes", m.source.bytes},
                 {"format", m.source.format}};
  j["row_groups"] = m.row_groups.size();
  json cols = json::array();
  for (size_t c = 0; c < m.schema.size(); ++c) {
    const auto& f = m.schema.field(c);
    json col = {{"name", f.name},
                {"type", data::DataTypeName(f.type)},
                {"role", data::ColumnRoleName(f.role)},
                {"profile", json::parse(storage::ProfileToJson(m.profiles[c]))}};
    if (f.type == data::DataType::kCategorical) col["categories"] = m.dictionaries[c].size();
    cols.push_back(std::move(col));
  }
  j["columns"] = std::move(cols);
  return j.dump();
}

std::string RunJson(const registry::RunRecord& r) { return RunValue(r).dump(); }

std::string ModelVersionJson(const registry::ModelVersion& v) { return VersionValue(v).dump(); }

std::string AliasMoveJson(const registry::AliasEvent& ev) {
  return json{{"name", ev.name},         {"alias", ev.alias}, {"version", ev.version},
              {"previous", ev.previous}, {"actor", ev.actor}, {"reason", ev.reason}}
      .dump();
}

Result<std::string> ListDatasets(storage::DatasetStore& store) {
  KILN_ASSIGN_OR_RETURN(auto all, store.catalog().ListDatasets());
  json arr = json::array();
  for (const auto& r : all) arr.push_back(RecordValue(r));
  return arr.dump();
}

Result<std::string> ShowDataset(storage::DatasetStore& store, const std::string& ref) {
  KILN_ASSIGN_OR_RETURN(DatasetRef parsed, ParseDatasetRef(ref));
  KILN_ASSIGN_OR_RETURN(storage::VersionRecord record, store.Resolve(parsed));
  KILN_ASSIGN_OR_RETURN(storage::Manifest manifest, store.LoadManifest(record));
  return DatasetVersionJson(record, manifest);
}

Result<std::string> ListRuns(registry::CatalogStore& c, const registry::RunQuery& query) {
  KILN_ASSIGN_OR_RETURN(auto runs, c.SearchRuns(query));
  json out = json::array();
  for (const auto& r : runs) out.push_back(RunValue(r));
  return out.dump();
}

Result<std::string> ShowRun(registry::CatalogStore& c, const std::string& id) {
  KILN_ASSIGN_OR_RETURN(registry::RunRecord r, c.GetRun(id));
  KILN_ASSIGN_OR_RETURN(auto curves, c.GetCurves(id, ""));
  json out = RunValue(r);
  json cj = json::object();
  for (const auto& curve : curves) {
    cj[curve.key] = {{"steps", curve.steps}, {"values", curve.values}};
  }
  out["curves"] = std::move(cj);
  return out.dump();
}

Result<std::string> CompareRuns(registry::CatalogStore& c, const std::vector<std::string>& ids,
                                const std::vector<std::string>& curves) {
  if (ids.empty() || ids.size() > 16) return InvalidArgumentError("compare takes 1 to 16 runs");
  json out = {{"runs", json::array()}};
  std::set<std::string> seen;
  for (const auto& id : ids) {
    KILN_ASSIGN_OR_RETURN(registry::RunRecord r, c.GetRun(id));
    KILN_ASSIGN_OR_RETURN(auto got, c.GetCurves(id, ""));
    json run = RunValue(r);
    json cj = json::object();
    for (const auto& curve : got) {
      if (!curves.empty() && std::find(curves.begin(), curves.end(), curve.key) == curves.end()) {
        continue;
      }
      seen.insert(curve.key);
      cj[curve.key] = {{"steps", curve.steps}, {"values", curve.values}};
    }
    run["curves"] = std::move(cj);
    out["runs"].push_back(std::move(run));
  }
  for (const auto& k : curves) {
    if (!seen.count(k)) {
      return NotFoundError(fmt::format("none of the runs has a curve '{}'", Printable(k)));
    }
  }
  return out.dump();
}

Result<std::string> ListModels(registry::CatalogStore& c) {
  KILN_ASSIGN_OR_RETURN(auto models, c.ListModels());
  json out = json::array();
  for (const auto& m : models) {
    out.push_back({{"name", m.name},
                   {"latest_version", m.latest_version},
                   {"versions", m.versions},
                   {"aliases", m.aliases}});
  }
  return out.dump();
}

Result<std::string> ShowModel(registry::CatalogStore& c, const std::string& ref) {
  KILN_ASSIGN_OR_RETURN(auto resolved, registry::ResolveModelRef(c, ref));
  if (resolved.second != 0) {
    KILN_ASSIGN_OR_RETURN(auto v, c.GetModelVersion(resolved.first, resolved.second));
    return ModelVersionJson(v);
  }
  // A bare name: every version and the gate reports.
  KILN_ASSIGN_OR_RETURN(auto versions, c.ListModelVersions(resolved.first));
  json out = json::array();
  for (const auto& v : versions) out.push_back(VersionValue(v));
  KILN_ASSIGN_OR_RETURN(auto gates, c.GateReports(resolved.first));
  json reports = json::array();
  for (const auto& r : gates) {
    json report = json::parse(r.report_json, nullptr, false);
    report["report_id"] = r.id;
    report["at_ms"] = r.at_ms;
    report["actor"] = r.actor;
    reports.push_back(std::move(report));
  }
  return json{{"name", resolved.first}, {"versions", out}, {"gate_reports", reports}}.dump();
}

Result<std::string> AliasHistory(registry::CatalogStore& c, const std::string& name) {
  KILN_ASSIGN_OR_RETURN(auto history, c.AliasHistory(name));
  json out = json::array();
  for (const auto& e : history) {
    out.push_back({{"seq", e.seq},
                   {"alias", e.alias},
                   {"version", e.version},
                   {"previous", e.previous},
                   {"at_ms", e.at_ms},
                   {"actor", e.actor},
                   {"reason", e.reason}});
  }
  return out.dump();
}

Result<std::string> MoveAlias(registry::CatalogStore& c, const std::string& name,
                              const std::string& alias, int64_t version, const std::string& actor,
                              const std::string& reason) {
  KILN_ASSIGN_OR_RETURN(auto ev, c.SetAlias(name, alias, version, actor, reason, std::nullopt));
  return AliasMoveJson(ev);
}

Result<std::string> RollbackAlias(registry::CatalogStore& c, const std::string& name,
                                  const std::string& alias, const std::string& actor,
                                  const std::string& reason) {
  KILN_ASSIGN_OR_RETURN(auto ev, registry::RollbackAlias(c, name, alias, actor, reason));
  return AliasMoveJson(ev);
}

bool ControlPlaneService::Handles(std::string_view target) {
  return target.substr(0, 7) == "/api/v1" &&
         (target.size() == 7 || target[7] == '/' || target[7] == '?');
}

http::HttpResponse ControlPlaneService::Handle(const http::HttpRequest& req, std::string* route,
                                               const Caller& caller) {
  const auto answer = JsonResponse;
  auto parsed = PathSegments(req.target);
  if (!parsed.ok()) return ErrorResponse(parsed.status());
  const std::vector<std::string>& s = *parsed;  // api v1 ...
  const bool get = req.method == "GET";
  const auto method_not_allowed = MethodNotAllowed;
  if (s.size() < 3) return ErrorResponse(NotFoundError("no such endpoint"));
  const std::string& kind = s[2];
  if (kind == "jobs") {
    *route = "api_jobs";
    return HandleJobs(req, s, caller);
  }
  if (kind == "datasets" && s.size() <= 4) {
    *route = "api_datasets";
    if (!get) return method_not_allowed("GET");
    if (s.size() == 3) return answer(ListDatasets(*datasets_));
    return answer(ShowDataset(*datasets_, s[3]));
  }
  if (kind == "runs" && s.size() <= 4) {
    *route = "api_runs";
    if (!get) return method_not_allowed("GET");
    auto q = QueryParameters(req.target);
    if (s.size() == 4 && s[3] == "compare") {
      auto split = [](const std::string& list) {
        std::vector<std::string> out;
        for (size_t at = 0; at < list.size();) {
          const size_t comma = std::min(list.find(',', at), list.size());
          if (comma > at) out.push_back(list.substr(at, comma - at));
          at = comma + 1;
        }
        return out;
      };
      return answer(CompareRuns(*catalog_, split(q["ids"]), split(q["curves"])));
    }
    if (s.size() == 4) return answer(ShowRun(*catalog_, s[3]));
    registry::RunQuery query{q["experiment"], q["filter"], q["order_by"], 100};
    if (!q["limit"].empty()) {
      auto limit = ParseInteger(q["limit"], "limit", 0, 999999);
      if (!limit.ok()) return ErrorResponse(limit.status());
      query.limit = *limit;
    }
    return answer(ListRuns(*catalog_, query));
  }
  if (kind != "models") return ErrorResponse(NotFoundError("no such endpoint"));
  *route = "api_models";
  if (s.size() == 3) return get ? answer(ListModels(*catalog_)) : method_not_allowed("GET");
  const std::string& name = s[3];
  if (s.size() == 4) return get ? answer(ShowModel(*catalog_, name)) : method_not_allowed("GET");
  if (Status v = ValidateName(name, "model name"); !v.ok()) return ErrorResponse(v);
  if (s.size() == 5 && s[4] == "history") {
    return get ? answer(AliasHistory(*catalog_, name)) : method_not_allowed("GET");
  }
  if (s.size() == 7 && s[4] == "versions" && s[6] == "promote") {
    if (req.method != "POST") return method_not_allowed("POST");
    auto body = BodyObject(req.body);
    if (!body.ok()) return ErrorResponse(body.status());
    auto version = ParseInteger(s[5], "the version", 1, INT64_MAX);
    if (!version.ok()) return ErrorResponse(version.status());
    pipeline::PromoteOptions p;
    p.name = name;
    p.version = *version;
    p.actor = caller.actor;
    p.dataset_only = true;  // BI-27: never a path from the network
    for (const auto& [key, field] : {std::pair{"to", &p.to}, std::pair{"gate", &p.gate},
                                     std::pair{"on", &p.on}, std::pair{"reason", &p.reason}}) {
      auto v = Text(*body, key);
      if (!v.ok()) return ErrorResponse(v.status());
      if (!v->empty()) *field = *v;
    }
    if (p.gate.empty() || p.on.empty()) {
      return ErrorResponse(InvalidArgumentError(
          R"(the body must give "gate" and "on", e.g. {"gate": "auc >= champion.auc", "on": "credit@v2"})"));
    }
    auto promoted = pipeline::Promote(*home_, p, *promote_ctx_);
    if (!promoted.ok()) return ErrorResponse(promoted.status());
    return answer(pipeline::PromoteResultJson(*promoted));
  }
  if (s.size() >= 6 && s[4] == "aliases") {
    const std::string& alias = s[5];
    if (Status v = ValidateName(alias, "alias"); !v.ok()) return ErrorResponse(v);
    auto body = BodyObject(req.body);
    if (!body.ok()) return ErrorResponse(body.status());
    auto reason = Text(*body, "reason");
    if (!reason.ok()) return ErrorResponse(reason.status());
    if (s.size() == 6) {
      if (req.method != "PUT") return method_not_allowed("PUT");
      if (!body->contains("version") || !(*body)["version"].is_number_unsigned()) {
        return ErrorResponse(InvalidArgumentError(
            R"(the body must give the version: {"version": N, "reason": "..."} (0 removes))"));
      }
      const auto version = (*body)["version"].get<uint64_t>();
      if (version > static_cast<uint64_t>(INT64_MAX)) {
        return ErrorResponse(InvalidArgumentError("version out of range"));
      }
      return answer(
          MoveAlias(*catalog_, name, alias, static_cast<int64_t>(version), caller.actor, *reason));
    }
    if (s.size() == 7 && s[6] == "rollback") {
      if (req.method != "POST") return method_not_allowed("POST");
      return answer(api::RollbackAlias(*catalog_, name, alias, caller.actor, *reason));
    }
  }
  return ErrorResponse(NotFoundError("no such endpoint"));
}

}  // namespace kiln::api
