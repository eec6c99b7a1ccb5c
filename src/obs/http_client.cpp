#include "obs/http_client.h"

#include <curl/curl.h>

#include <cctype>
#include <chrono>
#include <memory>
#include <mutex>
#include <strings.h>

namespace vmshare::obs {
namespace {

void global_init() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

using Clock = std::chrono::steady_clock;

struct Transfer {
  const HttpRequest* request;
  HttpResponse* response;
  bool headers_done = false;
  bool aborted = false;
  bool too_large = false;
  bool stalled = false;
  Clock::time_point started = Clock::now();
  Clock::time_point last_progress = started;

  // The status of the final response (after any 1xx), then its headers.
  bool deliver_headers() {
    if (headers_done) return true;
    headers_done = true;
    last_progress = Clock::now();
    if (request->on_headers && !request->on_headers(response->status, response->headers)) {
      aborted = true;
      return false;
    }
    last_progress = Clock::now();
    return true;
  }
};

std::string trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n')) s.remove_suffix(1);
  return std::string(s);
}

size_t on_header(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  std::string_view line(data, size * n);
  if (line.rfind("HTTP/", 0) == 0) {
    // A new status line (after 100 Continue or similar): start over.
    t->response->headers.clear();
    auto sp = line.find(' ');
    t->response->status = sp == std::string_view::npos ? 0 : std::atoi(std::string(line.substr(sp + 1, 3)).c_str());
    return size * n;
  }
  // The blank line ending a final response's headers: a stream hears of them now, not only
  // with the first body byte (which may be long in coming).
  if (line == "\r\n" || line == "\n") {
    if (t->response->status >= 200 && !t->deliver_headers()) return 0;
    return size * n;
  }
  auto colon = line.find(':');
  if (colon != std::string_view::npos)
    t->response->headers.emplace_back(trim(line.substr(0, colon)), trim(line.substr(colon + 1)));
  return size * n;
}

int on_progress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  auto* t = static_cast<Transfer*>(user);
  const auto now = Clock::now();
  const auto& r = *t->request;
  if (!t->headers_done ? r.header_timeout.count() > 0 && now - t->started > r.header_timeout
                       : r.stall_timeout.count() > 0 && now - t->last_progress > r.stall_timeout) {
    t->stalled = true;
    return 1;  // aborts the transfer
  }
  return 0;
}

size_t on_write(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const size_t len = size * n;
  if (!t->deliver_headers()) return 0;
  if (t->request->on_body) {
    if (!t->request->on_body(std::string_view(data, len))) {
      t->aborted = true;
      return 0;
    }
    t->last_progress = Clock::now();
    return len;
  }
  if (t->response->body.size() + len > t->request->max_response_bytes) {
    t->too_large = true;
    return 0;
  }
  t->response->body.append(data, len);
  return len;
}

}  // namespace

const std::string* find_header(const HeaderList& headers, std::string_view name) {
  for (const auto& [k, v] : headers)
    if (k.size() == name.size() && strncasecmp(k.data(), name.data(), name.size()) == 0) return &v;
  return nullptr;
}

const std::string* HttpResponse::header(std::string_view name) const { return find_header(headers, name); }


HttpResponse http_request(const HttpRequest& request) {
  global_init();
  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> curl(curl_easy_init(), &curl_easy_cleanup);
  if (!curl) throw HttpError("cannot create a curl handle");
  HttpResponse response;
  Transfer transfer{&request, &response};

  CURL* h = curl.get();
  curl_easy_setopt(h, CURLOPT_URL, request.url.c_str());
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);  // timeouts without SIGALRM: we are multi-threaded
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(request.timeout.count()));
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(request.connect_timeout.count()));
  curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
  // Local services (Prometheus, Grafana) never go through an environment proxy.
  curl_easy_setopt(h, CURLOPT_NOPROXY, "localhost,127.0.0.1,::1");
  curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, &on_header);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, &transfer);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, &on_write);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &transfer);
  // A CONNECT through an environment proxy must not look like the response's own headers.
  curl_easy_setopt(h, CURLOPT_SUPPRESS_CONNECT_HEADERS, 1L);
  if (request.header_timeout.count() > 0 || request.stall_timeout.count() > 0) {
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, &on_progress);
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, &transfer);
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
  }

  if (request.method == "HEAD") {
    curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
  } else if (request.method != "GET" || !request.body.empty()) {
    if (request.method != "POST") curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, request.method.c_str());
    if (request.method != "GET" || !request.body.empty()) {
      curl_easy_setopt(h, CURLOPT_POSTFIELDS, request.body.data());
      curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.body.size()));
    }
  }

  curl_slist* headers = nullptr;
  for (const auto& [k, v] : request.headers)
    headers = curl_slist_append(headers, v.empty() ? (k + ";").c_str() : (k + ": " + v).c_str());
  // No "Expect: 100-continue" round trip, and no default Content-Type for bodies we forward.
  headers = curl_slist_append(headers, "Expect:");
  bool has_type = false;
  for (const auto& [k, _] : request.headers) has_type |= strcasecmp(k.c_str(), "Content-Type") == 0;
  if (!has_type && !request.body.empty()) headers = curl_slist_append(headers, "Content-Type:");
  std::unique_ptr<curl_slist, decltype(&curl_slist_free_all)> header_guard(headers, &curl_slist_free_all);
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);

  const CURLcode rc = curl_easy_perform(h);
  if (transfer.stalled) throw HttpError(transfer.headers_done ? "response stalled" : "no response in time");
  if (transfer.too_large) throw HttpError("response body too large");
  if (transfer.aborted) throw HttpError("transfer aborted");
  if (rc != CURLE_OK) throw HttpError(curl_easy_strerror(rc));
  long status = 0;
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
  response.status = static_cast<int>(status);
  transfer.deliver_headers();  // bodiless responses
  return response;
}

}  // namespace vmshare::obs
