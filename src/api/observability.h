#pragma once
// Wires the metrics, the collector and the watchdog into a running server: HTTP and database
// observers, mirrored console and VM counters, and the two timer threads. Destroy it (it stops
// its threads) before logging shuts down.
#include <memory>
#include <string>

#include "api/app_context.h"
#include "http/server.h"

namespace vmshare::api {

class Observability {
 public:
  virtual ~Observability() = default;
};

// Needs app.vms. The collector runs every 15 s (sooner when INTERVAL is shorter), the watchdog
// every INTERVAL s.
std::unique_ptr<Observability> start_observability(AppContext& app, http::Server& server, const std::string& version);

}  // namespace vmshare::api
