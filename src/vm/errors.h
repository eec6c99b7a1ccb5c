#pragma once
// Error types of the vm module. api/error_table.cpp maps them to HTTP statuses; the vm layer
// never sees HTTP. Messages are written to be shown to users unless noted otherwise.
#include <stdexcept>
#include <string>

namespace vmshare::vm {

// Base of every vm error, so callers can catch the module as a whole.
struct VmError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// The image catalog is malformed; the message names the profile and the field (start-up error).
struct CatalogError : VmError {
  using VmError::VmError;
};

// A QemuSpec that cannot be turned into a safe command line (programming or config error).
struct QemuSpecError : VmError {
  using VmError::VmError;
};

// Spawning, signalling or waiting for a process failed (the message carries errno text).
struct ProcessError : VmError {
  using VmError::VmError;
};

// qemu-img failed or printed something unexpected. what() is a short summary;
// `detail` holds qemu-img's stderr for the log (it contains server paths: never show it).
struct ImageError : VmError {
  std::string detail;
  ImageError(const std::string& summary, std::string log_detail = {})
      : VmError(summary), detail(std::move(log_detail)) {}
};

// Lifecycle errors (vm_manager). Messages are for users; details go to the log.
struct UnknownProfile : VmError {  // 400
  using VmError::VmError;
};
struct VmLimitReached : VmError {  // 503
  using VmError::VmError;
};
struct VmNotFound : VmError {  // 404
  using VmError::VmError;
};
struct LaunchFailed : VmError {  // 500, nothing left behind
  using VmError::VmError;
};
struct VmBusy : VmError {  // 409: stopping, or another operation holds it
  using VmError::VmError;
};
struct SnapshotNotFound : VmError {  // 404: unknown, another user's, or a crafted name
  using VmError::VmError;
};
struct SnapshotInUse : VmError {  // 409: a running VM is booted from it
  using VmError::VmError;
};

}  // namespace vmshare::vm
