#pragma once
// The FAT file system on a USB stick image, made and read with mtools (Debian's mtools:
// mformat, mcopy, mdir, mtype), each run as a child with the clean environment, argv only and a
// time limit. Images live in vmshare's own folder: never a path a VM's uid can write. What a
// guest wrote is untrusted: it is read only by a confined mtools (usb_drop_sandbox.h) from a
// sealed in-memory copy, output is capped, and a tool that fails or hangs is an error. Making a
// stick from the owner's files (format, copy_in) runs as vmshare: no guest has written it yet.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "vm/unique_fd.h"
#include "vm/usb_drop_sandbox.h"

namespace vmshare::vm {

class DropImageTool {
 public:
  // Resolves the tools in vmshare's PATH (children get a fixed one).
  explicit DropImageTool(std::chrono::milliseconds timeout = std::chrono::seconds(30));

  // A FAT file system filling `image` (an existing file of `bytes`).
  void format(const std::string& image, std::uint64_t bytes) const;
  // Host files (in vmshare's folder) into the stick's root folder, under their own names.
  void copy_in(const std::string& image, const std::vector<std::string>& sources) const;

  // Reading back an ejected stick. The sandbox for a VM whose QEMU runs as `vm_uid` (nullopt:
  // not confined); a sealed memfd copy of `image` (a regular file, not through a symlink, at
  // most `max_bytes`), the only thing the sandboxed mtools gets.
  DropSandbox sandbox_for(std::optional<uid_t> vm_uid) const;
  static UniqueFd sealed_copy(const std::string& image, std::uint64_t max_bytes);
  // Names of the files in the stick's root folder (folders left out).
  std::vector<std::string> list(int image_copy, const DropSandbox& sandbox) const;
  // The content of ::name; throws DropFileTooLarge when it is longer than `max_bytes`.
  std::string read(int image_copy, const DropSandbox& sandbox, const std::string& name, std::size_t max_bytes) const;

 private:
  std::chrono::milliseconds timeout_;
  std::string mformat_, mcopy_, mdir_, mtype_, prlimit_, setpriv_;
};

}  // namespace vmshare::vm
