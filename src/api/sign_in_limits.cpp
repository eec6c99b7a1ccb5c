#include "api/sign_in_limits.h"

#include <algorithm>
#include <filesystem>

#include <spdlog/spdlog.h>

#include "auth/throttle_key.h"
#include "core/errors.h"

namespace vmshare::api {
namespace {

namespace fs = std::filesystem;

bool contains(const std::vector<std::string>& v, const std::string& k) { return std::find(v.begin(), v.end(), k) != v.end(); }

[[noreturn]] void refuse(const std::string& what, std::chrono::seconds retry_after) {
  const auto wait = std::max<std::int64_t>(1, retry_after.count());
  throw ApiError(429, what + "; try again in " + std::to_string(wait) + " seconds", {{"Retry-After", std::to_string(wait)}});
}

// An operator's `vmshare user unlock` for this key, if one is waiting: clears the counter.
bool take_unlock_request(AppContext& app, const std::string& key) {
  std::error_code ec;
  if (!fs::remove(unlock_request_file(app.config, key), ec)) return false;
  app.sessions->clear_counter(key);
  spdlog::info("throttle: a lock was cleared by an operator");
  return true;
}

// +1 on `key`; over `limit` (after taking up an unlock request): handed back, and nullopt.
std::optional<store::FailureWindow> hit_within(AppContext& app, const std::string& key, std::int64_t limit,
                                               std::chrono::seconds window) {
  auto w = app.sessions->hit_counter(key, window);
  if (w.count <= limit) return std::nullopt;
  app.sessions->release_counter(key);
  if (take_unlock_request(app, key)) {
    w = app.sessions->hit_counter(key, window);
    if (w.count <= limit) return std::nullopt;
    app.sessions->release_counter(key);
  }
  return w;
}

}  // namespace

Reservation::Reservation(store::SessionStore& store, std::vector<std::string> keys,
                         std::vector<std::string> keep_on_success, std::vector<std::string> clear_on_success)
    : store_(store),
      keys_(std::move(keys)),
      keep_on_success_(std::move(keep_on_success)),
      clear_on_success_(std::move(clear_on_success)) {}

Reservation::~Reservation() {
  if (settled_) return;
  try {
    for (const auto& k : keys_) store_.release_counter(k);
  } catch (const std::exception& e) {  // the store is down: the reservation expires with its window
    spdlog::warn("throttle: a reservation was not handed back: {}", e.what());
  }
}

void Reservation::failed() { settled_ = true; }

void Reservation::succeeded() {
  settled_ = true;
  for (const auto& k : keys_) {
    if (contains(clear_on_success_, k))
      store_.clear_counter(k);
    else if (!contains(keep_on_success_, k))
      store_.release_counter(k);
  }
}

std::shared_ptr<Reservation> reserve_sign_in(AppContext& app, const std::string& login, const std::string& address) {
  const auto window = std::chrono::seconds(app.config.login_failure_window_s);
  const auto by_address = auth::address_failure_key(address);
  const auto by_login = auth::login_failure_key(login);
  if (auto over = hit_within(app, by_address, app.config.login_address_max_failures, window))
    refuse("Too many failed login attempts from this address", over->retry_after);
  auto reservation = std::make_shared<Reservation>(*app.sessions, std::vector<std::string>{by_address},
                                                   std::vector<std::string>{}, std::vector<std::string>{});
  if (auto over = hit_within(app, by_login, app.config.login_max_failures, window))
    refuse("Too many failed login attempts", over->retry_after);  // hands the address's back
  reservation->failed();  // done with this one; the full reservation follows
  return std::make_shared<Reservation>(*app.sessions, std::vector<std::string>{by_address, by_login},
                                       std::vector<std::string>{}, std::vector<std::string>{by_login});
}

std::shared_ptr<Reservation> reserve_sign_up(AppContext& app, const std::string& address) {
  const auto hour = std::chrono::seconds(3600);
  const auto by_address = auth::address_signup_key(address);
  const auto all = auth::global_signup_key();
  if (auto over = hit_within(app, by_address, app.config.signup_per_address_per_hour, hour))
    refuse("Too many sign-ups from this address", over->retry_after);
  auto reservation = std::make_shared<Reservation>(*app.sessions, std::vector<std::string>{by_address},
                                                   std::vector<std::string>{}, std::vector<std::string>{});
  if (auto over = hit_within(app, all, app.config.signup_per_hour, hour))
    refuse("Too many sign-ups right now", over->retry_after);
  reservation->failed();
  std::vector<std::string> keys{by_address, all};
  return std::make_shared<Reservation>(*app.sessions, keys, keys, std::vector<std::string>{});
}

std::string unlock_request_file(const Config& config, const std::string& key) {
  return (fs::path(config.data_dir) / "unlock" / key).string();
}

}  // namespace vmshare::api
