// JsonReader: checked reads of a parsed JSON document that came from untrusted bytes (model
// metadata, manifests, imported models, stored settings), without exceptions as control flow.
// Every read checks that the field is there and of the right type; the first problem is kept
// (with the path to the field) and later reads return defaults, so a parser reads its fields
// straight through and checks status() once.
//
//   JsonReader<nlohmann::json> r(doc, "model metadata");
//   m.name = r.String("name");
//   r.Each("features", [&](JsonReader<nlohmann::json>& f) { names.push_back(f.String("name")); });
//   if (!r.ok()) return DataLossError(r.status().message());
//   // "model metadata: features[2].name: must be a string"
//
// Generic over the JSON type (nlohmann::json's interface: is_object, find, get_ref, ...), so
// this header includes no JSON library: each subsystem that links one instantiates it.
// Thread-safety: a reader and the readers it makes share one error: use them on one thread.
#pragma once

#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kiln/base/numbers.h"
#include "kiln/base/status.h"

namespace kiln {

template <typename Json>
class JsonReader {
 public:
  // `value` must be an object (else the reader fails at once); `what` names it in errors.
  JsonReader(const Json& value, std::string what)
      : value_(&value), path_(std::move(what)), error_(std::make_shared<std::string>()) {
    if (!value.is_object()) Fail("must be an object");
  }

  bool ok() const { return error_->empty(); }
  // InvalidArgument with the first problem, or OK.
  Status status() const { return ok() ? Status::Ok() : InvalidArgumentError(*error_); }
  // Records a problem of this object (the first one recorded wins).
  void Fail(std::string_view problem) {
    if (ok()) *error_ = path_ + ": " + std::string(problem);
  }

  bool Has(std::string_view key) const { return Find(key) != nullptr; }

  std::string String(std::string_view key) {
    const Json* v = Get(key, "a string", [](const Json& j) { return j.is_string(); });
    return v ? v->template get_ref<const typename Json::string_t&>() : std::string();
  }
  bool Bool(std::string_view key) {
    const Json* v = Get(key, "true or false", [](const Json& j) { return j.is_boolean(); });
    return v ? v->template get<bool>() : false;
  }
  double Number(std::string_view key) {
    const Json* v = Get(key, "a number", [](const Json& j) { return j.is_number(); });
    return v ? v->template get<double>() : 0;
  }
  // A number or null (nullopt).
  std::optional<double> OptionalNumber(std::string_view key) {
    const Json* v =
        Get(key, "a number or null", [](const Json& j) { return j.is_number() || j.is_null(); });
    if (v == nullptr || v->is_null()) return std::nullopt;
    return v->template get<double>();
  }
  uint64_t Unsigned(std::string_view key, uint64_t max = UINT64_MAX) {
    const Json* v =
        Get(key, "a whole number >= 0", [](const Json& j) { return j.is_number_unsigned(); });
    if (v == nullptr) return 0;
    const uint64_t n = v->template get<uint64_t>();
    if (n > max) return FailAt(key, "must be at most " + std::to_string(max)), 0;
    return n;
  }
  int64_t Integer(std::string_view key, int64_t min, int64_t max) {
    const Json* v = Get(key, "a whole number", [](const Json& j) { return j.is_number_integer(); });
    if (v == nullptr) return 0;
    if (!InRange(*v, min, max)) {
      return FailAt(key, "must be in [" + std::to_string(min) + ", " + std::to_string(max) + "]"),
             0;
    }
    return v->template get<int64_t>();
  }
  std::vector<std::string> Strings(std::string_view key) {
    std::vector<std::string> out;
    const Json* v = Get(key, "an array of strings", [](const Json& j) { return j.is_array(); });
    if (v == nullptr) return out;
    out.reserve(v->size());
    for (const Json& e : *v) {
      if (!e.is_string()) return FailAt(key, "must be an array of strings"), out;
      out.push_back(e.template get_ref<const typename Json::string_t&>());
    }
    return out;
  }
  // With `null_is_nan`, a null element reads as NaN (how writers that cannot put NaN in JSON
  // write it).
  std::vector<double> Numbers(std::string_view key, bool null_is_nan = false) {
    std::vector<double> out;
    const Json* v = Get(key, "an array of numbers", [](const Json& j) { return j.is_array(); });
    if (v == nullptr) return out;
    out.reserve(v->size());
    for (const Json& e : *v) {
      if (null_is_nan && e.is_null()) {
        out.push_back(std::numeric_limits<double>::quiet_NaN());
        continue;
      }
      if (!e.is_number()) return FailAt(key, "must be an array of numbers"), out;
      out.push_back(e.template get<double>());
    }
    return out;
  }
  std::vector<int64_t> Integers(std::string_view key, int64_t min, int64_t max) {
    std::vector<int64_t> out;
    const Json* v =
        Get(key, "an array of whole numbers", [](const Json& j) { return j.is_array(); });
    if (v == nullptr) return out;
    out.reserve(v->size());
    for (const Json& e : *v) {
      if (!InRange(e, min, max)) {
        return FailAt(key, "must be whole numbers in [" + std::to_string(min) + ", " +
                               std::to_string(max) + "]"),
               out;
      }
      out.push_back(e.template get<int64_t>());
    }
    return out;
  }
  // An object of numbers ({"auc": 0.91, ...}), sorted by key.
  std::map<std::string, double> NumberMap(std::string_view key) {
    std::map<std::string, double> out;
    const Json* v = Get(key, "an object of numbers", [](const Json& j) { return j.is_object(); });
    if (v == nullptr) return out;
    for (auto it = v->begin(); it != v->end(); ++it) {
      if (!it.value().is_number()) return FailAt(key, "must be an object of numbers"), out;
      out[it.key()] = it.value().template get<double>();
    }
    return out;
  }
  // A number, or a string holding one ("0.5", as some writers store numbers).
  double NumberOrText(std::string_view key) {
    const Json* v =
        Get(key, "a number", [](const Json& j) { return j.is_number() || j.is_string(); });
    if (v == nullptr) return 0;
    if (v->is_number()) return v->template get<double>();
    auto n = ParseDouble(v->template get_ref<const typename Json::string_t&>(), "");
    if (!n.ok()) return FailAt(key, "must be a number"), 0;
    return *n;
  }
  // The nested object at `key`, read with a reader that shares this one's error.
  JsonReader Object(std::string_view key) {
    const Json* v = Get(key, "an object", [](const Json& j) { return j.is_object(); });
    return JsonReader(v ? *v : Empty(), Child(key), error_);
  }
  // Calls f(JsonReader&) for each element of the array at `key` (each must be an object) until
  // the first problem.
  template <typename F>
  void Each(std::string_view key, F&& f) {
    const Json* v = Get(key, "an array", [](const Json& j) { return j.is_array(); });
    if (v == nullptr) return;
    size_t i = 0;
    for (const Json& e : *v) {
      JsonReader element(e, Child(key) + "[" + std::to_string(i++) + "]", error_);
      if (!e.is_object()) element.Fail("must be an object");
      if (!ok()) return;
      f(element);
      if (!ok()) return;
    }
  }

 private:
  JsonReader(const Json& value, std::string path, std::shared_ptr<std::string> error)
      : value_(&value), path_(std::move(path)), error_(std::move(error)) {}

  static bool InRange(const Json& e, int64_t min, int64_t max) {
    if (!e.is_number_integer()) return false;
    if (e.is_number_unsigned()) {
      const uint64_t u = e.template get<uint64_t>();
      return max >= 0 && u <= static_cast<uint64_t>(max) &&
             (min <= 0 || u >= static_cast<uint64_t>(min));
    }
    const int64_t n = e.template get<int64_t>();
    return n >= min && n <= max;
  }
  static const Json& Empty() {
    static const Json empty = Json::object();
    return empty;
  }
  std::string Child(std::string_view key) const { return path_ + "." + std::string(key); }
  void FailAt(std::string_view key, std::string_view problem) {
    if (ok()) *error_ = Child(key) + ": " + std::string(problem);
  }
  const Json* Find(std::string_view key) const {
    if (!value_->is_object()) return nullptr;
    auto it = value_->find(std::string(key));
    return it == value_->end() ? nullptr : &*it;
  }
  template <typename Check>
  const Json* Get(std::string_view key, std::string_view type, Check check) {
    if (!ok()) return nullptr;
    const Json* v = Find(key);
    if (v == nullptr) return FailAt(key, "is missing"), nullptr;
    if (!check(*v)) return FailAt(key, "must be " + std::string(type)), nullptr;
    return v;
  }

  const Json* value_;
  std::string path_;
  std::shared_ptr<std::string> error_;
};

}  // namespace kiln
