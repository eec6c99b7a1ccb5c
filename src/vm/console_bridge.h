#pragma once
// The console bridge: one accepted WebSocket (noVNC, binary RFB) <-> one VM's VNC UNIX socket.
//
// Shape (Beast's advanced server habits): an enable_shared_from_this object whose async calls
// keep it alive, everything on the WebSocket's executor, which must be a strand (the HTTP server
// accepts every connection on its own strand of one I/O thread's loop, so a console never hops
// threads per chunk). Two pumps, each read -> write -> read with one buffer: a side is read only
// once the previous chunk has been written to the other, so each side has at most one write
// outstanding and a slow peer stops the other side's reads (backpressure all the way to QEMU and
// to the browser's TCP window).
//
// Relay cost (docs/benchmarks.md, issue 15): per chunk the VM side costs one read system call
// and the browser side one gathered write (frame header + payload, one WebSocket frame, no
// fragmenting, no compression, no masking: server to client). So the chunk size sets the cost
// per frame: the VM -> browser buffer starts at kToBrowserBytes and doubles each time a read
// fills it, up to kToBrowserMaxBytes (a raw 720x400 frame, 1.1 MB, then takes two reads instead
// of nine); a console that only shows text never grows. QEMU's end of the socketpair gets
// kVmSendBuffer (tune_vm_end) so it can queue a whole update for one read.
//
// Memory bound per console: at most kToBrowserMaxBytes + kToVmBytes of buffers (1 MiB + 16
// KiB), whatever the traffic; the client-stream parser's state (a 20-byte header), the list of
// messages of one chunk (at most kToVmBytes / 4 entries of 24 bytes, 96 KiB, for a chunk of
// 4-byte messages) and, view-only, the filtered chunk (kToVmBytes + 20); plus the kernel's
// socket buffers (QEMU's end at most twice kVmSendBuffer; the TCP socket as the kernel tunes it).
//
// Client stream: every chunk from the browser is parsed (rfb_client_stream.h) before any of it
// reaches the VM. control: forwarded as it came; view_only: only whole non-input messages, with
// ClientInit made shared. Malformed (either mode): that viewer alone is closed with
// "protocol error" (WebSocket code 1008) and nothing of the chunk is forwarded.
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
#include "vm/rfb_client_stream.h"
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
  static constexpr std::size_t kToBrowserBytes = 128 * 1024;      // to start with
  static constexpr std::size_t kToBrowserMaxBytes = 1024 * 1024;  // grown to while reads fill it
  static constexpr std::size_t kToVmBytes = 16 * 1024;
  static constexpr int kVmSendBuffer = 1024 * 1024;  // SO_SNDBUF of QEMU's end (the kernel doubles it)

  // Sizes QEMU's end of a console socketpair (before it is handed over) so that QEMU can queue
  // a whole framebuffer update for one read. Best effort: the kernel caps it at wmem_max.
  static void tune_vm_end(int fd);
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
  void note_messages(const std::vector<RfbClientStream::Message>& messages);
  void protocol_error();
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
  std::size_t to_browser_size_ = kToBrowserBytes;
  std::unique_ptr<char[]> to_vm_;       // WebSocket -> VNC chunk
  // The client stream, parsed (control) or filtered (view_only); bounded, see rfb_client_stream.h.
  RfbClientStream stream_;
  std::vector<RfbClientStream::Message> messages_;  // reused per chunk
  RfbViewOnlyFilter filter_;
  std::string filtered_;          // view_only: what a chunk leaves to forward (<= kToVmBytes + a header)
  bool input_in_flight_ = false;  // the chunk being written to the VM holds input
  int ops_ = 0;                         // async operations in flight (strand only)
  bool closing_ = false;
  bool finished_ = false;
};

}  // namespace vmshare::vm
