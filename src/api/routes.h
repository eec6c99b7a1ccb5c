#pragma once
// Each API area registers its routes; handlers stay thin and call into the modules.
#include "api/app_context.h"
#include "http/router.h"

namespace vmshare::api {

void register_auth_routes(http::Router& router, AppContext& app);
void register_page_routes(http::Router& router, AppContext& app);
void register_site_config_routes(http::Router& router, AppContext& app);
void register_vm_routes(http::Router& router, AppContext& app);
void register_metrics_routes(http::Router& router, AppContext& app);  // + /grafana, /feedback
void register_snapshot_routes(http::Router& router, AppContext& app);
void register_upload_routes(http::Router& router, AppContext& app);
// Share links, the viewer list, /share/ws (issue 15); needs app.vms.
void register_share_routes(http::Router& router, AppContext& app);
void register_recording_routes(http::Router& router, AppContext& app);  // + the replay WebSocket
void register_drop_routes(http::Router& router, AppContext& app);  // files into a VM on a USB stick

}  // namespace vmshare::api
