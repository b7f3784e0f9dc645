// Drift end to end: a trained model carries its reference, `kiln serve` counts what each version
// sees and reports it (GET /api/v1/models/{m}/drift, /metrics), `kiln monitor status` reads it
// back, and `kiln monitor drift` / `kiln predict --drift` measure a dataset offline.
//
// The traffic: every sixth row of the training file (like the reference) to version 1, and the
// same rows with Income multiplied by 6 and every fifth Home an unseen "castle" to version 2.
#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "kiln/base/mutex.h"
#include "testing/kiln_server.h"
#include "testing/run_kiln.h"

namespace kiln {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

constexpr size_t kRowsSent = 600;

// The credit file's rows as text fields (quotes removed), header first.
std::vector<std::vector<std::string>> CreditRows() {
  std::ifstream in(kiln::testing::SourceDir() + "/examples/credit/credit_2024.csv");
  std::vector<std::vector<std::string>> rows;
  for (std::string line; std::getline(in, line);) {
    std::vector<std::string> fields;
    std::stringstream ss(line);
    for (std::string f; std::getline(ss, f, ',');) {
      f.erase(std::remove(f.begin(), f.end(), '"'), f.end());
      fields.push_back(f);
    }
    if (line.back() == ',') fields.emplace_back();
    rows.push_back(std::move(fields));
  }
  return rows;
}

bool Categorical(const std::string& column) {
  return column == "Home" || column == "Marital" || column == "Records" || column == "Job";
}

// `n` rows from the `first`-th on, every `stride`-th row of the file (a sample spread over it,
// like the reference), shifted or not.
std::vector<std::vector<std::string>> Traffic(size_t first, size_t n, bool shifted,
                                              size_t stride = 6) {
  const auto all = CreditRows();
  std::vector<std::vector<std::string>> out = {all[0]};
  for (size_t r = 1 + first * stride; r < all.size() && out.size() <= n; r += stride) {
    auto row = all[r];
    if (shifted) {
      for (size_t c = 0; c < row.size(); ++c) {
        if (all[0][c] == "Income" && !row[c].empty())
          row[c] = std::to_string(std::stod(row[c]) * 6);
        if (all[0][c] == "Home" && r % 5 == 0) row[c] = "castle";
      }
    }
    out.push_back(std::move(row));
  }
  return out;
}

// A V2 request with one tensor per column (the target left out), as clients send tables.
json Request(const std::vector<std::vector<std::string>>& rows) {
  json req = {{"inputs", json::array()}};
  const auto& header = rows[0];
  for (size_t c = 0; c < header.size(); ++c) {
    if (header[c] == "Status") continue;
    json data = json::array();
    for (size_t r = 1; r < rows.size(); ++r) {
      const std::string& v = rows[r][c];
      if (Categorical(header[c])) {
        data.push_back(v);
      } else {
        data.push_back(v.empty() ? json(nullptr) : json(std::stod(v)));
      }
    }
    req["inputs"].push_back({{"name", header[c]},
                             {"shape", {rows.size() - 1}},
                             {"datatype", Categorical(header[c]) ? "BYTES" : "FP64"},
                             {"data", std::move(data)}});
  }
  return req;
}

void WriteCsv(const std::vector<std::vector<std::string>>& rows, const std::string& path) {
  std::ofstream out(path);
  for (const auto& row : rows) {
    for (size_t c = 0; c < row.size(); ++c) out << (c ? "," : "") << row[c];
    out << '\n';
  }
}

class MonitorCliTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::string(kiln::testing::MakeTempDir("kiln-monitor"));
    home_ = new std::string(*dir_ + "/home");
    fs::create_directories(*home_);
    const std::string data = kiln::testing::SourceDir() + "/examples/credit/credit_2024.csv";
    ASSERT_EQ(Kiln({"data", "ingest", data, "--name", "credit"}).exit_code, 0);
    for (int v = 0; v < 2; ++v) {
      auto t = Kiln({"train", "--data", "credit", "--target", "Status", "--param", "num_trees=20",
                     "--valid-frac", "0.2", "--json"});
      ASSERT_EQ(t.exit_code, 0) << t.err;
      const std::string id = json::parse(t.out)["run_id"];
      ASSERT_EQ(Kiln({"models", "register", id, "--name", "credit-risk"}).exit_code, 0);
    }
    ASSERT_EQ(Kiln({"models", "alias", "credit-risk", "1", "--set", "production"}).exit_code, 0);
    std::ofstream(*home_ + "/kiln.yaml") << "monitoring: {window: 10m, min_samples: 200}\n";
  }
  static void TearDownTestSuite() {
    fs::remove_all(*dir_);
    delete dir_;
    delete home_;
  }
  static kiln::testing::RunResult Kiln(std::vector<std::string> args,
                                       const std::string& home = "") {
    args.insert(args.begin(), {"--home", home.empty() ? *home_ : home});
    return kiln::testing::RunKiln(args, *dir_);
  }
  static http::HttpResponse Send(int port, const std::string& method, const std::string& path,
                                 const std::string& body = "") {
    auto c = http::HttpClient::Connect("127.0.0.1", static_cast<uint16_t>(port));
    EXPECT_TRUE(c.ok());
    if (!c.ok()) return {};
    auto r = (*c)->Send(method, path, body);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : http::HttpResponse{};
  }
  // Sends kRowsSent rows in requests of 50 to `path`.
  static void SendTraffic(int port, const std::string& path, bool shifted) {
    for (size_t first = 0; first < kRowsSent; first += 50) {
      auto r = Send(port, "POST", path, Request(Traffic(first, 50, shifted)).dump());
      ASSERT_EQ(r.status, 200) << r.body;
    }
  }
  static const json* Feature(const json& report, const std::string& name) {
    for (const auto& f : report["features"]) {
      if (f["name"] == name) return &f;
    }
    ADD_FAILURE() << "no feature " << name;
    return nullptr;
  }

  static std::string* dir_;
  static std::string* home_;
};

std::string* MonitorCliTest::dir_ = nullptr;
std::string* MonitorCliTest::home_ = nullptr;

TEST_F(MonitorCliTest, ServedVersionsMeasureTheirOwnTraffic) {
  kiln::testing::ServeProcess server;
  ASSERT_TRUE(kiln::testing::StartServe(*home_, {}, &server));
  SendTraffic(server.port, "/v2/models/credit-risk/infer", false);
  SendTraffic(server.port, "/v2/models/credit-risk/versions/2/infer", true);

  auto like = Send(server.port, "GET", "/api/v1/models/credit-risk/drift");
  ASSERT_EQ(like.status, 200) << like.body;
  const json a = json::parse(like.body);
  EXPECT_EQ(a["version"], 1);
  EXPECT_TRUE(a["monitored"].get<bool>());
  EXPECT_EQ(a["reference"]["data"], "credit@v1");
  EXPECT_EQ(a["window_ms"], 600000);
  const json& sliding = a["sliding"];
  EXPECT_EQ(sliding["rows"], kRowsSent);
  EXPECT_EQ(sliding["min_samples"], 200);
  EXPECT_TRUE(sliding["evaluated"].get<bool>());
  EXPECT_EQ(sliding["features"].size(), 13u);
  EXPECT_EQ(sliding["drift_share"], 0.0) << sliding.dump(1);
  EXPECT_FALSE(sliding["prediction"]["drifted"].get<bool>());
  EXPECT_EQ(sliding["prediction"]["rows"], kRowsSent);
  EXPECT_EQ(a["tumbling"]["rows"], 0);  // no whole window has passed yet
  EXPECT_EQ((*Feature(sliding, "Home"))["out_of_range"], 0);

  auto shifted = Send(server.port, "GET", "/api/v1/models/credit-risk/drift?version=2");
  ASSERT_EQ(shifted.status, 200) << shifted.body;
  const json b = json::parse(shifted.body);
  EXPECT_EQ(b["version"], 2);
  const json* income = Feature(b["sliding"], "Income");
  ASSERT_TRUE(income);
  EXPECT_TRUE((*income)["drifted"].get<bool>()) << income->dump();
  EXPECT_GT((*income)["psi"].get<double>(), 0.25);
  EXPECT_GT((*income)["out_of_range"].get<uint64_t>(), 0u);  // six times the largest income
  const json* home = Feature(b["sliding"], "Home");
  EXPECT_EQ((*home)["out_of_range"], kRowsSent / 5);  // every "castle"
  EXPECT_EQ(b["out_of_range_total"]["Home"], kRowsSent / 5);
  EXPECT_GT(b["sliding"]["drift_share"].get<double>(), 0.0);
  EXPECT_FALSE((*Feature(b["sliding"], "Age"))["drifted"].get<bool>());

  // The same on /metrics, which promtool accepts.
  const std::string page = Send(server.port, "GET", "/metrics").body;
  EXPECT_NE(
      page.find("kiln_feature_drifted{model=\"credit-risk\",version=\"2\",feature=\"Income\"} 1\n"),
      std::string::npos)
      << page;
  EXPECT_NE(page.find(fmt::format("kiln_feature_out_of_range_total{{model=\"credit-risk\",version="
                                  "\"2\",feature=\"Home\"}} {}\n",
                                  kRowsSent / 5)),
            std::string::npos);
  EXPECT_NE(page.find("kiln_drift_rows{model=\"credit-risk\",version=\"1\"} 600\n"),
            std::string::npos);
  EXPECT_NE(
      page.find("kiln_prediction_drift{model=\"credit-risk\",version=\"2\",statistic=\"psi\"}"),
      std::string::npos);
  const std::string file = *dir_ + "/metrics.txt";
  std::ofstream(file) << page;
  ASSERT_EQ(std::system("command -v promtool > /dev/null 2>&1"), 0)
      << "promtool (Debian package prometheus) is not installed; scripts/install-deps installs it";
  EXPECT_EQ(std::system(("promtool check metrics < " + file + " > /dev/null 2>&1").c_str()), 0);

  // `kiln monitor status` reads the same from the server.
  const std::string url = "http://127.0.0.1:" + std::to_string(server.port);
  auto status = Kiln({"monitor", "status", "credit-risk", "--version", "2", "--url", url});
  ASSERT_EQ(status.exit_code, 0) << status.err;
  EXPECT_NE(status.out.find("credit-risk v2: sliding window of 10m against credit@v1"),
            std::string::npos)
      << status.out;
  EXPECT_NE(status.out.find("600 rows;"), std::string::npos) << status.out;
  // The most drifted feature first.
  const size_t table = status.out.find("FEATURE");
  ASSERT_NE(table, std::string::npos);
  EXPECT_EQ(status.out.find("Income", table), status.out.find("\n", table) + 3) << status.out;
  auto all = Kiln({"monitor", "status", "--url", url, "--json"});
  ASSERT_EQ(all.exit_code, 0) << all.err;
  const json listed = json::parse(all.out);
  ASSERT_EQ(listed.size(), 1u);  // the model, at its production version
  EXPECT_EQ(listed[0]["drift"]["version"], 1);
  EXPECT_EQ(listed[0]["performance"]["sliding"]["labelled"], 0);

  // Bad requests get 4xx, and a version that is not served 404.
  EXPECT_EQ(Send(server.port, "POST", "/api/v1/models/credit-risk/drift").status, 405);
  EXPECT_EQ(Send(server.port, "GET", "/api/v1/models/nope/drift").status, 404);
  EXPECT_EQ(Send(server.port, "GET", "/api/v1/models/credit-risk/drift?version=9").status, 404);
  EXPECT_EQ(Send(server.port, "GET", "/api/v1/models/credit-risk/drift?version=%2e%2e").status,
            400);
  auto missing = Kiln({"monitor", "status", "nope", "--url", url});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.err.find("nope"), std::string::npos) << missing.err;
  EXPECT_EQ(kiln::testing::StopServe(&server), 0);
}

// Predictions made for requests with an id are logged; ground truth sent back by id gives the
// live metrics — right labels, then wrong ones — the log survives a restart, and bad feedback
// is refused whole.
TEST_F(MonitorCliTest, FeedbackGivesLiveAccuracy) {
  kiln::testing::ServeProcess server;
  ASSERT_TRUE(kiln::testing::StartServe(*home_, {}, &server));
  const auto rows = Traffic(0, 200, false);
  const size_t status = 0;  // the Status column
  // 20 requests of 10 rows with a V2 id (rows are "req-K#R"), and 5 one-row requests with an
  // X-Request-Id only.
  std::vector<std::pair<std::string, std::string>> truth;  // id, label
  size_t correct = 0;
  for (size_t k = 0; k < 25; ++k) {
    const bool batch = k < 20;
    const size_t first = batch ? k * 10 : 200 - 5 + (k - 20);
    std::vector<std::vector<std::string>> part = {rows[0]};
    for (size_t r = 0; r < (batch ? 10u : 1u); ++r) part.push_back(rows[1 + first + r]);
    json req = Request(part);
    std::vector<std::pair<std::string, std::string>> headers;
    const std::string id = batch ? "req-" + std::to_string(k) : "one-" + std::to_string(k);
    if (batch) {
      req["id"] = id;
    } else {
      headers.push_back({"X-Request-Id", id});
    }
    auto c = http::HttpClient::Connect("127.0.0.1", static_cast<uint16_t>(server.port));
    ASSERT_TRUE(c.ok());
    auto r =
        (*c)->Send("POST", "/v2/models/credit-risk/infer", req.dump(), "application/json", headers);
    ASSERT_TRUE(r.ok());
    ASSERT_EQ(r->status, 200) << r->body;
    const json answer = json::parse(r->body);
    for (size_t i = 1; i < part.size(); ++i) {
      const std::string row_id = batch ? id + "#" + std::to_string(i - 1) : id;
      truth.push_back({row_id, part[i][status]});
      correct += answer["outputs"][0]["data"][i - 1] == part[i][status] ? 1 : 0;
    }
  }
  ASSERT_EQ(truth.size(), 205u);
  auto feedback = [&](size_t from, size_t to, bool wrong) {
    json items = json::array();
    for (size_t i = from; i < to; ++i) {
      const std::string& label = truth[i].second;
      items.push_back(
          {{"id", truth[i].first}, {"label", wrong ? (label == "good" ? "bad" : "good") : label}});
    }
    return items;
  };
  auto post = [&](const json& body) {
    return Send(server.port, "POST", "/api/v1/models/credit-risk/feedback", body.dump());
  };
  auto performance = [&] {
    return json::parse(Send(server.port, "GET", "/api/v1/models/credit-risk/performance").body);
  };
  // The right labels for every prediction, plus two ids never logged.
  json first = feedback(0, 205, false);
  first.push_back({{"id", "never-seen"}, {"label", "good"}});
  first.push_back({{"id", "req-99#0"}, {"label", "bad"}});
  auto r = post(first);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(json::parse(r.body),
            json::parse(R"({"received":207,"joined":205,"unknown":2,"duplicate":0})"));
  json p = performance();
  EXPECT_TRUE(p["monitored"].get<bool>());
  EXPECT_EQ(p["sliding"]["labelled"], 205);
  const double accuracy = static_cast<double>(correct) / 205;
  EXPECT_NEAR(p["sliding"]["metrics"]["accuracy"].get<double>(), accuracy, 1e-12);
  EXPECT_GT(p["sliding"]["metrics"]["auc"].get<double>(), 0.7);
  ASSERT_TRUE(p["sliding"]["estimated"].is_object()) << p.dump();
  EXPECT_GT(p["sliding"]["estimated"]["estimated_accuracy"].get<double>(), 0.5);
  EXPECT_EQ(p["prediction_log"]["predictions"], 205);
  // The same ids again are duplicates: nothing counted twice.
  r = post(feedback(0, 10, false));
  EXPECT_EQ(json::parse(r.body)["duplicate"], 10);
  EXPECT_EQ(performance()["sliding"]["labelled"], 205);

  // Bad batches are refused whole, with the item named; nothing of them is counted.
  json unknown_class = feedback(0, 0, false);
  unknown_class.push_back({{"id", "x1"}, {"label", "good"}});
  unknown_class.push_back({{"id", "x2"}, {"label", "maybe"}});
  r = post(unknown_class);
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("feedback[1].label"), std::string::npos) << r.body;
  EXPECT_EQ(post(json::parse(R"([{"id": "a", "label": true}])")).status, 400);
  EXPECT_EQ(post(json::parse(R"([{"id": 7, "label": "good"}])")).status, 400);
  EXPECT_EQ(post(json::parse(R"([{"id": "../x", "label": "good"}])")).status, 400);
  EXPECT_EQ(
      post(json::parse(R"([{"id": "a", "label": "good"}, {"id": "a", "label": "bad"}])")).status,
      400);
  EXPECT_EQ(post(json::parse(R"({"id": "a", "label": "good"})")).status, 400);
  EXPECT_EQ(Send(server.port, "POST", "/api/v1/models/credit-risk/feedback", "[{").status, 400);
  json huge = json::array();
  for (int i = 0; i < 10001; ++i)
    huge.push_back({{"id", "h" + std::to_string(i)}, {"label", "good"}});
  EXPECT_EQ(post(huge).status, 413);
  EXPECT_EQ(Send(server.port, "POST", "/api/v1/models/nope/feedback", "[]").status, 404);
  EXPECT_EQ(Send(server.port, "GET", "/api/v1/models/credit-risk/feedback").status, 405);
  EXPECT_EQ(performance()["sliding"]["labelled"], 205);

  const std::string page = Send(server.port, "GET", "/metrics").body;
  EXPECT_NE(page.find("kiln_feedback_total{model=\"credit-risk\",outcome=\"joined\"} 205\n"),
            std::string::npos)
      << page;
  EXPECT_NE(page.find("kiln_feedback_total{model=\"credit-risk\",outcome=\"unknown\"} 2\n"),
            std::string::npos);
  EXPECT_NE(page.find("kiln_live_metric{model=\"credit-risk\",version=\"1\",metric=\"accuracy\"}"),
            std::string::npos);
  EXPECT_NE(page.find("kiln_estimated_metric{model=\"credit-risk\",version=\"1\",metric="
                      "\"estimated_auc\"}"),
            std::string::npos);
  const std::string file = *dir_ + "/metrics-feedback.txt";
  std::ofstream(file) << page;
  EXPECT_EQ(std::system(("promtool check metrics < " + file + " > /dev/null 2>&1").c_str()), 0);

  // A restart keeps the log — a prediction made before it still joins, a labelled one is still
  // a duplicate — and the live metrics. Wrong labels through `kiln monitor feedback` then pull
  // the accuracy down.
  const json kept = performance()["sliding"];
  ASSERT_EQ(kept["labelled"], 205);
  EXPECT_EQ(kiln::testing::StopServe(&server), 0);
  EXPECT_TRUE(fs::exists(*home_ + "/monitoring/credit-risk/v1"));
  ASSERT_TRUE(kiln::testing::StartServe(*home_, {}, &server));
  const std::string csv = *dir_ + "/wrong.csv";
  {
    std::ofstream out(csv);
    out << "id,label\n";
    for (const auto& item : feedback(0, 205, true)) {
      out << item["id"].get<std::string>() << "," << item["label"].get<std::string>() << "\n";
    }
  }
  const std::string url = "http://127.0.0.1:" + std::to_string(server.port);
  auto sent = Kiln({"monitor", "feedback", "credit-risk", csv, "--url", url, "--json"});
  ASSERT_EQ(sent.exit_code, 0) << sent.err;
  EXPECT_EQ(json::parse(sent.out)["duplicate"], 205);  // labelled before the restart
  const json restored = performance()["sliding"];      // the windows were saved and restored
  EXPECT_EQ(restored["labelled"], 205);
  EXPECT_EQ(restored["metrics"], kept["metrics"]);
  // New traffic, then wrong labels for it.
  std::vector<std::pair<std::string, std::string>> fresh;
  size_t fresh_correct = 0;
  {
    json req = Request(Traffic(0, 50, false));
    req["id"] = "after";
    auto a = Send(server.port, "POST", "/v2/models/credit-risk/infer", req.dump());
    ASSERT_EQ(a.status, 200) << a.body;
    const json answer = json::parse(a.body);
    const auto part = Traffic(0, 50, false);
    std::ofstream out(csv);
    out << "request,truth\n";
    for (size_t i = 1; i < part.size(); ++i) {
      const std::string label = part[i][status] == "good" ? "bad" : "good";  // wrong
      fresh_correct += answer["outputs"][0]["data"][i - 1] == label ? 1 : 0;
      out << "after#" << i - 1 << "," << label << "\n";
    }
  }
  sent = Kiln({"monitor", "feedback", "credit-risk", csv, "--url", url, "--id-column", "request",
               "--label-column", "truth"});
  ASSERT_EQ(sent.exit_code, 0) << sent.err;
  EXPECT_NE(sent.out.find("50 labels sent: 50 joined"), std::string::npos) << sent.out;
  p = performance();
  EXPECT_EQ(p["sliding"]["labelled"], 255);
  EXPECT_LT(static_cast<double>(fresh_correct) / 50, 0.5);
  const double expected =
      (kept["metrics"]["accuracy"].get<double>() * 205 + static_cast<double>(fresh_correct)) / 255;
  EXPECT_NEAR(p["sliding"]["metrics"]["accuracy"].get<double>(), expected, 1e-12);
  EXPECT_LT(p["sliding"]["metrics"]["auc"].get<double>(), kept["metrics"]["auc"].get<double>())
      << p.dump();
  auto text = Kiln({"monitor", "status", "credit-risk", "--url", url});
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_NE(text.out.find("live performance on 255 labelled rows: accuracy"), std::string::npos)
      << text.out;
  auto missing = Kiln({"monitor", "feedback", "credit-risk", csv, "--url", url});
  EXPECT_EQ(missing.exit_code, 1);  // no id / label columns
  EXPECT_NE(missing.err.find("needs columns 'id' and 'label'"), std::string::npos) << missing.err;
  kiln::testing::StopServe(&server);
}

// An alert rule from kiln.yaml fires on shifted traffic (pending, then firing, once), shows on
// /api/v1/alerts, /metrics and `kiln monitor alerts`, posts to its webhook, and resolves when
// the version is no longer served; the same rules export as Prometheus rules promtool accepts.
TEST_F(MonitorCliTest, AlertsFireNotifyAndResolve) {
  // A webhook receiver on loopback.
  Mutex mu;
  std::vector<json> received;
  http::HttpServerOptions o;
  o.port = 0;
  auto hook = http::HttpServer::Start(o, [&](http::HttpRequest req, http::Responder done) {
    {
      MutexLock lock(&mu);
      received.push_back(json::parse(req.body, nullptr, false));
    }
    done({200, "application/json", "{}", {}});
  });
  ASSERT_TRUE(hook.ok()) << hook.status().ToString();
  const std::string home = *dir_ + "/alerts";
  fs::copy(*home_, home, fs::copy_options::recursive);
  std::ofstream(home + "/kiln.yaml") << fmt::format(
      "monitoring:\n"
      "  window: 10m\n"
      "  min_samples: 200\n"
      "  evaluate_every: 1s\n"
      "  webhook_allow: [127.0.0.1]\n"
      "  alerts:\n"
      "    - name: income-drift\n"
      "      model: credit-risk\n"
      "      expr: feature_drift.Income.psi > 0.25 and drift.evaluated == 1\n"
      "      for: 1s\n"
      "      severity: critical\n"
      "      webhook: http://127.0.0.1:{}/hooks/kiln\n"
      "    - name: accuracy-drop\n"
      "      expr: live.accuracy < model.valid.accuracy - 0.1\n",
      (*hook)->port());
  kiln::testing::ServeProcess server;
  ASSERT_TRUE(kiln::testing::StartServe(home, {}, &server));
  auto alerts = [&] { return json::parse(Send(server.port, "GET", "/api/v1/alerts").body); };
  EXPECT_EQ(alerts()["rules"].size(), 2u);
  EXPECT_TRUE(alerts()["active"].empty());
  SendTraffic(server.port, "/v2/models/credit-risk/infer", true);
  auto firing = [&] {
    const json a = alerts();
    return !a["active"].empty() && a["active"][0]["state"] == "firing";
  };
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (!firing() && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_TRUE(firing()) << alerts().dump(1);
  const json a = alerts();
  ASSERT_EQ(a["active"].size(), 1u);  // no feedback: accuracy-drop has no value to compare
  EXPECT_EQ(a["active"][0]["rule"], "income-drift");
  EXPECT_EQ(a["active"][0]["version"], 1);
  EXPECT_NE(a["active"][0]["detail"].get<std::string>().find("feature_drift.Income.psi > 0.25"),
            std::string::npos);
  const std::string page = Send(server.port, "GET", "/metrics").body;
  EXPECT_NE(page.find("kiln_alert{rule=\"income-drift\",model=\"credit-risk\",version=\"1\","
                      "severity=\"critical\",state=\"firing\"} 1\n"),
            std::string::npos)
      << page;
  const std::string file = *dir_ + "/metrics-alerts.txt";
  std::ofstream(file) << page;
  EXPECT_EQ(std::system(("promtool check metrics < " + file + " > /dev/null 2>&1").c_str()), 0);
  const std::string url = "http://127.0.0.1:" + std::to_string(server.port);
  auto shown = Kiln({"monitor", "alerts", "--url", url});
  ASSERT_EQ(shown.exit_code, 0) << shown.err;
  EXPECT_NE(shown.out.find("firing   income-drift"), std::string::npos) << shown.out;

  // The version leaves: its alert resolves; the webhook saw both events, once each.
  EXPECT_EQ(Send(server.port, "POST", "/v2/repository/models/credit-risk/unload").status, 200);
  auto resolved = [&] {
    MutexLock lock(&mu);
    return received.size() >= 2;
  };
  const auto until2 = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (!resolved() && std::chrono::steady_clock::now() < until2) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  {
    MutexLock lock(&mu);
    ASSERT_EQ(received.size(), 2u);
    EXPECT_EQ(received[0]["state"], "firing");
    EXPECT_EQ(received[0]["rule"], "income-drift");
    EXPECT_EQ(received[0]["severity"], "critical");
    EXPECT_EQ(received[0]["model"], "credit-risk");
    EXPECT_EQ(received[1]["state"], "resolved");
    EXPECT_EQ(received[1]["detail"], "no longer served");
  }
  EXPECT_TRUE(alerts()["active"].empty());
  EXPECT_EQ(kiln::testing::StopServe(&server), 0);
  (*hook)->Shutdown(std::chrono::milliseconds(0));
  // The events are in the catalog: `kiln monitor alerts` reads them without a server.
  auto stored = Kiln({"monitor", "alerts", "--json"}, home);
  ASSERT_EQ(stored.exit_code, 0) << stored.err;
  const json history = json::parse(stored.out);
  EXPECT_TRUE(history["firing"].empty());
  ASSERT_EQ(history["events"].size(), 2u);
  EXPECT_EQ(history["events"][0]["state"], "firing");
  EXPECT_EQ(history["events"][1]["state"], "resolved");
  EXPECT_EQ(history["events"][0]["rule"], "income-drift");
  auto listed = Kiln({"monitor", "alerts"}, home);
  EXPECT_NE(listed.out.find("no alert is firing"), std::string::npos) << listed.out;

  // The rules for Prometheus.
  const std::string rules = *dir_ + "/kiln-rules.yml";
  auto exported = Kiln({"monitor", "rules", "--prometheus", "--out", rules}, home);
  ASSERT_EQ(exported.exit_code, 0) << exported.err;
  const std::string text = kiln::testing::Slurp(rules);
  EXPECT_NE(text.find("alert: income_drift"), std::string::npos) << text;
  EXPECT_NE(text.find("kiln_feature_drift{model=\"credit-risk\",feature=\"Income\",statistic="
                      "\"psi\"}"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("kiln_model_valid_metric{metric=\"accuracy\"}"), std::string::npos);
  EXPECT_EQ(
      std::system(("promtool check rules " + rules + " > " + *dir_ + "/promtool.out 2>&1").c_str()),
      0)
      << kiln::testing::Slurp(*dir_ + "/promtool.out") << text;
  auto table = Kiln({"monitor", "rules"}, home);
  EXPECT_EQ(table.exit_code, 0);
  EXPECT_NE(table.out.find("accuracy-drop"), std::string::npos) << table.out;
}

// Rules over the traffic of a version (the window's requests, errors, latency quantiles) and
// over the job queue fire from what the server and the queue saw, and export to PromQL that
// promtool accepts.
TEST_F(MonitorCliTest, TrafficAndJobValuesFireAlerts) {
  const std::string home = *dir_ + "/traffic";
  fs::copy(*home_, home, fs::copy_options::recursive);
  std::ofstream(home + "/kiln.yaml") << "monitoring:\n"
                                        "  evaluate_every: 1s\n"
                                        "  alerts:\n"
                                        "    - name: slow\n"
                                        "      expr: latency.p99 > 0 and requests.count >= 10\n"
                                        "    - name: failing\n"
                                        "      model: credit-risk\n"
                                        "      expr: errors.rate > 0.3\n"
                                        "    - name: jobs-failing\n"
                                        "      expr: jobs.failed >= 1 and jobs.dead == 0\n";
  // A job that fails for good: its data does not exist.
  ASSERT_EQ(Kiln({"jobs", "submit", "train", "--data", "nothing", "--target", "y"}, home).exit_code,
            0);
  ASSERT_EQ(Kiln({"worker", "--once"}, home).exit_code, 0);
  kiln::testing::ServeProcess server;
  ASSERT_TRUE(kiln::testing::StartServe(home, {}, &server));
  SendTraffic(server.port, "/v2/models/credit-risk/infer", false);  // 12 requests
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(Send(server.port, "POST", "/v2/models/credit-risk/infer", "{\"inputs\": 5}").status,
              400);
  }
  auto active = [&] {
    std::map<std::string, json> out;
    const json alerts = json::parse(Send(server.port, "GET", "/api/v1/alerts").body);
    for (const auto& a : alerts["active"]) {
      if (a["state"] == "firing") out[a["rule"].get<std::string>()] = a;
    }
    return out;
  };
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (active().size() < 3 && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  const auto firing = active();
  ASSERT_EQ(firing.size(), 3u) << Send(server.port, "GET", "/api/v1/alerts").body;
  EXPECT_NE(firing.at("slow")["detail"].get<std::string>().find("requests.count >= 10 (22 vs 10)"),
            std::string::npos)
      << firing.at("slow").dump();
  // 10 of the 22 requests failed.
  EXPECT_NE(firing.at("failing")["detail"].get<std::string>().find("errors.rate > 0.3 (0.4545"),
            std::string::npos)
      << firing.at("failing").dump();
  EXPECT_NE(firing.at("jobs-failing")["detail"].get<std::string>().find("jobs.failed >= 1 (1 vs"),
            std::string::npos)
      << firing.at("jobs-failing").dump();
  EXPECT_EQ(kiln::testing::StopServe(&server), 0);

  const std::string rules = *dir_ + "/traffic-rules.yml";
  ASSERT_EQ(Kiln({"monitor", "rules", "--prometheus", "--out", rules}, home).exit_code, 0);
  const std::string text = kiln::testing::Slurp(rules);
  EXPECT_NE(text.find("histogram_quantile(0.99, sum by (model, version, le) "
                      "(rate(kiln_request_duration_seconds_bucket{route=~\"infer|grpc_infer\"}"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("code!~\"2..|OK\""), std::string::npos) << text;
  EXPECT_NE(text.find("sum(kiln_jobs{state=\"failed\"})"), std::string::npos) << text;
  EXPECT_EQ(
      std::system(("promtool check rules " + rules + " > " + *dir_ + "/promtool.out 2>&1").c_str()),
      0)
      << kiln::testing::Slurp(*dir_ + "/promtool.out") << text;
}

// A restarted server keeps what the windows had counted (saved when it stopped, restored when
// the version loads again).
TEST_F(MonitorCliTest, ARestartKeepsTheWindows) {
  const std::string home = *dir_ + "/restart";
  fs::copy(*home_, home, fs::copy_options::recursive);
  kiln::testing::ServeProcess server;
  ASSERT_TRUE(kiln::testing::StartServe(home, {}, &server));
  SendTraffic(server.port, "/v2/models/credit-risk/versions/2/infer", true);
  const json before =
      json::parse(Send(server.port, "GET", "/api/v1/models/credit-risk/drift?version=2").body);
  ASSERT_EQ(before["sliding"]["rows"], kRowsSent);
  EXPECT_EQ(kiln::testing::StopServe(&server), 0);
  EXPECT_TRUE(fs::exists(home + "/monitoring/credit-risk/v2/drift.window"));

  ASSERT_TRUE(kiln::testing::StartServe(home, {}, &server));
  const json after =
      json::parse(Send(server.port, "GET", "/api/v1/models/credit-risk/drift?version=2").body);
  EXPECT_EQ(after["sliding"]["rows"], kRowsSent) << after.dump(1).substr(0, 1000);
  EXPECT_EQ(after["sliding"]["drift_share"], before["sliding"]["drift_share"]);
  EXPECT_EQ(after["sliding"]["features"], before["sliding"]["features"]);
  EXPECT_EQ(kiln::testing::StopServe(&server), 0);
}

std::string UrlEncode(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '_' || c == '-' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += fmt::format("%{:02X}", c);
    }
  }
  return out;
}

// A real Prometheus (Debian's) scrapes `kiln serve` on loopback with the rules kiln exports: a
// drift gauge and the firing alert are read back through its query API; the files in deploy/
// pass promtool, and every query of the Grafana dashboard is valid PromQL that Prometheus runs.
TEST_F(MonitorCliTest, PrometheusScrapesKilnServe) {
  ASSERT_EQ(std::system("command -v prometheus > /dev/null 2>&1"), 0)
      << "prometheus (Debian package prometheus) is not installed; scripts/install-deps does";
  const std::string deploy = kiln::testing::SourceDir() + "/deploy";
  EXPECT_EQ(std::system(
                ("promtool check config " + deploy + "/prometheus/prometheus.yml > /dev/null 2>&1")
                    .c_str()),
            0);
  const std::string home = *dir_ + "/prom-home";
  fs::copy(*home_, home, fs::copy_options::recursive);
  std::ofstream(home + "/kiln.yaml") << "monitoring:\n"
                                        "  min_samples: 200\n"
                                        "  alerts:\n"
                                        "    - name: income-drift\n"
                                        "      model: credit-risk\n"
                                        "      expr: feature_drift.Income.psi > 0.25\n";
  const std::string prom = *dir_ + "/prometheus";
  fs::create_directories(prom);
  ASSERT_EQ(
      Kiln({"monitor", "rules", "--prometheus", "--out", prom + "/rules.yml"}, home).exit_code, 0);
  kiln::testing::ServeProcess server;
  ASSERT_TRUE(kiln::testing::StartServe(home, {}, &server));
  SendTraffic(server.port, "/v2/models/credit-risk/infer", true);
  std::ofstream(prom + "/prometheus.yml") << fmt::format(
      "global: {{scrape_interval: 1s, evaluation_interval: 1s}}\n"
      "rule_files: [rules.yml]\n"
      "scrape_configs:\n"
      "  - job_name: kiln\n"
      "    static_configs: [{{targets: ['127.0.0.1:{}']}}]\n",
      server.port);
  const int prom_port = kiln::testing::FreePort();
  std::fflush(stdout);
  const pid_t pid = fork();
  if (pid == 0) {
    freopen((prom + "/prometheus.log").c_str(), "w", stderr);
    freopen("/dev/null", "w", stdout);
    const std::string config = "--config.file=" + prom + "/prometheus.yml";
    const std::string storage = "--storage.tsdb.path=" + prom + "/data";
    const std::string listen = "--web.listen-address=127.0.0.1:" + std::to_string(prom_port);
    execlp("prometheus", "prometheus", config.c_str(), storage.c_str(), listen.c_str(),
           static_cast<char*>(nullptr));
    _exit(127);
  }
  auto query = [&](const std::string& promql) {
    auto c = http::HttpClient::Connect("127.0.0.1", static_cast<uint16_t>(prom_port));
    if (!c.ok()) return json();
    auto r = (*c)->Send("GET", "/api/v1/query?query=" + UrlEncode(promql));
    return r.ok() ? json::parse(r->body, nullptr, false) : json();
  };
  auto first_value = [&](const std::string& promql) -> double {
    const json r = query(promql);
    if (!r.is_object() || r.value("status", "") != "success" || r["data"]["result"].empty()) {
      return -1;
    }
    return std::stod(r["data"]["result"][0]["value"][1].get<std::string>());
  };
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  double share = -1, firing = -1;
  while (std::chrono::steady_clock::now() < until && (share <= 0 || firing != 1)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
    share = first_value("kiln_drift_share{model=\"credit-risk\",version=\"1\"}");
    firing = first_value("ALERTS{alertname=\"income_drift\",alertstate=\"firing\"}");
  }
  EXPECT_GT(share, 0) << kiln::testing::Slurp(prom + "/prometheus.log");
  EXPECT_EQ(firing, 1);
  EXPECT_GT(first_value("kiln_feature_drift{model=\"credit-risk\",feature=\"Income\","
                        "statistic=\"psi\"}"),
            0.25);

  // Every query of the dashboard: valid PromQL (promtool) that Prometheus answers.
  std::ifstream in(deploy + "/grafana/kiln-dashboard.json");
  const json dashboard = json::parse(in);
  std::ofstream queries(prom + "/dashboard-rules.yml");
  queries << "groups:\n  - name: dashboard\n    rules:\n";
  int n = 0;
  for (const auto& panel : dashboard["panels"]) {
    for (const auto& target : panel["targets"]) {
      std::string expr = target["expr"].get<std::string>();
      for (size_t at; (at = expr.find("$model")) != std::string::npos;) expr.replace(at, 6, ".*");
      queries << "      - record: dashboard_query_" << n++ << "\n        expr: '" << expr << "'\n";
      const json r = query(expr);
      EXPECT_EQ(r.value("status", ""), "success") << expr << " -> " << r.dump();
    }
  }
  queries.close();
  EXPECT_GT(n, 10);
  EXPECT_EQ(std::system(("promtool check rules " + prom + "/dashboard-rules.yml > " + prom +
                         "/promtool.out 2>&1")
                            .c_str()),
            0)
      << kiln::testing::Slurp(prom + "/promtool.out");
  kill(pid, SIGTERM);
  waitpid(pid, nullptr, 0);
  kiln::testing::StopServe(&server);
}

// With monitoring off nothing is counted, and the drift answer says why.
TEST_F(MonitorCliTest, MonitoringOffSaysSo) {
  const std::string home = *dir_ + "/off";
  fs::copy(*home_, home, fs::copy_options::recursive);
  std::ofstream(home + "/kiln.yaml") << "monitoring: {enabled: false}\n";
  kiln::testing::ServeProcess server;
  ASSERT_TRUE(kiln::testing::StartServe(home, {}, &server));
  SendTraffic(server.port, "/v2/models/credit-risk/infer", true);
  auto r = Send(server.port, "GET", "/api/v1/models/credit-risk/drift");
  ASSERT_EQ(r.status, 200);
  const json d = json::parse(r.body);
  EXPECT_FALSE(d["monitored"].get<bool>());
  EXPECT_NE(d["reason"].get<std::string>().find("monitoring.enabled"), std::string::npos);
  EXPECT_EQ(Send(server.port, "GET", "/metrics").body.find("kiln_feature_drift"),
            std::string::npos);
  auto status = Kiln({"monitor", "status", "--url", "127.0.0.1:" + std::to_string(server.port)});
  EXPECT_EQ(status.exit_code, 0) << status.err;
  EXPECT_NE(status.out.find("credit-risk v1: not monitored"), std::string::npos) << status.out;
  kiln::testing::StopServe(&server);
  // Nothing listens now: a clear error, not a hang.
  auto gone = Kiln({"monitor", "status", "--url", "127.0.0.1:" + std::to_string(server.port)});
  EXPECT_EQ(gone.exit_code, 1);
  EXPECT_NE(gone.err.find("cannot reach kiln serve"), std::string::npos) << gone.err;
  EXPECT_EQ(Kiln({"monitor", "status", "--url", "https://127.0.0.1:1"}).exit_code, 1);
  EXPECT_EQ(Kiln({"monitor", "status", "--url", "http://a@b:80"}).exit_code, 1);
}

// A dataset against the model's reference, offline: `kiln monitor drift` and
// `kiln predict --drift` agree.
TEST_F(MonitorCliTest, DatasetsAgainstTheReferenceOffline) {
  const std::string shifted = *dir_ + "/shifted.csv";
  WriteCsv(Traffic(0, 4000, true, 1), shifted);
  auto same =
      Kiln({"monitor", "drift", "--model", "credit-risk@production", "--data", "credit", "--json"});
  ASSERT_EQ(same.exit_code, 0) << same.err;
  const json s = json::parse(same.out);
  EXPECT_EQ(s["data"], "credit@v1");
  EXPECT_EQ(s["rows"], 4000);
  EXPECT_EQ(s["drift_share"], 0.0);
  auto moved = Kiln({"monitor", "drift", "--model", "credit-risk:2", "--data", shifted, "--json"});
  ASSERT_EQ(moved.exit_code, 0) << moved.err;
  const json m = json::parse(moved.out);
  EXPECT_TRUE((*Feature(m, "Income"))["drifted"].get<bool>());
  EXPECT_GT(m["drift_share"].get<double>(), 0.0);
  auto text = Kiln({"monitor", "drift", "--model", "credit-risk:2", "--data", shifted});
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_NE(text.out.find("Income"), std::string::npos);
  EXPECT_NE(text.out.find("features drifted"), std::string::npos) << text.out;

  auto predicted = Kiln({"predict", "--model", "credit-risk:2", "--data", shifted, "--out",
                         *dir_ + "/p.csv", "--drift", "--json"});
  ASSERT_EQ(predicted.exit_code, 0) << predicted.err;
  const json p = json::parse(predicted.out);
  ASSERT_TRUE(p.contains("drift"));
  EXPECT_EQ(p["drift"]["drift_share"], m["drift_share"]);
  EXPECT_EQ((*Feature(p["drift"], "Income"))["psi"], (*Feature(m, "Income"))["psi"]);

  // Against another dataset instead of the training reference, with the HTML report.
  const std::string html = *dir_ + "/drift.html";
  auto against = Kiln({"monitor", "drift", "--model", "credit-risk:2", "--data", shifted,
                       "--against", "credit", "--html", html, "--json"});
  ASSERT_EQ(against.exit_code, 0) << against.err;
  const json g = json::parse(against.out);
  EXPECT_EQ(g["reference"]["data"], "credit@v1");
  EXPECT_EQ(g["reference"]["rows"], 4000);  // every row of the dataset, not the training split
  EXPECT_TRUE((*Feature(g, "Income"))["drifted"].get<bool>());
  const std::string page = kiln::testing::Slurp(html);
  EXPECT_NE(page.find("<svg"), std::string::npos);
  EXPECT_NE(page.find("Drift of "), std::string::npos);
  EXPECT_NE(page.find("<h2>Income<span class=\"tag\">drifted</span>"), std::string::npos);
  EXPECT_EQ(page.find("<script"), std::string::npos);
  EXPECT_EQ(page.find("http://") == std::string::npos ||
                page.find("http://") == page.find("http://www.w3.org/2000/svg"),
            true);  // nothing fetched: the only URL is the SVG namespace
  auto itself = Kiln({"monitor", "drift", "--model", "credit-risk:2", "--data", shifted,
                      "--against", shifted, "--json"});
  ASSERT_EQ(itself.exit_code, 0) << itself.err;
  const json same_rows = json::parse(itself.out);
  EXPECT_EQ(same_rows["drift_share"], 0.0);
  EXPECT_NEAR((*Feature(same_rows, "Income"))["psi"].get<double>(), 0, 1e-12);

  auto bad = Kiln({"monitor", "drift", "--model", "credit-risk:9", "--data", "credit"});
  EXPECT_EQ(bad.exit_code, 1);
  auto nodata = Kiln({"monitor", "drift", "--model", "credit-risk:1", "--data", "nope@v3"});
  EXPECT_EQ(nodata.exit_code, 1);
  EXPECT_NE(nodata.err.find("nope"), std::string::npos) << nodata.err;
}

}  // namespace
}  // namespace kiln
