#include "cluster/internal_gate.h"
#include "cluster/request_signing.h"

#include <gtest/gtest.h>

using namespace vmshare::cluster;

namespace {
const std::string kKey = "a-cluster-key-of-at-least-32-characters";
SignedFields fields(std::int64_t ts = 1800000000, std::string nonce = "ffffffffffffffffffffffffffffffff") {
  return {"POST", "/run-script?x=1", ts, std::move(nonce), "n2"};
}
}  // namespace

// Golden vectors computed with `openssl dgst -sha256 -hmac KEY` over the canonical text.
TEST(RequestSigning, GoldenVectors) {
  EXPECT_EQ(sign_request("k", {"GET", "/vm/status", 1700000000, "0123456789abcdef0123456789abcdef", "node-a"}),
            "137d7dd63db94cc99e810c7a7c160e69972757d5bff8d585976a1e4897d8ed13");
  EXPECT_EQ(sign_request(kKey, fields()), "07e49eb494b951db236b9151c9754665b431e72344baa5179de26f1ea72eb532");
}

TEST(RequestSigning, AcceptsOnceWithinTheWindow) {
  NonceCache nonces;
  const auto sig = sign_request(kKey, fields());
  EXPECT_EQ(verify_request(kKey, fields(), sig, 1800000010, 30, nonces), Verdict::ok);
  EXPECT_EQ(verify_request(kKey, fields(), sig, 1800000011, 30, nonces), Verdict::replayed);
}

TEST(RequestSigning, RefusesOldFutureForgedAndMalformed) {
  NonceCache nonces;
  const auto sig = sign_request(kKey, fields());
  EXPECT_EQ(verify_request(kKey, fields(), sig, 1800000031, 30, nonces), Verdict::expired);
  EXPECT_EQ(verify_request(kKey, fields(), sig, 1799999969, 30, nonces), Verdict::expired);
  EXPECT_EQ(verify_request("another-key-of-at-least-32-characters!", fields(), sig, 1800000000, 30, nonces),
            Verdict::bad_signature);
  auto changed = fields();
  changed.target = "/vm/stop";
  EXPECT_EQ(verify_request(kKey, changed, sig, 1800000000, 30, nonces), Verdict::bad_signature);
  EXPECT_EQ(verify_request(kKey, fields(), "zz", 1800000000, 30, nonces), Verdict::malformed);
  EXPECT_EQ(verify_request(kKey, fields(1800000000, "short"), sig, 1800000000, 30, nonces), Verdict::malformed);
}

TEST(RequestSigning, NoncesAreForgottenAfterTwiceTheWindow) {
  NonceCache nonces(4);
  EXPECT_TRUE(nonces.remember("a", 100, 30));
  EXPECT_FALSE(nonces.remember("a", 120, 30));
  EXPECT_TRUE(nonces.remember("b", 200, 30));  // "a" is older than 2 windows: forgotten
  EXPECT_TRUE(nonces.remember("a", 200, 30));
  EXPECT_EQ(new_nonce().size(), 32u);
  EXPECT_NE(new_nonce(), new_nonce());
}

TEST(InternalGate, PublicListenerRefusesTheSchemesHeaders) {
  vmshare::http::Request r;
  r.headers["Cookie"] = "a=b";
  EXPECT_FALSE(refuse_internal_headers(r));
  r.headers["X-VMShare-Signature"] = "00";
  auto refusal = refuse_internal_headers(r);
  ASSERT_TRUE(refusal);
  EXPECT_EQ(refusal->first, 400);
}

TEST(InternalGate, AcceptsOnlySignedRequestsAndRestoresTheHost) {
  InternalGate gate(kKey);
  vmshare::http::Request r;
  r.method = "POST";
  r.target = "/run-script?x=1";
  auto refusal = gate.admit(r, 1800000000);
  ASSERT_TRUE(refusal);
  EXPECT_EQ(refusal->first, 401);
  r.headers[kHeaderNode] = "n2";
  r.headers[kHeaderTime] = "1800000000";
  r.headers[kHeaderNonce] = "ffffffffffffffffffffffffffffffff";
  r.headers[kHeaderSignature] = sign_request(kKey, fields());
  r.headers["X-Vmshare-Forwarded-Host"] = "vm.example:443";
  EXPECT_FALSE(gate.admit(r, 1800000005));
  EXPECT_EQ(r.cluster_peer, "n2");
  EXPECT_EQ(*r.header("Host"), "vm.example:443");
  EXPECT_TRUE(gate.admit(r, 1800000006));  // the same request again: replayed
}
