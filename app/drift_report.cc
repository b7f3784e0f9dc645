#include "app/drift_report.h"

#include <algorithm>
#include <numeric>

#include <fmt/format.h>

namespace kiln::app {

namespace {

std::string Escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '&':
        out += "&amp;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string Num(double v) { return fmt::format("{:.4g}", v); }

// The label of bin `b` of numeric upper edges (the last bin open) or of categories.
std::string BinLabel(const monitor::DriftReference::Feature& f,
                     const std::vector<std::string>& categories, size_t b) {
  if (f.categorical) return b < categories.size() ? categories[b] : fmt::format("#{}", b);
  std::vector<double> finite;
  for (double e : f.edges) {
    if (e < 1e300) finite.push_back(e);
  }
  if (finite.empty()) return "all";
  if (b < finite.size()) return "≤ " + Num(finite[b]);
  return "> " + Num(finite.back());
}

// Reference and current shares per bin as paired bars, with the bin labels under them (every
// k-th when there are many).
std::string Bars(const std::vector<uint64_t>& reference, const std::vector<uint64_t>& current,
                 const std::function<std::string(size_t)>& label) {
  const size_t bins = std::max(reference.size(), current.size());
  if (bins == 0) return "<p class=\"none\">no bins</p>";
  const double rt = static_cast<double>(std::accumulate(reference.begin(), reference.end(), 0ull));
  const double ct = static_cast<double>(std::accumulate(current.begin(), current.end(), 0ull));
  auto share = [](const std::vector<uint64_t>& h, size_t i, double total) {
    return total > 0 && i < h.size() ? static_cast<double>(h[i]) / total : 0.0;
  };
  double top = 0;
  for (size_t i = 0; i < bins; ++i) {
    top = std::max({top, share(reference, i, rt), share(current, i, ct)});
  }
  if (top <= 0) top = 1;
  constexpr double kW = 640, kH = 150, kLabels = 46;
  const double slot = kW / static_cast<double>(bins);
  const double bar = std::max(0.5, slot * 0.4);
  const size_t every = std::max<size_t>(1, bins / 12);
  std::string svg = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {} {}\" width=\"{}\" "
      "height=\"{}\" role=\"img\">",
      kW, kH + kLabels, kW, kH + kLabels);
  for (size_t i = 0; i < bins; ++i) {
    const double x = static_cast<double>(i) * slot;
    const double r = share(reference, i, rt) / top * (kH - 4);
    const double c = share(current, i, ct) / top * (kH - 4);
    svg += fmt::format(
        "<rect class=\"ref\" x=\"{:.2f}\" y=\"{:.2f}\" width=\"{:.2f}\" height=\"{:.2f}\">"
        "<title>{}: reference {:.2f}%</title></rect>",
        x + slot * 0.1, kH - r, bar, r, Escape(label(i)), 100 * share(reference, i, rt));
    svg += fmt::format(
        "<rect class=\"cur\" x=\"{:.2f}\" y=\"{:.2f}\" width=\"{:.2f}\" height=\"{:.2f}\">"
        "<title>{}: current {:.2f}%</title></rect>",
        x + slot * 0.1 + bar, kH - c, bar, c, Escape(label(i)), 100 * share(current, i, ct));
    if (i % every == 0) {
      svg += fmt::format(
          "<text x=\"{:.2f}\" y=\"{:.2f}\" transform=\"rotate(40 {:.2f} {:.2f})\">{}</text>",
          x + slot / 2, kH + 12, x + slot / 2, kH + 12, Escape(label(i).substr(0, 16)));
    }
  }
  svg += fmt::format("<line x1=\"0\" y1=\"{}\" x2=\"{}\" y2=\"{}\" class=\"axis\"/></svg>", kH, kW,
                     kH);
  return svg;
}

std::string Verdict(const monitor::FeatureDrift& d) {
  const bool p_value = d.test == "ks" || d.test == "chi_square";
  return fmt::format("{}{} {} (drifts {} {})", d.test, p_value ? " p-value" : "", Num(d.score),
                     p_value ? "below" : "above", Num(d.threshold));
}

}  // namespace

std::string DriftReportHtml(const pipeline::DriftCheckResult& r, const std::string& model) {
  const monitor::DriftReport& rep = r.report;
  size_t drifted = 0;
  for (const auto& f : rep.features) drifted += f.drift.drifted ? 1 : 0;
  std::string html = fmt::format(
      "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
      "<title>Drift: {} against {}</title><style>"
      "body{{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1400px;color:#222}}"
      "h1{{font-size:1.4em}} .grid{{display:grid;grid-template-columns:repeat(auto-fill,"
      "minmax(660px,1fr));gap:16px}} .card{{border:1px solid #ddd;border-radius:6px;"
      "padding:10px 12px}} .card.drifted{{border-color:#d9534f;background:#fff8f8}}"
      ".card h2{{font-size:1.1em;margin:0 0 4px}} .tag{{font-size:.8em;padding:1px 6px;"
      "border-radius:3px;background:#eee;margin-left:6px}} .drifted .tag{{background:#d9534f;"
      "color:#fff}} .stats{{color:#555;font-size:.9em}} svg text{{font-size:10px;fill:#555}}"
      ".ref{{fill:#4a78b5}} .cur{{fill:#f0a030}} .axis{{stroke:#999}} .legend span{{display:"
      "inline-block;width:10px;height:10px;margin:0 4px 0 12px}} .none{{color:#999}}"
      "</style></head><body>\n",
      Escape(r.data), Escape(model));
  html += fmt::format(
      "<h1>Drift of {} against {}</h1><p>Reference: {} ({} rows). Current: {} rows. "
      "<b>{} of {} features drifted</b> (share {}){}.</p>"
      "<p class=\"legend\"><span style=\"background:#4a78b5\"></span>reference"
      "<span style=\"background:#f0a030\"></span>current — shares of rows per bin of the "
      "model's own bins; missing values are not in the bars.</p>\n",
      Escape(r.data), Escape(model),
      Escape(r.reference_data.empty() ? "training data" : r.reference_data), r.reference_rows,
      rep.rows, drifted, rep.features.size(), Num(rep.drift_share),
      rep.evaluated ? "" : fmt::format(" — fewer than {} rows: nothing decided", rep.min_samples));
  html += "<div class=\"grid\">\n";
  if (!r.reference.score_counts.empty() && !rep.prediction_counts.empty()) {
    const bool classes = r.reference.score == monitor::DriftReference::Score::kClass;
    monitor::DriftReference::Feature score{"prediction", classes, r.reference.score_edges, {}};
    score.edges.push_back(1e308);
    html += fmt::format(
        "<div class=\"card{}\"><h2>prediction<span class=\"tag\">{}</span></h2>"
        "<div class=\"stats\">{} · PSI {}</div>{}</div>\n",
        rep.prediction.drifted ? " drifted" : "", rep.prediction.drifted ? "drifted" : "stable",
        Escape(Verdict(rep.prediction)), Num(rep.prediction.psi),
        Bars(r.reference.score_counts, rep.prediction_counts, [&](size_t b) {
          return classes ? fmt::format("class {}", b) : BinLabel(score, {}, b);
        }));
  }
  std::vector<size_t> order(rep.features.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    if (rep.features[a].drift.drifted != rep.features[b].drift.drifted) {
      return rep.features[a].drift.drifted;
    }
    return rep.features[a].drift.psi > rep.features[b].drift.psi;
  });
  for (size_t f : order) {
    const auto& feature = rep.features[f];
    const auto& ref = r.reference.features[f];
    const auto& categories = f < r.categories.size() ? r.categories[f] : std::vector<std::string>{};
    html += fmt::format(
        "<div class=\"card{}\"><h2>{}<span class=\"tag\">{}</span></h2><div class=\"stats\">{} · "
        "PSI {} · Jensen–Shannon {}{} · missing {} · out of range {}</div>{}</div>\n",
        feature.drift.drifted ? " drifted" : "", Escape(feature.name),
        feature.drift.drifted ? "drifted" : "stable", Escape(Verdict(feature.drift)),
        Num(feature.drift.psi), Num(feature.drift.jensen_shannon),
        ref.categorical ? "" : fmt::format(" · Wasserstein {}", Num(feature.drift.wasserstein)),
        feature.missing, feature.out_of_range,
        Bars(ref.counts, feature.counts, [&](size_t b) { return BinLabel(ref, categories, b); }));
  }
  html += "</div></body></html>\n";
  return html;
}

}  // namespace kiln::app
