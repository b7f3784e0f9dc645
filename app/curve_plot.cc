#include "app/curve_plot.h"

#include <cairo-svg.h>
#include <cairo.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>

#include <fmt/format.h>

#include "kiln/base/utf8.h"

namespace kiln::app {
namespace {

constexpr double kPanelWidth = 560, kPanelHeight = 340;
constexpr double kLeft = 70, kRight = 20, kTop = 34, kBottom = 44;
constexpr double kLegendRow = 18;
constexpr size_t kMaxPanels = 64;

struct Rgb {
  double r, g, b;
};
// A palette that stays distinguishable for the common colour-vision deficiencies (Okabe-Ito).
constexpr Rgb kPalette[] = {{0.00, 0.45, 0.70}, {0.90, 0.62, 0.00}, {0.00, 0.62, 0.45},
                            {0.80, 0.47, 0.65}, {0.34, 0.71, 0.91}, {0.84, 0.37, 0.00},
                            {0.94, 0.89, 0.26}, {0.00, 0.00, 0.00}};

struct Range {
  double lo = std::numeric_limits<double>::infinity();
  double hi = -std::numeric_limits<double>::infinity();
  void Add(double v) {
    if (!std::isfinite(v)) return;
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  bool empty() const { return !(lo <= hi); }
  // Widened so a flat series still has a height, then padded by 5%.
  Range Padded() const {
    Range r = *this;
    if (r.empty()) return {0, 1};
    if (r.hi - r.lo < 1e-12) {
      const double d = std::max(std::abs(r.lo) * 0.05, 0.5);
      return {r.lo - d, r.hi + d};
    }
    const double pad = (r.hi - r.lo) * 0.05;
    return {r.lo - pad, r.hi + pad};
  }
};

// Tick positions at 1, 2 or 5 times a power of ten, about six across the range.
std::vector<double> Ticks(const Range& r) {
  const double span = r.hi - r.lo;
  const double raw = span / 6;
  const double mag = std::pow(10, std::floor(std::log10(raw)));
  double step = mag;
  for (double m : {1.0, 2.0, 5.0, 10.0}) {
    if (mag * m >= raw) {
      step = mag * m;
      break;
    }
  }
  std::vector<double> out;
  for (double t = std::ceil(r.lo / step) * step; t <= r.hi + step * 1e-9 && out.size() < 20;
       t += step) {
    out.push_back(std::abs(t) < step * 1e-9 ? 0 : t);
  }
  return out;
}

std::string TickText(double v) { return fmt::format("{:.6g}", v); }

void Text(cairo_t* cr, double x, double y, const std::string& s, double align_x, double size) {
  cairo_set_font_size(cr, size);
  cairo_text_extents_t e;
  cairo_text_extents(cr, s.c_str(), &e);
  cairo_move_to(cr, x - e.width * align_x - e.x_bearing, y);
  cairo_show_text(cr, s.c_str());
}

// The panel whose top left corner is (x0, y0); its legend goes below the axes.
// Where a panel's plot area lies and what it shows: data coordinates to device coordinates.
struct Frame {
  double px, py, w, h;
  Range xs, ys;
  double X(double v) const { return px + (v - xs.lo) / (xs.hi - xs.lo) * w; }
  double Y(double v) const { return py + h - (v - ys.lo) / (ys.hi - ys.lo) * h; }
};

Frame FrameFor(const PlotPanel& p, double x0, double y0) {
  Frame f{x0 + kLeft, y0 + kTop, kPanelWidth - kLeft - kRight, kPanelHeight - kTop - kBottom,
          {},         {}};
  for (const auto& s : p.series) {
    if (!s.curve) continue;
    for (size_t i = 0; i < s.curve->values.size(); ++i) {
      if (!std::isfinite(s.curve->values[i])) continue;
      f.xs.Add(static_cast<double>(s.curve->steps[i]));
      f.ys.Add(s.curve->values[i]);
    }
  }
  if (f.xs.empty()) f.xs = {0, 1};
  if (f.xs.hi - f.xs.lo < 1) f.xs.hi = f.xs.lo + 1;
  f.ys = f.ys.Padded();
  return f;
}

// Grid lines, tick labels, the axis label and the frame.
void DrawAxes(cairo_t* cr, const Frame& f) {
  cairo_set_line_width(cr, 1);
  for (double t : Ticks(f.ys)) {
    cairo_set_source_rgb(cr, 0.88, 0.88, 0.88);
    cairo_move_to(cr, f.px, f.Y(t));
    cairo_line_to(cr, f.px + f.w, f.Y(t));
    cairo_stroke(cr);
    cairo_set_source_rgb(cr, 0.3, 0.3, 0.3);
    Text(cr, f.px - 6, f.Y(t) + 4, TickText(t), 1.0, 10);
  }
  for (double t : Ticks(f.xs)) {
    cairo_set_source_rgb(cr, 0.88, 0.88, 0.88);
    cairo_move_to(cr, f.X(t), f.py);
    cairo_line_to(cr, f.X(t), f.py + f.h);
    cairo_stroke(cr);
    cairo_set_source_rgb(cr, 0.3, 0.3, 0.3);
    Text(cr, f.X(t), f.py + f.h + 14, TickText(t), 0.5, 10);
  }
  cairo_set_source_rgb(cr, 0.3, 0.3, 0.3);
  Text(cr, f.px + f.w / 2, f.py + f.h + 30, "step", 0.5, 11);
  cairo_rectangle(cr, f.px, f.py, f.w, f.h);
  cairo_stroke(cr);
}

// One line per run; a non-finite value breaks the line.
void DrawLines(cairo_t* cr, const PlotPanel& p, const Frame& f) {
  cairo_save(cr);
  cairo_rectangle(cr, f.px, f.py, f.w, f.h);
  cairo_clip(cr);
  cairo_set_line_width(cr, 1.8);
  cairo_set_line_join(cr, CAIRO_LINE_JOIN_ROUND);
  for (size_t k = 0; k < p.series.size(); ++k) {
    const auto* c = p.series[k].curve;
    if (!c) continue;
    const Rgb& col = kPalette[k % std::size(kPalette)];
    cairo_set_source_rgb(cr, col.r, col.g, col.b);
    bool pen_down = false;
    for (size_t i = 0; i < c->values.size(); ++i) {
      if (!std::isfinite(c->values[i])) {
        pen_down = false;
        continue;
      }
      const double x = f.X(static_cast<double>(c->steps[i])), y = f.Y(c->values[i]);
      if (pen_down) {
        cairo_line_to(cr, x, y);
      } else {
        cairo_move_to(cr, x, y);
        if (c->values.size() == 1) cairo_line_to(cr, x + 0.01, y);  // a dot for one point
      }
      pen_down = true;
    }
    cairo_stroke(cr);
  }
  cairo_restore(cr);
}

// Legend: two entries per row under the axis label.
void DrawLegend(cairo_t* cr, const PlotPanel& p, const Frame& f) {
  for (size_t k = 0; k < p.series.size(); ++k) {
    const double lx = f.px + static_cast<double>(k % 2) * (f.w / 2);
    const double ly = f.py + f.h + kBottom + kLegendRow * static_cast<double>(k / 2);
    const Rgb& col = kPalette[k % std::size(kPalette)];
    cairo_set_source_rgb(cr, col.r, col.g, col.b);
    cairo_set_line_width(cr, 3);
    cairo_move_to(cr, lx, ly - 4);
    cairo_line_to(cr, lx + 18, ly - 4);
    cairo_stroke(cr);
    cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
    std::string label = p.series[k].label;
    if (label.size() > 40) label = label.substr(0, 39) + "~";
    if (!p.series[k].curve) label += " (no curve)";
    Text(cr, lx + 24, ly, label, 0.0, 10);
  }
}

void DrawPanel(cairo_t* cr, const PlotPanel& p, double x0, double y0) {
  const Frame f = FrameFor(p, x0, y0);
  cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
  Text(cr, x0 + kPanelWidth / 2, y0 + 22, p.title, 0.5, 14);
  DrawAxes(cr, f);
  DrawLines(cr, p, f);
  DrawLegend(cr, p, f);
}

cairo_status_t Append(void* closure, const unsigned char* data, unsigned int length) {
  static_cast<std::string*>(closure)->append(reinterpret_cast<const char*>(data), length);
  return CAIRO_STATUS_SUCCESS;
}

struct SurfaceDeleter {
  void operator()(cairo_surface_t* s) const { cairo_surface_destroy(s); }
};
struct ContextDeleter {
  void operator()(cairo_t* c) const { cairo_destroy(c); }
};

}  // namespace

Result<PlotFormat> PlotFormatFor(const std::string& path) {
  const std::string ext = AsciiLower(path.size() >= 4 ? path.substr(path.size() - 4) : "");
  if (ext == ".svg") return PlotFormat::kSvg;
  if (ext == ".png") return PlotFormat::kPng;
  return InvalidArgumentError(
      fmt::format("--plot {}: the file name must end in .svg or .png", path.substr(0, 200)));
}

Result<std::string> RenderCurvePlot(const std::vector<PlotPanel>& panels, PlotFormat format) {
  if (panels.empty()) return InvalidArgumentError("no curves to plot");
  if (panels.size() > kMaxPanels) {
    return InvalidArgumentError(fmt::format("{} curves to plot; at most {} (choose with --curve)",
                                            panels.size(), kMaxPanels));
  }
  size_t max_series = 0;
  for (const auto& p : panels) max_series = std::max(max_series, p.series.size());
  const double legend = kLegendRow * static_cast<double>((max_series + 1) / 2);
  const double cell_h = kPanelHeight + legend;
  const size_t cols = panels.size() == 1 ? 1 : 2;
  const size_t rows = (panels.size() + cols - 1) / cols;
  const double width = kPanelWidth * static_cast<double>(cols);
  const double height = cell_h * static_cast<double>(rows);

  std::string out;
  std::unique_ptr<cairo_surface_t, SurfaceDeleter> surface(
      format == PlotFormat::kSvg
          ? cairo_svg_surface_create_for_stream(Append, &out, width, height)
          : cairo_image_surface_create(CAIRO_FORMAT_RGB24, static_cast<int>(width),
                                       static_cast<int>(height)));
  if (cairo_surface_status(surface.get()) != CAIRO_STATUS_SUCCESS) {
    return InternalError(
        fmt::format("plot: {}", cairo_status_to_string(cairo_surface_status(surface.get()))));
  }
  {
    std::unique_ptr<cairo_t, ContextDeleter> cr(cairo_create(surface.get()));
    cairo_select_font_face(cr.get(), "sans-serif", CAIRO_FONT_SLANT_NORMAL,
                           CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_source_rgb(cr.get(), 1, 1, 1);
    cairo_paint(cr.get());
    for (size_t i = 0; i < panels.size(); ++i) {
      DrawPanel(cr.get(), panels[i], kPanelWidth * static_cast<double>(i % cols),
                cell_h * static_cast<double>(i / cols));
    }
    if (cairo_status(cr.get()) != CAIRO_STATUS_SUCCESS) {
      return InternalError(fmt::format("plot: {}", cairo_status_to_string(cairo_status(cr.get()))));
    }
  }
  if (format == PlotFormat::kPng) {
    cairo_surface_flush(surface.get());
    if (cairo_surface_write_to_png_stream(surface.get(), Append, &out) != CAIRO_STATUS_SUCCESS) {
      return InternalError("plot: PNG encoding failed");
    }
  } else {
    cairo_surface_finish(surface.get());
    if (cairo_surface_status(surface.get()) != CAIRO_STATUS_SUCCESS) {
      return InternalError("plot: SVG output failed");
    }
  }
  return out;
}

}  // namespace kiln::app
