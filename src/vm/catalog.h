#pragma once
// The image catalog: which guests users may start (API.md, POST /run-script {os_type}).
// Parsed and validated at start-up (a bad entry stops the server with a CatalogError) and again
// whenever the file changes (catalog_watcher.h: a bad file then keeps the previous catalog).
#include <string>
#include <vector>

#include "vm/errors.h"

namespace vmshare::vm {

// One bootable profile. Optional strings are empty when absent.
struct Profile {
  std::string name;         // [a-z0-9_-]{1,32}, unique; the API's os_type
  std::string title;        // human-readable; defaults to name
  std::string base_image;   // absolute path of the qcow2 base; VMs boot from an overlay on it.
                            // Optional with iso or kernel: the VM then gets a blank disk to install onto
  int memory_mb = 0;        // 64..65536
  int cpus = 0;             // 1..64
  std::string kind = "linux";
  std::string kernel;       // optional absolute path: direct kernel boot
  std::string initrd;       // optional absolute path; needs kernel
  std::string append;       // optional kernel command line; needs kernel
  std::string description;  // optional
  std::string iso;          // optional absolute path: an installer CD, attached read-only, booted first
  bool record = false;      // optional: every launch of this profile records its console (issue 15)
};

// [a-z0-9][a-z0-9_-]{0,31}: a profile's name (the API's os_type; also part of file names).
bool valid_profile_name(const std::string& name);

// Profile name reserved for user ISO boots (POST /run-iso); a catalog may not define it.
inline constexpr const char* kCustomProfileName = "custom";

class Catalog {
 public:
  Catalog() = default;
  explicit Catalog(std::vector<Profile> profiles) : profiles_(std::move(profiles)) {}

  // nullptr when unknown. The pointer lives as long as the Catalog.
  const Profile* find(const std::string& name) const;
  // In file order (GET /images lists them so).
  const std::vector<Profile>& profiles() const { return profiles_; }
  bool empty() const { return profiles_.empty(); }

 private:
  std::vector<Profile> profiles_;
};

// Parses {"profiles":[{...}, ...]}. Unknown fields are ignored (forward compatibility).
// Throws CatalogError naming the profile (or its index) and the field.
// Does not touch the file system: whether base_image exists is the caller's concern.
Catalog parse_catalog(const std::string& json_text);

// Reads `path` and parses it; an unreadable file is a CatalogError naming the path.
Catalog load_catalog(const std::string& path);

}  // namespace vmshare::vm
