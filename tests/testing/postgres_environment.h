// One PostgreSQL server for a whole test binary: started before its first test, stopped after
// its last. A test binary registers it once and reaches the server through SharedPostgres():
//
//   const auto* const kEnv = ::testing::AddGlobalTestEnvironment(new PostgresEnvironment);
#pragma once

#include <gtest/gtest.h>

#include "testing/postgres_server.h"

namespace kiln::testing {

// The binary's server (null outside the environment's lifetime).
inline PostgresServer*& SharedPostgres() {
  static PostgresServer* server = nullptr;
  return server;
}

class PostgresEnvironment : public ::testing::Environment {
 public:
  void SetUp() override {
    SharedPostgres() = new PostgresServer();
    ASSERT_TRUE(SharedPostgres()->ok()) << SharedPostgres()->error();
  }
  void TearDown() override {
    delete SharedPostgres();
    SharedPostgres() = nullptr;
  }
};

}  // namespace kiln::testing
