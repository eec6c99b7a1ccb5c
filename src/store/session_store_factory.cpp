#include <spdlog/spdlog.h>

#include "store/memory_session_store.h"
#include "store/redis_session_store.h"
#include "store/session_store.h"
#include "store/url_redaction.h"

namespace vmshare::store {

std::unique_ptr<SessionStore> make_session_store(const Config& config) {
  if (config.redis_url.empty()) {
    spdlog::info("store: sessions in process memory (single node)");
    return std::make_unique<MemorySessionStore>(static_cast<std::size_t>(config.throttle_memory_entries));
  }
  try {
    auto store = std::make_unique<RedisSessionStore>(config.redis_url);
    spdlog::info("store: sessions in Redis {}", redact_url(config.redis_url));
    return store;
  } catch (const std::invalid_argument& e) {
    throw ConfigError(std::string("REDIS_URL: ") + e.what());  // the parser never quotes it
  }
}

}  // namespace vmshare::store
