#pragma once
// The observability routes register_metrics_routes adds besides /metrics (one file per area).
#include "api/app_context.h"
#include "http/router.h"

namespace vmshare::api {

void register_grafana_routes(http::Router& router, AppContext& app);
void register_feedback_routes(http::Router& router, AppContext& app);

}  // namespace vmshare::api
