// The pages and the static assets they load. Pages carry a Content-Security-Policy that allows
// only what they use: scripts, styles and fonts from this origin, images from here plus data:
// and blob: (screenshots), fetch/WebSocket to this origin ('self' covers ws:/wss: to the same
// host in CSP Level 3 browsers), no framing. reCAPTCHA's origins are added only when a site key
// is configured, so a deployment without it allows no third-party code at all.
#include <memory>

#include "api/routes.h"
#include "http/static_files.h"

namespace vmshare::api {

namespace {

std::string content_security_policy(bool recaptcha) {
  // Google's documented reCAPTCHA origins (script from www.google.com and www.gstatic.com, the
  // challenge in a frame from www.google.com or recaptcha.google.com).
  const std::string captcha_scripts = recaptcha ? " https://www.google.com/recaptcha/ https://www.gstatic.com/recaptcha/" : "";
  const std::string captcha_frames = recaptcha ? "https://www.google.com/recaptcha/ https://recaptcha.google.com/recaptcha/" : "'none'";
  return "default-src 'self'; script-src 'self'" + captcha_scripts +
         "; style-src 'self'; img-src 'self' data: blob:; font-src 'self'; connect-src 'self'"
         "; frame-src " + captcha_frames +
         "; worker-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";
}

}  // namespace

void register_page_routes(http::Router& router, AppContext& app) {
  auto files = std::make_shared<http::StaticFiles>(app.config.web_dir);
  const std::string csp = content_security_policy(!app.config.recaptcha_site_key.empty());
  auto page = [files, csp](const std::string& name) {
    return [files, csp, name](http::Request&) {
      auto r = files->page(name);
      if (r.status == 200) {
        r.header("Content-Security-Policy", csp);
        r.header("X-Frame-Options", "DENY");  // for browsers without frame-ancestors
      }
      return r;
    };
  };
  router.get("/", page("index.html"));
  router.get("/signup", page("signup.html"));
  router.get("/profile", page("profile.html"));
  router.get("/console/<vmid>", page("console.html"));
  router.get("/share", page("share.html"));  // a share link's console; the token stays in the fragment
  router.get("/replay/<id>", page("replay.html"));  // a recording played back (issue 15)
  // nosniff and Referrer-Policy come from the server for every response.
  router.set_fallback([files](http::Request& request) { return files->serve(request.path); });
}

}  // namespace vmshare::api
