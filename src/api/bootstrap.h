#pragma once
// Builds the shared application state from the configuration.
#include <memory>

#include "api/app_context.h"

namespace vmshare::api {

// Creates the data folder (0700), loads or generates the signing secret, opens the stores.
std::unique_ptr<AppContext> make_app_context(const Config& config);

// SECRET_KEY when set; otherwise <data_dir>/secret_key, generated once with mode 0600.
std::string load_or_create_secret(const Config& config);

}  // namespace vmshare::api
