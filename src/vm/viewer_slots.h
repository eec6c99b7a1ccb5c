#pragma once
// Admission of console viewers: how many console WebSockets may be open on one VM and for one
// user. A slot is taken before the WebSocket is accepted (so a refusal is still an HTTP
// status) and given back when the console closes, or when the slot is dropped unused (a
// handshake that never completed). Pure bookkeeping, no I/O; thread-safe.
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>

namespace vmshare::vm {

class ViewerSlots {
 public:
  struct Limits {
    int per_vm = 4;
    int per_user = 8;
  };
  enum class Refusal { none, vm_full, user_full };

  // One admitted viewer. Move-only; releases its slot when destroyed or release()d (once).
  class Slot {
   public:
    Slot() = default;
    Slot(Slot&& other) noexcept;
    Slot& operator=(Slot&& other) noexcept;
    Slot(const Slot&) = delete;
    Slot& operator=(const Slot&) = delete;
    ~Slot() { release(); }
    void release() noexcept;
    explicit operator bool() const { return owner_ != nullptr; }

   private:
    friend class ViewerSlots;
    Slot(std::shared_ptr<ViewerSlots> owner, std::string vmid, std::int64_t user_id);
    std::shared_ptr<ViewerSlots> owner_;  // keeps the table alive for a slot outliving its owner's holder
    std::string vmid_;
    std::int64_t user_id_ = 0;
  };

  struct Admission {
    Slot slot;  // empty when refused
    Refusal refusal = Refusal::none;
  };

  // Shared: slots point back at it.
  static std::shared_ptr<ViewerSlots> create(Limits limits);

  // A slot for `user_id` viewing `vmid`, or the limit that is full (the VM's checked first).
  Admission admit(const std::string& vmid, std::int64_t user_id);

  int viewers_of_vm(const std::string& vmid) const;
  int viewers_of_user(std::int64_t user_id) const;
  int total() const;
  const Limits& limits() const { return limits_; }

  // Who is refused: the VM's owner (or a user it was shared with), or a share-link visitor,
  // whose viewer counts against the owner's caps but who has no consoles of their own to close.
  enum class Audience { owner, link_visitor };
  // A sentence for a refusal ("This VM already has 4 open consoles ...") that makes sense to
  // `audience`: a visitor is never told about "your" consoles.
  std::string explain(Refusal refusal, Audience audience = Audience::owner) const;

 private:
  explicit ViewerSlots(Limits limits) : limits_(limits) {}
  void give_back(const std::string& vmid, std::int64_t user_id) noexcept;

  Limits limits_;
  mutable std::mutex mutex_;
  std::map<std::string, int> by_vm_;
  std::map<std::int64_t, int> by_user_;
  int total_ = 0;
  std::weak_ptr<ViewerSlots> self_;
};

}  // namespace vmshare::vm
