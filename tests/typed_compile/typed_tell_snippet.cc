// The snippet of typed_compile_test: a typed actor and every typed call
// through Ref<Room>. Compiled as is, it must compile (the control: the
// include path and the headers are fine); with one of the WRONG_* macros
// defined, one call names a type Room does not receive and the compiler
// must reject it with the static_assert message the test expects.
#include "actnet.h"

namespace {

struct Join {};
struct Leave {};  // Room does not receive it
struct Count {
  using Reply = int;
};
struct Other {  // a request Room does not receive
  using Reply = int;
};

class Room : public actnet::Receives<Join, Count> {
 public:
  void On(Join&) override {}
  void On(Count&, actnet::Promise<int>) override {}
};

class Member : public actnet::Receives<Join> {
 public:
  void On(Join&) override {
    (void)Tell(room_, Join{});
#if defined(WRONG_ACTOR_TELL)
    (void)Tell(room_, Leave{});
#endif
  }

 private:
  actnet::Ref<Room> room_;
};

}  // namespace

void Use(actnet::Engine& engine, const actnet::Ref<Room>& room,
         const actnet::ActorRef& asker) {
  (void)engine.Tell(room, Join{});
  (void)engine.Tell<Join>(room);
  (void)engine.Tell(room, Count{});
  (void)engine.Ask(asker, room, Count{}, absl::Seconds(1),
                   [](absl::StatusOr<int>) {});
  // The dynamic calls still take anything.
  (void)engine.Tell<double>(room.get(), 3.14);
#if defined(WRONG_ENGINE_TELL)
  (void)engine.Tell(room, 3.14);
#endif
#if defined(WRONG_ENGINE_TELL_T)
  (void)engine.Tell<Leave>(room);
#endif
#if defined(WRONG_ASK)
  (void)engine.Ask(asker, room, Other{}, absl::Seconds(1),
                   [](absl::StatusOr<int>) {});
#endif
}
