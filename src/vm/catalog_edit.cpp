#include "vm/catalog_edit.h"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

namespace vmshare::vm {
namespace {

using nlohmann::json;

[[noreturn]] void refuse(const std::string& what) { throw CatalogError(what); }

bool printable_line(const std::string& s) {
  for (unsigned char c : s)
    if (c < 0x20 || c == 0x7f) return false;
  return true;
}

json profile_json(const Profile& p) {
  json j = json::object();
  j["name"] = p.name;
  j["title"] = p.title.empty() ? p.name : p.title;
  if (!p.base_image.empty()) j["base_image"] = p.base_image;
  if (!p.iso.empty()) j["iso"] = p.iso;
  if (!p.kernel.empty()) j["kernel"] = p.kernel;
  if (!p.initrd.empty()) j["initrd"] = p.initrd;
  if (!p.append.empty()) j["append"] = p.append;
  j["memory_mb"] = p.memory_mb;
  j["cpus"] = p.cpus;
  j["kind"] = p.kind;
  if (!p.description.empty()) j["description"] = p.description;
  return j;
}

json parse_document(const std::string& text) {
  if (text.find_first_not_of(" \t\r\n") == std::string::npos) return json{{"profiles", json::array()}};
  parse_catalog(text);  // the same checks as the server: a broken file is never edited further
  return json::parse(text);
}

std::string finish(const json& doc) {
  std::string out = doc.dump(2) + "\n";
  parse_catalog(out);
  return out;
}

}  // namespace

void validate_image_add(const ImageAddRequest& r) {
  if (!valid_profile_name(r.name))
    refuse(fmt::format("image name \"{}\": use 1-32 of a-z, 0-9, '-', '_', starting with a letter or digit", r.name));
  if (r.name == kCustomProfileName) refuse("image name \"custom\" is reserved for users' own ISOs");
  if (r.memory_mb < 64 || r.memory_mb > 65536) refuse(fmt::format("--memory {}: must be 64 to 65536 (MiB)", r.memory_mb));
  if (r.cpus < 1 || r.cpus > 64) refuse(fmt::format("--cpus {}: must be 1 to 64", r.cpus));
  if (r.kind.empty() || r.kind.size() > 32 || !valid_profile_name(r.kind))
    refuse(fmt::format("--kind \"{}\": use 1-32 of a-z, 0-9, '-', '_'", r.kind));
  if (r.title.size() > 200 || !printable_line(r.title)) refuse("--title: one line of at most 200 characters");
  if (r.kernel.empty() && !r.initrd.empty()) refuse("--initrd needs --kernel");
  if (r.kernel.empty() && !r.append.empty()) refuse("--append needs --kernel");
  if (r.file.empty() && r.kernel.empty()) refuse("give a disk image or ISO file, or --kernel");
  if (r.append.size() > 2048 || !printable_line(r.append)) refuse("--append: one line of at most 2048 characters");
}

std::string profile_to_json_text(const Profile& profile) { return profile_json(profile).dump(); }

std::string catalog_with_profile(const std::string& text, const Profile& profile) {
  json doc = parse_document(text);
  for (const auto& p : doc["profiles"])
    if (p.is_object() && p.value("name", "") == profile.name)
      refuse(fmt::format("image \"{}\" is already in the catalog (vmshare image remove {} first)", profile.name,
                         profile.name));
  doc["profiles"].push_back(profile_json(profile));
  return finish(doc);
}

std::string catalog_without_profile(const std::string& text, const std::string& name) {
  json doc = parse_document(text);
  auto& profiles = doc["profiles"];
  for (auto it = profiles.begin(); it != profiles.end(); ++it)
    if (it->is_object() && it->value("name", "") == name) {
      profiles.erase(it);
      return finish(doc);
    }
  refuse(fmt::format("no image \"{}\" in the catalog", name));
}

}  // namespace vmshare::vm
