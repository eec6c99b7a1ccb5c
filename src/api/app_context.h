#pragma once
// Everything the handlers share, built once at start-up by main.
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "auth/password_hasher.h"
#include "cluster/cluster.h"
#include "core/config.h"
#include "store/session_store.h"
#include "store/user_store.h"
#include "vm/iso_store.h"
#include "vm/recording_service.h"
#include "vm/snapshot_service.h"
#include "vm/viewer_slots.h"
#include "vm/usb_drop_service.h"
#include "vm/vm_manager.h"

namespace vmshare::api {

struct AppContext {
  Config config;
  std::string secret;  // JWT signing key
  std::unique_ptr<store::UserStore> users;
  std::unique_ptr<store::SessionStore> sessions;
  std::unique_ptr<auth::HashPool> hashes;
  std::shared_ptr<vm::IsoStore> isos;
  std::unique_ptr<vm::VmManager> vms;  // needs the server's executors: made in main
  std::unique_ptr<vm::SnapshotService> snapshots;
  std::unique_ptr<vm::RecordingService> recordings;  // console recordings (issue 15)
  std::unique_ptr<vm::UsbDropService> drops;  // files dropped into VMs on USB sticks
  // A bcrypt hash of a random password: verified against when the login does not exist, so an
  // unknown login takes as long as a wrong password.
  std::string decoy_hash;
  // reCAPTCHA checks waiting for the verify URL (each on a thread of its own, off the workers).
  std::atomic<int> captcha_calls{0};
  // Stops the user's VM on logout; set once the VM manager exists.
  std::function<void(std::int64_t user_id)> on_logout;
  // Several nodes (VMSHARE_NODE_ID set): where VMs run and the internal channel; null on one node.
  std::unique_ptr<cluster::Cluster> cluster;
  // Console viewer caps (issue 15): one table for every console WebSocket, the owner's
  // /ws/<vmid> and share links' /share/ws alike (a link's viewers count against its owner).
  std::shared_ptr<vm::ViewerSlots> viewer_slots;  // made by make_app_context from the caps
};

}  // namespace vmshare::api
