#pragma once
// Helpers shared by the vm tests: a temporary directory and file I/O.
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace vmshare::vm::test {

// A fresh directory under /tmp (short, so UNIX socket paths fit), removed on destruction.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = "/tmp/vmt.XXXXXX";
    if (!::mkdtemp(tmpl.data())) std::abort();
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline void write_file(const std::string& path, const std::string& data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << data;
}

inline std::string source_path(const std::string& rel) {
  return std::string(VMSHARE_SOURCE_DIR) + "/" + rel;
}

}  // namespace vmshare::vm::test
