// Rendering of dataset versions (as text; their JSON is api/control_plane.h's), diffs and
// validation reports as JSON (`--json`) and as text.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "kiln/data/validate.h"
#include "kiln/storage/dataset_store.h"

namespace kiln::app {

std::string VersionText(const storage::VersionRecord& r, const storage::Manifest& m);

nlohmann::json DiffJson(const data::DatasetSummary& a, const data::DatasetSummary& b);
std::string DiffText(const nlohmann::json& diff);

nlohmann::json ReportJson(const data::ValidationReport& r);
std::string ReportText(const data::ValidationReport& r, const std::string& label);

}  // namespace kiln::app
