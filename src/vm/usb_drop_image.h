#pragma once
// The FAT file system on a USB stick image, made and read with mtools (Debian's mtools:
// mformat, mcopy, mdir, mtype), each run as a child with the clean environment, argv only and a
// time limit. Images live in vmshare's own folder: never a path a VM's uid can write. What a
// guest wrote is untrusted: output is capped, and a tool that fails or hangs is an error.
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace vmshare::vm {

class DropImageTool {
 public:
  explicit DropImageTool(std::chrono::milliseconds timeout = std::chrono::seconds(30)) : timeout_(timeout) {}

  // A FAT file system filling `image` (an existing file of `bytes`).
  void format(const std::string& image, std::uint64_t bytes) const;
  // Host files (in vmshare's folder) into the stick's root folder, under their own names.
  void copy_in(const std::string& image, const std::vector<std::string>& sources) const;
  // Names of the files in the stick's root folder (folders left out).
  std::vector<std::string> list(const std::string& image) const;
  // The content of ::name; throws DropFileTooLarge when it is longer than `max_bytes`.
  std::string read(const std::string& image, const std::string& name, std::size_t max_bytes) const;

 private:
  std::chrono::milliseconds timeout_;
};

}  // namespace vmshare::vm
