#pragma once
// A recording played back to noVNC over a WebSocket: this side speaks RFB as a server would
// (ProtocolVersion 3.8, security None, the stored ServerInit with the framebuffer size in force
// where the replay starts), ignores what the client asks for (its pixel format is the one the
// recording was made in: noVNC's own, recording_capture.h) and sends the stored messages paced
// by their timestamps at 1x, 2x or 4x. A seek is a new replay from `from_ms`: it starts at the
// nearest full frame at or before it and sends the records up to `from_ms` at once.
//
// Beast's habits: an enable_shared_from_this object on the WebSocket's strand, one write
// outstanding, the next record read from the file (pread, one message) only once the previous
// one is written, so memory is one message whatever the recording's size. The WebSocket is
// closed normally ("end of recording") after the last record.
#include <cstdint>
#include <memory>
#include <string>

#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/websocket/stream.hpp>

#include "vm/recording_format.h"
#include "vm/unique_fd.h"

namespace vmshare::vm {

class RecordingReplay : public std::enable_shared_from_this<RecordingReplay> {
 public:
  using WebSocketStream = boost::beast::websocket::stream<boost::beast::tcp_stream>;
  static constexpr std::size_t kMaxViewerMessage = 4096;  // the largest message a viewer may send
  // `file` is the recording, `index` read from it (read_recording_index). Runs on ws's strand.
  static void start(WebSocketStream&& ws, UniqueFd file, RecordingIndex index, std::uint32_t from_ms, int speed);

  RecordingReplay(WebSocketStream&& ws, UniqueFd file, RecordingIndex index, std::uint32_t from_ms, int speed);

 private:
  using error_code = boost::system::error_code;
  enum class Stage { version, security, client_init, streaming };

  void send(std::string bytes);
  void on_written(error_code ec);
  void read_client();
  void on_client_read(error_code ec);
  void advance_handshake();
  void send_next_record();
  void finish(const std::string& reason);

  WebSocketStream ws_;
  UniqueFd file_;
  RecordingIndex index_;
  std::uint32_t from_ms_;
  int speed_;
  boost::asio::steady_timer timer_;
  boost::beast::flat_buffer inbox_;
  std::string outgoing_;
  std::string pending_input_;
  Stage stage_ = Stage::version;
  std::size_t next_ = 0;  // the next record to send
  std::chrono::steady_clock::time_point started_;
  bool writing_ = false;
  bool closing_ = false;
};

}  // namespace vmshare::vm
