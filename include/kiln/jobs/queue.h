// The job queue of a kiln home, as its kiln.yaml chooses (`queue:`): the catalog's tables
// (default: meta.db, or the PostgreSQL catalog) or Redis Streams (`redis://host:port/db`).
#pragma once

#include <memory>

#include "kiln/pipeline/home.h"
#include "kiln/registry/job_queue.h"

namespace kiln::jobs {

Result<std::unique_ptr<registry::JobQueue>> OpenQueue(const pipeline::Home& home);

}  // namespace kiln::jobs
