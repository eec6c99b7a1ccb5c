#include "vm/console_stats.h"

namespace vmshare::vm {

ConsoleStats& console_stats() {
  static ConsoleStats stats;
  return stats;
}

}  // namespace vmshare::vm
