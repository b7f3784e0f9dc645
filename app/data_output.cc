#include "app/data_output.h"

#include <cmath>
#include <ctime>

#include <fmt/format.h>

namespace kiln::app {

using nlohmann::json;

namespace {

std::string Num(const std::optional<double>& v, data::DataType t) {
  if (!v) return "-";
  if (t == data::DataType::kTimestamp) return data::FormatTimestamp(static_cast<int64_t>(*v));
  return fmt::format("{:.6g}", *v);
}

std::string Clip(std::string s, size_t n) {
  for (char& c : s) {
    if (static_cast<unsigned char>(c) < 0x20) c = ' ';
  }
  if (s.size() > n) s = s.substr(0, n - 1) + "~";
  return s;
}

std::string TopText(const data::ColumnProfile& p) {
  std::string out;
  for (size_t i = 0; i < p.top.size() && i < 3; ++i) {
    if (!out.empty()) out += ", ";
    out += fmt::format("{}({})", Clip(p.top[i].value, 16), p.top[i].count);
  }
  return out;
}

}  // namespace

std::string VersionText(const storage::VersionRecord& r, const storage::Manifest& m) {
  std::string out = fmt::format(
      "{}@v{}  {} rows x {} columns  created {}\ncontent  sha256:{}\nsource   {} ({} bytes, "
      "{}, sha256:{})\nparent   {}\nmessage  {}\n\n",
      r.name, r.version, m.rows, m.schema.size(), data::FormatMillis(r.created_at_ms),
      r.content_hash, m.source.file, m.source.bytes, m.source.format, m.source.sha256.substr(0, 16),
      r.parent > 0 ? fmt::format("v{}", r.parent) : "-", r.message.empty() ? "-" : r.message);
  out += fmt::format("{:<22} {:<11} {:<9} {:>7} {:>12} {:>12} {:>12} {:>9}  {}\n", "column", "type",
                     "role", "null%", "min", "max", "mean", "distinct", "top values");
  for (size_t c = 0; c < m.schema.size(); ++c) {
    const auto& f = m.schema.field(c);
    const auto& p = m.profiles[c];
    out += fmt::format("{:<22} {:<11} {:<9} {:>7.2f} {:>12} {:>12} {:>12} {:>9}  {}\n",
                       Clip(f.name, 22), data::DataTypeName(f.type), data::ColumnRoleName(f.role),
                       100 * p.null_fraction(), Num(p.min, f.type), Num(p.max, f.type),
                       f.type == data::DataType::kTimestamp ? "-" : Num(p.mean, f.type), p.distinct,
                       TopText(p));
  }
  return out;
}

json DiffJson(const data::DatasetSummary& a, const data::DatasetSummary& b) {
  json j;
  j["from"] = a.label;
  j["to"] = b.label;
  j["rows"] = {{"from", a.rows}, {"to", b.rows}, {"change", b.rows - a.rows}};
  json added = json::array(), removed = json::array(), changed = json::array();
  json columns = json::array();
  for (const auto& f : b.schema.fields()) {
    if (!a.schema.IndexOf(f.name)) added.push_back(f.name);
  }
  for (size_t i = 0; i < a.schema.size(); ++i) {
    const auto& f = a.schema.field(i);
    auto k = b.schema.IndexOf(f.name);
    if (!k) {
      removed.push_back(f.name);
      continue;
    }
    const auto& g = b.schema.field(*k);
    if (f.type != g.type || f.role != g.role) {
      changed.push_back(
          {{"name", f.name},
           {"from", fmt::format("{}/{}", data::DataTypeName(f.type), data::ColumnRoleName(f.role))},
           {"to", fmt::format("{}/{}", data::DataTypeName(g.type), data::ColumnRoleName(g.role))}});
    }
    const auto& pa = a.profiles[i];
    const auto& pb = b.profiles[*k];
    json col = {{"name", f.name},
                {"null_fraction", {{"from", pa.null_fraction()}, {"to", pb.null_fraction()}}},
                {"distinct", {{"from", pa.distinct}, {"to", pb.distinct}}}};
    if (pa.mean && pb.mean) col["mean"] = {{"from", *pa.mean}, {"to", *pb.mean}};
    auto psi = data::Psi(pa, pb);
    col["psi"] = psi ? json(*psi) : json(nullptr);
    columns.push_back(std::move(col));
  }
  j["schema"] = {{"added", added}, {"removed", removed}, {"changed", changed}};
  j["columns"] = std::move(columns);
  return j;
}

std::string DiffText(const json& d) {
  std::string out = fmt::format("{} -> {}\nrows: {} -> {} ({:+})\n", d["from"].get<std::string>(),
                                d["to"].get<std::string>(), d["rows"]["from"].get<int64_t>(),
                                d["rows"]["to"].get<int64_t>(), d["rows"]["change"].get<int64_t>());
  for (const auto& n : d["schema"]["added"])
    out += fmt::format("+ column {}\n", n.get<std::string>());
  for (const auto& n : d["schema"]["removed"])
    out += fmt::format("- column {}\n", n.get<std::string>());
  for (const auto& c : d["schema"]["changed"]) {
    out += fmt::format("~ column {}: {} -> {}\n", c["name"].get<std::string>(),
                       c["from"].get<std::string>(), c["to"].get<std::string>());
  }
  out += fmt::format("\n{:<22} {:>17} {:>23} {:>8}\n", "column", "null% from->to", "mean from->to",
                     "PSI");
  for (const auto& c : d["columns"]) {
    std::string mean = c.contains("mean")
                           ? fmt::format("{:.4g} -> {:.4g}", c["mean"]["from"].get<double>(),
                                         c["mean"]["to"].get<double>())
                           : "-";
    std::string psi = c["psi"].is_null() ? "-" : fmt::format("{:.4f}", c["psi"].get<double>());
    out += fmt::format("{:<22} {:>7.2f} -> {:>6.2f} {:>23} {:>8}\n",
                       Clip(c["name"].get<std::string>(), 22),
                       100 * c["null_fraction"]["from"].get<double>(),
                       100 * c["null_fraction"]["to"].get<double>(), mean, psi);
  }
  return out;
}

json ReportJson(const data::ValidationReport& r) {
  json outcomes = json::array();
  for (const auto& o : r.outcomes) {
    outcomes.push_back(
        {{"column", o.column}, {"rule", o.rule}, {"passed", o.passed}, {"detail", o.detail}});
  }
  return {{"passed", r.passed()}, {"failures", r.failures()}, {"checks", std::move(outcomes)}};
}

std::string ReportText(const data::ValidationReport& r, const std::string& label) {
  std::string out;
  for (const auto& o : r.outcomes) {
    out += fmt::format("{}  {:<22} {:<14} {}\n", o.passed ? "PASS" : "FAIL",
                       o.column.empty() ? "(dataset)" : Clip(o.column, 22), o.rule, o.detail);
  }
  out += fmt::format("\n{}: {} of {} checks failed -> {}\n", label, r.failures(), r.outcomes.size(),
                     r.passed() ? "VALID" : "INVALID");
  return out;
}

}  // namespace kiln::app
