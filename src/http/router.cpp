#include "http/router.h"

namespace vmshare::http {
namespace {
std::vector<std::string> split_path(const std::string& path) {
  std::vector<std::string> out;
  std::size_t start = 1;
  if (path.empty() || path[0] != '/') return out;
  while (start <= path.size()) {
    auto end = path.find('/', start);
    if (end == std::string::npos) end = path.size();
    out.push_back(path.substr(start, end - start));
    start = end + 1;
  }
  if (!out.empty() && out.back().empty() && out.size() > 1) out.pop_back();  // trailing slash
  return out;
}
}  // namespace

void Router::add(Route route) {
  Compiled c;
  c.segments = split_path(route.pattern);
  if (!c.segments.empty() && c.segments.back() == "<*>") {
    c.wildcard = true;
    c.segments.pop_back();
  }
  c.route = std::move(route);
  routes_.push_back(std::move(c));
}

RouteMatch Router::match(const std::string& method, const std::string& path) const {
  RouteMatch result;
  const auto parts = split_path(path);
  for (const auto& c : routes_) {
    if (c.wildcard ? parts.size() < c.segments.size() : parts.size() != c.segments.size()) continue;
    std::vector<std::string> params;
    bool ok = true;
    for (std::size_t i = 0; i < c.segments.size() && ok; ++i) {
      const auto& seg = c.segments[i];
      if (seg.size() > 2 && seg.front() == '<' && seg.back() == '>') {
        if (parts[i].empty()) ok = false;
        else params.push_back(parts[i]);
      } else if (seg != parts[i]) {
        ok = false;
      }
    }
    if (!ok) continue;
    if (c.wildcard) {
      std::string rest;
      for (std::size_t i = c.segments.size(); i < parts.size(); ++i) rest += (i ? "/" : "") + parts[i];
      params.push_back(rest);
    }
    const bool method_ok = c.route.method == "*" || c.route.method == method ||
                           (method == "HEAD" && c.route.method == "GET");
    if (!method_ok) {
      result.method_mismatch = true;
      if (result.allowed_methods.find(c.route.method) == std::string::npos)
        result.allowed_methods += (result.allowed_methods.empty() ? "" : ", ") + c.route.method;
      continue;
    }
    result.route = &c.route;
    result.params = std::move(params);
    result.method_mismatch = false;
    return result;
  }
  return result;
}

}  // namespace vmshare::http
