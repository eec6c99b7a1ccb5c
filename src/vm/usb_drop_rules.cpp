#include "vm/usb_drop_rules.h"

#include <algorithm>

namespace vmshare::vm {

namespace {

constexpr std::uint64_t kMiB = 1 << 20;
constexpr std::uint64_t kCluster = 4096;

// Length of the UTF-8 sequence starting at s[i], or 0 when it is not valid UTF-8.
std::size_t utf8_length(std::string_view s, std::size_t i) {
  const auto c = static_cast<unsigned char>(s[i]);
  std::size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 0;
  if (n == 0 || i + n > s.size()) return 0;
  for (std::size_t k = 1; k < n; ++k)
    if ((static_cast<unsigned char>(s[i + k]) & 0xc0) != 0x80) return 0;
  if (n == 2 && c < 0xc2) return 0;  // overlong
  return n;
}

bool refused_ascii(unsigned char c) {
  return c < 0x20 || c == 0x7f || std::string_view("\"*/:<>?\\|[]").find(static_cast<char>(c)) != std::string_view::npos;
}

std::string trim_spaces_and_dots(std::string s) {
  const auto first = s.find_first_not_of(" .");
  if (first == std::string::npos) return {};
  s.erase(0, first);
  s.erase(s.find_last_not_of(" .") + 1);
  return s;
}

// The longest prefix of `s` of at most `max` bytes that ends at a character boundary.
std::string_view utf8_prefix(std::string_view s, std::size_t max) {
  if (s.size() <= max) return s;
  std::size_t cut = max;
  while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xc0) == 0x80) --cut;
  return s.substr(0, cut);
}

// "name.ext" -> {"name", ".ext"}; an extension is short and not the whole name.
std::pair<std::string, std::string> split_extension(const std::string& name) {
  const auto dot = name.rfind('.');
  if (dot == std::string::npos || dot == 0 || name.size() - dot > 16) return {name, ""};
  return {name.substr(0, dot), name.substr(dot)};
}

std::string fit(const std::string& name, std::size_t max) {
  if (name.size() <= max) return name;
  auto [stem, ext] = split_extension(name);
  if (ext.size() >= max) return trim_spaces_and_dots(std::string(utf8_prefix(name, max)));
  return trim_spaces_and_dots(std::string(utf8_prefix(stem, max - ext.size()))) + ext;
}

}  // namespace

std::string sanitize_drop_name(std::string_view name) {
  if (const auto slash = name.find_last_of("/\\"); slash != std::string_view::npos) name.remove_prefix(slash + 1);
  std::string out;
  for (std::size_t i = 0; i < name.size();) {
    const std::size_t n = utf8_length(name, i);
    if (n == 0) {
      out += '_';
      ++i;
    } else if (n == 1 && refused_ascii(static_cast<unsigned char>(name[i]))) {
      out += '_';
      ++i;
    } else {
      out.append(name.substr(i, n));
      i += n;
    }
  }
  out = fit(trim_spaces_and_dots(out), kDropNameMaxBytes);
  return out.empty() ? "file" : out;
}

std::string fold_case(std::string_view name) {
  std::string out(name);
  for (auto& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

std::string unique_drop_name(const std::string& name, std::set<std::string>& taken) {
  std::string candidate = name;
  auto [stem, ext] = split_extension(name);
  for (int n = 2; taken.count(fold_case(candidate)); ++n) {
    const std::string tag = " (" + std::to_string(n) + ")";
    candidate = fit(stem, kDropNameMaxBytes - tag.size() - ext.size()) + tag + ext;
  }
  taken.insert(fold_case(candidate));
  return candidate;
}

bool fetchable_stick_name(std::string_view name) {
  if (name.empty() || name == "." || name == "..") return false;
  for (unsigned char c : name)
    if (c < 0x20 || c == 0x7f || c == '*' || c == '?' || c == '[' || c == '/' || c == '\\') return false;
  return true;
}

std::uint64_t drop_stick_bytes(std::uint64_t payload_bytes, std::uint64_t files, std::uint64_t max_bytes) {
  constexpr std::uint64_t kLimit = 1ULL << 40;  // keeps the arithmetic below far from overflow
  if (payload_bytes > kLimit || files > kLimit / kCluster) return 0;
  const std::uint64_t data = payload_bytes + files * kCluster;  // each file's last cluster, partly used
  const std::uint64_t tables = data / 256 + kMiB;               // FATs, root folder, long names
  const std::uint64_t slack = std::max<std::uint64_t>(4 * kMiB, payload_bytes / 4);
  std::uint64_t total = (data + tables + slack + kMiB - 1) / kMiB * kMiB;
  total = std::max<std::uint64_t>(total, 8 * kMiB);
  return total > max_bytes ? 0 : total;
}

std::uint64_t drop_payload_budget(std::uint64_t max_bytes, std::uint64_t files) {
  if (drop_stick_bytes(0, files, max_bytes) == 0) return 0;
  std::uint64_t fits = 0, too_big = std::min<std::uint64_t>(max_bytes, 1ULL << 40) + 1;
  while (too_big - fits > 1) {  // drop_stick_bytes grows with the payload
    const std::uint64_t mid = fits + (too_big - fits) / 2;
    (drop_stick_bytes(mid, files, max_bytes) ? fits : too_big) = mid;
  }
  return fits;
}

std::int64_t drop_stick_mb(std::uint64_t stick_bytes) {
  return static_cast<std::int64_t>((stick_bytes + kMiB - 1) / kMiB);
}

std::vector<std::string> parse_mdir_bare(std::string_view output) {
  std::vector<std::string> names;
  while (!output.empty()) {
    const auto nl = output.find('\n');
    std::string_view line = output.substr(0, nl);
    output.remove_prefix(nl == std::string_view::npos ? output.size() : nl + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (!line.starts_with("::/")) continue;
    line.remove_prefix(3);
    if (line.empty() || line.back() == '/') continue;  // a folder
    names.emplace_back(line);
  }
  return names;
}

nlohmann::json drop_blockdev_args(const std::string& node, const std::string& fdset_path) {
  // Raw, never probed; the guest may write (files back to the owner). The protocol node is
  // named so blockdev-del of the format node removes both.
  return {{"driver", "raw"},
          {"node-name", node},
          {"file", {{"driver", "file"}, {"filename", fdset_path}}}};
}

nlohmann::json drop_device_args(const std::string& device_id, const std::string& node, const std::string& bus) {
  return {{"driver", "usb-storage"}, {"id", device_id}, {"drive", node}, {"bus", bus}, {"removable", true}};
}

bool is_drop_device_id(std::string_view id) {
  constexpr std::string_view prefix = "drop-", suffix = "-dev";
  if (id.size() != prefix.size() + 10 + suffix.size() || !id.starts_with(prefix) || !id.ends_with(suffix)) return false;
  for (char c : id.substr(prefix.size(), 10))
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))) return false;
  return true;
}

std::string drop_node_of_device(std::string_view device_id) {
  if (!is_drop_device_id(device_id)) return {};
  return std::string(device_id.substr(0, device_id.size() - 4));
}

std::vector<std::string> drop_mformat_argv(const std::string& image_path, std::uint64_t bytes) {
  // Geometry given explicitly (an image file has none); 64 heads x 32 sectors, like the tiny
  // image's disk. mformat picks FAT12/16/32 from the size.
  return {"mformat", "-i", image_path, "-T", std::to_string(bytes / 512), "-h", "64", "-s", "32",
          "-v", "VMSHARE", "::"};
}

}  // namespace vmshare::vm
