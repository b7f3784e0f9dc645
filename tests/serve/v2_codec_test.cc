#include <cmath>
#include <string>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "kiln/serve/v2.h"

namespace kiln::serve {
namespace {

Result<InferRequest> Parse(std::string_view body) {
  return ParseInferRequest(body, Limits::Default());
}

TEST(V2CodecTest, ParsesTensorsParametersAndOutputs) {
  auto r = Parse(R"({
    "id": "req-1",
    "parameters": {"explain": true, "n": 3, "x": 2.5, "s": "a\u00e9b"},
    "inputs": [
      {"name": "m", "shape": [2, 3], "datatype": "FP32", "data": [[1, 2, 3], [4, 5.5, -6e2]]},
      {"name": "c", "shape": [2], "datatype": "BYTES", "data": ["red", "gr\"een"],
       "parameters": {"content_type": "str"}},
      {"name": "b", "shape": [1], "datatype": "BOOL", "data": [true]},
      {"name": "n", "shape": [2], "datatype": "FP64", "data": [null, 1]}
    ],
    "outputs": [{"name": "probabilities"}],
    "unknown": {"deep": [1, {"x": null}]}
  })");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->id, "req-1");
  EXPECT_EQ(std::get<bool>(r->parameters.at("explain")), true);
  EXPECT_EQ(std::get<int64_t>(r->parameters.at("n")), 3);
  EXPECT_EQ(std::get<double>(r->parameters.at("x")), 2.5);
  EXPECT_EQ(std::get<std::string>(r->parameters.at("s")),
            "a\xc3\xa9"
            "b");
  ASSERT_EQ(r->inputs.size(), 4u);
  EXPECT_EQ(r->inputs[0].numbers, (std::vector<double>{1, 2, 3, 4, 5.5, -600}));
  EXPECT_EQ(r->inputs[0].shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(r->inputs[1].strings, (std::vector<std::string>{"red", "gr\"een"}));
  EXPECT_EQ(r->inputs[2].numbers, (std::vector<double>{1}));
  EXPECT_TRUE(std::isnan(r->inputs[3].numbers[0]));
  ASSERT_EQ(r->outputs.size(), 1u);
  EXPECT_EQ(r->outputs[0].name, "probabilities");
}

TEST(V2CodecTest, FlatAndNestedDataAreTheSame) {
  auto flat =
      Parse(R"({"inputs":[{"name":"x","shape":[2,2],"datatype":"INT64","data":[1,2,3,4]}]})");
  auto nested =
      Parse(R"({"inputs":[{"data":[[1,2],[3,4]],"datatype":"INT64","shape":[2,2],"name":"x"}]})");
  ASSERT_TRUE(flat.ok() && nested.ok());
  EXPECT_EQ(flat->inputs[0].numbers, nested->inputs[0].numbers);
}

// BI-22..BI-24 and malformed JSON: each is a clear InvalidArgument / ResourceExhausted.
TEST(V2CodecTest, BadRequestsAreClearErrors) {
  struct Case {
    std::string body;
    StatusCode code;
    std::string message;
  };
  const std::string deep = std::string(150, '[') + "1" + std::string(150, ']');
  const Case cases[] = {
      {"", StatusCode::kInvalidArgument, "expected '{'"},
      {"{", StatusCode::kInvalidArgument, "member name"},
      {"[]", StatusCode::kInvalidArgument, "expected '{'"},
      {R"({"inputs":[]})", StatusCode::kInvalidArgument, "no inputs"},
      {R"({"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":[1]}]} x)",
       StatusCode::kInvalidArgument, "trailing"},
      {R"({"inputs":[{"name":"x","shape":[-1],"datatype":"FP32","data":[1]}]})",
       StatusCode::kInvalidArgument, "negative dimension"},
      {R"({"inputs":[{"name":"x","shape":[4294967296,4294967296,4294967296],"datatype":"FP32","data":[1]}]})",
       StatusCode::kInvalidArgument, "overflows"},
      {R"({"inputs":[{"name":"x","shape":[3],"datatype":"FP32","data":[1,2]}]})",
       StatusCode::kInvalidArgument, "holds 3 elements but data has 2"},
      {R"({"inputs":[{"name":"x","shape":[1],"datatype":"FP99","data":[1]}]})",
       StatusCode::kInvalidArgument, "unknown datatype"},
      {R"({"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":["a"]}]})",
       StatusCode::kInvalidArgument, "must be numbers"},
      {R"({"inputs":[{"name":"x","shape":[1],"datatype":"BYTES","data":[1]}]})",
       StatusCode::kInvalidArgument, "must be strings"},
      {R"({"inputs":[{"name":"x","shape":[2],"datatype":"BYTES","data":["a",null]}]})",
       StatusCode::kInvalidArgument, "must be strings"},
      {R"({"inputs":[{"name":"x","shape":[1],"datatype":"INT8","data":[300]}]})",
       StatusCode::kInvalidArgument, "is not a INT8"},
      {R"({"inputs":[{"name":"x","shape":[1],"datatype":"INT32","data":[1.5]}]})",
       StatusCode::kInvalidArgument, "is not a INT32"},
      {R"({"inputs":[{"name":"x","shape":[1],"datatype":"FP32"}]})", StatusCode::kInvalidArgument,
       "no data"},
      {R"({"inputs":[{"shape":[1],"datatype":"FP32","data":[1]}]})", StatusCode::kInvalidArgument,
       "no name"},
      {R"({"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":[1]},)"
       R"({"name":"x","shape":[1],"datatype":"FP32","data":[1]}]})",
       StatusCode::kInvalidArgument, "appears twice"},
      {R"({"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":)" + deep + "}]}",
       StatusCode::kInvalidArgument, "nested too deeply"},
      {R"({"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":[1e999]}]})",
       StatusCode::kInvalidArgument, "out of range"},
      {R"({"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":[-inf]}]})",
       StatusCode::kInvalidArgument, "expected a number"},
      {R"({"id":"\ud800","inputs":[]})", StatusCode::kInvalidArgument, "lone surrogate"},
      {"{\"id\":\"a\nb\"}", StatusCode::kInvalidArgument, "control character"},
      {R"({"parameters":{"p":[1]},"inputs":[]})", StatusCode::kInvalidArgument,
       "must be a bool, number or string"},
  };
  for (const auto& c : cases) {
    auto r = Parse(c.body);
    ASSERT_FALSE(r.ok()) << c.body;
    EXPECT_EQ(r.status().code(), c.code) << c.body << " -> " << r.status().ToString();
    EXPECT_NE(r.status().message().find(c.message), std::string::npos)
        << c.body << " -> " << r.status().ToString();
  }
}

TEST(V2CodecTest, LimitsAreCheckedWhileReading) {
  Limits l;
  l.max_tensors = 3;
  l.max_tensor_elements = 5;
  std::string many = R"({"inputs":[)";
  for (int i = 0; i < 4; ++i) {
    many += fmt::format(R"({}{{"name":"x{}","shape":[1],"datatype":"FP32","data":[1]}})",
                        i ? "," : "", i);
  }
  many += "]}";
  auto r = ParseInferRequest(many, l);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kResourceExhausted);
  r = ParseInferRequest(
      R"({"inputs":[{"name":"x","shape":[6],"datatype":"FP32","data":[1,2,3,4,5,6]}]})", l);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kResourceExhausted);
  l.max_request_body_bytes = 10;
  EXPECT_EQ(ParseInferRequest(std::string(11, ' '), l).status().code(),
            StatusCode::kResourceExhausted);
}

TEST(V2CodecTest, WritesResponses) {
  InferResponse r;
  r.model_name = "churn";
  r.model_version = "3";
  r.id = "q\"1";
  r.outputs.push_back({"predict", DataType::kBytes, {2}, {}, {"yes", "n\x01o"}});
  r.outputs.push_back({"probabilities", DataType::kFp32, {2, 1}, {0.25, NAN}, {}});
  EXPECT_EQ(WriteInferResponse(r),
            R"({"model_name":"churn","model_version":"3","id":"q\"1","outputs":[)"
            R"({"name":"predict","datatype":"BYTES","shape":[2],"data":["yes","n\u0001o"]},)"
            R"({"name":"probabilities","datatype":"FP32","shape":[2,1],"data":[0.25,null]}]})");
}

TEST(V2CodecTest, JsonQuoteEscapesAndRepairsUtf8) {
  EXPECT_EQ(JsonQuote("a\"b\\c\n"), R"("a\"b\\c\u000a")");
  EXPECT_EQ(JsonQuote("\xc3\xa9"), "\"\xc3\xa9\"");
  EXPECT_EQ(JsonQuote("\xff"
                      "a"),
            R"("\ufffda")");
  EXPECT_EQ(JsonQuote("\xe2\x82"), R"("\ufffd\ufffd")");
  EXPECT_EQ(JsonQuote("\xed\xa0\x80"), R"("\ufffd\ufffd\ufffd")");  // a surrogate
  EXPECT_EQ(JsonQuote("\xe0\x80\x80"), R"("\ufffd\ufffd\ufffd")");  // overlong
}

TEST(V2CodecTest, ElementCount) {
  EXPECT_EQ(*ElementCount({}), 1u);
  EXPECT_EQ(*ElementCount({2, 0, 5}), 0u);
  EXPECT_FALSE(ElementCount({-1}).ok());
  EXPECT_FALSE(ElementCount({1ll << 40, 1ll << 40}).ok());
}

}  // namespace
}  // namespace kiln::serve
