#pragma once
// The console bridge: one accepted WebSocket (noVNC, binary RFB) <-> one VM's VNC UNIX socket.
//
// Shape (Beast's advanced server habits): an enable_shared_from_this object whose async calls
// keep it alive, everything on the WebSocket's executor, which must be a strand (the HTTP server
// accepts every connection on its own strand). Two pumps, each read -> write -> read with one
// fixed buffer: a side is read only once the previous chunk has been written to the other, so
// each side has at most one write outstanding and a slow peer stops the other side's reads
// (backpressure all the way to QEMU and to the browser's TCP window). Memory per console is the
// two buffers plus the sockets, whatever the traffic.
//
// Teardown: either side closing or failing closes both. A WebSocket that is still open gets a
// close frame with a reason; if the peer does not finish the closing handshake within
// kCloseGrace the TCP connection is cut. on_closed fires exactly once, after the last
// operation of the bridge has completed.
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/websocket/stream.hpp>

#include "vm/console_stats.h"
#include "vm/console_viewers.h"

namespace vmshare::vm {

// Same type as http::WebSocketStream; the vm module does not depend on http.
using WebSocketStream = boost::beast::websocket::stream<boost::beast::tcp_stream>;

class ConsoleBridge : public std::enable_shared_from_this<ConsoleBridge> {
 public:
  struct Hooks {
    std::function<void()> on_closed;  // exactly once, on any thread; may be empty
  };

  // One buffer per direction, sized for the traffic: framebuffer updates flow to the browser
  // (a raw 720x400 frame is 1.1 MB), only keys, pointer events and requests flow to the VM.
  // 128 KiB to the browser halves the system calls and wake-ups per frame against 64 KiB (bench:
  // ~20% less CPU per frame); 16 KiB back keeps both under the 256 KiB per-console budget.
  static constexpr std::size_t kToBrowserBytes = 128 * 1024;
  static constexpr std::size_t kToVmBytes = 16 * 1024;
  // How long a peer gets to answer our close frame before the connection is cut.
  static constexpr std::chrono::seconds kCloseGrace{5};

  // Takes the accepted stream (its executor must be a strand), connects to `vnc_socket_path`
  // asynchronously and starts pumping. A failed connect closes the WebSocket with
  // "console unavailable". Returns the bridge so callers can close() it later; holding the
  // pointer is optional, the pending operations keep the bridge alive.
  static std::shared_ptr<ConsoleBridge> start(WebSocketStream&& ws, std::string vnc_socket_path, ViewerSpec spec,
                                              Hooks hooks);
  static std::shared_ptr<ConsoleBridge> start(WebSocketStream&& ws, std::string vnc_socket_path, Hooks hooks) {
    return start(std::move(ws), std::move(vnc_socket_path), ViewerSpec{}, std::move(hooks));
  }
  // The same over a VNC connection vmshare already holds (a socketpair end whose peer QEMU took
  // through QMP add_client): nothing to connect to, no path anyone could swap. Takes `vnc_fd`.
  // `spec` says who views (spec.vmid names the VM in logs) and in which mode: a view_only
  // viewer's input never reaches the VM (rfb_client_stream.h). Share-link viewers go through
  // api::open_console_viewer (console_open.h), which calls this.
  static std::shared_ptr<ConsoleBridge> start_connected(WebSocketStream&& ws, int vnc_fd, ViewerSpec spec,
                                                        Hooks hooks);

  // Thread-safe. Sends a close frame with `reason` (e.g. "VM stopped", "server shutting down"),
  // closes the VNC socket, then on_closed. No effect once the bridge is closing.
  void close(const std::string& reason);

  // This viewer's id in console_viewers() (registered while the bridge runs) and its figures.
  std::uint64_t viewer_id() const { return viewer_id_; }
  ViewerMode mode() const { return spec_.mode; }
  ViewerInfo info() const;

  ConsoleBridge(WebSocketStream&& ws, std::string vnc_socket_path, ViewerSpec spec, Hooks hooks);
  ~ConsoleBridge();
  ConsoleBridge(const ConsoleBridge&) = delete;
  ConsoleBridge& operator=(const ConsoleBridge&) = delete;

 private:
  using VncSocket = boost::asio::local::stream_protocol::socket;
  using error_code = boost::system::error_code;

  void connect();
  void on_connected(error_code ec);
  void read_vm();
  void on_vm_read(error_code ec, std::size_t n);
  void on_browser_written(error_code ec, std::size_t n);
  void read_browser();
  void on_browser_read(error_code ec, std::size_t n);
  void on_vm_written(error_code ec, std::size_t n);
  // Starts teardown once. An empty reason means the WebSocket is already finished (peer closed
  // or failed): no close frame is attempted.
  void shut_down(boost::beast::websocket::close_code code, const std::string& reason);
  void op_done();  // every completion handler calls this first
  void finish_if_idle();
  void fire_closed();

  const boost::asio::any_io_executor strand_;
  WebSocketStream ws_;
  VncSocket vnc_;
  boost::asio::steady_timer close_timer_;
  std::string vnc_path_;  // empty when started connected
  std::string label_;     // for logs: the VM's id, never a server path
  const std::string& vm_label() const { return label_; }
  void register_viewer();
  ViewerSpec spec_;
  std::shared_ptr<ViewerMeter> meter_;
  std::uint64_t viewer_id_ = 0;
  Hooks hooks_;
  std::unique_ptr<char[]> to_browser_;  // VNC -> WebSocket chunk
  std::unique_ptr<char[]> to_vm_;       // WebSocket -> VNC chunk
  int ops_ = 0;                         // async operations in flight (strand only)
  bool closing_ = false;
  bool finished_ = false;
};

}  // namespace vmshare::vm
