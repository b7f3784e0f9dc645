// The CatalogStore contract suite on PostgreSQL: one server for the whole binary, started here
// (initdb + pg_ctl on a loopback port) and stopped at the end; one database per test.
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "kiln/registry/sql_catalog.h"
#include "registry/catalog_contract.h"
#include "testing/postgres_environment.h"

namespace kiln::registry {

namespace {

kiln::testing::PostgresServer*& g_server = kiln::testing::SharedPostgres();

const auto* const kEnvironment =
    ::testing::AddGlobalTestEnvironment(new kiln::testing::PostgresEnvironment);

TEST(PostgresCatalogTest, BadUrlsAreClearErrors) {
  EXPECT_EQ(SqlCatalog::OpenPostgres("sqlite:///x").status().code(), StatusCode::kInvalidArgument);
  // Nothing listens on port 1.
  auto st = SqlCatalog::OpenPostgres("postgresql://kiln@127.0.0.1:1/postgres").status();
  EXPECT_EQ(st.code(), StatusCode::kUnavailable) << st.ToString();
  auto nodb = SqlCatalog::OpenPostgres(g_server->Url("no_such_db")).status();
  EXPECT_FALSE(nodb.ok());
  EXPECT_NE(nodb.message().find("no_such_db"), std::string::npos) << nodb.ToString();
}

TEST(PostgresCatalogTest, MigratesOnceAndReopens) {
  ASSERT_TRUE(g_server->CreateDatabase("migrate"));
  {
    auto c = SqlCatalog::OpenPostgres(g_server->Url("migrate"));
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    EXPECT_EQ(*(*c)->SchemaVersion(), 9);
  }
  auto c = SqlCatalog::OpenPostgres(g_server->Url("migrate"));
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(*(*c)->SchemaVersion(), 9);
}

// `catalog: postgresql://...` in kiln.yaml puts every record of the kiln home in PostgreSQL.
TEST(PostgresCatalogTest, KilnYamlSelectsPostgres) {
  ASSERT_TRUE(g_server->CreateDatabase("cli"));
  const std::string dir = kiln::testing::MakeTempDir("kiln-pg-cli");
  const std::string home = dir + "/home";
  std::filesystem::create_directories(home);
  auto kiln = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {"--home", home});
    return kiln::testing::RunKiln(args, dir);
  };
  std::ofstream(home + "/kiln.yaml") << "catalog: " << g_server->Url("cli") << "\n";
  std::string csv = "x,y\n";
  for (int i = 0; i < 200; ++i) csv += fmt::format("{},{}\n", i % 40, (i % 40) < 15 ? 1 : 0);
  std::ofstream(dir + "/t.csv") << csv;
  auto ingest = kiln({"data", "ingest", dir + "/t.csv", "--name", "t"});
  ASSERT_EQ(ingest.exit_code, 0) << ingest.err;
  auto train = kiln({"train", "--data", "t", "--target", "y", "--valid-frac", "0.2", "--param",
                     "num_trees=3", "--experiment", "pg", "--out", dir + "/m.kiln", "--json"});
  ASSERT_EQ(train.exit_code, 0) << train.err;
  const std::string run_id = nlohmann::json::parse(train.out)["run_id"];
  ASSERT_EQ(kiln({"models", "register", run_id, "--name", "churn"}).exit_code, 0);
  ASSERT_EQ(kiln({"models", "alias", "churn", "1", "--set", "production"}).exit_code, 0);
  EXPECT_FALSE(std::filesystem::exists(home + "/meta.db"));
  // Another connection (a direct one) sees the records.
  auto c = SqlCatalog::OpenPostgres(g_server->Url("cli"));
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ((*c)->GetRun(run_id)->experiment, "pg");
  EXPECT_EQ(*(*c)->ResolveAlias("churn", "production"), 1);
  EXPECT_EQ((*c)->GetVersion("t", 0)->rows, 200);
  // A bad setting is a clear error, not a silent fallback to SQLite.
  std::ofstream(home + "/kiln.yaml") << "catalog: mysql://x\n";
  auto bad = kiln({"runs", "list"});
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.err.find("kiln.yaml"), std::string::npos) << bad.err;
  std::ofstream(home + "/kiln.yaml") << "catalog: postgresql://kiln:secret@127.0.0.1:1/x\n";
  auto down = kiln({"runs", "list"});
  EXPECT_NE(down.exit_code, 0);
  EXPECT_EQ(down.err.find("secret"), std::string::npos) << down.err;
  std::filesystem::remove_all(dir);
}

}  // namespace

CatalogBackend ContractBackend() {
  return {"postgres", [](const std::string& dir) -> Result<std::unique_ptr<CatalogStore>> {
            static std::mutex mu;
            static std::map<std::string, std::string> databases;  // test dir -> database
            std::string db;
            {
              std::lock_guard<std::mutex> lock(mu);
              auto it = databases.find(dir);
              if (it == databases.end()) {
                db = fmt::format("contract_{}", databases.size() + 1);
                if (!g_server->CreateDatabase(db)) return InternalError("CREATE DATABASE failed");
                databases[dir] = db;
              } else {
                db = it->second;
              }
            }
            KILN_ASSIGN_OR_RETURN(auto s, SqlCatalog::OpenPostgres(g_server->Url(db)));
            return std::unique_ptr<CatalogStore>(std::move(s));
          }};
}

}  // namespace kiln::registry
