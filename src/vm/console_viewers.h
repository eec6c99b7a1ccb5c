#pragma once
// Who watches which VM's console, with each viewer's figures: the registry behind the viewer
// list (GET /vm/console_stats, the `share` viewer list and kick) and the console toolbar.
//
// Every ConsoleBridge registers itself when it starts and leaves when it finishes (on_closed).
// The registry holds, per viewer, the spec it was started with, its meter (figures updated by
// the bridge's strand, read here with relaxed atomics) and a close function; never the bridge
// itself, so listing or kicking never keeps a finished console alive. Thread-safe; one mutex
// guards the map, never held while a close function runs.
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace vmshare::vm {

class ViewerMeter;

// What a viewer may send to the VM. control: everything (the owner's console); view_only: only
// messages that do not act on the guest (no keys, pointer, clipboard, resize, power; see
// rfb_client_stream.h for the exact list). Given when the bridge starts; never changes.
enum class ViewerMode { control, view_only };
const char* to_string(ViewerMode mode);  // "control" | "view_only"

// Given when a console bridge starts.
struct ViewerSpec {
  std::string vmid;                        // the VM (groups the list; names logs)
  ViewerMode mode = ViewerMode::control;
  std::string address;                     // the viewer's client address, as the server saw it
  std::int64_t user_id = 0;                // the signed-in viewer; 0 for a share-link viewer
  std::string label;                       // free text for the list, e.g. "owner", "share link 3"
  std::int64_t link_id = 0;                // the share link it came through (issue 15); 0: none
  std::int64_t ends_at = 0;                // Unix seconds it is closed at (its link's expiry); 0: never
};

// A snapshot of one open viewer. Rates are over the last completed window of about a second
// (decaying to 0 when nothing flows); latency is input-to-update (console_stats.h), -1 when no
// sample yet.
struct ViewerInfo {
  std::uint64_t id = 0;     // unique in this process, never reused
  std::string vmid;
  ViewerMode mode = ViewerMode::control;
  std::string address;
  std::int64_t user_id = 0;
  std::string label;
  std::int64_t link_id = 0;  // ViewerSpec::link_id
  std::int64_t since = 0;   // Unix seconds when the console opened
  std::uint64_t frames = 0;  // framebuffer updates sent to this viewer (console_stats.h)
  std::uint64_t bytes = 0;   // bytes from the VM sent to this viewer
  double fps = 0;
  double bps = 0;            // bytes per second
  double latency_ms = -1;    // the last input-to-update latency
  double latency_p50_ms = -1;  // median of the last samples (ViewerMeter::kLatencySamples)
};

class ConsoleViewers {
 public:
  using Close = std::function<void(const std::string& reason)>;

  // Registers a viewer; returns its id. `close` must be safe to call from any thread, at any
  // time, more than once (ConsoleBridge::close is).
  std::uint64_t add(ViewerSpec spec, std::shared_ptr<const ViewerMeter> meter, Close close);
  void remove(std::uint64_t id);

  std::vector<ViewerInfo> of_vm(const std::string& vmid) const;  // oldest first
  std::optional<ViewerInfo> find(std::uint64_t id) const;
  // Closes one viewer of `vmid` with `reason` (the WebSocket close frame's reason); false when
  // there is no such viewer of that VM.
  bool close(const std::string& vmid, std::uint64_t id, const std::string& reason);
  // Closes every viewer that came through share link `link_id` with `reason`, and any that
  // registers through it from now on: a visitor whose link was checked just before the revoke
  // but whose console starts just after it is closed too. Returns how many were open.
  std::size_t close_link(std::int64_t link_id, const std::string& reason);
  std::size_t size() const;
  std::size_t count(ViewerMode mode) const;

 private:
  struct Entry {
    ViewerSpec spec;
    std::int64_t since = 0;
    std::shared_ptr<const ViewerMeter> meter;
    Close close;
  };
  static ViewerInfo info_of(std::uint64_t id, const Entry& entry);

  // Revoked links (close_link), remembered for kEndedLinkMemory: long enough for any console
  // admitted before the revoke to have registered (its VNC connection is opened in between).
  struct EndedLink {
    std::string reason;
    std::chrono::steady_clock::time_point at;
  };
  static constexpr std::chrono::minutes kEndedLinkMemory{10};

  mutable std::mutex mutex_;
  std::map<std::uint64_t, Entry> viewers_;
  std::map<std::int64_t, EndedLink> ended_links_;
  std::uint64_t next_id_ = 1;
};

// The process's registry (like console_stats()).
ConsoleViewers& console_viewers();

}  // namespace vmshare::vm
