#include "api/vm_errors.h"

#include <spdlog/spdlog.h>

#include "core/errors.h"
#include "vm/errors.h"
#include "vm/qmp_connection.h"

namespace vmshare::api {

http::Handler with_vm_errors(http::Handler handler) {
  return [handler = std::move(handler)](http::Request& request) -> http::Response {
    try {
      return handler(request);
    } catch (const vm::UnknownProfile& e) {
      throw ApiError(400, e.what());
    } catch (const vm::VmLimitReached& e) {
      throw ApiError(503, e.what(), {{"Retry-After", "60"}});
    } catch (const vm::VmNotFound& e) {
      throw ApiError(404, e.what());
    } catch (const vm::SnapshotNotFound& e) {
      throw ApiError(404, e.what());
    } catch (const vm::SnapshotInUse& e) {
      throw ApiError(409, e.what());
    } catch (const vm::VmBusy& e) {
      throw ApiError(409, e.what());
    } catch (const vm::LaunchFailed& e) {
      throw ApiError(500, e.what());
    } catch (const vm::QmpError& e) {
      // desc is QEMU's own sentence: fit for users; the full reply is already in the log.
      throw ApiError(502, "The VM did not accept the command: " + e.desc());
    } catch (const vm::ImageError& e) {
      spdlog::warn("{} {}: image error: {} ({})", request.method, request.route, e.what(), e.detail);
      throw ApiError(500, e.what());
    }
  };
}

}  // namespace vmshare::api
