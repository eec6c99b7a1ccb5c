#pragma once
// qemu-img operations on disk images. Command lines are built by pure functions (tested);
// ImageTool runs them with run_command and turns failures into ImageError.
// Formats are always explicit: qemu-img never probes an image we will boot.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "vm/errors.h"

namespace vmshare::vm {

struct ImageInfo {
  std::string format;            // "qcow2", "raw", ...
  std::uint64_t virtual_size = 0;
  std::uint64_t actual_size = 0;  // bytes allocated on the host
  std::string backing_filename;  // empty: none
  std::string backing_format;    // empty: none or unspecified
  std::string data_file;         // qcow2 external data file; empty: none
  // A user-supplied image must be standalone: anything referring to another file is refused.
  bool references_other_files() const { return !backing_filename.empty() || !data_file.empty(); }
};

// --- pure: argv builders (argv[0] is qemu_img) ---
std::vector<std::string> create_overlay_argv(const std::string& qemu_img, const std::string& base,
                                             const std::string& overlay);
std::vector<std::string> create_blank_argv(const std::string& qemu_img, const std::string& path,
                                           std::uint64_t size_bytes);
// `format` empty: qemu-img detects it (info never opens backing files). force_share (-U) reads
// an image a running QEMU holds locked.
std::vector<std::string> image_info_argv(const std::string& qemu_img, const std::string& path,
                                         const std::string& format = {}, bool force_share = false);
std::vector<std::string> flatten_argv(const std::string& qemu_img, const std::string& src,
                                      const std::string& dst, const std::string& src_format = "qcow2");

// --- pure: parses `qemu-img info --output=json`. Throws ImageError on malformed output. ---
ImageInfo parse_image_info(const std::string& json_text);

// Blocking; call from worker threads.
class ImageTool {
 public:
  explicit ImageTool(std::string qemu_img = "qemu-img",
                     std::chrono::milliseconds timeout = std::chrono::minutes(10))
      : qemu_img_(std::move(qemu_img)), timeout_(timeout) {}

  // qemu-img create -f qcow2 -F qcow2 -b <base> <overlay>: instant, copy-on-write.
  void create_overlay(const std::string& base, const std::string& overlay) const;
  // A blank qcow2 of `size_bytes` virtual size.
  void create_blank(const std::string& path, std::uint64_t size_bytes) const;
  ImageInfo image_info(const std::string& path, const std::string& format = {},
                       bool force_share = false) const;
  // qemu-img convert -O qcow2: a standalone copy with the backing chain folded in.
  void flatten(const std::string& src, const std::string& dst,
               const std::string& src_format = "qcow2") const;

  const std::string& qemu_img() const { return qemu_img_; }

 private:
  std::string run(const std::vector<std::string>& argv, const char* what) const;
  std::string qemu_img_;
  std::chrono::milliseconds timeout_;
};

}  // namespace vmshare::vm
