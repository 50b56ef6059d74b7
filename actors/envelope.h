// Envelope: one type-erased message, 64 bytes: what an actor or a handler
// receives (Actor::Receive, Handler::OnMessage), and what mailboxes and
// queues carry. A payload of up to 48 bytes (alignment up to 16,
// nothrow-movable) lives inline, so sending it allocates nothing; a larger
// payload is boxed on the heap. The payload's destructor runs exactly once,
// whichever path the envelope takes. Read a payload with Is<T>() / As<T>().
//
// An envelope is owned by one thread at a time; it is not thread-safe.
#ifndef ACTNET_ACTORS_ENVELOPE_H_
#define ACTNET_ACTORS_ENVELOPE_H_

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <new>
#include <type_traits>
#include <utility>

#include "actors/check.h"

namespace actnet {

// Per-type operations of a payload. `invoke` is set only for tasks
// (callables posted to a loop); it runs the callable with a context pointer.
struct MessageOps {
  void (*relocate)(void* dst, void* src) noexcept;  // move-construct + destroy
  void (*destroy)(void* payload) noexcept;
  void (*invoke)(void* payload, void* context);
  bool boxed;
  // Trivially copyable inline payloads (and boxed pointers, for relocation)
  // move as plain bytes: no indirect call on the hot path.
  bool trivially_relocatable;
  bool trivially_destructible;
};

// Where an envelope goes inside its destination loop: an actor slot and the
// generation the sender believed it had.
struct MessageTarget {
  uint32_t slot = 0;
  uint32_t generation = 0;
};

inline constexpr size_t kInlinePayloadSize = 48;
inline constexpr size_t kInlinePayloadAlign = 16;

template <class T>
inline constexpr bool kFitsInline =
    sizeof(T) <= kInlinePayloadSize && alignof(T) <= kInlinePayloadAlign &&
    std::is_nothrow_move_constructible_v<T>;

namespace internal {

template <class T>
struct InlineOps {
  static void Relocate(void* dst, void* src) noexcept {
    T* from = static_cast<T*>(src);
    ::new (dst) T(std::move(*from));
    from->~T();
  }
  static void Destroy(void* p) noexcept { static_cast<T*>(p)->~T(); }
};

template <class T>
struct BoxedOps {
  static void Relocate(void* dst, void* src) noexcept {
    std::memcpy(dst, src, sizeof(T*));
  }
  static void Destroy(void* p) noexcept {
    T* boxed;
    std::memcpy(&boxed, p, sizeof(T*));
    delete boxed;
  }
};

template <class T>
struct TaskInvoker {
  static void Invoke(void* p, void* context) {
    T* task;
    if constexpr (kFitsInline<T>) {
      task = static_cast<T*>(p);
    } else {
      std::memcpy(&task, p, sizeof(T*));
    }
    (*task)(context);
  }
};

template <class T, bool kIsTask>
constexpr MessageOps MakeOps() {
  MessageOps ops{};
  if constexpr (kFitsInline<T>) {
    ops.relocate = &InlineOps<T>::Relocate;
    ops.destroy = &InlineOps<T>::Destroy;
    ops.boxed = false;
    ops.trivially_relocatable = std::is_trivially_copyable_v<T>;
    ops.trivially_destructible = std::is_trivially_destructible_v<T>;
  } else {
    ops.relocate = &BoxedOps<T>::Relocate;
    ops.destroy = &BoxedOps<T>::Destroy;
    ops.boxed = true;
    ops.trivially_relocatable = true;  // the box pointer is plain bytes
    ops.trivially_destructible = false;
  }
  if constexpr (kIsTask) ops.invoke = &TaskInvoker<T>::Invoke;
  return ops;
}

// One table per payload type; its address is the type's identity.
template <class T>
inline constexpr MessageOps kMessageOps = MakeOps<T, false>();
template <class T>
inline constexpr MessageOps kTaskOps = MakeOps<T, true>();

}  // namespace internal

class alignas(kInlinePayloadAlign) Envelope {
 public:
  Envelope() noexcept = default;
  Envelope(Envelope&& other) noexcept { MoveFrom(other); }
  Envelope& operator=(Envelope&& other) noexcept {
    if (this != &other) {
      Reset();
      MoveFrom(other);
    }
    return *this;
  }
  Envelope(const Envelope&) = delete;
  Envelope& operator=(const Envelope&) = delete;
  ~Envelope() { Reset(); }

  // Constructs a message of type T in this (empty) envelope.
  template <class T, class... Args>
  void Emplace(MessageTarget target, Args&&... args) {
    EmplaceWithOps<T>(&internal::kMessageOps<T>, target,
                      std::forward<Args>(args)...);
  }

  // Constructs a task: a callable invoked as `fn(void* context)` when run.
  template <class F>
  void EmplaceTask(MessageTarget target, F&& fn) {
    using Fn = std::decay_t<F>;
    EmplaceWithOps<Fn>(&internal::kTaskOps<Fn>, target, std::forward<F>(fn));
  }

  template <class T, class... Args>
  static Envelope Make(MessageTarget target, Args&&... args) {
    Envelope e;
    e.Emplace<T>(target, std::forward<Args>(args)...);
    return e;
  }

  bool empty() const { return ops() == nullptr; }
  // The payload type's operations table (its identity); null when empty.
  const MessageOps* ops() const { return ops_; }
  MessageTarget target() const { return target_; }
  void set_target(MessageTarget t) { target_ = t; }
  bool is_task() const { return ops() != nullptr && ops()->invoke != nullptr; }

  template <class T>
  bool Is() const {
    return ops() == &internal::kMessageOps<T>;
  }
  // The payload if it is a T, else null.
  template <class T>
  T* As() {
    if (!Is<T>()) return nullptr;
    return Payload<T>();
  }
  template <class T>
  const T* As() const {
    return const_cast<Envelope*>(this)->As<T>();
  }

  // Runs a task envelope's callable. Precondition: is_task().
  void RunTask(void* context) { ops()->invoke(storage_, context); }

  // Destroys the payload (exactly once) and leaves the envelope empty.
  void Reset() noexcept {
    const MessageOps* o = ops();
    if (o != nullptr) {
      if (!o->trivially_destructible) o->destroy(storage_);
      ops_ = nullptr;
    }
  }

 private:
  template <class T, class... Args>
  void EmplaceWithOps(const MessageOps* o, MessageTarget target,
                      Args&&... args) {
    ACTNET_DCHECK(empty());
    if constexpr (kFitsInline<T>) {
      ::new (static_cast<void*>(storage_)) T(std::forward<Args>(args)...);
    } else {
      T* boxed = new T(std::forward<Args>(args)...);
      std::memcpy(storage_, &boxed, sizeof(T*));
    }
    target_ = target;
    ops_ = o;
  }

  template <class T>
  T* Payload() {
    if constexpr (kFitsInline<T>) {
      return std::launder(reinterpret_cast<T*>(storage_));
    } else {
      T* boxed;
      std::memcpy(&boxed, storage_, sizeof(T*));
      return boxed;
    }
  }

  static void RelocatePayload(const MessageOps* o, unsigned char* dst,
                              unsigned char* src) noexcept {
    if (o->trivially_relocatable) {
      std::memcpy(dst, src, kInlinePayloadSize);
    } else {
      o->relocate(dst, src);
    }
  }

  void MoveFrom(Envelope& other) noexcept {
    const MessageOps* o = other.ops();
    if (o == nullptr) return;
    RelocatePayload(o, storage_, other.storage_);
    target_ = other.target_;
    ops_ = o;
    other.ops_ = nullptr;
  }

  const MessageOps* ops_ = nullptr;  // the payload's type; null when empty
  MessageTarget target_;
  alignas(kInlinePayloadAlign) unsigned char storage_[kInlinePayloadSize];
};

static_assert(sizeof(Envelope) == 64, "an envelope is one cache line");

}  // namespace actnet

#endif  // ACTNET_ACTORS_ENVELOPE_H_
