#pragma once
// Sign-in and sign-up limits on the session store's counters (shared by every node). An
// attempt is reserved before its hash and settled after, so parallel guesses never get more
// verdicts than the limit: the reservation is the failure, counted in advance.
//   - per login (LOGIN_MAX_FAILURES per LOGIN_FAILURE_WINDOW_S): 429 even with the right password;
//   - per address (LOGIN_ADDRESS_MAX_FAILURES per window), whatever logins it names;
//   - sign-ups per address and in all (SIGNUP_PER_ADDRESS_PER_HOUR, SIGNUP_PER_HOUR).
// Refusals are ApiError 429 with Retry-After. Counter keys are digests (auth/throttle_key.h).
#include <memory>
#include <string>
#include <vector>

#include "api/app_context.h"

namespace vmshare::api {

// Reserved counters. Settle with succeeded() or failed(); dropped unsettled (the attempt never
// reached its verdict: queue full, database down), every reservation is handed back.
class Reservation {
 public:
  Reservation(store::SessionStore& store, std::vector<std::string> keys, std::vector<std::string> keep_on_success,
              std::vector<std::string> clear_on_success);
  ~Reservation();
  Reservation(const Reservation&) = delete;
  Reservation& operator=(const Reservation&) = delete;

  void failed();     // the attempt counts
  void succeeded();  // clears what a success clears, keeps what it keeps, hands back the rest

 private:
  store::SessionStore& store_;
  std::vector<std::string> keys_;  // handed back unless settled
  std::vector<std::string> keep_on_success_;
  std::vector<std::string> clear_on_success_;
  bool settled_ = false;
};

// Reserves one sign-in attempt for `login` from `address` (the client, after the trusted-proxy
// rules). A success clears the login's failures and hands the address's reservation back.
std::shared_ptr<Reservation> reserve_sign_in(AppContext& app, const std::string& login, const std::string& address);

// Reserves one sign-up from `address`; it counts whether it succeeds or fails (handed back
// only when no hash was made).
std::shared_ptr<Reservation> reserve_sign_up(AppContext& app, const std::string& address);

// `vmshare user unlock`: in-process counters live in the server, so the command leaves a
// request file (this path, in the data folder) that the server takes up at the locked key's
// next attempt; with Redis it clears the counter directly.
std::string unlock_request_file(const Config& config, const std::string& key);

}  // namespace vmshare::api
