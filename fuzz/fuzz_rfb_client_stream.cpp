// The RFB client-stream parser and the view-only filter on arbitrary bytes: the first byte picks
// a chunk size, the rest is the stream. Checks what the bridge relies on: the same messages and
// verdict however the stream is cut; messages tile the stream (each begins where the last ends);
// at most a header's worth of bytes is undecided; the filter forwards exactly the non-input
// messages' bytes (ClientInit made shared) and nothing once malformed.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "vm/rfb_client_stream.h"

using namespace vmshare::vm;

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::size_t chunk = 1 + data[0] % 32;
  const std::uint8_t* p = data + 1;
  const std::size_t n = size - 1;

  RfbClientStream whole;
  std::vector<RfbClientStream::Message> all;
  const auto verdict = whole.feed(p, n, all);

  RfbClientStream cut;
  RfbViewOnlyFilter filter;
  std::vector<RfbClientStream::Message> pieces;
  std::string forwarded;
  auto cut_verdict = RfbClientStream::Status::ok, filter_verdict = RfbClientStream::Status::ok;
  for (std::size_t at = 0; at < n; at += chunk) {
    const std::size_t k = std::min(chunk, n - at);
    if (cut.feed(p + at, k, pieces) == RfbClientStream::Status::malformed) cut_verdict = RfbClientStream::Status::malformed;
    if (filter_verdict == RfbClientStream::Status::ok)
      filter_verdict = filter.filter(p + at, k, forwarded);
  }
  check(cut_verdict == verdict);
  check(filter_verdict == verdict);
  if (verdict == RfbClientStream::Status::malformed) return 0;  // the bridge closes; lists may differ in the tail
  check(pieces == all);
  check(whole.offset() == n && whole.pending_begin() <= n && n - whole.pending_begin() <= RfbClientStream::kMaxHeader);

  std::string expected;
  std::uint64_t at = 0;
  for (const auto& m : all) {
    check(m.begin == at && m.end > m.begin);
    at = m.end;
    if (m.input) continue;
    const std::uint64_t end = std::min<std::uint64_t>(m.end, whole.pending_begin());
    for (std::uint64_t i = m.begin; i < end; ++i)
      expected.push_back(static_cast<char>(m.type == RfbClientMessage::client_init ? 1 : p[i]));
  }
  check(at >= whole.pending_begin());
  check(forwarded == expected);
  return 0;
}
