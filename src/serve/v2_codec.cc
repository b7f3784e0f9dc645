// The V2 JSON codec: a one-pass reader specialised for inference requests (no DOM, so a 64 MB
// body of numbers costs one vector of doubles), and a writer for responses.
#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>
#include <set>

#include <fmt/format.h>

#include "kiln/base/names.h"
#include "kiln/base/utf8.h"
#include "kiln/serve/v2.h"

namespace kiln::serve {
namespace {

constexpr std::string_view kTypeNames[] = {"BOOL", "UINT8", "UINT16", "UINT32", "UINT64",
                                           "INT8", "INT16", "INT32",  "INT64",  "FP16",
                                           "FP32", "FP64",  "BYTES"};
constexpr size_t kTypeSizes[] = {1, 1, 2, 4, 8, 1, 2, 4, 8, 2, 4, 8, 0};
constexpr size_t kMaxDims = 16;

// The scalar kinds seen in one tensor's data.
struct Seen {
  bool number = false, boolean = false, string = false, null = false;
};

class Reader {
 public:
  Reader(std::string_view text, const Limits& limits)
      : begin_(text.data()), p_(text.data()), end_(text.data() + text.size()), limits_(limits) {}

  Status Error(std::string_view what) const {
    return InvalidArgumentError(
        fmt::format("request JSON at byte {}: {}", static_cast<size_t>(p_ - begin_), what));
  }

  void Ws() {
    while (p_ < end_ && (*p_ == ' ' || *p_ == '\n' || *p_ == '\r' || *p_ == '\t')) ++p_;
  }
  bool At(char c) {
    Ws();
    return p_ < end_ && *p_ == c;
  }
  Status Expect(char c) {
    if (!At(c)) return Error(fmt::format("expected '{}'", c));
    ++p_;
    return Status::Ok();
  }
  bool AtEnd() {
    Ws();
    return p_ == end_;
  }

  // Calls on_field(key) for each member of an object; on_field reads the value.
  template <typename F>
  Status Object(int depth, F&& on_field) {
    if (depth > static_cast<int>(limits_.max_nesting_depth)) return Error("nested too deeply");
    KILN_RETURN_IF_ERROR(Expect('{'));
    if (At('}')) return ++p_, Status::Ok();
    while (true) {
      if (!At('"')) return Error("expected a member name");
      KILN_ASSIGN_OR_RETURN(std::string key, String());
      KILN_RETURN_IF_ERROR(Expect(':'));
      KILN_RETURN_IF_ERROR(on_field(key));
      if (At(',')) {
        ++p_;
        continue;
      }
      return Expect('}');
    }
  }

  // Calls on_element() for each element of an array; on_element reads the element.
  template <typename F>
  Status Array(int depth, F&& on_element) {
    if (depth > static_cast<int>(limits_.max_nesting_depth)) return Error("nested too deeply");
    KILN_RETURN_IF_ERROR(Expect('['));
    if (At(']')) return ++p_, Status::Ok();
    while (true) {
      KILN_RETURN_IF_ERROR(on_element());
      if (At(',')) {
        ++p_;
        continue;
      }
      return Expect(']');
    }
  }

  Result<std::string> String() {
    KILN_RETURN_IF_ERROR(Expect('"'));
    std::string out;
    while (true) {
      const char* q = p_;
      while (q < end_ && *q != '"' && *q != '\\' && static_cast<unsigned char>(*q) >= 0x20) ++q;
      out.append(p_, q);
      p_ = q;
      if (p_ >= end_) return Error("unterminated string");
      if (*p_ == '"') {
        ++p_;
        return out;
      }
      if (*p_ != '\\') return Error("control character in a string");
      if (++p_ >= end_) return Error("unterminated string");
      const char e = *p_++;
      switch (e) {
        case '"':
        case '\\':
        case '/':
          out += e;
          break;
        case 'b':
          out += '\b';
          break;
        case 'f':
          out += '\f';
          break;
        case 'n':
          out += '\n';
          break;
        case 'r':
          out += '\r';
          break;
        case 't':
          out += '\t';
          break;
        case 'u':
          KILN_RETURN_IF_ERROR(Unicode(&out));
          break;
        default:
          return Error("bad escape in a string");
      }
    }
  }

  // A JSON number (std::from_chars; no inf/nan spellings).
  Result<double> Number() {
    Ws();
    const char* start = p_;
    if (p_ < end_ && *p_ == '-') ++p_;
    if (p_ >= end_ || *p_ < '0' || *p_ > '9') return p_ = start, Error("expected a number");
    double v = 0;
    auto [ptr, ec] = std::from_chars(start, end_, v);
    if (ec == std::errc::result_out_of_range) return p_ = start, Error("number out of range");
    if (ec != std::errc()) return p_ = start, Error("expected a number");
    p_ = ptr;
    return v;
  }

  // true, false or null (returned as -1).
  Result<int> Literal() {
    Ws();
    auto take = [&](std::string_view word) {
      if (static_cast<size_t>(end_ - p_) >= word.size() &&
          std::memcmp(p_, word.data(), word.size()) == 0) {
        p_ += word.size();
        return true;
      }
      return false;
    };
    if (take("true")) return 1;
    if (take("false")) return 0;
    if (take("null")) return -1;
    return Error("expected a value");
  }

  // Any value, discarded (members kiln does not use).
  Status Skip(int depth) {
    Ws();
    if (p_ >= end_) return Error("unexpected end");
    if (*p_ == '{') return Object(depth + 1, [&](const std::string&) { return Skip(depth + 1); });
    if (*p_ == '[') return Array(depth + 1, [&] { return Skip(depth + 1); });
    if (*p_ == '"') return String().status();
    if (*p_ == '-' || (*p_ >= '0' && *p_ <= '9')) return Number().status();
    return Literal().status();
  }

  Status ParseParameters(int depth, Parameters* out) {
    return Object(depth + 1, [&](const std::string& key) -> Status {
      Ws();
      if (p_ >= end_) return Error("unexpected end");
      Parameter value;
      if (*p_ == '"') {
        KILN_ASSIGN_OR_RETURN(std::string s, String());
        value = std::move(s);
      } else if (*p_ == '-' || (*p_ >= '0' && *p_ <= '9')) {
        const char* start = p_;
        KILN_ASSIGN_OR_RETURN(double d, Number());
        const std::string_view token(start, static_cast<size_t>(p_ - start));
        const bool integral =
            token.find_first_of(".eE") == std::string_view::npos && std::abs(d) < 9.2e18;
        value = integral ? Parameter(static_cast<int64_t>(d)) : Parameter(d);
      } else if (*p_ == 't' || *p_ == 'f') {
        KILN_ASSIGN_OR_RETURN(int b, Literal());
        value = b == 1;
      } else {
        return Error(
            fmt::format("parameter '{}' must be a bool, number or string", Printable(key)));
      }
      if (out->size() >= limits_.max_tensors) return Error("too many parameters");
      (*out)[key] = std::move(value);
      return Status::Ok();
    });
  }

  // `data`: a scalar or (nested) arrays of scalars, flattened in order.
  Status ParseData(int depth, Tensor* t, Seen* seen) {
    Ws();
    if (p_ >= end_) return Error("unexpected end");
    if (*p_ == '[') return Array(depth + 1, [&] { return ParseData(depth + 1, t, seen); });
    if (t->numbers.size() + t->strings.size() >= limits_.max_tensor_elements) {
      return ResourceExhaustedError(fmt::format("tensor '{}' has more than {} elements",
                                                Printable(t->name), limits_.max_tensor_elements));
    }
    if (*p_ == '"') {
      KILN_ASSIGN_OR_RETURN(std::string s, String());
      t->strings.push_back(std::move(s));
      seen->string = true;
    } else if (*p_ == '-' || (*p_ >= '0' && *p_ <= '9')) {
      KILN_ASSIGN_OR_RETURN(double d, Number());
      t->numbers.push_back(d);
      seen->number = true;
    } else {
      KILN_ASSIGN_OR_RETURN(int b, Literal());
      // null: a missing value (a kiln extension for tabular inputs).
      t->numbers.push_back(b < 0 ? std::numeric_limits<double>::quiet_NaN() : b);
      (b < 0 ? seen->null : seen->boolean) = true;
    }
    return Status::Ok();
  }

  Status ParseShape(int depth, std::vector<int64_t>* shape) {
    return Array(depth + 1, [&]() -> Status {
      KILN_ASSIGN_OR_RETURN(double d, Number());
      if (d != std::floor(d) || std::abs(d) > 9e18) return Error("shape: not an integer");
      if (shape->size() >= kMaxDims) return Error("shape: too many dimensions");
      shape->push_back(static_cast<int64_t>(d));
      return Status::Ok();
    });
  }

 private:
  Status Unicode(std::string* out) {
    auto hex4 = [&](uint32_t* v) -> bool {
      if (end_ - p_ < 4) return false;
      uint32_t x = 0;
      for (int i = 0; i < 4; ++i) {
        const char c = *p_++;
        x <<= 4;
        if (c >= '0' && c <= '9') {
          x |= static_cast<uint32_t>(c - '0');
        } else if (c >= 'a' && c <= 'f') {
          x |= static_cast<uint32_t>(c - 'a' + 10);
        } else if (c >= 'A' && c <= 'F') {
          x |= static_cast<uint32_t>(c - 'A' + 10);
        } else {
          return false;
        }
      }
      *v = x;
      return true;
    };
    uint32_t cp = 0;
    if (!hex4(&cp)) return Error("bad \\u escape");
    if (cp >= 0xD800 && cp <= 0xDBFF) {
      uint32_t lo = 0;
      if (end_ - p_ < 6 || p_[0] != '\\' || p_[1] != 'u') return Error("lone surrogate");
      p_ += 2;
      if (!hex4(&lo) || lo < 0xDC00 || lo > 0xDFFF) return Error("lone surrogate");
      cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
    } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
      return Error("lone surrogate");
    }
    if (cp < 0x80) {
      *out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      *out += static_cast<char>(0xC0 | (cp >> 6));
      *out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      *out += static_cast<char>(0xE0 | (cp >> 12));
      *out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      *out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      *out += static_cast<char>(0xF0 | (cp >> 18));
      *out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      *out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      *out += static_cast<char>(0x80 | (cp & 0x3F));
    }
    return Status::Ok();
  }

  const char* begin_;
  const char* p_;
  const char* end_;
  const Limits& limits_;
};

// Checks a parsed input tensor: datatype against the scalars seen, shape against the count.
Status CheckTensor(const Tensor& t, const Seen& seen, bool has_type, bool has_shape) {
  const std::string name = Printable(t.name);
  if (t.name.empty()) return InvalidArgumentError("an input has no name");
  if (!has_type) return InvalidArgumentError(fmt::format("input '{}': no datatype", name));
  if (!has_shape) return InvalidArgumentError(fmt::format("input '{}': no shape", name));
  KILN_ASSIGN_OR_RETURN(uint64_t count, ElementCount(t.shape));
  const size_t got = t.numbers.size() + t.strings.size();
  if (count != got) {
    return InvalidArgumentError(
        fmt::format("input '{}': shape [{}] holds {} elements but data has {}", name,
                    fmt::join(t.shape, ", "), count, got));
  }
  if (t.datatype == DataType::kBytes) {
    if (seen.number || seen.boolean || seen.null) {
      return InvalidArgumentError(fmt::format("input '{}': BYTES data must be strings", name));
    }
    return Status::Ok();
  }
  if (seen.string) {
    return InvalidArgumentError(
        fmt::format("input '{}': {} data must be numbers", name, DataTypeName(t.datatype)));
  }
  if (t.datatype == DataType::kFp16) {
    return InvalidArgumentError(
        fmt::format("input '{}': FP16 is only accepted as binary data", name));
  }
  if (t.datatype == DataType::kBool) {
    if (seen.number) {
      return InvalidArgumentError(fmt::format("input '{}': BOOL data must be true/false", name));
    }
    return Status::Ok();
  }
  if (seen.boolean) {
    return InvalidArgumentError(
        fmt::format("input '{}': {} data must be numbers", name, DataTypeName(t.datatype)));
  }
  if (t.datatype != DataType::kFp32 && t.datatype != DataType::kFp64) {
    const bool is_signed = t.datatype >= DataType::kInt8 && t.datatype <= DataType::kInt64;
    const double bits = static_cast<double>(DataTypeSize(t.datatype) * 8);
    const double hi = is_signed ? std::ldexp(1.0, static_cast<int>(bits) - 1) - 1
                                : std::ldexp(1.0, static_cast<int>(bits)) - 1;
    const double lo = is_signed ? -std::ldexp(1.0, static_cast<int>(bits) - 1) : 0;
    for (double v : t.numbers) {
      if (std::isnan(v)) continue;  // null: missing
      if (v != std::floor(v) || v < lo || v > hi) {
        return InvalidArgumentError(
            fmt::format("input '{}': {} is not a {}", name, v, DataTypeName(t.datatype)));
      }
    }
  }
  return Status::Ok();
}

Status ParseInput(Reader& r, int depth, const Limits& limits, Tensor* t) {
  Seen seen;
  bool has_type = false, has_shape = false, has_data = false;
  KILN_RETURN_IF_ERROR(r.Object(depth + 1, [&](const std::string& key) -> Status {
    if (key == "name") {
      KILN_ASSIGN_OR_RETURN(t->name, r.String());
      if (t->name.size() > limits.max_name_bytes * 2) return r.Error("input name too long");
    } else if (key == "datatype") {
      KILN_ASSIGN_OR_RETURN(std::string dt, r.String());
      KILN_ASSIGN_OR_RETURN(t->datatype, ParseDataType(dt));
      has_type = true;
    } else if (key == "shape") {
      t->shape.clear();
      KILN_RETURN_IF_ERROR(r.ParseShape(depth + 1, &t->shape));
      has_shape = true;
    } else if (key == "parameters") {
      KILN_RETURN_IF_ERROR(r.ParseParameters(depth + 1, &t->parameters));
    } else if (key == "data") {
      if (has_data) return r.Error("duplicate data");
      KILN_RETURN_IF_ERROR(r.ParseData(depth + 1, t, &seen));
      has_data = true;
    } else {
      KILN_RETURN_IF_ERROR(r.Skip(depth + 1));
    }
    return Status::Ok();
  }));
  if (!has_data) {
    return InvalidArgumentError(fmt::format("input '{}': no data", Printable(t->name)));
  }
  return CheckTensor(*t, seen, has_type, has_shape);
}

void AppendNumber(std::string* out, double v, DataType type) {
  if (!std::isfinite(v)) {
    out->append("null");
    return;
  }
  char buf[32];
  std::to_chars_result res{};
  if (type == DataType::kFp32) {
    res = std::to_chars(buf, buf + sizeof buf, static_cast<float>(v));
  } else if (type == DataType::kFp64) {
    res = std::to_chars(buf, buf + sizeof buf, v);
  } else {
    res = std::to_chars(buf, buf + sizeof buf, static_cast<int64_t>(v));
  }
  out->append(buf, res.ptr);
}

void AppendParameters(std::string* out, const Parameters& params) {
  out->push_back('{');
  bool first = true;
  for (const auto& [k, v] : params) {
    if (!first) out->push_back(',');
    first = false;
    *out += JsonQuote(k);
    out->push_back(':');
    if (const auto* b = std::get_if<bool>(&v)) {
      *out += *b ? "true" : "false";
    } else if (const auto* i = std::get_if<int64_t>(&v)) {
      *out += std::to_string(*i);
    } else if (const auto* d = std::get_if<double>(&v)) {
      AppendNumber(out, *d, DataType::kFp64);
    } else {
      *out += JsonQuote(std::get<std::string>(v));
    }
  }
  out->push_back('}');
}

}  // namespace

std::string_view DataTypeName(DataType t) { return kTypeNames[static_cast<size_t>(t)]; }

size_t DataTypeSize(DataType t) { return kTypeSizes[static_cast<size_t>(t)]; }

Result<DataType> ParseDataType(std::string_view name) {
  for (size_t i = 0; i < std::size(kTypeNames); ++i) {
    if (kTypeNames[i] == name) return static_cast<DataType>(i);
  }
  return InvalidArgumentError(fmt::format("unknown datatype '{}'", Printable(name)));
}

Result<uint64_t> ElementCount(const std::vector<int64_t>& shape) {
  uint64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0) return InvalidArgumentError(fmt::format("shape: negative dimension {}", d));
    const auto u = static_cast<uint64_t>(d);
    if (u != 0 && n > std::numeric_limits<uint64_t>::max() / u) {
      return InvalidArgumentError("shape: element count overflows");
    }
    n *= u;
  }
  return n;
}

Result<InferRequest> ParseInferRequest(std::string_view body, const Limits& limits) {
  if (body.size() > limits.max_request_body_bytes) {
    return ResourceExhaustedError("request body too large");
  }
  Reader r(body, limits);
  InferRequest req;
  std::set<std::string, std::less<>> names;
  KILN_RETURN_IF_ERROR(r.Object(1, [&](const std::string& key) -> Status {
    if (key == "id") {
      KILN_ASSIGN_OR_RETURN(req.id, r.String());
      if (req.id.size() > 1024) return r.Error("id too long");
    } else if (key == "parameters") {
      KILN_RETURN_IF_ERROR(r.ParseParameters(1, &req.parameters));
    } else if (key == "inputs") {
      KILN_RETURN_IF_ERROR(r.Array(2, [&]() -> Status {
        if (req.inputs.size() >= limits.max_tensors) {
          return ResourceExhaustedError(
              fmt::format("more than {} input tensors", limits.max_tensors));
        }
        Tensor t;
        KILN_RETURN_IF_ERROR(ParseInput(r, 2, limits, &t));
        if (!names.insert(t.name).second) {
          return InvalidArgumentError(fmt::format("input '{}' appears twice", Printable(t.name)));
        }
        req.inputs.push_back(std::move(t));
        return Status::Ok();
      }));
    } else if (key == "outputs") {
      KILN_RETURN_IF_ERROR(r.Array(2, [&]() -> Status {
        if (req.outputs.size() >= limits.max_tensors) {
          return ResourceExhaustedError(
              fmt::format("more than {} requested outputs", limits.max_tensors));
        }
        RequestedOutput o;
        KILN_RETURN_IF_ERROR(r.Object(3, [&](const std::string& k) -> Status {
          if (k == "name") {
            KILN_ASSIGN_OR_RETURN(o.name, r.String());
            return Status::Ok();
          }
          if (k == "parameters") return r.ParseParameters(3, &o.parameters);
          return r.Skip(3);
        }));
        req.outputs.push_back(std::move(o));
        return Status::Ok();
      }));
    } else {
      KILN_RETURN_IF_ERROR(r.Skip(1));
    }
    return Status::Ok();
  }));
  if (!r.AtEnd()) return r.Error("trailing characters after the request");
  if (req.inputs.empty()) return InvalidArgumentError("the request has no inputs");
  return req;
}

std::string WriteInferResponse(const InferResponse& r) {
  std::string out;
  size_t elements = 0;
  for (const auto& t : r.outputs) elements += t.numbers.size() + t.strings.size();
  out.reserve(128 + elements * 12);
  out += "{\"model_name\":" + JsonQuote(r.model_name);
  out += ",\"model_version\":" + JsonQuote(r.model_version);
  if (!r.id.empty()) out += ",\"id\":" + JsonQuote(r.id);
  if (!r.parameters.empty()) {
    out += ",\"parameters\":";
    AppendParameters(&out, r.parameters);
  }
  out += ",\"outputs\":[";
  for (size_t i = 0; i < r.outputs.size(); ++i) {
    const OutputTensor& t = r.outputs[i];
    if (i) out += ',';
    out += "{\"name\":" + JsonQuote(t.name) + ",\"datatype\":\"";
    out += DataTypeName(t.datatype);
    out += "\",\"shape\":[";
    for (size_t k = 0; k < t.shape.size(); ++k) {
      if (k) out += ',';
      out += std::to_string(t.shape[k]);
    }
    out += "],\"data\":[";
    if (t.datatype == DataType::kBytes) {
      for (size_t k = 0; k < t.strings.size(); ++k) {
        if (k) out += ',';
        out += JsonQuote(t.strings[k]);
      }
    } else {
      for (size_t k = 0; k < t.numbers.size(); ++k) {
        if (k) out += ',';
        AppendNumber(&out, t.numbers[k], t.datatype);
      }
    }
    out += "]}";
  }
  out += "]}";
  return out;
}

}  // namespace kiln::serve
