// The JobQueue contract on the catalog's tables in SQLite (meta.db), the embedded default.
#include "jobs/queue_contract.h"

namespace kiln::registry {
namespace {

INSTANTIATE_TEST_SUITE_P(Sqlite, JobQueueContractTest,
                         ::testing::Values(QueueBackend{"sqlite", [](const std::string&) {},
                                                        [](const std::string& dir) {
                                                          return OpenCatalogJobQueue(
                                                              "sqlite", dir + "/meta.db");
                                                        }}),
                         [](const auto& p) { return p.param.name; });

TEST(SqliteJobQueueTest, RefusesAnUnknownCatalog) {
  EXPECT_EQ(OpenCatalogJobQueue("mysql://x", "/tmp/none.db").status().code(),
            StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace kiln::registry
