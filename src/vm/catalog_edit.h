#pragma once
// Editing the image catalog (`vmshare image add|remove`), as pure functions on the file's text:
// the old text in, the new text out. Each result is parsed again before it is returned, so an
// edit can never produce a catalog the server would refuse; the other profiles (and fields this
// version does not know) are kept as they were. Every bad input throws CatalogError and changes
// nothing.
#include <string>

#include "vm/catalog.h"

namespace vmshare::vm {

// What `vmshare image add` was asked for, before any file is touched.
struct ImageAddRequest {
  std::string name;
  std::string file;     // a qcow2 or raw disk, or an ISO; empty with a kernel alone
  std::string title;    // empty: the name
  int memory_mb = 1024;
  int cpus = 1;
  std::string kind = "linux";
  std::string kernel;   // direct kernel boot
  std::string initrd;
  std::string append;
};

// Names, numbers and combinations; throws CatalogError with a sentence for the operator.
void validate_image_add(const ImageAddRequest& request);

// The profile as the catalog file holds it (optional fields left out when empty).
std::string profile_to_json_text(const Profile& profile);

// `text` empty (no catalog yet): a catalog with this profile alone. A name already there throws.
std::string catalog_with_profile(const std::string& text, const Profile& profile);
// A name not there throws.
std::string catalog_without_profile(const std::string& text, const std::string& name);

}  // namespace vmshare::vm
