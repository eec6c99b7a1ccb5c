#pragma once
// Process-wide console counters, read by the metrics exporter. Plain atomics so the bridge's hot
// path pays one relaxed add per chunk and the exporter needs no lock.
#include <atomic>
#include <cstdint>

namespace vmshare::vm {

struct ConsoleStats {
  std::atomic<std::int64_t> open{0};              // bridges started and not yet finished
  std::atomic<std::int64_t> bytes_to_browser{0};  // VNC -> WebSocket payload bytes written
  std::atomic<std::int64_t> bytes_to_vm{0};       // WebSocket -> VNC bytes written
};

ConsoleStats& console_stats();

}  // namespace vmshare::vm
