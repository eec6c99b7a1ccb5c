#pragma once
// `vmshare image add|list|remove`: the operator's catalog commands, on the same configuration
// as the server. The catalog file is edited atomically (temporary file + rename) under an
// exclusive lock (<catalog>.lock), so two commands at once never lose an edit and the server,
// which reloads the file when it changes (vm/catalog_watcher.h), never reads half of one.
// Image files go into the folder of the catalog (the image store) under names vmshare picks,
// read-only: a base is never written (VMs write to their own overlays).
#include <string>

#include "core/config.h"
#include "vm/catalog_edit.h"

namespace vmshare::api {

// The catalog the server reads: VMSHARE_IMAGES, else <data>/images/catalog.json.
std::string catalog_path(const Config& config);

// Each returns a process exit code and prints a one-line result or error; a failure leaves the
// catalog and the image store as they were.
int admin_image_add(const Config& config, const vm::ImageAddRequest& request);
int admin_image_list(const Config& config);
// Refused while a running VM uses the image; --force is not offered on purpose.
int admin_image_remove(const Config& config, const std::string& name);

}  // namespace vmshare::api
