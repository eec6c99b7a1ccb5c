#pragma once
// The one place where vm module errors become HTTP statuses and {"detail"} messages.
#include "http/router.h"

namespace vmshare::api {

// Wraps a handler so vm::VmError subclasses (and QMP failures) reach the client as ApiError.
http::Handler with_vm_errors(http::Handler handler);

}  // namespace vmshare::api
