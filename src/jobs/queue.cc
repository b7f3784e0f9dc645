#include "kiln/jobs/queue.h"

#include "kiln/jobs/redis_queue.h"

namespace kiln::jobs {

Result<std::unique_ptr<registry::JobQueue>> OpenQueue(const pipeline::Home& home) {
  const pipeline::QueueConfig& q = home.config().queue;
  if (q.backend == "catalog") {
    return registry::OpenCatalogJobQueue(home.config().catalog, JoinPath(home.path(), "meta.db"),
                                         home.audit_key());
  }
  return OpenRedisJobQueue(q.backend);
}

}  // namespace kiln::jobs
