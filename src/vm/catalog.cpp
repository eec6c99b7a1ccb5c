#include "vm/catalog.h"

#include <fmt/format.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

namespace vmshare::vm {
namespace {

using nlohmann::json;

// Field readers: `who` is how the profile is named in messages ("profile \"tiny\"" or
// "profile #2" before the name is known).
[[noreturn]] void fail(const std::string& who, const std::string& field, const std::string& what) {
  throw CatalogError(fmt::format("catalog: {}: field \"{}\" {}", who, field, what));
}

std::string get_string(const json& p, const std::string& who, const char* field, bool required) {
  auto it = p.find(field);
  if (it == p.end() || it->is_null()) {
    if (required) fail(who, field, "is required");
    return {};
  }
  if (!it->is_string()) fail(who, field, "must be a string");
  return it->get<std::string>();
}

int get_int(const json& p, const std::string& who, const char* field, int lo, int hi) {
  auto it = p.find(field);
  if (it == p.end() || it->is_null()) fail(who, field, "is required");
  if (!it->is_number_integer()) fail(who, field, "must be an integer");
  auto v = it->get<long long>();
  if (v < lo || v > hi) fail(who, field, fmt::format("must be between {} and {}", lo, hi));
  return static_cast<int>(v);
}

void check_absolute(const std::string& who, const char* field, const std::string& path) {
  if (!path.empty() && path.front() != '/') fail(who, field, "must be an absolute path");
}

Profile parse_profile(const json& p, std::size_t index) {
  std::string who = fmt::format("profile #{}", index);
  if (!p.is_object()) throw CatalogError(fmt::format("catalog: {} must be an object", who));

  Profile prof;
  prof.name = get_string(p, who, "name", true);
  if (!valid_profile_name(prof.name)) fail(who, "name", "must match [a-z0-9][a-z0-9_-]{0,31}");
  who = fmt::format("profile \"{}\"", prof.name);
  if (prof.name == kCustomProfileName) fail(who, "name", "is reserved for ISO boots");

  prof.title = get_string(p, who, "title", false);
  if (prof.title.empty()) prof.title = prof.name;
  prof.base_image = get_string(p, who, "base_image", false);
  prof.iso = get_string(p, who, "iso", false);
  prof.kernel = get_string(p, who, "kernel", false);
  // Without a base the VM gets a blank disk: only useful to an installer (a CD or a kernel).
  if (prof.base_image.empty() && prof.iso.empty() && prof.kernel.empty())
    fail(who, "base_image", "is required (or \"iso\" or \"kernel\" to install onto a blank disk)");
  check_absolute(who, "base_image", prof.base_image);
  check_absolute(who, "iso", prof.iso);
  prof.memory_mb = get_int(p, who, "memory_mb", 64, 65536);
  prof.cpus = get_int(p, who, "cpus", 1, 64);

  auto kind = get_string(p, who, "kind", false);
  if (!kind.empty()) prof.kind = kind;
  prof.initrd = get_string(p, who, "initrd", false);
  prof.append = get_string(p, who, "append", false);
  prof.description = get_string(p, who, "description", false);
  if (auto it = p.find("record"); it != p.end() && !it->is_null()) {
    if (!it->is_boolean()) fail(who, "record", "must be true or false");
    prof.record = it->get<bool>();
  }
  check_absolute(who, "kernel", prof.kernel);
  check_absolute(who, "initrd", prof.initrd);
  // QEMU rejects -initrd/-append without -kernel; say so at start-up, not at first launch.
  if (prof.kernel.empty() && !prof.initrd.empty()) fail(who, "initrd", "needs \"kernel\"");
  if (prof.kernel.empty() && !prof.append.empty()) fail(who, "append", "needs \"kernel\"");
  if (!prof.iso.empty() && !prof.kernel.empty()) fail(who, "iso", "and \"kernel\" exclude each other");
  return prof;
}

}  // namespace

bool valid_profile_name(const std::string& s) {
  if (s.empty() || s.size() > 32) return false;
  // A leading '-' or '_' would read as an option on a command line or hide a file name.
  if (s.front() == '-' || s.front() == '_') return false;
  for (char c : s) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

const Profile* Catalog::find(const std::string& name) const {
  for (const auto& p : profiles_)
    if (p.name == name) return &p;
  return nullptr;
}

Catalog parse_catalog(const std::string& json_text) {
  json doc;
  try {
    doc = json::parse(json_text);
  } catch (const json::parse_error& e) {
    throw CatalogError(fmt::format("catalog: invalid JSON: {}", e.what()));
  }
  if (!doc.is_object()) throw CatalogError("catalog: top level must be an object");
  auto it = doc.find("profiles");
  if (it == doc.end() || !it->is_array())
    throw CatalogError("catalog: field \"profiles\" must be an array");

  std::vector<Profile> profiles;
  std::set<std::string> seen;
  for (std::size_t i = 0; i < it->size(); ++i) {
    Profile p = parse_profile((*it)[i], i);
    if (!seen.insert(p.name).second)
      fail(fmt::format("profile \"{}\"", p.name), "name", "is used twice");
    profiles.push_back(std::move(p));
  }
  return Catalog(std::move(profiles));
}

Catalog load_catalog(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw CatalogError(fmt::format("catalog: cannot read {}", path));
  std::ostringstream ss;
  ss << in.rdbuf();
  return parse_catalog(ss.str());
}

}  // namespace vmshare::vm
