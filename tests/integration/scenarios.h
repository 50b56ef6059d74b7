// Whole-engine scenarios shared by several test files: echo under many
// concurrent clients, and an echo of a large payload through a slow reader
// (back-pressure). Each one starts an engine with the given options, drives
// it from client threads, stops it, and checks (doctest CHECK) byte-exact
// results and that no fd leaked. Call from a doctest test case.
#ifndef ACTNET_TESTS_INTEGRATION_SCENARIOS_H_
#define ACTNET_TESTS_INTEGRATION_SCENARIOS_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "actnet.h"

namespace actnet::integration {

struct EchoScenario {
  EngineOptions options;
  // Listen URLs; client i connects to the i-th bound address modulo their
  // number. A unix URL should live in a TempDir.
  std::vector<std::string> urls = {"tcp://127.0.0.1:0"};
  int clients = 64;
  int round_trips = 1000;
  size_t max_payload = 4096;  // sizes are uniform in [1, max_payload]
  uint64_t seed = 1;
};

// Each client sends a random payload and reads it back byte-exact,
// `round_trips` times. With round-robin over several loops it also checks
// that every loop served a connection.
void RunEchoScenario(const EchoScenario& scenario);

struct BackpressureScenario {
  EngineOptions options;  // set write_high_water small to see it bite
  size_t payload = 8 << 20;
  size_t read_chunk = 16 * 1024;  // the slow reader's recv size
  // Small socket buffers on both sides keep the kernel from absorbing the
  // payload (loopback TCP autotunes the send buffer up to several MiB), so
  // the server's own queue must take the excess.
  int client_rcvbuf = 64 * 1024;
  int server_sndbuf = 64 * 1024;
  std::string url = "tcp://127.0.0.1:0";
};

// One client writes the whole payload while reading the echo slowly. The
// server's queued output (Conn::OutboundBytes, sampled by the handler around
// every write and on drain) must stay below write_high_water +
// read_buffer_size + slack, and every byte must come back.
void RunBackpressureScenario(const BackpressureScenario& scenario);

}  // namespace actnet::integration

#endif  // ACTNET_TESTS_INTEGRATION_SCENARIOS_H_
