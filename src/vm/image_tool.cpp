#include "vm/image_tool.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>

#include "vm/run_command.h"

namespace vmshare::vm {

std::vector<std::string> create_overlay_argv(const std::string& qemu_img, const std::string& base,
                                             const std::string& overlay) {
  return {qemu_img, "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", base, overlay};
}

std::vector<std::string> create_blank_argv(const std::string& qemu_img, const std::string& path,
                                           std::uint64_t size_bytes) {
  return {qemu_img, "create", "-q", "-f", "qcow2", path, std::to_string(size_bytes)};
}

std::vector<std::string> image_info_argv(const std::string& qemu_img, const std::string& path,
                                         const std::string& format, bool force_share) {
  std::vector<std::string> a{qemu_img, "info", "--output=json"};
  if (!format.empty()) a.insert(a.end(), {"-f", format});
  if (force_share) a.push_back("-U");
  a.push_back(path);
  return a;
}

std::vector<std::string> flatten_argv(const std::string& qemu_img, const std::string& src,
                                      const std::string& dst, const std::string& src_format) {
  return {qemu_img, "convert", "-q", "-f", src_format, "-O", "qcow2", src, dst};
}

ImageInfo parse_image_info(const std::string& json_text) {
  using nlohmann::json;
  json j;
  try {
    j = json::parse(json_text);
  } catch (const json::parse_error& e) {
    throw ImageError("cannot read image information", e.what());
  }
  if (!j.is_object() || !j.contains("format") || !j["format"].is_string() ||
      !j.contains("virtual-size") || !j["virtual-size"].is_number_unsigned())
    throw ImageError("cannot read image information", json_text.substr(0, 2000));
  auto str = [&j](const char* k) {
    auto it = j.find(k);
    return it != j.end() && it->is_string() ? it->get<std::string>() : std::string{};
  };
  ImageInfo info;
  info.format = str("format");
  info.virtual_size = j["virtual-size"].get<std::uint64_t>();
  if (auto it = j.find("actual-size"); it != j.end() && it->is_number_unsigned())
    info.actual_size = it->get<std::uint64_t>();
  info.backing_filename = str("backing-filename");
  info.backing_format = str("backing-filename-format");
  // The data file is format-specific: format-specific.data.data-file for qcow2.
  if (auto fs = j.find("format-specific"); fs != j.end() && fs->is_object()) {
    auto d = fs->find("data");
    if (d != fs->end() && d->is_object()) {
      auto df = d->find("data-file");
      if (df != d->end() && df->is_string()) info.data_file = df->get<std::string>();
    }
  }
  if (info.data_file.empty()) info.data_file = str("data-file");
  return info;
}

std::string ImageTool::run(const std::vector<std::string>& argv, const char* what) const {
  RunOptions opt;
  opt.timeout = timeout_;
  CommandResult r;
  try {
    r = run_command(argv, opt);
  } catch (const ProcessError& e) {
    throw ImageError(fmt::format("{} failed", what), e.what());
  }
  if (r.timed_out) throw ImageError(fmt::format("{} timed out", what), r.err);
  if (r.exit_code != 0) {
    spdlog::warn("qemu-img {} failed ({}): {}", what,
                 r.term_signal ? fmt::format("signal {}", r.term_signal)
                               : fmt::format("exit {}", r.exit_code),
                 r.err);
    throw ImageError(fmt::format("{} failed", what), r.err);
  }
  return r.out;
}

void ImageTool::create_overlay(const std::string& base, const std::string& overlay) const {
  run(create_overlay_argv(qemu_img_, base, overlay), "creating the disk overlay");
}

void ImageTool::create_blank(const std::string& path, std::uint64_t size_bytes) const {
  run(create_blank_argv(qemu_img_, path, size_bytes), "creating a disk image");
}

ImageInfo ImageTool::image_info(const std::string& path, const std::string& format,
                                bool force_share) const {
  return parse_image_info(run(image_info_argv(qemu_img_, path, format, force_share),
                              "reading the disk image"));
}

void ImageTool::flatten(const std::string& src, const std::string& dst,
                        const std::string& src_format) const {
  run(flatten_argv(qemu_img_, src, dst, src_format), "copying the disk image");
}

}  // namespace vmshare::vm
