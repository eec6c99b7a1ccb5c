#pragma once
// Database and Redis URLs carry passwords; this is the only form of them that may be logged.
#include <string>

namespace vmshare::store {

// The URL with its password replaced by "***" (for redis://, a lone userinfo is a password).
std::string redact_url(const std::string& url);

}  // namespace vmshare::store
