// Line charts of metric curves for `kiln runs compare --plot`: one panel per curve key, one line
// per run, drawn with cairo into SVG or PNG bytes.
#pragma once

#include <string>
#include <vector>

#include "kiln/base/status.h"
#include "kiln/registry/catalog_store.h"

namespace kiln::app {

enum class PlotFormat { kSvg, kPng };

// The format a file name asks for (".svg" or ".png", any case); InvalidArgument otherwise.
Result<PlotFormat> PlotFormatFor(const std::string& path);

struct PlotSeries {
  std::string label;             // legend text, e.g. the short run id and run name
  const registry::Curve* curve;  // null: the run has no such curve
};

struct PlotPanel {
  std::string title;  // the curve key
  std::vector<PlotSeries> series;
};

// The chart as the bytes of an SVG document or PNG image. Panels are laid out two per row.
Result<std::string> RenderCurvePlot(const std::vector<PlotPanel>& panels, PlotFormat format);

}  // namespace kiln::app
