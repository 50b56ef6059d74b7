// TimerQueue: timers run in deadline order, ties in the order they were
// scheduled; RunDue runs only what is due, including timers its callbacks
// schedule for a time already due, up to its bound; Clear drops the rest
// unrun.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include "actors/timer_queue.h"

#include <cstdint>
#include <memory>
#include <vector>

#include "doctest/doctest.h"

namespace actnet {
namespace {

using Ran = std::vector<int>;

// A callback that appends `id` to *ran.
TimerQueue::Callback Mark(Ran* ran, int id) {
  return [ran, id] { ran->push_back(id); };
}

TEST_SUITE("TimerQueue") {
  TEST_CASE("an empty queue runs nothing") {
    TimerQueue q;
    CHECK(q.empty());
    CHECK(q.size() == 0);
    CHECK(q.RunDue(INT64_MAX) == 0);
  }

  TEST_CASE("timers run in deadline order, whatever order they were scheduled in") {
    TimerQueue q;
    Ran ran;
    q.Schedule(30, Mark(&ran, 3));
    q.Schedule(10, Mark(&ran, 1));
    q.Schedule(20, Mark(&ran, 2));
    CHECK(q.NextDeadline() == 10);
    CHECK(q.RunDue(100) == 3);
    CHECK(ran == Ran{1, 2, 3});
    CHECK(q.empty());
  }

  TEST_CASE("timers with the same deadline run in the order they were scheduled") {
    TimerQueue q;
    Ran ran;
    for (int i = 0; i < 50; ++i) q.Schedule(i % 2 == 0 ? 5 : 7, Mark(&ran, i));
    CHECK(q.RunDue(7) == 50);
    Ran expected;
    for (int i = 0; i < 50; i += 2) expected.push_back(i);
    for (int i = 1; i < 50; i += 2) expected.push_back(i);
    CHECK(ran == expected);
  }

  TEST_CASE("RunDue runs only the timers due at `now`, a deadline equal to now included") {
    TimerQueue q;
    Ran ran;
    q.Schedule(10, Mark(&ran, 1));
    q.Schedule(20, Mark(&ran, 2));
    q.Schedule(21, Mark(&ran, 3));
    CHECK(q.RunDue(9) == 0);
    CHECK(q.RunDue(20) == 2);
    CHECK(ran == Ran{1, 2});
    CHECK(q.size() == 1);
    CHECK(q.NextDeadline() == 21);
    CHECK(q.RunDue(21) == 1);
    CHECK(ran == Ran{1, 2, 3});
  }

  TEST_CASE("a timer a callback schedules for a time already due runs in the same RunDue") {
    TimerQueue q;
    Ran ran;
    q.Schedule(10, [&] {
      ran.push_back(1);
      q.Schedule(5, Mark(&ran, 2));    // already past
      q.Schedule(10, Mark(&ran, 3));   // due now
      q.Schedule(11, Mark(&ran, 4));   // not yet
    });
    CHECK(q.RunDue(10) == 3);
    CHECK(ran == Ran{1, 2, 3});
    CHECK(q.size() == 1);
    CHECK(q.NextDeadline() == 11);
  }

  TEST_CASE("a zero-interval ticker stops at the per-call bound and resumes on the next call") {
    TimerQueue q;
    int ticks = 0;
    // Reschedules itself for `now` forever.
    struct Ticker {
      TimerQueue* q;
      int* ticks;
      void operator()() {
        ++*ticks;
        q->Schedule(0, Ticker{q, ticks});
      }
    };
    q.Schedule(0, Ticker{&q, &ticks});
    CHECK(q.RunDue(0, 100) == 100);
    CHECK(ticks == 100);
    CHECK(q.size() == 1);
    CHECK(q.RunDue(0) == 1024);  // the default bound
    CHECK(ticks == 1124);
  }

  TEST_CASE("the bound leaves due timers queued, earliest first") {
    TimerQueue q;
    Ran ran;
    for (int i = 0; i < 5; ++i) q.Schedule(i, Mark(&ran, i));
    CHECK(q.RunDue(100, 2) == 2);
    CHECK(ran == Ran{0, 1});
    CHECK(q.NextDeadline() == 2);
    CHECK(q.RunDue(100, 2) == 2);
    CHECK(q.RunDue(100, 2) == 1);
    CHECK(ran == Ran{0, 1, 2, 3, 4});
  }

  TEST_CASE("Clear drops every timer unrun and destroys its callback") {
    TimerQueue q;
    Ran ran;
    auto token = std::make_shared<int>(0);
    q.Schedule(1, [&ran, token] { ran.push_back(1); });
    q.Schedule(2, Mark(&ran, 2));
    CHECK(token.use_count() == 2);
    q.Clear();
    CHECK(q.empty());
    CHECK(token.use_count() == 1);
    CHECK(q.RunDue(INT64_MAX) == 0);
    CHECK(ran.empty());
    q.Schedule(3, Mark(&ran, 3));  // usable again
    CHECK(q.RunDue(3) == 1);
    CHECK(ran == Ran{3});
  }

  TEST_CASE("a callback runs once and is destroyed after it runs") {
    TimerQueue q;
    auto token = std::make_shared<int>(0);
    int runs = 0;
    q.Schedule(1, [&runs, token] { ++runs; });
    CHECK(q.RunDue(1) == 1);
    CHECK(runs == 1);
    CHECK(token.use_count() == 1);
    CHECK(q.RunDue(1) == 0);
  }
}

}  // namespace
}  // namespace actnet
