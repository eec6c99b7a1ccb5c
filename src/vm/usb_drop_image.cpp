#include "vm/usb_drop_image.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "vm/host_files.h"
#include "vm/run_command.h"
#include "vm/usb_drop_errors.h"
#include "vm/usb_drop_rules.h"

namespace vmshare::vm {

namespace {

// A guest may reformat the stick with a geometry mtools would refuse to trust; the bytes are
// read all the same (and capped). UTF-8 names come from the locale (C.UTF-8, child_env).
const std::vector<std::string> kMtoolsEnv = {"MTOOLS_SKIP_CHECK=1"};

// `sandbox` set: argv runs confined with `image_copy` as its fd 3 (usb_drop_sandbox.h).
CommandResult run_mtools(const std::vector<std::string>& argv, std::chrono::milliseconds timeout,
                         std::size_t max_output = 1 << 20, const DropSandbox* sandbox = nullptr,
                         int image_copy = -1) {
  RunOptions options;
  options.timeout = timeout;
  options.max_output = max_output;
  options.extra_env = kMtoolsEnv;
  if (!sandbox) {
    auto result = run_command(argv, options);
    if (result.timed_out) throw DropStickError(fmt::format("{} took too long", argv.front()));
    return result;
  }
  options.pass_fd = image_copy;
  options.cwd = "/";
  auto result = run_command(sandboxed_argv(*sandbox, argv), options);
  if (result.timed_out) throw DropStickError(fmt::format("{} took too long", argv.front()));
  // prlimit's SIGXCPU/SIGKILL at the CPU limit, or SIGSEGV at the address-space one.
  if (result.term_signal > 0)
    throw DropStickError(fmt::format("{} was ended by signal {}", argv.front(), result.term_signal));
  return result;
}

void require_ok(const CommandResult& r, const std::string& tool) {
  if (!r.ok())
    throw DropStickError(fmt::format("{} failed (exit {}): {}", tool, r.exit_code, r.err.substr(0, 500)));
}

[[noreturn]] void fail_copy(const char* what) {
  throw DropStickError(fmt::format("cannot copy the USB stick for reading: {}: {}", what, std::strerror(errno)));
}

}  // namespace

DropImageTool::DropImageTool(std::chrono::milliseconds timeout)
    : timeout_(timeout),
      mformat_(resolve_in_path("mformat")),
      mcopy_(resolve_in_path("mcopy")),
      mdir_(resolve_in_path("mdir")),
      mtype_(resolve_in_path("mtype")),
      prlimit_(resolve_in_path("prlimit")),
      setpriv_(resolve_in_path("setpriv")) {}

void DropImageTool::format(const std::string& image, std::uint64_t bytes) const {
  auto argv = drop_mformat_argv(image, bytes);
  argv.front() = mformat_;
  require_ok(run_mtools(argv, timeout_), "mformat");
}

void DropImageTool::copy_in(const std::string& image, const std::vector<std::string>& sources) const {
  if (sources.empty()) return;
  // -Q: stop at the first error; -D s would skip a clash silently, so none may exist (names are
  // made unique beforehand, ignoring case as FAT does) and a clash is an error.
  std::vector<std::string> argv = {mcopy_, "-Q", "-m", "-i", image};
  argv.insert(argv.end(), sources.begin(), sources.end());
  argv.emplace_back("::/");
  require_ok(run_mtools(argv, timeout_), "mcopy");
}

DropSandbox DropImageTool::sandbox_for(std::optional<uid_t> vm_uid) const {
  auto sandbox = drop_sandbox_for(vm_uid, ::geteuid() == 0);
  sandbox.prlimit = prlimit_;
  sandbox.setpriv = setpriv_;
  return sandbox;
}

UniqueFd DropImageTool::sealed_copy(const std::string& image, std::uint64_t max_bytes) {
  UniqueFd source = open_regular(image, false);  // O_NOFOLLOW, a regular file
  struct stat st {};
  if (::fstat(source.get(), &st) != 0) fail_copy("fstat");
  if (static_cast<std::uint64_t>(st.st_size) > max_bytes) throw DropStickError("the USB stick grew past its size");
  UniqueFd copy(::memfd_create("vmshare-usb-stick", MFD_CLOEXEC | MFD_ALLOW_SEALING));
  if (!copy) fail_copy("memfd_create");
  for (std::uint64_t left = static_cast<std::uint64_t>(st.st_size); left > 0;) {
    const ssize_t n = ::sendfile(copy.get(), source.get(), nullptr, left);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail_copy("sendfile");
    if (n == 0) break;  // shorter than it said: what is there is read
    left -= static_cast<std::uint64_t>(n);
  }
  if (::fcntl(copy.get(), F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL) != 0)
    fail_copy("sealing");
  return copy;
}

std::vector<std::string> DropImageTool::list(int image_copy, const DropSandbox& sandbox) const {
  // -a: hidden files too; -b: one "::/name" per line.
  const auto r = run_mtools({mdir_, "-a", "-b", "-i", kSandboxImagePath, "::/"}, timeout_, 4 << 20, &sandbox,
                            image_copy);
  if (!r.ok()) {
    // An empty root folder makes mdir say "No files" with a non-zero status.
    if (r.out.empty() && r.err.find("No files") != std::string::npos) return {};
    require_ok(r, "mdir");
  }
  return parse_mdir_bare(r.out);
}

std::string DropImageTool::read(int image_copy, const DropSandbox& sandbox, const std::string& name,
                                std::size_t max_bytes) const {
  if (!fetchable_stick_name(name)) throw DropStickError("a name mtools would read as a pattern");
  // mtype without -t writes the bytes as they are; one more than allowed tells "too large".
  auto r = run_mtools({mtype_, "-i", kSandboxImagePath, "::/" + name}, timeout_, max_bytes + 1, &sandbox, image_copy);
  require_ok(r, "mtype");
  if (r.out.size() > max_bytes) throw DropFileTooLarge();
  return std::move(r.out);
}

}  // namespace vmshare::vm
