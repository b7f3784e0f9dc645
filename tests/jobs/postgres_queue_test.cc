// The JobQueue contract on the catalog's tables in PostgreSQL, against a server this test
// starts itself (initdb + pg_ctl on a loopback port); one database per test.
#include <atomic>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "jobs/queue_contract.h"
#include "testing/postgres_environment.h"

namespace kiln::registry {
namespace {

kiln::testing::PostgresServer*& g_server = kiln::testing::SharedPostgres();
std::atomic<int> g_next{0};
std::string g_db;

const auto* const kEnvironment =
    ::testing::AddGlobalTestEnvironment(new kiln::testing::PostgresEnvironment);

INSTANTIATE_TEST_SUITE_P(Postgres, JobQueueContractTest,
                         ::testing::Values(QueueBackend{
                             "postgres",
                             [](const std::string&) {
                               g_db = fmt::format("queue{}", g_next++);
                               ASSERT_TRUE(g_server->CreateDatabase(g_db));
                             },
                             [](const std::string&) {
                               return OpenCatalogJobQueue(g_server->Url(g_db), "");
                             }}),
                         [](const auto& p) { return p.param.name; });

}  // namespace
}  // namespace kiln::registry
