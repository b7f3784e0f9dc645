// The kiln model file (docs/formats/model.md): magic, format version, a JSON metadata section,
// binary node arrays and an XXH3 trailer. The loader treats the file as untrusted (BI-14..BI-19):
// sizes are checked before allocating, the structure is validated, and anything inconsistent is
// a DataLoss error; other formats (pickle, joblib, torch) are recognised and refused unparsed.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "kiln/base/file_system.h"
#include "kiln/base/limits.h"
#include "kiln/model/tree_model.h"

namespace kiln::model {

inline constexpr std::string_view kModelMagic = "KILNMDL1";
inline constexpr uint32_t kModelFormatVersion = 1;

std::string EncodeModel(const TreeModel& model);
// `source` names the file or object in error messages.
Result<TreeModel> DecodeModel(std::string_view bytes, std::string_view source);

Status SaveModel(FileSystem& fs, const std::string& path, const TreeModel& model);
Result<std::shared_ptr<const TreeModel>> LoadModel(FileSystem& fs, const std::string& path);

}  // namespace kiln::model
