// Gated promotion for the control-plane REST API: `kiln models promote`'s logic
// (app/promote_cmd.cc) behind api::PromoteHook, so the API and the CLI share one
// implementation.
#pragma once

#include "app/home.h"
#include "kiln/api/control_plane.h"
#include "kiln/base/exec_context.h"

namespace kiln::app {

// Promotes on `home` with `ctx`'s threads; both must outlive the hook. Only dataset versions
// name the data (never a file path).
api::PromoteHook PromoteHookFor(KilnHome* home, const ExecContext* ctx);

}  // namespace kiln::app
