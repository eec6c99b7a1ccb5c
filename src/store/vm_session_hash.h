#pragma once
// VmSession <-> the field/value pairs of its Redis hash vm:<vmid>.
#include <string>
#include <utility>
#include <vector>

#include "store/session_store.h"

namespace vmshare::store {

// Core fields first, then `extra` (an extra field that shadows a core one is dropped).
std::vector<std::pair<std::string, std::string>> to_hash_fields(const VmSession& s);

// From HGETALL's flat [field, value, ...] list; unknown fields land in `extra`, malformed
// numbers read as 0.
VmSession from_hash_fields(const std::vector<std::string>& flat);

}  // namespace vmshare::store
