// The job queue on Redis (`queue: redis://host:port/db` in kiln.yaml), for many workers on
// many machines: a job is a hash, each queue a stream read by the consumer group `workers`,
// retries wait in a sorted set until due. Every state change is one Lua script, so it is atomic
// on the server. A worker's lease is its pending stream entry: Heartbeat() re-claims it (idle
// time 0); a dead worker's entry is found among the pending entries (XPENDING) once its job's
// lease has expired, and claimed (XCLAIM) by the next worker that leases.
// Run redis-server with appendonly yes so a restart keeps the queue.
//
// Keys (all under `kiln:`): job:next, job:{id} (+ :attempt:{n}, :log), jobs (ids), idem,
// queue:{name} (stream), delayed:{name}, schedule:{name}, schedules.
//
// Thread-safety: one connection per queue object, serialized by a mutex; reconnects after an
// error on the next call.
#pragma once

#include <memory>
#include <string>

#include "kiln/registry/job_queue.h"

namespace kiln::jobs {

// `url`: redis://host[:port][/db]. Connects (Unavailable when the server does not answer).
Result<std::unique_ptr<registry::JobQueue>> OpenRedisJobQueue(const std::string& url);

}  // namespace kiln::jobs
