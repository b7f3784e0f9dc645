// The HTML report of `kiln monitor drift --html`: one self-contained page (inline CSS and SVG, no
// scripts, nothing fetched) with the summary and, per feature, the reference and current
// histograms side by side in the model's bins, the most drifted first.
#pragma once

#include <string>

#include "kiln/pipeline/batch_predict.h"

namespace kiln::app {

std::string DriftReportHtml(const pipeline::DriftCheckResult& r, const std::string& model);

}  // namespace kiln::app
