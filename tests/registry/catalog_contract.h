// The CatalogStore contract suite's fixture: a backend is a way to open a fresh store (and
// further connections to it). SQLite opens meta.db in a temp dir; the PostgreSQL test opens a
// database on a server it started itself.
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <string>

#include <gtest/gtest.h>

#include "kiln/registry/catalog_store.h"
#include "kiln/registry/sql_catalog.h"
#include "testing/run_kiln.h"

namespace kiln::registry {

struct CatalogBackend {
  std::string name;
  // Opens a store on `dir` (a fresh temp dir per test); called again for more connections.
  std::function<Result<std::unique_ptr<CatalogStore>>(const std::string& dir)> open;
};

inline std::ostream& operator<<(std::ostream& os, const CatalogBackend& b) { return os << b.name; }

inline CatalogBackend SqliteBackend() {
  return {"sqlite", [](const std::string& dir) -> Result<std::unique_ptr<CatalogStore>> {
            KILN_ASSIGN_OR_RETURN(auto s, SqlCatalog::OpenSqlite(dir + "/meta.db"));
            return std::unique_ptr<CatalogStore>(std::move(s));
          }};
}

// The backend the contract suites run on in this test binary (each binary defines it).
CatalogBackend ContractBackend();

class CatalogContractTest : public ::testing::TestWithParam<CatalogBackend> {
 protected:
  void SetUp() override {
    dir_ = kiln::testing::MakeTempDir("kiln-catalog");
    auto s = GetParam().open(dir_);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(*s);
  }
  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }
  Result<std::unique_ptr<CatalogStore>> Reopen() { return GetParam().open(dir_); }

  std::string dir_;
  std::unique_ptr<CatalogStore> store_;
};

}  // namespace kiln::registry
