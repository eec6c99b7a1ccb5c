#pragma once
// Comparison whose running time does not depend on where two secrets first differ.
#include <string_view>

namespace vmshare::auth {

// Lengths are not secret here (hash outputs, MACs of fixed size), so a length mismatch
// returns early; the content comparison always touches every byte.
bool constant_time_equal(std::string_view a, std::string_view b);

}  // namespace vmshare::auth
