// `kiln data ...`: flag parsing and printing; the work is in pipeline, storage and data.
#include <unistd.h>

#include <cstdio>

#include <fmt/format.h>

#include "app/cli.h"
#include "app/data_output.h"
#include "kiln/api/control_plane.h"
#include "kiln/base/names.h"
#include "kiln/ingest/config.h"
#include "kiln/jobs/operations.h"
#include "kiln/pipeline/audit.h"
#include "kiln/pipeline/export.h"
#include "kiln/pipeline/home.h"
#include "kiln/pipeline/ingest.h"

namespace kiln::app {

using nlohmann::json;

namespace {

struct DataArgs {
  std::string file, name, message, schema, rules, format, delimiter, ref, ref2, to, against;
  bool append = false, no_header = false, json = false, deep = false;
};

struct Loaded {
  storage::VersionRecord record;
  storage::Manifest manifest;
};

Result<Loaded> LoadRef(pipeline::Home& home, const std::string& text) {
  KILN_ASSIGN_OR_RETURN(DatasetRef ref, ParseDatasetRef(text));
  Loaded l;
  KILN_ASSIGN_OR_RETURN(l.record, home.datasets().Resolve(ref));
  KILN_ASSIGN_OR_RETURN(l.manifest, home.datasets().LoadManifest(l.record));
  return l;
}

pipeline::IngestOptions IngestOptionsOf(const DataArgs& a) {
  pipeline::IngestOptions o;
  o.file = a.file;
  o.name = a.name;
  o.message = a.message;
  o.schema = a.schema;
  o.rules = a.rules;
  o.format = a.format;
  o.delimiter = a.delimiter;
  o.append = a.append;
  o.header = !a.no_header;
  return o;
}

Result<ExitCode> Ingest(const GlobalOptions& g, const DataArgs& a) {
  KILN_ASSIGN_OR_RETURN(auto home, OpenHome(g));
  auto ctx = Context(g, 0);
  pipeline::IngestOptions o = IngestOptionsOf(a);
  const bool tty = ::isatty(2) == 1 && !a.json;
  if (tty) {
    o.progress = [](uint64_t rows, uint64_t bytes) {
      std::fprintf(stderr, "\ringesting: %llu rows, %.1f MB", static_cast<unsigned long long>(rows),
                   static_cast<double>(bytes) / 1e6);
    };
  }
  data::ValidationReport report;
  auto result = pipeline::Ingest(*home, o, ctx, &report);
  if (tty) std::fputs("\r\033[K", stderr);
  if (!result.ok()) {
    if (!report.outcomes.empty()) {
      Print(a.json ? ReportJson(report).dump(2) : ReportText(report, a.name + " (not committed)"));
    }
    return result.status().WithContext(fmt::format("ingest {}", a.file));
  }
  const auto& r = result->record;
  if (a.json) {
    std::string fields = fmt::format(R"("source_bytes":{})", result->source_bytes);
    if (result->report) fields += R"(,"validation":)" + ReportJson(*result->report).dump();
    PrintJson(WithFields(api::DatasetRecordJson(r), fields));
  } else {
    Print(fmt::format("committed {}@v{}: {} rows, content sha256:{}", r.name, r.version, r.rows,
                      r.content_hash));
  }
  return 0;
}

Result<ExitCode> List(const GlobalOptions& g, const DataArgs& a) {
  KILN_ASSIGN_OR_RETURN(auto home, OpenHome(g));
  if (a.json) {
    KILN_ASSIGN_OR_RETURN(std::string listed, api::ListDatasets(home->datasets()));
    PrintJson(listed);
    return 0;
  }
  KILN_ASSIGN_OR_RETURN(auto all, home->datasets().catalog().ListDatasets());
  std::string out = fmt::format("{:<24} {:>8} {:>12}  {:<20}  {}\n", "dataset", "newest", "rows",
                                "created", "message");
  for (const auto& r : all) {
    out += fmt::format("{:<24} {:>8} {:>12}  {:<20}  {}\n", r.name, fmt::format("v{}", r.version),
                       r.rows, data::FormatMillis(r.created_at_ms), r.message);
  }
  Print(out);
  return 0;
}

Result<ExitCode> Show(const GlobalOptions& g, const DataArgs& a) {
  KILN_ASSIGN_OR_RETURN(auto home, OpenHome(g));
  KILN_ASSIGN_OR_RETURN(Loaded l, LoadRef(*home, a.ref));
  if (a.json) {
    PrintJson(api::DatasetVersionJson(l.record, l.manifest));
  } else {
    Print(VersionText(l.record, l.manifest));
  }
  return 0;
}

Result<ExitCode> Log(const GlobalOptions& g, const DataArgs& a) {
  KILN_RETURN_IF_ERROR(ValidateName(a.ref, "dataset name"));
  KILN_ASSIGN_OR_RETURN(auto home, OpenHome(g));
  KILN_ASSIGN_OR_RETURN(auto versions, home->datasets().catalog().ListVersions(a.ref));
  if (versions.empty()) return NotFoundError(fmt::format("dataset '{}' not found", a.ref));
  if (a.json) {
    std::string list = "[";
    for (auto it = versions.rbegin(); it != versions.rend(); ++it) {
      if (list.size() > 1) list += ',';
      list += api::DatasetRecordJson(*it);
    }
    PrintJson(list + "]");
    return 0;
  }
  std::string out;
  for (auto it = versions.rbegin(); it != versions.rend(); ++it) {
    out += fmt::format("v{:<5} {:>12} rows  {}  sha256:{}  parent {}  {}\n", it->version, it->rows,
                       data::FormatMillis(it->created_at_ms), it->content_hash.substr(0, 12),
                       it->parent > 0 ? fmt::format("v{}", it->parent) : "-", it->message);
  }
  Print(out);
  return 0;
}

Result<ExitCode> Diff(const GlobalOptions& g, const DataArgs& a) {
  KILN_ASSIGN_OR_RETURN(auto home, OpenHome(g));
  KILN_ASSIGN_OR_RETURN(Loaded x, LoadRef(*home, a.ref));
  KILN_ASSIGN_OR_RETURN(Loaded y, LoadRef(*home, a.ref2));
  json d = DiffJson(pipeline::Summarize(x.record, x.manifest),
                    pipeline::Summarize(y.record, y.manifest));
  Print(a.json ? d.dump(2) : DiffText(d));
  return 0;
}

Result<ExitCode> Export(const GlobalOptions& g, const DataArgs& a) {
  KILN_ASSIGN_OR_RETURN(auto home, OpenHome(g));
  KILN_ASSIGN_OR_RETURN(Loaded l, LoadRef(*home, a.ref));
  KILN_RETURN_IF_ERROR(pipeline::ExportCsv(home->datasets(), l.manifest, home->fs(), a.to));
  if (a.json) {
    Print(json{{"ref", fmt::format("{}@v{}", l.record.name, l.record.version)},
               {"rows", l.manifest.rows},
               {"to", a.to}}
              .dump(2));
  } else {
    Print(fmt::format("exported {}@v{} ({} rows) to {}", l.record.name, l.record.version,
                      l.manifest.rows, a.to));
  }
  return 0;
}

Result<ExitCode> Remove(const GlobalOptions& g, const DataArgs& a) {
  KILN_ASSIGN_OR_RETURN(DatasetRef ref, ParseDatasetRef(a.ref));
  if (ref.version == 0) {
    return InvalidArgumentError("rm needs an explicit version: NAME@vN");
  }
  KILN_ASSIGN_OR_RETURN(auto home, OpenHome(g));
  KILN_RETURN_IF_ERROR(home->datasets().Remove(std::string(ref.name), ref.version));
  Print(a.json ? json{{"removed", fmt::format("{}@v{}", ref.name, ref.version)}}.dump(2)
               : fmt::format("removed {}@v{} (run `kiln data gc` to free its space)", ref.name,
                             ref.version));
  return 0;
}

Result<ExitCode> Gc(const GlobalOptions& g, const DataArgs& a) {
  KILN_ASSIGN_OR_RETURN(auto home, OpenHome(g));
  KILN_ASSIGN_OR_RETURN(auto r, pipeline::CollectGarbage(*home));
  Print(a.json ? json{{"live_objects", r.live_objects},
                      {"removed_objects", r.removed_objects},
                      {"removed_temp_files", r.removed_temp_files}}
                     .dump(2)
               : fmt::format("gc: {} live objects, removed {} objects and {} temp files",
                             r.live_objects, r.removed_objects, r.removed_temp_files));
  return 0;
}

Result<ExitCode> Validate(const GlobalOptions& g, const DataArgs& a) {
  KILN_ASSIGN_OR_RETURN(auto home, OpenHome(g));
  KILN_ASSIGN_OR_RETURN(pipeline::ValidateResult r,
                        pipeline::ValidateVersion(*home, {a.ref, a.rules, a.against}));
  Print(a.json ? ReportJson(r.report).dump(2) : ReportText(r.report, r.label));
  return r.report.passed() ? 0 : 1;
}

Result<ExitCode> Verify(const GlobalOptions& g, const DataArgs& a) {
  KILN_ASSIGN_OR_RETURN(auto home, OpenHome(g));
  KILN_ASSIGN_OR_RETURN(auto r, home->datasets().Verify(a.deep));
  if (a.json) {
    Print(json{{"versions", r.versions},
               {"objects_checked", r.objects_checked},
               {"problems", r.problems},
               {"ok", r.problems.empty()}}
              .dump(2));
  } else {
    std::string out;
    for (const auto& p : r.problems) out += "problem: " + p + "\n";
    out += fmt::format("verified {} versions, {} objects: {}", r.versions, r.objects_checked,
                       r.problems.empty() ? "OK" : fmt::format("{} problems", r.problems.size()));
    Print(out);
  }
  return r.problems.empty() ? 0 : 1;
}

constexpr const char* kIngestHelp = "commit a CSV or JSON Lines file as a new dataset version";

void IngestFlags(CLI::App* ingest, DataArgs* a) {
  ingest->add_option("file", a->file, "input file (.csv, .tsv, .jsonl)")->required();
  ingest->add_option("--name", a->name, "dataset name")->required();
  ingest->add_option("--message,-m", a->message, "version message");
  ingest->add_option("--schema", a->schema, "schema.yaml with column types and roles");
  ingest->add_option("--rules", a->rules, "rules.yaml; refuse to commit if any rule fails");
  ingest->add_flag("--append", a->append, "append the rows to the newest version");
  ingest->add_option("--format", a->format, "csv|jsonl (default: from the extension)")
      ->check(CLI::IsMember({"csv", "jsonl"}));
  ingest->add_option("--delimiter", a->delimiter, "CSV delimiter (default: sniffed)");
  ingest->add_flag("--no-header", a->no_header, "the CSV has no header row");
}

}  // namespace

void AddIngestJobVerb(CLI::App& parent, Runner* run, const JobSink& sink) {
  auto args = std::make_shared<DataArgs>();
  CLI::App* ingest = parent.add_subcommand("ingest", kIngestHelp);
  IngestFlags(ingest, args.get());
  ingest->add_flag("--json", args->json, "machine-readable JSON output");
  ingest->callback([run, sink, args] {
    *run = [sink, args] {
      pipeline::IngestOptions o = IngestOptionsOf(*args);
      for (std::string* path : {&o.file, &o.schema, &o.rules}) *path = AbsolutePath(*path);
      return sink("ingest", jobs::Payload(o), args->json);
    };
  });
}

void AddDataCommands(CLI::App& app, const GlobalOptions& g,
                     std::function<Result<ExitCode>()>* run) {
  auto args = std::make_shared<DataArgs>();
  CLI::App* data = app.add_subcommand("data", "versioned datasets: ingest, inspect, validate");
  data->require_subcommand(1);
  auto verb = [&](const char* name, const char* help, auto handler) {
    CLI::App* cmd = data->add_subcommand(name, help);
    cmd->add_flag("--json", args->json, "machine-readable JSON output");
    cmd->callback(
        [run, &g, args, handler] { *run = [&g, args, handler] { return handler(g, *args); }; });
    return cmd;
  };
  IngestFlags(verb("ingest", kIngestHelp, Ingest), args.get());
  verb("list", "list datasets with their newest version", List);
  verb("show", "schema and column profiles of a version", Show)
      ->add_option("ref", args->ref, "NAME or NAME@vN")
      ->required();
  verb("log", "the versions of a dataset, newest first", Log)
      ->add_option("name", args->ref, "dataset name")
      ->required();
  auto* diff = verb("diff", "schema, row-count and profile changes between two versions", Diff);
  diff->add_option("a", args->ref, "NAME@vN")->required();
  diff->add_option("b", args->ref2, "NAME@vM")->required();
  auto* exp = verb("export", "write a version as CSV", Export);
  exp->add_option("ref", args->ref, "NAME or NAME@vN")->required();
  exp->add_option("--to", args->to, "output CSV file")->required();
  verb("rm", "delete a version (its space is freed by gc)", Remove)
      ->add_option("ref", args->ref, "NAME@vN")
      ->required();
  verb("gc", "delete objects no live version references", Gc);
  auto* val = verb("validate", "check a version against rules or a reference version", Validate);
  val->add_option("ref", args->ref, "NAME or NAME@vN")->required();
  val->add_option("--rules", args->rules, "rules.yaml");
  val->add_option("--against", args->against, "reference version NAME@vM");
  verb("verify", "check every live version's manifest and chunks", Verify)
      ->add_flag("--deep", args->deep, "also re-hash every object (SHA-256)");
}

}  // namespace kiln::app
