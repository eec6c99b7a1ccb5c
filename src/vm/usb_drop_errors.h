#pragma once
// Errors of "drop files into the VM" (usb_drop_service.h); api/error_table.cpp maps them.
// Messages are written for users except DropStickError's (the log's).
#include <cstdint>
#include <string>

#include "vm/errors.h"

namespace vmshare::vm {

struct DropTooLarge : VmError {  // 413: the files do not fit on the largest stick
  std::uint64_t max_bytes;
  explicit DropTooLarge(std::uint64_t max)
      : VmError("The files are larger than a USB stick may be (" + std::to_string(max >> 20) + " MB)"),
        max_bytes(max) {}
};
struct DropInvalid : VmError {  // 400: no files, too many files
  using VmError::VmError;
};
struct DropBusy : VmError {  // 409: a stick is plugged in, or being made or ejected
  using VmError::VmError;
};
struct DropNotFound : VmError {  // 404: no stick, or no such returned file
  using VmError::VmError;
};
struct DropOverQuota : VmError {  // 413: the owner's storage quota
  DropOverQuota(std::int64_t stored, std::int64_t capacity, std::int64_t needed)
      : VmError("Storage quota exceeded: " + std::to_string(stored) + " of " + std::to_string(capacity) +
                " MB used, the USB stick needs " + std::to_string(needed) + " MB") {}
};
struct DropStorageFull : VmError {  // 507: the server's disk
  DropStorageFull() : VmError("Not enough disk space on the server for the files; try again later") {}
};
// mtools failed or took too long, or a file system call failed; for the log (500).
struct DropStickError : VmError {
  using VmError::VmError;
};
// A file on the stick is longer than what may still be read back (skipped, never shown).
struct DropFileTooLarge : DropStickError {
  DropFileTooLarge() : DropStickError("a file on the stick is larger than the read-back cap") {}
};

}  // namespace vmshare::vm
