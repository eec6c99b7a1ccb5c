#pragma once
// The cluster module's errors; api/error_table.cpp maps them to HTTP.
#include <stdexcept>

namespace vmshare::cluster {

struct ClusterError : std::runtime_error {
  using std::runtime_error::runtime_error;
};
// The node that runs the VM (or should run it) did not answer over the internal channel: 503.
struct PeerUnavailable : ClusterError {
  using ClusterError::ClusterError;
};
// No node can take the launch (all full, draining, or the file's node is down): 503.
struct PlacementRefused : ClusterError {
  using ClusterError::ClusterError;
};
// The caller's VM was on a node that stopped answering; it was given up (410).
struct VmLost : ClusterError {
  using ClusterError::ClusterError;
};

}  // namespace vmshare::cluster
