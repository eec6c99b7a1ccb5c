#include "api/bootstrap.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <stdexcept>

#include "auth/jwt_tokens.h"

namespace vmshare::api {

std::string load_or_create_secret(const Config& config) {
  if (!config.secret_key.empty()) return config.secret_key;
  const std::string path = config.data_dir + "/secret_key";
  const std::string fresh = auth::random_hex(32);
  // O_EXCL: two processes starting at once agree on whichever secret was written first.
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd >= 0) {
    const bool written = ::write(fd, fresh.data(), fresh.size()) == static_cast<ssize_t>(fresh.size());
    ::fsync(fd);
    ::close(fd);
    if (!written) {
      ::unlink(path.c_str());
      throw std::runtime_error("cannot write the generated secret key in the data folder");
    }
    return fresh;
  }
  if (errno != EEXIST) throw std::runtime_error(std::string("cannot create the secret key file: ") + std::strerror(errno));
  std::ifstream in(path);
  std::string secret;
  std::getline(in, secret);
  if (secret.size() < 16) throw std::runtime_error("the secret key file in the data folder is empty or too short");
  return secret;
}

std::unique_ptr<AppContext> make_app_context(const Config& config) {
  std::error_code ec;
  std::filesystem::create_directories(config.data_dir, ec);
  if (ec) throw std::runtime_error("VMSHARE_DATA_DIR: cannot create " + config.data_dir + ": " + ec.message());
  ::chmod(config.data_dir.c_str(), 0700);

  auto app = std::make_unique<AppContext>();
  app->config = config;
  app->secret = load_or_create_secret(config);
  app->users = store::make_user_store(config);
  app->sessions = store::make_session_store(config);
  app->isos = std::make_shared<vm::IsoStore>(config.data_dir, config.max_iso_bytes);
  app->isos->set_limits({config.uploads_per_user, config.iso_store_max_mb << 20,
                         static_cast<std::uint64_t>(config.iso_store_max_files), config.min_free_disk_mb << 20});
  app->hashes = std::make_unique<auth::HashPool>(
      static_cast<unsigned>(config.hash_threads), auth::kHashBoostAfter,
      auth::HashQueueLimits{static_cast<std::size_t>(config.hash_queue_max), std::chrono::milliseconds(config.hash_queue_wait_ms)});
  app->decoy_hash = auth::hash_password(auth::random_hex(16), config.bcrypt_cost);
  app->viewer_slots = vm::ViewerSlots::create({config.console_viewers_per_vm, config.console_viewers_per_user});
  return app;
}

}  // namespace vmshare::api
