// GET /config.json: the public settings the pages need at run time. Only public values go here
// (the reCAPTCHA *site* key is meant to be embedded in pages; the secret never is).
#include "api/routes.h"

namespace vmshare::api {

void register_site_config_routes(http::Router& router, AppContext& app) {
  router.get("/config.json", [&app](http::Request&) {
    const auto& key = app.config.recaptcha_site_key;
    auto r = http::json_response(200, {{"recaptcha_site_key", key.empty() ? nlohmann::json(nullptr)
                                                                             : nlohmann::json(key)}});
    r.header("Cache-Control", "no-store");
    return r;
  });
}

}  // namespace vmshare::api
