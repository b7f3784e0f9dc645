#include "kiln/pipeline/batch_predict.h"

#include <algorithm>
#include <functional>
#include <optional>

#include <fmt/format.h>

#include "kiln/base/file_system.h"
#include "kiln/base/thread_pool.h"
#include "kiln/data/column.h"
#include "kiln/model/predictor.h"
#include "kiln/model/shap.h"
#include "kiln/pipeline/export.h"
#include "kiln/pipeline/models.h"
#include "kiln/pipeline/training_data.h"
#include "kiln/serve/model_manager.h"

namespace kiln::pipeline {
namespace {

constexpr size_t kFilePartRows = 65536;

// The rows to score, part by part.
struct Source {
  std::string label;
  data::Schema schema;
  size_t parts = 0;
  std::function<Result<data::Dataset>(size_t)> part;
};

std::optional<size_t> IdColumn(const data::Schema& schema) {
  std::optional<size_t> id;
  for (size_t i = 0; i < schema.size(); ++i) {
    if (schema.field(i).role == data::ColumnRole::kId) id = i;
  }
  return id;
}

Result<Source> OpenSource(Home& home, const std::string& ref, const model::TreeModel& m,
                          const ExecContext& ctx) {
  Source src;
  const auto parsed = AsDatasetRef(ref);
  if (parsed) {
    storage::DatasetStore* store = &home.datasets();
    KILN_ASSIGN_OR_RETURN(auto rec, store->Resolve(*parsed));
    KILN_ASSIGN_OR_RETURN(storage::Manifest manifest, store->LoadManifest(rec));
    // Only the columns scoring needs: the model's features and the id column.
    std::vector<size_t> cols;
    const auto id = IdColumn(manifest.schema);
    for (size_t c = 0; c < manifest.schema.size(); ++c) {
      const std::string& name = manifest.schema.field(c).name;
      const bool feature = std::any_of(m.features.begin(), m.features.end(),
                                       [&](const model::FeatureInfo& f) { return f.name == name; });
      if (feature || id == c) cols.push_back(c);
    }
    std::vector<data::Field> fields;
    for (size_t c : cols) fields.push_back(manifest.schema.field(c));
    KILN_ASSIGN_OR_RETURN(src.schema, data::Schema::Make(std::move(fields)));
    src.label = fmt::format("{}@v{}", rec.name, rec.version);
    src.parts = manifest.row_groups.size();
    auto shared = std::make_shared<const storage::Manifest>(std::move(manifest));
    src.part = [store, shared, cols, schema = src.schema](size_t rg) -> Result<data::Dataset> {
      data::Dataset d;
      d.schema = schema;
      for (size_t c : cols) {
        KILN_ASSIGN_OR_RETURN(data::Column col, store->ReadChunk(*shared, rg, c));
        d.columns.push_back(std::move(col));
      }
      return d;
    };
    return src;
  }
  KILN_ASSIGN_OR_RETURN(LoadedData loaded, LoadData(nullptr, home.fs(), ref, ctx));
  auto whole = std::make_shared<const data::Dataset>(std::move(loaded.data));
  src.label = loaded.label;
  src.schema = whole->schema;
  src.parts = std::max<size_t>(1, (whole->num_rows() + kFilePartRows - 1) / kFilePartRows);
  src.part = [whole](size_t p) -> Result<data::Dataset> {
    const size_t r0 = p * kFilePartRows, r1 = std::min(whole->num_rows(), r0 + kFilePartRows);
    if (r0 == 0 && r1 == whole->num_rows()) return *whole;
    std::vector<data::RowIndex> rows;
    for (size_t r = r0; r < r1; ++r) rows.push_back(static_cast<data::RowIndex>(r));
    return data::TakeRows(*whole, rows);
  };
  return src;
}

// Every row into one window: a clock that stands still.
std::unique_ptr<monitor::LiveDrift> WholeDataDrift(const model::TreeModel& m,
                                                   uint64_t min_samples) {
  if (m.reference.empty()) return nullptr;
  return std::make_unique<monitor::LiveDrift>(
      serve::DriftReferenceOf(m), monitor::LiveDriftOptions{.window = std::chrono::hours(1),
                                                            .min_samples = min_samples,
                                                            .now_ms = [] { return int64_t{0}; }});
}

// Reads the parts of `src` `threads` at a time in parallel, each by one thread, and hands each to
// `each(index, part, one_thread_ctx)`; `done(first, n)` after every group, in order.
Status ForEachPart(
    const Source& src, const ExecContext& ctx,
    const std::function<Status(size_t, const data::Dataset&, const ExecContext&)>& each,
    const std::function<Status(size_t, size_t)>& done) {
  const ExecContext one = ctx.WithThreads(1);
  const size_t window = static_cast<size_t>(std::max(1, ctx.threads()));
  for (size_t first = 0; first < src.parts; first += window) {
    const size_t n = std::min(window, src.parts - first);
    KILN_RETURN_IF_ERROR(ParallelFor(ctx, n, [&](size_t i) -> Status {
      KILN_ASSIGN_OR_RETURN(data::Dataset part, src.part(first + i));
      return each(i, part, one);
    }));
    KILN_RETURN_IF_ERROR(done(first, n));
  }
  return Status::Ok();
}

class Formatter {
 public:
  Formatter(const model::TreeModel& m, const model::Predictor& p, const BatchPredictOptions& o,
            std::optional<size_t> id_col)
      : m_(m), p_(p), o_(o), id_col_(id_col) {}

  std::string Header(const data::Schema& schema) const {
    std::string csv;
    if (id_col_) AppendCsvField(&csv, schema.field(*id_col_).name), csv += ',';
    if (o_.kind == "margin") {
      const size_t w = p_.output_width(model::PredictKind::kMargin);
      for (size_t k = 0; k < w; ++k) {
        AppendCsvField(&csv, w == 1 ? std::string("margin") : "margin_" + m_.class_labels[k]);
        csv += ',';
      }
    } else if (o_.kind == "leaf") {
      for (size_t t = 0; t < p_.output_width(model::PredictKind::kLeafIndex); ++t) {
        csv += fmt::format("leaf_{},", t);
      }
    } else if (m_.is_classification()) {
      for (const auto& c : m_.class_labels) AppendCsvField(&csv, "prob_" + c), csv += ',';
    }
    csv += "prediction";
    if (o_.explain) {
      for (const auto& f : m_.features) csv += ",", AppendCsvField(&csv, "shap_" + f.name);
      csv += ",shap_bias";
    }
    return csv + "\n";
  }

  // The CSV lines of one part; its rows counted in `drift` when given.
  Status Score(const data::Dataset& d, const ExecContext& ctx, monitor::LiveDrift* drift,
               std::string* csv) const {
    KILN_ASSIGN_OR_RETURN(model::FeatureMatrix x, p_.Prepare(d));
    const bool classification = m_.is_classification();
    const size_t groups = static_cast<size_t>(m_.num_groups());
    const size_t shap_width = m_.features.size() + 1;
    // The probabilities (or regression predictions) always: they give `prediction`.
    const size_t width = p_.output_width(model::PredictKind::kProbability);
    std::vector<float> out(x.rows * width);
    KILN_RETURN_IF_ERROR(p_.Predict(x, model::PredictKind::kProbability, out, ctx));
    if (drift) drift->Record(x.rows, x.cols, x.values.data(), out.data(), width);
    std::vector<float> extra;
    size_t extra_width = 0;
    if (o_.kind == "margin" || o_.kind == "leaf") {
      const auto kind =
          o_.kind == "margin" ? model::PredictKind::kMargin : model::PredictKind::kLeafIndex;
      extra_width = p_.output_width(kind);
      extra.resize(x.rows * extra_width);
      KILN_RETURN_IF_ERROR(p_.Predict(x, kind, extra, ctx));
    }
    std::vector<double> phi;
    if (o_.explain) {
      phi.resize(x.rows * groups * shap_width);
      KILN_RETURN_IF_ERROR(model::ExplainRows(p_, x, phi, ctx));
    }
    for (size_t r = 0; r < x.rows; ++r) {
      if (id_col_) AppendCsvField(csv, d.columns[*id_col_].TextAt(r)), *csv += ',';
      const float* o = out.data() + r * width;
      for (size_t k = 0; k < extra_width; ++k)
        *csv += fmt::format("{},", extra[r * extra_width + k]);
      const size_t best = static_cast<size_t>(std::max_element(o, o + width) - o);
      if (classification) {
        if (extra_width == 0) {
          for (size_t k = 0; k < width; ++k) *csv += fmt::format("{},", o[k]);
        }
        AppendCsvField(csv, m_.class_labels[best]);
      } else {
        *csv += fmt::format("{}", o[0]);
      }
      if (o_.explain) {
        const size_t grp = groups == 1 ? 0 : best;
        const double* row_phi = phi.data() + (r * groups + grp) * shap_width;
        for (size_t f = 0; f < shap_width; ++f) *csv += fmt::format(",{}", row_phi[f]);
      }
      *csv += '\n';
    }
    return Status::Ok();
  }

 private:
  const model::TreeModel& m_;
  const model::Predictor& p_;
  const BatchPredictOptions& o_;
  std::optional<size_t> id_col_;
};

}  // namespace

Result<BatchPredictResult> BatchPredict(Home& home, const BatchPredictOptions& o,
                                        const ExecContext& ctx) {
  KILN_ASSIGN_OR_RETURN(auto m, LoadModelRef(home, o.model));
  KILN_ASSIGN_OR_RETURN(auto predictor, model::Predictor::Create(m));
  KILN_ASSIGN_OR_RETURN(Source src, OpenSource(home, o.data, *m, ctx));
  const Formatter fmt(*m, *predictor, o, IdColumn(src.schema));
  // Written next to the output and renamed over it at the end: no partial file on failure.
  KILN_ASSIGN_OR_RETURN(auto file, AtomicFileWriter::Open(home.fs(), o.out));
  KILN_RETURN_IF_ERROR(file->Append(fmt.Header(src.schema)));
  BatchPredictResult result;
  result.data = src.label;
  result.parts = src.parts;
  const auto drift = o.drift ? WholeDataDrift(*m, 1) : nullptr;
  // One buffer per part of a group, appended in order when the group is done.
  std::vector<std::string> text(static_cast<size_t>(std::max(1, ctx.threads())));
  std::vector<uint64_t> rows(text.size());
  KILN_RETURN_IF_ERROR(ForEachPart(
      src, ctx,
      [&](size_t i, const data::Dataset& part, const ExecContext& one) {
        rows[i] = part.num_rows();
        return fmt.Score(part, one, drift.get(), &text[i]);
      },
      [&](size_t, size_t n) -> Status {
        for (size_t i = 0; i < n; ++i) {
          KILN_RETURN_IF_ERROR(file->Append(text[i]));
          text[i].clear();
          result.rows += rows[i];
        }
        return Status::Ok();
      }));
  if (drift) result.drift = drift->Measure(monitor::DriftWindow::kSliding);
  KILN_RETURN_IF_ERROR(file->Commit());
  return result;
}

namespace {

// Counts the rows of `src` in `drift` (scored by `predictor`).
Status RecordRows(const Source& src, const model::Predictor& predictor, monitor::LiveDrift* drift,
                  const ExecContext& ctx) {
  const size_t width = predictor.output_width(model::PredictKind::kProbability);
  return ForEachPart(
      src, ctx,
      [&](size_t, const data::Dataset& part, const ExecContext& one) -> Status {
        KILN_ASSIGN_OR_RETURN(model::FeatureMatrix x, predictor.Prepare(part));
        std::vector<float> out(x.rows * width);
        KILN_RETURN_IF_ERROR(predictor.Predict(x, model::PredictKind::kProbability, out, one));
        drift->Record(x.rows, x.cols, x.values.data(), out.data(), width);
        return Status::Ok();
      },
      [](size_t, size_t) { return Status::Ok(); });
}

}  // namespace

Result<DriftCheckResult> CheckDrift(Home& home, const DriftCheckOptions& o,
                                    const ExecContext& ctx) {
  KILN_ASSIGN_OR_RETURN(auto m, LoadModelRef(home, o.model));
  if (m->reference.empty()) {
    return FailedPreconditionError(fmt::format(
        "model '{}' carries no drift reference (imported, or written by an older kiln): retrain "
        "it with kiln train",
        o.model));
  }
  KILN_ASSIGN_OR_RETURN(auto predictor, model::Predictor::Create(m));
  DriftCheckResult r;
  r.reference = serve::DriftReferenceOf(*m);
  r.reference_data = m->reference.data;
  r.reference_rows = m->reference.rows;
  if (!o.against.empty()) {
    // The other rows, counted in the model's bins, are the reference; the training range stays.
    KILN_ASSIGN_OR_RETURN(Source base, OpenSource(home, o.against, *m, ctx));
    const auto counted = WholeDataDrift(*m, 1);
    KILN_RETURN_IF_ERROR(RecordRows(base, *predictor, counted.get(), ctx));
    const monitor::DriftReport b = counted->Measure(monitor::DriftWindow::kSliding);
    for (size_t f = 0; f < r.reference.features.size(); ++f) {
      r.reference.features[f].counts = b.features[f].counts;
    }
    r.reference.score_counts = b.prediction_counts;
    r.reference_data = base.label;
    r.reference_rows = b.rows;
  }
  for (const auto& f : m->features) {
    r.categories.push_back(f.categorical ? f.categories : std::vector<std::string>{});
  }
  KILN_ASSIGN_OR_RETURN(Source src, OpenSource(home, o.data, *m, ctx));
  monitor::LiveDrift drift(r.reference, {.window = std::chrono::hours(1),
                                         .min_samples = o.min_samples,
                                         .now_ms = [] { return int64_t{0}; }});
  KILN_RETURN_IF_ERROR(RecordRows(src, *predictor, &drift, ctx));
  r.data = src.label;
  r.report = drift.Measure(monitor::DriftWindow::kSliding);
  return r;
}

}  // namespace kiln::pipeline
