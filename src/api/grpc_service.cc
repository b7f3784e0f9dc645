#include "kiln/api/grpc_service.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <set>

#include <fmt/format.h>

#include "inference.pb.h"
#include "kiln/api/permissions.h"
#include "kiln/base/names.h"
#include "kiln/serve/inference.h"
#include "kiln/serve/v2.h"

namespace kiln::api {

using serve::DataType;

struct GrpcInferenceService::Call {
  std::atomic<bool> finished{false};  // answered once, whatever calls Finish again
  std::chrono::steady_clock::time_point arrived;
  std::string route = "grpc_other";
  std::string model, version;
  rpc::RpcResponder done;
};

namespace {

constexpr std::string_view kPrefix = "/inference.GRPCInferenceService/";

template <typename Map>
Result<serve::Parameters> FromProto(const Map& params) {
  serve::Parameters out;
  for (const auto& [name, p] : params) {
    switch (p.parameter_choice_case()) {
      case inference::InferParameter::kBoolParam:
        out.emplace(name, p.bool_param());
        break;
      case inference::InferParameter::kInt64Param:
        out.emplace(name, static_cast<int64_t>(p.int64_param()));
        break;
      case inference::InferParameter::kStringParam:
        out.emplace(name, p.string_param());
        break;
      case inference::InferParameter::kDoubleParam:
        out.emplace(name, p.double_param());
        break;
      case inference::InferParameter::kUint64Param:
        if (p.uint64_param() > static_cast<uint64_t>(INT64_MAX)) {
          out.emplace(name, static_cast<double>(p.uint64_param()));
        } else {
          out.emplace(name, static_cast<int64_t>(p.uint64_param()));
        }
        break;
      default:
        return InvalidArgumentError(fmt::format("parameter '{}' has no value", Printable(name)));
    }
  }
  return out;
}

// Typed contents -> the tensor's numbers / strings; the count must match the shape.
Result<bool> FromContents(const inference::InferTensorContents& c, uint64_t count,
                          serve::Tensor* t) {
  auto take = [&](const auto& field) -> Result<bool> {
    if (static_cast<uint64_t>(field.size()) != count) {
      return InvalidArgumentError(
          fmt::format("input '{}': shape {} needs {} elements, got {}", Printable(t->name),
                      fmt::format("[{}]", fmt::join(t->shape, ",")), count, field.size()));
    }
    t->numbers.assign(field.begin(), field.end());
    return true;
  };
  switch (t->datatype) {
    case DataType::kBool:
      return take(c.bool_contents());
    case DataType::kInt8:
    case DataType::kInt16:
    case DataType::kInt32:
      return take(c.int_contents());
    case DataType::kInt64:
      return take(c.int64_contents());
    case DataType::kUint8:
    case DataType::kUint16:
    case DataType::kUint32:
      return take(c.uint_contents());
    case DataType::kUint64:
      return take(c.uint64_contents());
    case DataType::kFp32:
      return take(c.fp32_contents());
    case DataType::kFp64:
      return take(c.fp64_contents());
    case DataType::kFp16:
      return InvalidArgumentError(
          fmt::format("input '{}': FP16 must be sent as raw_input_contents", Printable(t->name)));
    case DataType::kBytes:
      if (static_cast<uint64_t>(c.bytes_contents_size()) != count) {
        return InvalidArgumentError(fmt::format("input '{}': {} elements expected, got {}",
                                                Printable(t->name), count,
                                                c.bytes_contents_size()));
      }
      t->strings.assign(c.bytes_contents().begin(), c.bytes_contents().end());
      return true;
  }
  return InvalidArgumentError("unknown datatype");
}

double HalfToDouble(uint16_t h) {
  const int exponent = (h >> 10) & 0x1f;
  const int mantissa = h & 0x3ff;
  double v;
  if (exponent == 0) {
    v = std::ldexp(mantissa, -24);
  } else if (exponent == 31) {
    v = mantissa ? std::nan("") : INFINITY;
  } else {
    v = std::ldexp(mantissa + 1024, exponent - 25);
  }
  return (h & 0x8000) ? -v : v;
}

template <typename T>
T Load(const char* p) {
  T v;
  std::memcpy(&v, p, sizeof v);  // little-endian hosts only (x86-64, aarch64)
  return v;
}

// Raw little-endian contents -> the tensor's numbers / strings.
Status FromRaw(const std::string& raw, uint64_t count, serve::Tensor* t) {
  if (t->datatype == DataType::kBytes) {
    size_t at = 0;
    // At most one element per 4 bytes (the length prefix): a shape never buys more memory
    // than the bytes sent.
    t->strings.reserve(std::min<uint64_t>(count, raw.size() / 4));
    for (uint64_t i = 0; i < count; ++i) {
      if (raw.size() - at < 4) {
        return InvalidArgumentError(
            fmt::format("input '{}': raw BYTES end before element {}", Printable(t->name), i));
      }
      const uint32_t n = Load<uint32_t>(raw.data() + at);
      at += 4;
      if (raw.size() - at < n) {
        return InvalidArgumentError(fmt::format(
            "input '{}': raw BYTES element {} runs past the end", Printable(t->name), i));
      }
      t->strings.emplace_back(raw.data() + at, n);
      at += n;
    }
    if (at != raw.size()) {
      return InvalidArgumentError(
          fmt::format("input '{}': raw BYTES longer than {} elements", Printable(t->name), count));
    }
    return Status::Ok();
  }
  const size_t size = serve::DataTypeSize(t->datatype);
  if (raw.size() != count * size) {
    return InvalidArgumentError(
        fmt::format("input '{}': raw contents of {} bytes, the shape needs {}", Printable(t->name),
                    raw.size(), count * size));
  }
  t->numbers.resize(count);
  const char* p = raw.data();
  for (uint64_t i = 0; i < count; ++i, p += size) {
    double& v = t->numbers[i];
    switch (t->datatype) {
      case DataType::kBool:
        v = *p != 0;
        break;
      case DataType::kUint8:
        v = static_cast<uint8_t>(*p);
        break;
      case DataType::kInt8:
        v = static_cast<int8_t>(*p);
        break;
      case DataType::kUint16:
        v = Load<uint16_t>(p);
        break;
      case DataType::kInt16:
        v = Load<int16_t>(p);
        break;
      case DataType::kUint32:
        v = Load<uint32_t>(p);
        break;
      case DataType::kInt32:
        v = Load<int32_t>(p);
        break;
      case DataType::kUint64:
        v = static_cast<double>(Load<uint64_t>(p));
        break;
      case DataType::kInt64:
        v = static_cast<double>(Load<int64_t>(p));
        break;
      case DataType::kFp16:
        v = HalfToDouble(Load<uint16_t>(p));
        break;
      case DataType::kFp32:
        v = Load<float>(p);
        break;
      case DataType::kFp64:
        v = Load<double>(p);
        break;
      case DataType::kBytes:
        break;
    }
  }
  return Status::Ok();
}

Result<serve::InferRequest> FromProto(const inference::ModelInferRequest& p, const Limits& limits) {
  serve::InferRequest req;
  req.id = p.id();
  KILN_ASSIGN_OR_RETURN(req.parameters, FromProto(p.parameters()));
  if (static_cast<uint64_t>(p.inputs_size()) > limits.max_tensors ||
      static_cast<uint64_t>(p.outputs_size()) > limits.max_tensors) {
    return ResourceExhaustedError(
        fmt::format("more than {} input or output tensors", limits.max_tensors));
  }
  const bool raw = p.raw_input_contents_size() > 0;
  if (raw && p.raw_input_contents_size() != p.inputs_size()) {
    return InvalidArgumentError(fmt::format("{} raw_input_contents for {} inputs",
                                            p.raw_input_contents_size(), p.inputs_size()));
  }
  std::set<std::string_view> names;
  uint64_t elements = 0;
  for (int i = 0; i < p.inputs_size(); ++i) {
    const auto& in = p.inputs(i);
    serve::Tensor t;
    t.name = in.name();
    if (!names.insert(in.name()).second) {
      return InvalidArgumentError(fmt::format("input '{}' appears twice", Printable(t.name)));
    }
    auto datatype = serve::ParseDataType(in.datatype());
    if (!datatype.ok()) {
      return InvalidArgumentError(
          fmt::format("input '{}': {}", Printable(t.name), datatype.status().message()));
    }
    t.datatype = *datatype;
    t.shape.assign(in.shape().begin(), in.shape().end());
    KILN_ASSIGN_OR_RETURN(uint64_t count, serve::ElementCount(t.shape));
    elements += count;
    if (count > limits.max_tensor_elements || elements > limits.max_tensor_elements) {
      return ResourceExhaustedError(
          fmt::format("more than {} tensor elements", limits.max_tensor_elements));
    }
    KILN_ASSIGN_OR_RETURN(t.parameters, FromProto(in.parameters()));
    if (raw) {
      if (in.has_contents()) {
        return InvalidArgumentError(
            fmt::format("input '{}': contents and raw_input_contents together", Printable(t.name)));
      }
      KILN_RETURN_IF_ERROR(FromRaw(p.raw_input_contents(i), count, &t));
    } else {
      KILN_RETURN_IF_ERROR(FromContents(in.contents(), count, &t).status());
    }
    req.inputs.push_back(std::move(t));
  }
  for (const auto& out : p.outputs()) {
    KILN_ASSIGN_OR_RETURN(auto params, FromProto(out.parameters()));
    req.outputs.push_back({out.name(), std::move(params)});
  }
  return req;
}

void ToProto(const serve::InferResponse& r, bool raw, inference::ModelInferResponse* p) {
  p->set_model_name(r.model_name);
  p->set_model_version(r.model_version);
  p->set_id(r.id);
  for (const auto& o : r.outputs) {
    auto* t = p->add_outputs();
    t->set_name(o.name);
    t->set_datatype(std::string(serve::DataTypeName(o.datatype)));
    for (int64_t d : o.shape) t->add_shape(d);
    if (raw) {
      std::string* bytes = p->add_raw_output_contents();
      if (o.datatype == DataType::kBytes) {
        for (const auto& s : o.strings) {
          const auto n = static_cast<uint32_t>(s.size());
          bytes->append(reinterpret_cast<const char*>(&n), 4);
          bytes->append(s);
        }
      } else {
        bytes->resize(o.numbers.size() * sizeof(float));
        char* at = bytes->data();
        for (double v : o.numbers) {
          const auto f = static_cast<float>(v);
          std::memcpy(at, &f, sizeof f);
          at += sizeof f;
        }
      }
      continue;
    }
    auto* c = t->mutable_contents();
    if (o.datatype == DataType::kBytes) {
      for (const auto& s : o.strings) c->add_bytes_contents(s);
    } else {
      c->mutable_fp32_contents()->Reserve(static_cast<int>(o.numbers.size()));
      for (double v : o.numbers) c->add_fp32_contents(static_cast<float>(v));
    }
  }
}

template <typename Message>
Result<Message> Parse(const std::string& bytes, std::string_view what) {
  Message m;
  if (!m.ParseFromString(bytes)) {
    return InvalidArgumentError(fmt::format("malformed {} message", what));
  }
  return m;
}

template <typename Message>
std::optional<std::string> Serialize(const Message& m) {
  std::string out;
  m.SerializeToString(&out);
  return out;
}

// A model name and version from a request: names are checked like REST path segments.
Status CheckModel(const std::string& name, const std::string& version) {
  KILN_RETURN_IF_ERROR(ValidateName(name, "model name"));
  if (!version.empty()) KILN_RETURN_IF_ERROR(ValidateName(version, "model version"));
  return Status::Ok();
}

}  // namespace

Result<serve::InferRequest> ParseGrpcInferRequest(const std::string& bytes, const Limits& limits) {
  KILN_ASSIGN_OR_RETURN(auto proto, Parse<inference::ModelInferRequest>(bytes, "ModelInfer"));
  return FromProto(proto, limits);
}

GrpcInferenceService::GrpcInferenceService(serve::ModelManager* models,
                                           serve::Dispatcher* dispatcher,
                                           monitor::MetricsRegistry* metrics,
                                           GrpcServiceOptions options)
    : models_(models),
      dispatcher_(dispatcher),
      options_(std::move(options)),
      stats_(metrics, options_.access_log) {}

void GrpcInferenceService::Handle(rpc::RpcCall rpc, rpc::RpcResponder done) {
  stats_.Started();
  auto call = std::make_shared<Call>();
  call->arrived = std::chrono::steady_clock::now();
  call->done = std::move(done);
  const auto need = GrpcPermission(rpc.method);
  std::string token;  // "token:NAME" of an authenticated call
  if (options_.auth) {
    // A method missing from the table is refused to every token (and unknown without one).
    auto who = options_.auth->Check(rpc.authorization, need.value_or(auth::Permission::kRead));
    if (!who.ok()) return Finish(*call, who.status());
    if (!need) {
      return Finish(*call, PermissionDeniedError("not a method any role may call"));
    }
    if (!who->name.empty()) token = "token:" + who->name;
  }
  if (need != auth::Permission::kPublic) {
    int64_t wait = 0;
    std::string limited;
    if (options_.per_address && !rpc.peer.empty()) {
      wait = options_.per_address->Take(rpc.peer);
      limited = "address " + rpc.peer;
    }
    if (wait == 0 && options_.per_token && !token.empty()) {
      wait = options_.per_token->Take(token);
      limited = token;
    }
    if (wait > 0) {
      return Finish(*call, ResourceExhaustedError(fmt::format(
                               "rate limit of {} reached: retry after {} s", limited, wait)));
    }
  }
  Result<std::optional<std::string>> resp = std::optional<std::string>();
  try {
    resp = Route(rpc, call);
  } catch (const std::exception& e) {
    resp = InternalError(e.what());
  }
  if (!resp.ok()) return Finish(*call, resp.status());
  if (*resp) Finish(*call, std::move(**resp));
}

void GrpcInferenceService::Finish(Call& call, Result<std::string> resp) {
  if (call.finished.exchange(true)) return;
  // The gRPC status code name (OK, NOT_FOUND, ...) is the code label of gRPC routes.
  const std::string code = resp.ok() ? "OK" : std::string(StatusCodeName(resp.status().code()));
  // No client request id over gRPC: the access log makes one for the lines it writes.
  stats_.Answered(
      {"grpc", call.route, call.model, call.version, code, resp.ok(), call.arrived, ""});
  call.done(std::move(resp));
}

Result<std::optional<std::string>> GrpcInferenceService::Route(const rpc::RpcCall& rpc,
                                                               const std::shared_ptr<Call>& call) {
  if (rpc.method.compare(0, kPrefix.size(), kPrefix) != 0) {
    return UnimplementedError("unknown service");
  }
  const std::string_view method = std::string_view(rpc.method).substr(kPrefix.size());
  if (method == "ServerLive") {
    call->route = "grpc_health";
    KILN_RETURN_IF_ERROR(Parse<inference::ServerLiveRequest>(rpc.request, method).status());
    inference::ServerLiveResponse r;
    r.set_live(true);
    return Serialize(r);
  }
  if (method == "ServerReady") {
    call->route = "grpc_health";
    KILN_RETURN_IF_ERROR(Parse<inference::ServerReadyRequest>(rpc.request, method).status());
    inference::ServerReadyResponse r;
    r.set_ready(ready_.load());
    return Serialize(r);
  }
  if (method == "ServerMetadata") {
    call->route = "grpc_server_metadata";
    KILN_RETURN_IF_ERROR(Parse<inference::ServerMetadataRequest>(rpc.request, method).status());
    inference::ServerMetadataResponse r;
    r.set_name(options_.server_name);
    r.set_version(options_.server_version);
    r.add_extensions("model_repository");
    return Serialize(r);
  }
  if (method == "ModelReady") {
    call->route = "grpc_model_ready";
    KILN_ASSIGN_OR_RETURN(auto req, Parse<inference::ModelReadyRequest>(rpc.request, method));
    KILN_RETURN_IF_ERROR(CheckModel(req.name(), req.version()));
    auto m = models_->Get(req.name(), req.version());
    const StatusCode c = m.status().code();
    if (!m.ok() && c != StatusCode::kNotFound && c != StatusCode::kUnavailable) return m.status();
    inference::ModelReadyResponse r;
    r.set_ready(m.ok());
    return Serialize(r);
  }
  if (method == "ModelMetadata") {
    call->route = "grpc_model_metadata";
    KILN_ASSIGN_OR_RETURN(auto req, Parse<inference::ModelMetadataRequest>(rpc.request, method));
    KILN_RETURN_IF_ERROR(CheckModel(req.name(), req.version()));
    KILN_ASSIGN_OR_RETURN(auto m, models_->Get(req.name(), req.version()));
    call->model = m->name;
    call->version = std::to_string(m->version);
    inference::ModelMetadataResponse r;
    r.set_name(m->name);
    r.add_versions(std::to_string(m->version));
    r.set_platform("kiln_gbdt");
    auto fill = [](const std::vector<serve::TensorInfo>& infos, auto* list) {
      for (const auto& info : infos) {
        auto* t = list->Add();
        t->set_name(info.name);
        t->set_datatype(std::string(serve::DataTypeName(info.datatype)));
        for (int64_t d : info.shape) t->add_shape(d);
      }
    };
    fill(serve::ModelInputs(*m), r.mutable_inputs());
    fill(serve::ModelOutputs(*m), r.mutable_outputs());
    return Serialize(r);
  }
  if (method == "ModelInfer") {
    call->route = "grpc_infer";
    return Infer(rpc, call);
  }
  return UnimplementedError(fmt::format("method '{}' is not implemented", Printable(method)));
}

Result<std::optional<std::string>> GrpcInferenceService::Infer(const rpc::RpcCall& rpc,
                                                               const std::shared_ptr<Call>& call) {
  KILN_ASSIGN_OR_RETURN(auto proto, Parse<inference::ModelInferRequest>(rpc.request, "ModelInfer"));
  KILN_RETURN_IF_ERROR(CheckModel(proto.model_name(), proto.model_version()));
  auto req = FromProto(proto, options_.limits);
  if (!req.ok()) {
    // An unknown model is NOT_FOUND whatever the request holds (looked up only on this error
    // path: the dispatcher resolves the model of a request that reads).
    KILN_ASSIGN_OR_RETURN(auto addressed, models_->Get(proto.model_name(), proto.model_version()));
    call->model = addressed->name;
    call->version = std::to_string(addressed->version);
    return req.status();
  }
  const bool raw = proto.raw_input_contents_size() > 0;
  KILN_RETURN_IF_ERROR(dispatcher_->Submit(
      proto.model_name(), proto.model_version(), *req, call->arrived, rpc.deadline,
      [&call](const serve::ServedModel& m) {
        call->model = m.name;
        call->version = std::to_string(m.version);
      },
      [this, call, raw](Result<serve::InferResponse> resp) {
        if (!resp.ok()) return Finish(*call, resp.status());
        if (!resp->outputs.empty() && !resp->outputs[0].shape.empty()) {
          stats_.Rows(call->model, static_cast<double>(resp->outputs[0].shape[0]));
        }
        inference::ModelInferResponse out;
        ToProto(*resp, raw, &out);
        Finish(*call, std::move(*Serialize(out)));
      }));
  return std::optional<std::string>();
}

}  // namespace kiln::api
