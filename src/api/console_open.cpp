#include "api/console_open.h"

#include <algorithm>
#include <ctime>

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include "vm/console_bridge.h"
#include "vm/vm_manager.h"

namespace vmshare::api {

namespace {

bool wants_binary_protocol(const http::Request& request) {
  const auto* protocols = request.header("Sec-WebSocket-Protocol");
  if (!protocols) return false;
  std::string list = *protocols;
  std::size_t start = 0;
  while (start <= list.size()) {
    auto end = list.find(',', start);
    if (end == std::string::npos) end = list.size();
    auto item = list.substr(start, end - start);
    item.erase(0, item.find_first_not_of(' '));
    item.erase(item.find_last_not_of(' ') + 1);
    if (item == "binary") return true;
    start = end + 1;
  }
  return false;
}

// A share link's viewer is closed when its link expires (ViewerSpec::ends_at, Unix seconds).
void close_at_deadline(boost::asio::steady_timer& timer, std::int64_t ends_at, const std::shared_ptr<vm::ConsoleBridge>& bridge) {
  const auto left = std::max<std::int64_t>(0, ends_at - static_cast<std::int64_t>(std::time(nullptr)));
  timer.expires_after(std::chrono::seconds(left));
  timer.async_wait([weak = std::weak_ptr<vm::ConsoleBridge>(bridge)](boost::system::error_code ec) {
    if (auto bridge = weak.lock(); bridge && !ec) bridge->close("share link expired");
  });
}

}  // namespace

http::WebSocketDecision open_console_viewer(AppContext& app, const http::Request& request, vm::ViewerSpec spec,
                                            std::shared_ptr<vm::ViewerSlots::Slot> slot) {
  http::WebSocketDecision decision;
  // A fresh VNC connection QEMU took over QMP; dropped with the decision if the upgrade fails.
  auto vnc = std::make_shared<vm::UniqueFd>(app.vms->open_console(spec.vmid));
  if (wants_binary_protocol(request)) decision.subprotocol = "binary";
  decision.on_open = [&app, spec = std::move(spec), vnc, slot](http::WebSocketStream&& ws) {
    struct Link {
      std::uint64_t viewer = 0;
      bool attached = false;
    };
    auto link = std::make_shared<Link>();
    const std::string vmid = spec.vmid;
    auto deadline = spec.ends_at > 0 ? std::make_shared<boost::asio::steady_timer>(ws.get_executor()) : nullptr;
    auto bridge = vm::ConsoleBridge::start_connected(std::move(ws), vnc->release(), spec, {[&app, vmid, link, slot, deadline] {
      if (slot) slot->release();
      if (link->attached) app.vms->detach_viewer(vmid, link->viewer);
      // on_closed runs on any thread; the timer belongs to the connection's strand.
      if (deadline) boost::asio::post(deadline->get_executor(), [deadline] { deadline->cancel(); });
    }});
    if (deadline) close_at_deadline(*deadline, spec.ends_at, bridge);
    try {
      std::weak_ptr<vm::ConsoleBridge> weak = bridge;
      link->viewer = app.vms->attach_viewer(vmid, [weak](const std::string& reason) {
        if (auto b = weak.lock()) b->close(reason);
      });
      link->attached = true;
    } catch (const std::exception&) {
      bridge->close("VM stopped");
    }
  };
  return decision;
}

nlohmann::json viewer_json(const vm::ViewerInfo& v, std::int64_t caller_id) {
  auto round2 = [](double x) { return x < 0 ? x : static_cast<double>(static_cast<std::int64_t>(x * 100 + 0.5)) / 100; };
  return {{"id", v.id},           {"mode", vm::to_string(v.mode)},
          {"address", v.address}, {"label", v.label},
          {"since", v.since},     {"frames", v.frames},
          {"bytes", v.bytes},     {"fps", round2(v.fps)},
          {"bps", round2(v.bps)}, {"latency_ms", round2(v.latency_ms)},
          {"latency_p50_ms", round2(v.latency_p50_ms)},
          {"mine", caller_id != 0 && v.user_id == caller_id}};
}

}  // namespace vmshare::api
