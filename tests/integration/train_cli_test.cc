// `kiln train | eval | predict | model inspect` end to end through the binary, and the accuracy
// sanity check against XGBoost 1.7.4 (Debian python3-xgboost) on tests/data.
#include <signal.h>
#include <sys/wait.h>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "testing/kiln_home_test.h"

namespace kiln {
namespace {

using kiln::testing::RunKiln;
using nlohmann::json;
namespace fs = std::filesystem;

std::vector<std::string> operator+(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

using TrainCliTest = kiln::testing::KilnHomeTest;

// Without --out no file appears (the model is in the run, reachable by the run id); with
// `--out -` the model file goes to stdout and the summary to stderr.
TEST_F(TrainCliTest, TheModelIsInTheRunAndOnStdoutWhenAsked) {
  std::string csv = "x,y\n";
  for (int i = 0; i < 300; ++i) csv += fmt::format("{},{}\n", i % 50, i % 50 > 20 ? 1 : 0);
  const std::string data = Write("d.csv", csv);
  auto r = Kiln({"train", "--data", data, "--target", "y", "--param", "num_trees=5", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_FALSE(json::parse(r.out).contains("model"));
  EXPECT_FALSE(fs::exists(dir_ + "/model.kiln"));
  const std::string run = json::parse(r.out)["run_id"];
  auto eval = Kiln({"eval", "--model", run, "--data", data, "--json"});
  ASSERT_EQ(eval.exit_code, 0) << eval.err;
  EXPECT_GT(json::parse(eval.out)["metrics"]["auc"].get<double>(), 0.9);
  auto piped =
      Kiln({"train", "--data", data, "--target", "y", "--param", "num_trees=5", "--out", "-"});
  ASSERT_EQ(piped.exit_code, 0) << piped.err;
  EXPECT_FALSE(fs::exists(dir_ + "/-"));
  EXPECT_NE(piped.err.find("trained 5 trees"), std::string::npos) << piped.err;
  const std::string model = Write("piped.kiln", piped.out);
  auto inspect = Kiln({"model", "inspect", model, "--json"});
  ASSERT_EQ(inspect.exit_code, 0) << inspect.err;
  EXPECT_EQ(json::parse(inspect.out)["trees"], 5);
  // Without --json: a readable summary, not JSON.
  auto summary = Kiln({"model", "inspect", model});
  ASSERT_EQ(summary.exit_code, 0) << summary.err;
  EXPECT_NE(summary.out.find("5 trees"), std::string::npos) << summary.out;
  EXPECT_NE(summary.out.find("FEATURE (by gain)"), std::string::npos) << summary.out;
  EXPECT_TRUE(json::parse(summary.out, nullptr, false).is_discarded());
}

TEST_F(TrainCliTest, TrainEvalPredictInspect) {
  std::string csv = "id,x,color,y\n";
  for (int i = 0; i < 600; ++i) {
    const char* color = i % 3 == 0 ? "red" : (i % 3 == 1 ? "green" : "blue");
    const int x = (i * 37) % 101;
    const bool pos = (x < 30 || i % 3 == 0) != (i % 17 == 0);  // a rule plus some label noise
    csv += std::to_string(i) + "," + std::to_string(x) + "," + color + "," + (pos ? "yes" : "no") +
           "\n";
  }
  std::string data = Write("t.csv", csv);
  std::string schema = Write("s.yaml", "columns:\n  id: {role: id}\n");
  ASSERT_EQ(Kiln({"data", "ingest", data, "--name", "t", "--schema", schema}).exit_code, 0);
  const std::string model = dir_ + "/m.kiln";
  auto r = Kiln({"train", "--data", "t", "--target", "y", "--valid-frac", "0.2", "--param",
                 "num_trees=30", "--param", "eta=0.2", "--out", model, "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  json j = json::parse(r.out);
  EXPECT_EQ(j["objective"], "binary");
  EXPECT_EQ(j["trees"], 30);
  EXPECT_GT(j["valid_metrics"]["auc"].get<double>(), 0.85);
  auto e = Kiln({"eval", "--model", model, "--data", "t", "--json"});
  ASSERT_EQ(e.exit_code, 0) << e.err;
  EXPECT_TRUE(json::parse(e.out)["metrics"].contains("auc"));
  const std::string preds = dir_ + "/p.csv";
  ASSERT_EQ(Kiln({"predict", "--model", model, "--data", "t", "--out", preds}).exit_code, 0);
  std::ifstream in(preds);
  std::string header, first;
  std::getline(in, header);
  std::getline(in, first);
  EXPECT_EQ(header, "id,prob_no,prob_yes,prediction");  // classes in first-seen order
  EXPECT_EQ(first.substr(0, 2), "0,");                  // id copied through, input order
  // --kind margin: the raw score, whose sigmoid is prob_yes; --kind leaf: a leaf per tree.
  const std::string margins = dir_ + "/margin.csv", leaves = dir_ + "/leaf.csv";
  ASSERT_EQ(Kiln({"predict", "--model", model, "--data", "t", "--out", margins, "--kind", "margin"})
                .exit_code,
            0);
  ASSERT_EQ(Kiln({"predict", "--model", model, "--data", "t", "--out", leaves, "--kind", "leaf"})
                .exit_code,
            0);
  std::ifstream min(margins), lin(leaves);
  std::string mheader, mfirst, lheader, lfirst;
  std::getline(min, mheader);
  std::getline(min, mfirst);
  std::getline(lin, lheader);
  std::getline(lin, lfirst);
  EXPECT_EQ(mheader, "id,margin,prediction");
  const double margin = std::stod(mfirst.substr(2));
  const size_t comma = first.find(',', 2);
  const double prob_yes = std::stod(first.substr(comma + 1));
  EXPECT_NEAR(1 / (1 + std::exp(-margin)), prob_yes, 1e-5) << mfirst << " vs " << first;
  EXPECT_EQ(std::count(lheader.begin(), lheader.end(), ','), 1 + 30);  // id, leaf_0..29, prediction
  EXPECT_EQ(lheader.substr(0, 10), "id,leaf_0,");
  EXPECT_EQ(Kiln({"predict", "--model", model, "--data", "t", "--out", leaves, "--kind", "nope"})
                .exit_code,
            2);
  auto inspect = Kiln({"model", "inspect", model, "--trees"});  // --trees implies --json
  ASSERT_EQ(inspect.exit_code, 0);
  json info = json::parse(inspect.out);
  EXPECT_EQ(info["features"].size(), 2u);  // id and target excluded
  EXPECT_EQ(info["trees_json"].size(), 30u);
  // The drift reference: the training rows in the model's bins, the validation rows' scores
  // (a seeded 20% of the 600), and the validation metrics the run reported.
  const json& ref = info["reference"];
  EXPECT_EQ(ref["data"], "t@v1");
  EXPECT_EQ(ref["score_data"], "validation");
  uint64_t scored = 0;
  for (const auto& c : ref["score_counts"]) scored += c.get<uint64_t>();
  EXPECT_EQ(ref["rows"].get<uint64_t>() + scored, 600u);
  EXPECT_NEAR(static_cast<double>(scored), 120, 40);
  EXPECT_EQ(ref["valid_metrics"]["auc"], j["valid_metrics"]["auc"]);
  EXPECT_GT(info["features"][0]["importance"]["splits"].get<double>() +
                info["features"][1]["importance"]["splits"].get<double>(),
            0);
}

// Training records a run; the run is registered, aliased, rolled back, listed and filtered.
TEST_F(TrainCliTest, RunsAndRegistry) {
  std::string csv = "x,y\n";
  for (int i = 0; i < 300; ++i) csv += fmt::format("{},{}\n", i % 50, (i % 50) < 20 ? 1 : 0);
  ASSERT_EQ(Kiln({"data", "ingest", Write("t.csv", csv), "--name", "t"}).exit_code, 0);
  std::vector<std::string> ids;
  for (const char* depth : {"3", "5"}) {
    auto r = Kiln({"train", "--data", "t", "--target", "y", "--valid-frac", "0.2", "--param",
                   std::string("max_depth=") + depth, "--param", "num_trees=5", "--experiment",
                   "exp", "--out", dir_ + "/m" + depth + ".kiln", "--json"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    json j = json::parse(r.out);
    ids.push_back(j["run_id"]);
    EXPECT_EQ(j["artifact"].get<std::string>().size(), 64u);
  }
  auto list =
      Kiln({"runs", "list", "--experiment", "exp", "--filter", "params.max_depth >= 5", "--json"});
  ASSERT_EQ(list.exit_code, 0) << list.err;
  json runs = json::parse(list.out);
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0]["run_id"], ids[1]);
  EXPECT_EQ(runs[0]["status"], "finished");
  EXPECT_EQ(runs[0]["attributes"]["train_data"], "t@v1");
  EXPECT_TRUE(runs[0]["metrics"].contains("valid.auc"));
  auto show = Kiln({"runs", "show", ids[0], "--json"});
  ASSERT_EQ(show.exit_code, 0);
  EXPECT_EQ(json::parse(show.out)["curves"]["valid.auc"]["values"].size(), 5u);
  auto readable = Kiln({"runs", "show", ids[0]});
  ASSERT_EQ(readable.exit_code, 0) << readable.err;
  EXPECT_NE(readable.out.find("run " + ids[0]), std::string::npos) << readable.out;
  EXPECT_NE(readable.out.find("lineage:\n"), std::string::npos) << readable.out;
  EXPECT_NE(readable.out.find(" t@v1\n"), std::string::npos) << readable.out;
  EXPECT_NE(readable.out.find("5 points, last "), std::string::npos) << readable.out;

  // compare: params side by side with differing rows marked, curves as a table and a chart.
  auto cmp = Kiln({"runs", "compare", ids[0], ids[1], "--points", "3"});
  ASSERT_EQ(cmp.exit_code, 0) << cmp.err;
  EXPECT_NE(cmp.out.find("* max_depth"), std::string::npos) << cmp.out;
  EXPECT_NE(cmp.out.find("  num_trees"), std::string::npos) << cmp.out;
  EXPECT_NE(cmp.out.find("curve valid.auc"), std::string::npos) << cmp.out;
  auto cmp_json = Kiln({"runs", "compare", ids[0], ids[1], "--curve", "valid.auc", "--json",
                        "--plot", dir_ + "/c.svg"});
  ASSERT_EQ(cmp_json.exit_code, 0) << cmp_json.err;
  json cj = json::parse(cmp_json.out);
  ASSERT_EQ(cj["runs"].size(), 2u);
  EXPECT_EQ(cj["runs"][1]["params"]["max_depth"], "5");
  EXPECT_EQ(cj["runs"][0]["curves"].size(), 1u);
  EXPECT_EQ(cj["runs"][0]["curves"]["valid.auc"]["values"].size(), 5u);
  std::ifstream svg_in(dir_ + "/c.svg");
  const std::string svg((std::istreambuf_iterator<char>(svg_in)), {});
  EXPECT_NE(svg.find("<svg"), std::string::npos);
  EXPECT_NE(svg.find("<path"), std::string::npos);
  ASSERT_EQ(Kiln({"runs", "compare", ids[0], ids[1], "--plot", dir_ + "/c.png"}).exit_code, 0);
  std::ifstream png_in(dir_ + "/c.png", std::ios::binary);
  std::string magic(8, '\0');
  png_in.read(magic.data(), 8);
  EXPECT_EQ(magic, "\x89PNG\r\n\x1a\n");
  EXPECT_EQ(Kiln({"runs", "compare", ids[0], "--plot", dir_ + "/c.gif"}).exit_code, 1);
  EXPECT_EQ(Kiln({"runs", "compare", ids[0], std::string(32, 'f')}).exit_code, 1);
  EXPECT_EQ(Kiln({"runs", "compare", ids[0], "--curve", "nope"}).exit_code, 1);
  EXPECT_FALSE(fs::exists(dir_ + "/c.gif"));

  for (const auto& id : ids) {
    ASSERT_EQ(Kiln({"models", "register", id, "--name", "churn"}).exit_code, 0);
  }
  ASSERT_EQ(Kiln({"models", "alias", "churn", "1", "--set", "production"}).exit_code, 0);
  ASSERT_EQ(Kiln({"models", "alias", "churn", "2", "--set", "production"}).exit_code, 0);
  ASSERT_EQ(Kiln({"models", "rollback", "churn", "--reason", "regression"}).exit_code, 0);
  auto shown = Kiln({"models", "show", "churn@production", "--json"});
  ASSERT_EQ(shown.exit_code, 0);
  EXPECT_EQ(json::parse(shown.out)["version"], 1);
  auto versions = Kiln({"models", "show", "churn"});
  ASSERT_EQ(versions.exit_code, 0) << versions.err;
  EXPECT_NE(versions.out.find("churn:1  run "), std::string::npos) << versions.out;
  EXPECT_NE(versions.out.find("[production]"), std::string::npos) << versions.out;
  EXPECT_NE(versions.out.find("2 version(s)"), std::string::npos) << versions.out;
  auto history = json::parse(Kiln({"models", "history", "churn", "--json"}).out);
  ASSERT_EQ(history.size(), 3u);
  EXPECT_EQ(history[2]["reason"], "regression");
  // GC keeps registered artifacts; a registered run cannot be deleted.
  ASSERT_EQ(Kiln({"data", "gc"}).exit_code, 0);
  EXPECT_EQ(Kiln({"runs", "delete", ids[0]}).exit_code, 1);
  auto bad = Kiln({"runs", "list", "--filter", "metrics.auc > 1; DROP TABLE runs"});
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.err.find("position"), std::string::npos);
  EXPECT_EQ(Kiln({"models", "show", "churn@nope"}).exit_code, 1);
  EXPECT_EQ(Kiln({"models", "register", ids[0], "--name", "../etc"}).exit_code, 1);
  EXPECT_EQ(json::parse(Kiln({"runs", "list", "--json"}).out).size(), 2u);
}

TEST_F(TrainCliTest, PromoteWithGate) {
  // y depends on x with noise; a 1-tree stump model is clearly worse than a 30-tree model.
  std::string csv = "x,z,y\n";
  for (int i = 0; i < 600; ++i) {
    const int x = (i * 37) % 100, z = (i * 11) % 7;
    csv += fmt::format("{},{},{}\n", x, z, (x + 13 * z) % 100 < 45 ? 1 : 0);
  }
  ASSERT_EQ(Kiln({"data", "ingest", Write("t.csv", csv), "--name", "t"}).exit_code, 0);
  ASSERT_EQ(Kiln({"data", "ingest", Write("h.csv", csv), "--name", "holdout"}).exit_code, 0);
  for (const char* trees : {"30", "1"}) {
    auto r = Kiln({"train", "--data", "t", "--target", "y", "--param",
                   std::string("num_trees=") + trees, "--param", "max_depth=1", "--json"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    ASSERT_EQ(Kiln({"models", "register", json::parse(r.out)["run_id"], "--name", "m"}).exit_code,
              0);
  }
  const std::string gate = "auc >= champion.auc - 0.001";
  // First promotion: no champion, champion clauses are skipped.
  auto first = Kiln({"models", "promote", "m", "1", "--gate", gate + " and auc > 0.5", "--on",
                     "holdout@v1", "--json"});
  ASSERT_EQ(first.exit_code, 0) << first.err << first.out;
  json r1 = json::parse(first.out);
  EXPECT_TRUE(r1["clauses"][0]["skipped"]);
  EXPECT_TRUE(r1["moved"]);
  // The 1-tree challenger loses: exit 1, production stays on version 1, the report is stored.
  auto second = Kiln({"models", "promote", "m", "2", "--gate", gate, "--on", "holdout", "--json"});
  EXPECT_EQ(second.exit_code, 1);
  json r2 = json::parse(second.out);
  EXPECT_FALSE(r2["passed"]);
  EXPECT_FALSE(r2["moved"]);
  EXPECT_LT(r2["challenger"]["metrics"]["auc"].get<double>(),
            r2["champion"]["metrics"]["auc"].get<double>());
  EXPECT_EQ(json::parse(Kiln({"models", "show", "m@production", "--json"}).out)["version"], 1);
  // A lenient gate lets it through.
  ASSERT_EQ(Kiln({"models", "promote", "m", "2", "--gate", "auc > 0", "--on", "holdout"}).exit_code,
            0);
  EXPECT_EQ(json::parse(Kiln({"models", "show", "m@production", "--json"}).out)["version"], 2);
  json shown = json::parse(Kiln({"models", "show", "m", "--json"}).out);
  ASSERT_EQ(shown["gate_reports"].size(), 3u);
  EXPECT_EQ(shown["gate_reports"][1]["outcome"], "gate failed");
  // The registry reference works wherever a model is read.
  EXPECT_EQ(Kiln({"eval", "--model", "m@production", "--data", "holdout"}).exit_code, 0);
  // Bad gates, unknown metrics, versions and data are clear errors and move nothing.
  auto bad = Kiln({"models", "promote", "m", "1", "--gate", "auc >= 0.8; DROP", "--on", "holdout"});
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.err.find("gate"), std::string::npos) << bad.err;
  auto unknown = Kiln({"models", "promote", "m", "1", "--gate", "rmse < 1", "--on", "holdout"});
  EXPECT_EQ(unknown.exit_code, 1);
  EXPECT_NE(unknown.err.find("rmse"), std::string::npos) << unknown.err;
  EXPECT_EQ(Kiln({"models", "promote", "m", "9", "--gate", gate, "--on", "holdout"}).exit_code, 1);
  EXPECT_EQ(Kiln({"models", "promote", "m", "1", "--gate", gate, "--on", "nope"}).exit_code, 1);
  EXPECT_EQ(json::parse(Kiln({"models", "show", "m@production", "--json"}).out)["version"], 2);
}

TEST_F(TrainCliTest, BadInputs) {
  std::string data = Write("t.csv", "x,y\n1,a\n2,a\n3,a\n");
  ASSERT_EQ(Kiln({"data", "ingest", data, "--name", "t"}).exit_code, 0);
  auto constant = Kiln({"train", "--data", "t", "--target", "y", "--out", dir_ + "/m"});
  EXPECT_EQ(constant.exit_code, 1);
  EXPECT_NE(constant.err.find("constant"), std::string::npos) << constant.err;
  auto missing = Kiln({"train", "--data", "t", "--target", "nope", "--out", dir_ + "/m"});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.err.find("no target column 'nope'"), std::string::npos);
  auto param = Kiln({"train", "--data", "t", "--target", "y", "--param", "learnin_rate=0.1"});
  EXPECT_EQ(param.exit_code, 1);
  EXPECT_NE(param.err.find("unknown parameter 'learnin_rate'"), std::string::npos);
  std::string pickle = Write("model.pkl", std::string("\x80\x04\x95\x00\x00\x00", 6));
  auto p = Kiln({"predict", "--model", pickle, "--data", "t", "--out", dir_ + "/p.csv"});
  EXPECT_EQ(p.exit_code, 1);
  EXPECT_NE(p.err.find("pickle"), std::string::npos) << p.err;
  EXPECT_FALSE(fs::exists(dir_ + "/p.csv"));
  EXPECT_EQ(Kiln({"model", "inspect", dir_ + "/missing.kiln"}).exit_code, 1);
  // An unreachable PostgreSQL catalog: a clear error that shows neither form of password.
  fs::create_directories(dir_ + "/pg-home");
  std::ofstream(dir_ + "/pg-home/kiln.yaml")
      << "catalog: postgresql://kiln:hunter2@127.0.0.1:1/kiln?password=swordfish&sslmode=disable\n";
  auto pg = RunKiln({"--home", dir_ + "/pg-home", "runs", "list"}, dir_);
  EXPECT_EQ(pg.exit_code, 1);
  EXPECT_NE(pg.err.find("postgresql://kiln:***@127.0.0.1:1"), std::string::npos) << pg.err;
  EXPECT_EQ(pg.err.find("hunter2"), std::string::npos) << pg.err;
  EXPECT_EQ(pg.err.find("swordfish"), std::string::npos) << pg.err;
}

// Accuracy within a few percent of XGBoost with the same parameters (label: integration).
TEST_F(TrainCliTest, AccuracyCloseToXgboost) {
  const std::string shared = kiln::testing::SourceDir() + "/tests/data";
  const std::string ref = kiln::testing::SourceDir() + "/tests/integration/peers/xgb_reference.py";
  ASSERT_EQ(std::system("/usr/bin/python3 -c 'import xgboost, sklearn' 2>/dev/null"), 0)
      << "needs Debian python3-xgboost + python3-sklearn (scripts/install-deps installs them)";
  struct Case {
    const char* file;
    const char* target;
    const char* task;
    const char* metric;
    double tolerance;  // kiln may be this much worse (relative)
  } cases[] = {{"credit_data", "Status", "binary", "auc", 0.02},
               {"letter", "lettr", "multiclass", "merror", 0.03},
               {"diamonds", "price", "regression", "rmse", 0.05}};
  for (const Case& c : cases) {
    std::ifstream in(shared + "/" + c.file + ".csv");
    std::string header, line;
    std::getline(in, header);
    std::vector<std::string> lines;
    while (std::getline(in, line)) lines.push_back(line);
    const size_t cut = lines.size() * 8 / 10;
    std::string train = header + "\n", test = header + "\n";
    for (size_t i = 0; i < lines.size(); ++i) (i < cut ? train : test) += lines[i] + "\n";
    const std::string tr = Write(std::string(c.file) + "-train.csv", train);
    const std::string te = Write(std::string(c.file) + "-test.csv", test);
    auto r = Kiln({"train", "--data", tr, "--target", c.target, "--task", c.task, "--valid", te,
                   "--param", "num_trees=100", "--param", "max_depth=6", "--param",
                   "min_data_in_leaf=1", "--out", dir_ + "/m.kiln", "--json"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    double kiln_score = json::parse(r.out)["valid_metrics"][c.metric].get<double>();
    const std::string cmd = "/usr/bin/python3 " + ref + " " + tr + " " + te + " " + c.target + " " +
                            c.task + " 100 6 > " + dir_ + "/xgb.txt";
    ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
    double xgb = std::stod(kiln::testing::Slurp(dir_ + "/xgb.txt"));
    if (std::string(c.metric) == "merror") xgb = 1 - xgb;  // the script prints accuracy
    std::printf("%s %s: kiln %.5f, xgboost %.5f\n", c.file, c.metric, kiln_score, xgb);
    if (std::string(c.metric) == "auc") {
      EXPECT_GE(kiln_score, xgb - c.tolerance) << c.file;
    } else {
      EXPECT_LE(kiln_score, xgb * (1 + c.tolerance) + 0.005) << c.file;
    }
  }
}

// kill -9 during `kiln train`, then `--resume`: the model file is bit-identical to an
// uninterrupted run's.
TEST_F(TrainCliTest, ResumeAfterKillNineIsBitIdentical) {
  std::string csv = "a,b,c,d,y\n";
  std::mt19937 rng(5);
  for (int i = 0; i < 40000; ++i) {
    const int a = static_cast<int>(rng() % 1000), b = static_cast<int>(rng() % 1000);
    const int c = static_cast<int>(rng() % 50), d = static_cast<int>(rng() % 7);
    const bool y = (a * b) % 997 < 400 || (c > 40 && d < 3);
    csv += fmt::format("{},{},{},{},{}\n", a, b, c, d, y ? 1 : 0);
  }
  const std::string data = Write("big.csv", csv);
  ASSERT_EQ(Kiln({"data", "ingest", data, "--name", "big"}).exit_code, 0);
  const std::vector<std::string> train = {
      "train",         "--data",  "big",         "--target",           "y",
      "--valid-frac",  "0.2",     "--param",     "num_trees=150",      "--param",
      "subsample=0.8", "--param", "max_depth=8", "--checkpoint-every", "2",
      "--json"};
  auto with_out = [&](std::vector<std::string> args, const std::string& out) {
    args.insert(args.begin(), {"--home", dir_ + "/home"});
    args.push_back("--out");
    args.push_back(out);
    return args;
  };
  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_EQ(Kiln(std::vector<std::string>(train.begin(), train.end()) +
                 std::vector<std::string>{"--out", dir_ + "/full.kiln"})
                .exit_code,
            0);
  const auto full_us =
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0)
          .count();
  const std::string full = kiln::testing::Slurp(dir_ + "/full.kiln");
  int resumed = 0;
  for (int attempt = 0; attempt < 3; ++attempt) {
    const std::string out = dir_ + "/resumed.kiln";
    fs::remove(out);
    pid_t pid = kiln::testing::SpawnKiln(with_out(train, out));
    std::this_thread::sleep_for(std::chrono::microseconds(full_us * (3 + 2 * attempt) / 10));
    kill(pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
    const bool killed = WIFSIGNALED(status);
    std::vector<std::string> resume = train;
    resume.push_back("--resume");
    auto r = Kiln(std::vector<std::string>(resume.begin(), resume.end()) +
                  std::vector<std::string>{"--out", out});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(kiln::testing::Slurp(out), full) << "attempt " << attempt;
    resumed += killed;
  }
  EXPECT_GT(resumed, 0);  // at least one run was really interrupted
}

// `kiln predict` on a registered model and a dataset version of several row groups streams
// them in parallel: the same predictions, in the same order, as scoring the source file, and a
// failure leaves no output.
TEST_F(TrainCliTest, PredictStreamsADatasetVersion) {
  std::string csv = "x1,x2,c,y\n";
  for (int64_t i = 0; i < 140000; ++i) {
    csv += fmt::format("{},{},{},{}\n", (i * 7919) % 1000 / 10.0, (i * 104729) % 997 / 7.0,
                       "abcd"[i % 4], ((i * 7919) % 1000 + (i % 4) * 100) % 2);
  }
  const std::string data = Write("big.csv", csv);
  ASSERT_EQ(Kiln({"data", "ingest", data, "--name", "big"}).exit_code, 0);
  auto t = Kiln({"train", "--data", "big", "--target", "y", "--param", "num_trees=5", "--out",
                 dir_ + "/m.kiln", "--json"});
  ASSERT_EQ(t.exit_code, 0) << t.err;
  ASSERT_EQ(
      Kiln({"models", "register", json::parse(t.out)["run_id"], "--name", "big-model"}).exit_code,
      0);
  ASSERT_EQ(Kiln({"models", "alias", "big-model", "1", "--set", "production"}).exit_code, 0);
  auto streamed = Kiln({"predict", "--model", "big-model@production", "--data", "big@v1", "--out",
                        dir_ + "/a.csv", "--json"});
  ASSERT_EQ(streamed.exit_code, 0) << streamed.err;
  const json r = json::parse(streamed.out);
  EXPECT_EQ(r["rows"], 140000);
  EXPECT_EQ(r["data"], "big@v1");
  EXPECT_GE(r["parts"].get<int>(), 2);  // more than one row group
  auto from_file = Kiln({"predict", "--model", dir_ + "/m.kiln", "--data", data, "--out",
                         dir_ + "/b.csv", "--explain"});
  ASSERT_EQ(from_file.exit_code, 0) << from_file.err;
  const std::string a = kiln::testing::Slurp(dir_ + "/a.csv");
  const std::string b = kiln::testing::Slurp(dir_ + "/b.csv");
  EXPECT_EQ(std::count(a.begin(), a.end(), '\n'), 140001);
  // The file run adds SHAP columns: compare the prediction columns line by line.
  std::istringstream sa(a), sb(b);
  std::string la, lb;
  size_t differ = 0;
  while (std::getline(sa, la) && std::getline(sb, lb)) {
    differ += lb.compare(0, la.size(), la) != 0 || lb[la.size()] != ',';
  }
  EXPECT_EQ(differ, 0u);
  // A model that does not exist: exit 1, and the old output is left as it was.
  auto bad =
      Kiln({"predict", "--model", "big-model@nope", "--data", "big@v1", "--out", dir_ + "/a.csv"});
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_EQ(kiln::testing::Slurp(dir_ + "/a.csv"), a);
  size_t leftovers = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir_)) {
    leftovers += e.path().filename().string().find(".tmp-") != std::string::npos;
  }
  EXPECT_EQ(leftovers, 0u);
}

// `kiln model import --from xgboost` predicts what XGBoost 1.7.4 predicts (max abs diff <= 1e-5).
TEST_F(TrainCliTest, XgboostImportParity) {
  const std::string script = kiln::testing::SourceDir() + "/tests/integration/peers/xgb_export.py";
  ASSERT_EQ(std::system("/usr/bin/python3 -c 'import xgboost' 2>/dev/null"), 0)
      << "needs Debian python3-xgboost (scripts/install-deps installs it)";
  ASSERT_EQ(std::system(("/usr/bin/python3 " + script + " " + dir_).c_str()), 0);
  for (const std::string name : {"binary", "multi", "regression", "categorical"}) {
    const std::string model = dir_ + "/" + name + ".kiln";
    auto imp =
        Kiln({"model", "import", dir_ + "/" + name + ".json", "--from", "xgboost", "--out", model});
    ASSERT_EQ(imp.exit_code, 0) << imp.err;
    const std::string preds = dir_ + "/" + name + "-kiln.csv";
    auto p =
        Kiln({"predict", "--model", model, "--data", dir_ + "/" + name + ".csv", "--out", preds});
    ASSERT_EQ(p.exit_code, 0) << p.err;
    std::ifstream ours(preds), theirs(dir_ + "/" + name + ".pred");
    std::string header, a, b;
    std::getline(ours, header);
    double max_diff = 0;
    size_t rows = 0;
    while (std::getline(theirs, b) && std::getline(ours, a)) {
      std::vector<double> va, vb;
      std::stringstream sa(a), sb(b);
      for (std::string cell; std::getline(sa, cell, ',');) {
        char* end = nullptr;
        double v = std::strtod(cell.c_str(), &end);
        if (end != cell.c_str() && *end == '\0') va.push_back(v);
      }
      for (std::string cell; std::getline(sb, cell, ',');) vb.push_back(std::stod(cell));
      // kiln: prob_<class>... then the predicted label; XGBoost: the same probabilities.
      ASSERT_GE(va.size(), vb.size());
      for (size_t k = 0; k < vb.size(); ++k) {
        max_diff = std::max(max_diff, std::fabs(va[k] - vb[k]));
      }
      ++rows;
    }
    EXPECT_EQ(rows, 3000u);
    EXPECT_LE(max_diff, 1e-5) << name;
    std::printf("%s: max |kiln - xgboost| = %.3g over %zu rows\n", name.c_str(), max_diff, rows);
  }
  // Imported straight into the registry: a run of experiment "import" whose artifact is the
  // model, registered as a version.
  auto reg = Kiln({"model", "import", dir_ + "/binary.json", "--from", "xgboost", "--register",
                   "imported", "--json"});
  ASSERT_EQ(reg.exit_code, 0) << reg.err;
  const json r = json::parse(reg.out);
  EXPECT_EQ(r["registered"]["version"], 1);
  EXPECT_FALSE(r.contains("model"));
  auto shown = Kiln({"models", "show", "imported", "--json"});
  ASSERT_EQ(shown.exit_code, 0) << shown.err;
  EXPECT_EQ(json::parse(shown.out)["versions"][0]["run_id"], r["run_id"]);
  auto run = Kiln({"runs", "show", r["run_id"].get<std::string>(), "--json"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_NE(run.out.find("\"import\""), std::string::npos) << run.out;
  EXPECT_EQ(Kiln({"model", "import", dir_ + "/binary.json", "--from", "xgboost"}).exit_code, 1);
  // Warm start on an imported model (whose thresholds are not bin edges): the metrics train
  // reports are those of the model on the rows, as eval computes them.
  // (The exported CSV's y is a constant 0: give it something to learn.)
  std::ifstream exported(dir_ + "/regression.csv");
  std::string csv, line;
  std::getline(exported, line);
  csv = line + "\n";
  for (int i = 0; std::getline(exported, line); ++i) {
    csv += line.substr(0, line.rfind(',')) + "," + std::to_string(i % 7) + "\n";
  }
  const std::string data = Write("warm.csv", csv), warm = dir_ + "/warm.kiln";
  auto t = Kiln({"train", "--data", data, "--target", "y", "--task", "regression", "--init-model",
                 dir_ + "/regression.kiln", "--param", "num_trees=2", "--valid-frac", "0", "--out",
                 warm, "--json"});
  ASSERT_EQ(t.exit_code, 0) << t.err;
  auto e = Kiln({"eval", "--model", warm, "--data", data, "--json"});
  ASSERT_EQ(e.exit_code, 0) << e.err;
  EXPECT_NEAR(json::parse(t.out)["train_metrics"]["rmse"].get<double>(),
              json::parse(e.out)["metrics"]["rmse"].get<double>(), 1e-6);

  // A drift reference from a dataset version: the rows it names, counted in quantile bins of
  // their own; the same rows then show no drift. Those bins are not the model's split points:
  // a warm start on it still measures the model on the rows.
  ASSERT_EQ(Kiln({"data", "ingest", data, "--name", "warm"}).exit_code, 0);
  const std::string referenced = dir_ + "/regression-ref.kiln";
  auto with_ref = Kiln({"model", "import", dir_ + "/regression.json", "--from", "xgboost", "--out",
                        referenced, "--reference-data", "warm@v1"});
  ASSERT_EQ(with_ref.exit_code, 0) << with_ref.err;
  auto drift = Kiln({"monitor", "drift", "--model", referenced, "--data", "warm@v1", "--json"});
  ASSERT_EQ(drift.exit_code, 0) << drift.err;
  const json d = json::parse(drift.out);
  EXPECT_EQ(d["reference"]["data"], "warm@v1") << drift.out.substr(0, 2000);
  EXPECT_EQ(d["drift_share"], 0.0) << drift.out.substr(0, 2000);
  EXPECT_GT(d["features"].size(), 0u);
  const std::string warm2 = dir_ + "/warm2.kiln";
  auto t2 =
      Kiln({"train", "--data", data, "--target", "y", "--task", "regression", "--init-model",
            referenced, "--param", "num_trees=2", "--valid-frac", "0", "--out", warm2, "--json"});
  ASSERT_EQ(t2.exit_code, 0) << t2.err;
  auto e2 = Kiln({"eval", "--model", warm2, "--data", data, "--json"});
  ASSERT_EQ(e2.exit_code, 0) << e2.err;
  EXPECT_NEAR(json::parse(t2.out)["train_metrics"]["rmse"].get<double>(),
              json::parse(e2.out)["metrics"]["rmse"].get<double>(), 1e-6);
  auto bad = Kiln({"model", "import", dir_ + "/regression.json", "--from", "xgboost", "--out",
                   referenced, "--reference-data", "warm"});
  EXPECT_NE(bad.err.find("must be a dataset version NAME@vN"), std::string::npos) << bad.err;
  auto missing = Kiln({"model", "import", dir_ + "/binary.json", "--from", "xgboost", "--out",
                       referenced, "--reference-data", "credit@v1"});
  EXPECT_NE(missing.exit_code, 0);
}

}  // namespace
}  // namespace kiln
