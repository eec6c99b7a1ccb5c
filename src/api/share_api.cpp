// Share links and the viewer list (issue 15). The owner of a running VM makes links to its
// console (POST /vm/share), lists and revokes them (GET /vm/shares, POST /vm/share/revoke,
// DELETE /vm/shares/<id>), sees who is watching (GET /vm/viewers) and ends a viewer
// (POST /vm/viewers/end). A visitor opens /share#<token> (pages), whose script asks
// POST /share/info {token} what the link allows and then opens /share/ws with the token as a
// WebSocket subprotocol: the token never appears in a URL path or query, so no access log
// (ours logs route templates; nginx logs paths) and no Referer carries it.
#include <ctime>

#include <spdlog/spdlog.h>

#include "api/auth_guard.h"
#include "api/cluster_routing.h"
#include "api/console_admission.h"
#include "api/console_open.h"
#include "api/json_body.h"
#include "api/routes.h"
#include "api/share_link_rules.h"
#include "api/time_format.h"
#include "core/errors.h"
#include "vm/console_viewers.h"

namespace vmshare::api {

namespace {

using nlohmann::json;

std::int64_t now_s() { return static_cast<std::int64_t>(std::time(nullptr)); }

vm::VmView callers_vm(AppContext& app, const Caller& caller) {
  auto vm = app.vms->vm_of_user(caller.id);
  if (!vm) throw ApiError(404, "You have no running VM");
  return *vm;
}

http::Response no_store(http::Response r) {
  r.header("Cache-Control", "no-store");
  return r;
}

json link_json(const store::ShareLink& l, int viewers) {
  return {{"id", l.id},
          {"mode", l.mode},
          {"sign_in", l.require_sign_in},
          {"created_at", iso8601(l.created_at)},
          {"expires_at", iso8601(l.expires_at)},
          {"viewers", viewers}};
}

// One open console of the caller's VM, for the viewer list: bridge's figures (viewer_json in
// console_open.h) plus how it got in and who it is.
json listed_viewer(AppContext& app, const vm::ViewerInfo& v, std::int64_t caller_id) {
  auto out = viewer_json(v, caller_id);
  out["via"] = v.link_id ? json(v.link_id) : json("owner");
  out["since"] = iso8601(v.since);
  json login = nullptr;
  if (v.user_id) {
    if (auto user = app.users->find_by_id(v.user_id)) login = user->login;
  }
  out["login"] = login;
  return out;
}

// The open consoles of `vmid` that came through link `link_id`.
std::vector<vm::ViewerInfo> viewers_of_link(const std::string& vmid, std::int64_t link_id) {
  std::vector<vm::ViewerInfo> out;
  for (auto& v : vm::console_viewers().of_vm(vmid))
    if (v.link_id == link_id) out.push_back(std::move(v));
  return out;
}

// The signed-in visitor, if the request carries valid credentials; nullopt otherwise.
std::optional<Caller> visitor(AppContext& app, const http::Request& request) {
  if (!request.header("Cookie") && !request.header("Authorization")) return std::nullopt;
  try {
    return authenticate(app, request);
  } catch (const ApiError&) {
    return std::nullopt;  // an anonymous visitor, as far as the link is concerned
  }
}

struct OpenedLink {
  store::ShareLink link;
  std::optional<Caller> visitor;
};

std::optional<store::ShareLink> find_link(AppContext& app, const std::string& token) {
  if (!share::looks_like_token(token)) throw share::LinkRefused(share::Verdict::unknown);
  return app.users->find_share_link(share::token_hash(token));
}

// The live link `token` names (already looked up: `link`), or LinkRefused saying why not.
OpenedLink open_link(AppContext& app, const http::Request& request, std::optional<store::ShareLink> link) {
  OpenedLink out{link.value_or(store::ShareLink{}), visitor(app, request)};
  bool running = false;
  if (link) {
    auto vm = app.vms->find(link->vmid);
    running = vm && vm->user_id == link->owner_id && vm->status != "stopping";
  }
  const auto verdict = share::decide({link ? &*link : nullptr, now_s(), running, out.visitor.has_value()});
  if (verdict != share::Verdict::ok) throw share::LinkRefused(verdict);
  return out;
}

// Revokes the caller's live link `id` and closes the consoles opened through it (links are
// made for the owner's running VM, so that is where they are).
bool revoke(AppContext& app, const Caller& caller, std::int64_t id) {
  if (!app.users->revoke_share_link(caller.id, id, now_s())) return false;
  // Also closes a console admitted just before the revoke that registers just after it.
  const auto ended = vm::console_viewers().close_link(id, "share link revoked");
  spdlog::info("share link {} revoked by user {} ({} viewers ended)", id, caller.id, ended);
  return true;
}

http::Response revoked_response(std::int64_t id) {
  return http::json_response(200, {{"message", "Share link revoked"}, {"id", id}});
}

void register_owner_routes(http::Router& router, AppContext& app) {
  router.post("/vm/share", [&app](http::Request& request) {
    auto caller = authenticate(app, request);
    if (auto remote = forward_to_vm_owner(app, request, caller.id)) return *remote;  // the VM is on another node
    auto v = callers_vm(app, caller);
    const auto ask = share::parse_create_request(parse_body_object(request));
    const auto token = share::new_token();
    store::ShareLink link;
    link.vmid = v.vmid;
    link.owner_id = caller.id;
    link.token_hash = share::token_hash(token);
    link.mode = share::mode_name(ask.mode);
    link.require_sign_in = ask.require_sign_in;
    link.created_at = now_s();
    link.expires_at = link.created_at + ask.minutes * 60;
    const auto made = app.users->create_share_link(link, app.config.share_links_per_vm);
    spdlog::info("share link {} made for VM {} by user {} ({}, {} min{})", made.id, v.vmid, caller.id, made.mode,
                 ask.minutes, made.require_sign_in ? ", sign-in required" : "");
    auto body = link_json(made, 0);
    body["url"] = "/share#" + token;  // the only place the token is ever shown
    return no_store(http::json_response(200, body));
  });

  router.get("/vm/shares", [&app](http::Request& request) {
    auto caller = authenticate(app, request);
    if (auto remote = forward_to_vm_owner(app, request, caller.id)) return *remote;  // the VM is on another node
    auto v = callers_vm(app, caller);
    json out = json::array();
    for (const auto& l : app.users->live_share_links(v.vmid, now_s()))
      if (l.owner_id == caller.id) out.push_back(link_json(l, static_cast<int>(viewers_of_link(v.vmid, l.id).size())));
    return no_store(http::json_response(200, out));
  });

  router.post("/vm/share/revoke", [&app](http::Request& request) {
    auto caller = authenticate(app, request);
    if (auto remote = forward_to_vm_owner(app, request, caller.id)) return *remote;  // the VM is on another node
    const auto id = share::parse_id(parse_body_object(request));
    if (!revoke(app, caller, id)) throw ApiError(404, "No live share link of yours has this id");
    return revoked_response(id);
  });

  router.add(http::Route{"DELETE", "/vm/shares/<id>", [&app](http::Request& request) {
                           auto caller = authenticate(app, request);
                           if (auto remote = forward_to_vm_owner(app, request, caller.id)) return *remote;
                           const auto id = share::parse_id(json{{"id", request.params.at(0)}});
                           if (!revoke(app, caller, id)) throw ApiError(404, "No live share link of yours has this id");
                           return revoked_response(id);
                         },
                         http::BodyMode::buffered, 0, {}});

  router.get("/vm/viewers", [&app](http::Request& request) {
    auto caller = authenticate(app, request);
    if (auto remote = forward_to_vm_owner(app, request, caller.id)) return *remote;  // the VM is on another node
    auto v = callers_vm(app, caller);
    json out = json::array();
    for (const auto& viewer : vm::console_viewers().of_vm(v.vmid)) out.push_back(listed_viewer(app, viewer, caller.id));
    return no_store(http::json_response(200, out));
  });

  router.post("/vm/viewers/end", [&app](http::Request& request) {
    auto caller = authenticate(app, request);
    if (auto remote = forward_to_vm_owner(app, request, caller.id)) return *remote;  // the VM is on another node
    auto v = callers_vm(app, caller);
    const auto id = share::parse_id(parse_body_object(request));
    if (!vm::console_viewers().close(v.vmid, static_cast<std::uint64_t>(id), "ended by the VM's owner"))
      throw ApiError(404, "No viewer with this id is watching your VM");
    spdlog::info("viewer {} of VM {} ended by its owner", id, v.vmid);
    return http::json_response(200, {{"message", "Viewer disconnected"}, {"id", id}});
  });
}

void register_visitor_routes(http::Router& router, AppContext& app) {
  // What the page needs before it connects (and the clear reason when it may not).
  router.post("/share/info", [&app](http::Request& request) {
    auto body = parse_body_object(request);
    auto link = find_link(app, optional_string(body, "token").value_or(""));
    // Several nodes: the node running the link's VM answers (links live in the shared database).
    if (link && link->revoked_at == 0)
      if (auto remote = forward_to_vm_owner(app, request, link->owner_id)) return *remote;
    auto opened = open_link(app, request, std::move(link));
    return no_store(http::json_response(
        200, {{"mode", opened.link.mode},
              {"sign_in", opened.link.require_sign_in},
              {"expires_at", iso8601(opened.link.expires_at)},
              {"signed_in_as", opened.visitor ? json(opened.visitor->login) : json(nullptr)}}));
  });

  http::Route console;
  console.method = "GET";
  console.pattern = "/share/ws";
  console.handler = [](http::Request&) { return http::error_response(426, "WebSocket upgrade required"); };
  console.websocket = [&app](http::Request& request) {
    // Browsers always send Origin on a WebSocket: another site's page must not open it with
    // the visitor's cookie (or a token it learnt).
    require_same_origin(app, request);
    const auto* protocols = request.header("Sec-WebSocket-Protocol");
    auto found = find_link(app, share::token_from_protocols(protocols ? *protocols : ""));
    // Several nodes: relayed to the node running the link's VM, which checks the link itself.
    if (found && found->revoked_at == 0)
      if (auto relayed = forward_console(app, request, found->vmid, found->owner_id, false)) return std::move(*relayed);
    auto opened = open_link(app, request, std::move(found));
    const auto& link = opened.link;
    // The link's viewers take the VM's places and its owner's (a link cannot multiply them).
    auto admission = admit_console_viewer(*app.viewer_slots, link.vmid, link.owner_id,  // 429 before the upgrade
                                          vm::ViewerSlots::Audience::link_visitor);
    if (admission.refusal) {
      http::WebSocketDecision refused;
      refused.refuse = std::move(admission.refusal);
      return refused;
    }
    vm::ViewerSpec spec;
    spec.vmid = link.vmid;
    spec.mode = share::parse_mode(link.mode) == share::Mode::control ? vm::ViewerMode::control : vm::ViewerMode::view_only;
    spec.address = request.remote_address;
    spec.user_id = opened.visitor ? opened.visitor->id : 0;
    spec.label = "share link " + std::to_string(link.id);
    spec.link_id = link.id;
    spec.ends_at = link.expires_at;  // an open console does not outlive its link
    spdlog::info("console of VM {} opened through share link {} ({})", link.vmid, link.id, link.mode);
    return open_console_viewer(app, request, std::move(spec), admission.slot);
  };
  router.add(std::move(console));
}

}  // namespace

void register_share_routes(http::Router& router, AppContext& app) {
  register_owner_routes(router, app);
  register_visitor_routes(router, app);
  // Links die with their VM (consoles close by themselves: the VM closes its viewers).
  app.vms->on_vm_ended([&app](const std::string& vmid) {
    const auto revoked = app.users->revoke_share_links_of_vm(vmid, now_s());
    if (revoked) spdlog::info("vm {}: {} share links revoked with it", vmid, revoked);
  });
}

}  // namespace vmshare::api
