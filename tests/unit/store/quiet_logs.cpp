// The stores log every (re)connect at info; keep test output to warnings and failures.
#include <spdlog/spdlog.h>

namespace {
const bool kQuiet = [] {
  spdlog::set_level(spdlog::level::warn);
  return true;
}();
}  // namespace
