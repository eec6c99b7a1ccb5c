#pragma once
// Pure URL helpers: percent-decoding, query strings, path normalisation.
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "core/percent_encode.h"

namespace vmshare::http {

// nullopt for a bad escape; '+' stays '+' unless form is true.
std::optional<std::string> percent_decode(std::string_view in, bool form = false);
using vmshare::percent_encode;
// Last value wins; malformed pairs are skipped.
std::map<std::string, std::string> parse_query(std::string_view query);
// Splits "/a/b?x=1" into path and query parts (no decoding).
std::pair<std::string_view, std::string_view> split_target(std::string_view target);

// A request target as the server uses it: the percent-decoded path and the parsed query.
// nullopt when the path has a bad escape, is not absolute, or decodes to a NUL (400).
struct DecodedTarget {
  std::string path;
  std::map<std::string, std::string> query;
};
std::optional<DecodedTarget> decode_target(std::string_view target);

}  // namespace vmshare::http
