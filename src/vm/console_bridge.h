#pragma once
// The console bridge: one accepted WebSocket (noVNC, binary RFB) <-> one VM's VNC UNIX socket.
//
// Shape (Beast's advanced server habits): an enable_shared_from_this object whose async calls
// keep it alive, everything on the accepted connection's executor, which must be a strand (the
// HTTP server accepts every connection on its own strand of one I/O thread's loop, so a console
// never hops threads per chunk).
//
// VM -> browser, the heavy direction (a raw 720x400 update is 1.1 MB): Beast answers the
// upgrade, then the bridge takes the TCP socket and frames itself (core/websocket_frames.h): no
// Beast write operation, no lock, no copy into a frame buffer, no thread hop per chunk. Two
// relays (set_relay, VMSHARE_CONSOLE_RELAY):
// - copy (default): one recv from the VNC socket into a buffer, one gathered sendmsg of frame
//   header + payload. The buffer starts at kToBrowserBytes and doubles while reads fill it, up to
//   kToBrowserMaxBytes (a console that only shows text never grows).
// - splice: the bytes go VNC socket -> pipe -> TCP socket by splice(2), never through user space;
//   one header send with MSG_MORE per chunk. The pipe grows to kToBrowserMaxBytes once a splice
//   brings half its size. On loopback it cost more CPU per frame than copy (docs/benchmarks.md:
//   the kernel's per-page work outweighs the copies saved), so it is not the default.
// QEMU's end of the socketpair gets kVmSendBuffer (tune_vm_end) so it can queue a whole update
// for one read. The VM is read again only once the previous chunk has left for the browser, so
// a slow browser stops reads from the VM (backpressure to QEMU and to the browser's TCP window).
//
// One writer: every byte to the browser goes through pump(), which finishes a data frame before
// any control frame (pong, keep-alive ping, close) and sends at most one control frame at a time;
// the latest ping is the one answered (RFC 6455 5.5.3). Keep-alive as Beast's was: a ping after
// Timing::ping_after_idle without a byte from the browser, the connection cut after
// Timing::idle_timeout.
//
// Browser -> VM: frames are read into a kToVmBytes buffer and unmasked; the RFB client stream is
// parsed (rfb_client_stream.h) before any of it reaches the VM. control: forwarded as it came;
// view_only: only whole non-input messages, with ClientInit made shared. Malformed RFB (either
// mode): that viewer alone is closed with "protocol error" (1008); a WebSocket protocol
// violation closes it with 1002. The next read waits until the chunk is written to the VM.
//
// Memory bound per console: the copy buffer or the pipe (at most kToBrowserMaxBytes), the read
// buffer and its unmasked copy (2 x kToVmBytes), the client-stream parser's state (a 20-byte
// header), the messages of one chunk (at most kToVmBytes / 4 entries of 24 bytes), view-only the
// filtered chunk (kToVmBytes + 20), one control frame in flight and one pending pong (127 bytes
// each); plus the kernel's socket buffers (QEMU's end at most twice kVmSendBuffer; the TCP
// socket as the kernel tunes it). Pipe sizes are charged to vmshare's user (fs.pipe-user-pages-
// soft, 64 MiB by default): past it the kernel refuses to grow a pipe and the console keeps
// working with smaller chunks.
//
// Teardown: either side closing or failing closes both. A WebSocket that is still open gets a
// close frame with a reason (after the data frame being sent, if any); if the peer does not
// finish the closing handshake within kCloseGrace the TCP connection is cut. on_closed fires
// exactly once, after the last operation of the bridge has completed.
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include <array>
#include <optional>
#include <vector>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/websocket/stream.hpp>

#include "core/websocket_frames.h"
#include "vm/console_stats.h"
#include "vm/rfb_client_stream.h"
#include "vm/console_viewers.h"

namespace vmshare::vm {

// Same type as http::WebSocketStream; the vm module does not depend on http.
using WebSocketStream = boost::beast::websocket::stream<boost::beast::tcp_stream>;

class ConsoleBridge : public std::enable_shared_from_this<ConsoleBridge> {
 public:
  // Keep-alive, the same as the HTTP server set on Beast's stream before (tests shorten it).
  struct Timing {
    std::chrono::milliseconds ping_after_idle{30'000};
    std::chrono::milliseconds idle_timeout{60'000};
  };
  struct Hooks {
    std::function<void()> on_closed;  // exactly once, on any thread; may be empty
    Timing timing{};
  };

  // Sized for the traffic: framebuffer updates flow to the browser (a raw 720x400 frame is
  // 1.1 MB) through a pipe, only keys, pointer events and requests flow to the VM.
  static constexpr std::size_t kToBrowserBytes = 64 * 1024;       // first size (a pipe's default)
  static constexpr std::size_t kToBrowserMaxBytes = 1024 * 1024;  // grown to for framebuffer updates (pipe-max-size)
  static constexpr std::size_t kToVmBytes = 16 * 1024;
  static constexpr int kVmSendBuffer = 1024 * 1024;  // SO_SNDBUF of QEMU's end (the kernel doubles it)

  // How VM output reaches the browser's socket: spliced through a pipe (no copy through user
  // space), or read into a buffer and written with the frame header in one gathered send (for
  // kernels or sandboxes that refuse splice on these sockets; also the benchmark's baseline).
  // Set once at start-up (VMSHARE_CONSOLE_RELAY), before any console opens.
  enum class Relay { splice, copy };
  static void set_relay(Relay relay);

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
  using TcpSocket = boost::asio::ip::tcp::socket;
  using error_code = boost::system::error_code;
  enum class Step { progressed, waiting, stopped };

  void connect();
  void on_connected(error_code ec);
  void begin();
  // The one writer to the browser (see the header comment) and its steps.
  void pump();
  Step send_frame_part();
  Step send_control_part();
  Step after_failed_send();
  Step read_from_vm();
  void start_frame(std::size_t bytes);
  void frame_sent();
  void wait_browser_writable();
  void wait_vm_readable();
  void browser_failed();
  // Browser -> VM.
  void read_browser();
  void on_browser_read(error_code ec, std::size_t n);
  void on_control(const ws::ClientFrameReader::Control& control);
  void forward_to_vm();
  void on_vm_written(error_code ec, std::size_t n);
  void note_messages(const std::vector<RfbClientStream::Message>& messages);
  void protocol_error();
  void arm_keepalive();
  // Starts teardown once: a close frame with `reason`, or (empty reason: the browser is gone or
  // failed) the TCP connection cut at once.
  void shut_down(std::uint16_t code, const std::string& reason);
  void close_tcp();
  void op_done();  // every completion handler calls this first
  void finish_if_idle();
  void fire_closed();

  const boost::asio::any_io_executor strand_;
  TcpSocket tcp_;
  VncSocket vnc_;
  boost::asio::steady_timer close_timer_;
  boost::asio::steady_timer keepalive_timer_;
  std::string vnc_path_;  // empty when started connected
  std::string label_;     // for logs: the VM's id, never a server path
  const std::string& vm_label() const { return label_; }
  void register_viewer();
  ViewerSpec spec_;
  std::shared_ptr<ViewerMeter> meter_;
  std::uint64_t viewer_id_ = 0;
  Hooks hooks_;

  // VM -> browser: the data frame being sent (header, then payload_left_ bytes of payload, in
  // copy_buffer_ from copy_sent_ or in the pipe) and the chunk's current capacity.
  const Relay relay_;
  std::unique_ptr<char[]> copy_buffer_;
  std::size_t copy_sent_ = 0;
  bool copy_buffer_full_ = false;
  int pipe_read_ = -1, pipe_write_ = -1;
  std::size_t chunk_capacity_ = kToBrowserBytes;
  std::size_t payload_left_ = 0;
  std::size_t frame_bytes_ = 0;
  std::array<std::uint8_t, ws::kMaxServerHeader> header_{};
  std::size_t header_size_ = 0, header_sent_ = 0;
  // Control frames: the one being sent, and what is wanted next (bounded: one of each).
  std::string control_out_;
  std::size_t control_sent_ = 0;
  std::optional<std::string> pong_wanted_;  // the latest ping's payload
  bool ping_wanted_ = false;
  std::string close_wanted_;                // a whole close frame, once
  bool waiting_writable_ = false, waiting_vm_ = false;
  bool close_sent_ = false, close_received_ = false;
  bool await_close_reply_ = true;  // false once the browser broke the protocol
  std::chrono::steady_clock::time_point last_from_browser_;

  // Browser -> VM.
  std::unique_ptr<std::uint8_t[]> from_browser_;  // raw frames as read
  ws::ClientFrameReader frames_;
  std::string browser_data_;                      // their payload, unmasked
  std::vector<ws::ClientFrameReader::Control> controls_;
  bool reading_browser_ = false;
  // The client stream, parsed (control) or filtered (view_only); bounded, see rfb_client_stream.h.
  RfbClientStream stream_;
  std::vector<RfbClientStream::Message> messages_;  // reused per chunk
  RfbViewOnlyFilter filter_;
  std::string filtered_;          // view_only: what a chunk leaves to forward (<= kToVmBytes + a header)
  bool input_in_flight_ = false;  // the chunk being written to the VM holds input
  int ops_ = 0;                   // async operations in flight (strand only)
  bool closing_ = false;
  bool finished_ = false;
};

}  // namespace vmshare::vm
