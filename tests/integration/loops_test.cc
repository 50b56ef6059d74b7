// EngineOptions::loops = 0 means one loop per CPU this process may run on:
// its affinity (taskset, cgroup cpusets), read with sched_getaffinity, not
// std::thread::hardware_concurrency, which counts every CPU of the machine
// and would oversubscribe a confined server.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <sched.h>

#include <string>

#include "actnet.h"
#include "doctest/doctest.h"
#include "tests/integration/testing.h"

namespace actnet::integration {
namespace {

int AllowedCpus() {
  cpu_set_t set;
  REQUIRE(sched_getaffinity(0, sizeof(set), &set) == 0);
  return CPU_COUNT(&set);
}

TEST_SUITE("Engine loops") {
  TEST_CASE("loops = 0 on a thread confined to one CPU makes one loop, which serves") {
    const int fds_before = CountOpenFds();
    {
      OneCpu one_cpu;  // restored at the end of the scope
      REQUIRE(AllowedCpus() == 1);
      Engine engine;
      CHECK(engine.num_loops() == 1);
      REQUIRE(engine.Listen<EchoHandler>("tcp://127.0.0.1:0").ok());
      REQUIRE(engine.Start().ok());
      CHECK(engine.Stats().size() == 1);
      Client c = Client::Connect(FirstAddress(engine));
      REQUIRE(c.valid());
      CHECK(c.RoundTrip("one loop", Clock::now() + seconds(20)));
      c.Close();
      engine.Stop();
      CHECK(WaitWithin(engine, seconds(10)));
    }
    CheckNoFdLeak(fds_before);
  }

  TEST_CASE("loops = 0 with the process's own affinity makes one loop per allowed CPU") {
    const int allowed = AllowedCpus();
    Engine engine;
    CHECK(engine.num_loops() == allowed);
    CHECK(engine.options().loops == allowed);
  }

  TEST_CASE("an explicit loop count is kept whatever the affinity") {
    OneCpu one_cpu;
    Engine engine(Loops(3));
    CHECK(engine.num_loops() == 3);
  }
}

}  // namespace
}  // namespace actnet::integration
