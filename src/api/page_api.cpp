// The pages and the static assets they load.
#include <memory>

#include "api/routes.h"
#include "http/static_files.h"

namespace vmshare::api {

void register_page_routes(http::Router& router, AppContext& app) {
  auto files = std::make_shared<http::StaticFiles>(app.config.web_dir);
  auto page = [files](const std::string& name) {
    return [files, name](http::Request&) { return files->page(name); };
  };
  router.get("/", page("index.html"));
  router.get("/signup", page("signup.html"));
  router.get("/profile", page("profile.html"));
  router.get("/console/<vmid>", page("console.html"));
  router.set_fallback([files](http::Request& request) { return files->serve(request.path); });
}

}  // namespace vmshare::api
