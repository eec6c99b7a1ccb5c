#include "vm/usb_drop_image.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "vm/run_command.h"
#include "vm/usb_drop_errors.h"
#include "vm/usb_drop_rules.h"

namespace vmshare::vm {

namespace {

// A guest may reformat the stick with a geometry mtools would refuse to trust; the bytes are
// read all the same (and capped). UTF-8 names come from the locale (C.UTF-8, child_env).
const std::vector<std::string> kMtoolsEnv = {"MTOOLS_SKIP_CHECK=1"};

CommandResult run_mtools(const std::vector<std::string>& argv, std::chrono::milliseconds timeout,
                         std::size_t max_output = 1 << 20) {
  RunOptions options;
  options.timeout = timeout;
  options.max_output = max_output;
  options.extra_env = kMtoolsEnv;
  auto result = run_command(argv, options);
  if (result.timed_out) throw DropStickError(fmt::format("{} took too long", argv.front()));
  return result;
}

void require_ok(const CommandResult& r, const std::string& tool) {
  if (!r.ok())
    throw DropStickError(fmt::format("{} failed (exit {}): {}", tool, r.exit_code, r.err.substr(0, 500)));
}

}  // namespace

void DropImageTool::format(const std::string& image, std::uint64_t bytes) const {
  require_ok(run_mtools(drop_mformat_argv(image, bytes), timeout_), "mformat");
}

void DropImageTool::copy_in(const std::string& image, const std::vector<std::string>& sources) const {
  if (sources.empty()) return;
  // -Q: stop at the first error; -D s would skip a clash silently, so none may exist (names are
  // made unique beforehand, ignoring case as FAT does) and a clash is an error.
  std::vector<std::string> argv = {"mcopy", "-Q", "-m", "-i", image};
  argv.insert(argv.end(), sources.begin(), sources.end());
  argv.emplace_back("::/");
  require_ok(run_mtools(argv, timeout_), "mcopy");
}

std::vector<std::string> DropImageTool::list(const std::string& image) const {
  // -a: hidden files too; -b: one "::/name" per line.
  const auto r = run_mtools({"mdir", "-a", "-b", "-i", image, "::/"}, timeout_, 4 << 20);
  if (!r.ok()) {
    // An empty root folder makes mdir say "No files" with a non-zero status.
    if (r.out.empty() && r.err.find("No files") != std::string::npos) return {};
    require_ok(r, "mdir");
  }
  return parse_mdir_bare(r.out);
}

std::string DropImageTool::read(const std::string& image, const std::string& name, std::size_t max_bytes) const {
  if (!fetchable_stick_name(name)) throw DropStickError("a name mtools would read as a pattern");
  // mtype without -t writes the bytes as they are; one more than allowed tells "too large".
  auto r = run_mtools({"mtype", "-i", image, "::/" + name}, timeout_, max_bytes + 1);
  require_ok(r, "mtype");
  if (r.out.size() > max_bytes) throw DropFileTooLarge();
  return std::move(r.out);
}

}  // namespace vmshare::vm
