#pragma once
// Pure rules of "drop files into the VM" (usb_drop_service.h): file names that are safe on the
// stick and on the host, the stick's size, mdir's listing, and the QMP arguments that plug the
// stick in. No I/O; unit-tested.
#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace vmshare::vm {

// Longest name kept, in bytes of UTF-8 (FAT allows 255 UTF-16 units; this leaves room for the
// " (2)" of a duplicate and stays readable in a listing).
inline constexpr std::size_t kDropNameMaxBytes = 120;

// A name someone else chose (a browser's file name, a name the guest wrote on the stick) as a
// plain file name: the part after the last '/' or '\', invalid UTF-8, control characters and
// the characters FAT, Windows or mtools' patterns refuse ("*/:<>?\|[] and DEL) replaced by '_',
// leading and trailing spaces and dots dropped, cut to kDropNameMaxBytes at a character
// boundary keeping the extension. Never empty, never "." or "..": "file" when nothing is left.
std::string sanitize_drop_name(std::string_view name);

// `name` (already sanitised), made unique against `taken` ignoring ASCII case, as FAT does:
// "a.txt", "a (2).txt", "a (3).txt"... The result is added to `taken` (lower-cased).
std::string unique_drop_name(const std::string& name, std::set<std::string>& taken);
std::string fold_case(std::string_view name);

// Whether a name from the stick may be passed to mtools as it is: mtools reads '*', '?' and
// '[' as patterns and '/' as a folder, and control characters are never a real file's.
bool fetchable_stick_name(std::string_view name);

// The stick for a drop of at most `payload_bytes` in `files` files: room for every file
// (rounded up to 4 KiB clusters), the FAT's own tables, and slack the guest can write back into
// (a quarter of the payload, at least 4 MiB); a whole number of MiB, at least 8. 0 when it would
// pass `max_bytes` (the drop is too large).
std::uint64_t drop_stick_bytes(std::uint64_t payload_bytes, std::uint64_t files, std::uint64_t max_bytes);
// The largest payload of up to `files` files a stick of at most `max_bytes` has room for (0: none).
std::uint64_t drop_payload_budget(std::uint64_t max_bytes, std::uint64_t files);
// MiB charged against the owner's storage quota for a stick of `stick_bytes`.
std::int64_t drop_stick_mb(std::uint64_t stick_bytes);

// Names in the root folder of the stick, from `mdir -b ::` output ("::/name" per line, folders
// ending in '/', which are left out). Lines that are not in that shape are skipped.
std::vector<std::string> parse_mdir_bare(std::string_view output);

// The QMP arguments that attach a raw image QEMU opens as `fdset_path` (a descriptor vmshare
// passed with add-fd) as block node `node`, and plug it in as a USB stick `device_id` on `bus`.
nlohmann::json drop_blockdev_args(const std::string& node, const std::string& fdset_path);
nlohmann::json drop_device_args(const std::string& device_id, const std::string& node, const std::string& bus);

// vmshare's own ids for a stick in QEMU: node "drop-<10 of [a-z0-9]>", device "<node>-dev".
// Whether a QOM peripheral id is one of those, and the node of such a device (empty if not).
bool is_drop_device_id(std::string_view id);
std::string drop_node_of_device(std::string_view device_id);

// mformat's argv for a FAT file system filling an image of `bytes` at `image_path`.
std::vector<std::string> drop_mformat_argv(const std::string& image_path, std::uint64_t bytes);

}  // namespace vmshare::vm
