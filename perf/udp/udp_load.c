// udp_load: a closed-loop UDP echo load, one thread, for comparing the
// backends' datagram paths (perf/udp/README.md). Each of -c connected UDP
// sockets keeps -k datagrams of -s bytes in flight to 127.0.0.1:-p and
// sends one more for each reply; a socket with no reply for 100 ms sends
// one again and counts it lost (loopback drops only on a full receive
// buffer). Runs -w seconds of warm-up, then -d seconds measured, and
// prints one line: datagrams echoed per second, losses, and, with -S PID,
// that process's CPU (utime + stime from /proc) per datagram.
//
// Usage: udp_load -p PORT [-c 64] [-s 64] [-k 4] [-d 5] [-w 1] [-S PID]
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double Now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

// utime + stime of `pid` in seconds, or -1.
static double CpuSeconds(int pid) {
  char path[64], buf[1024];
  snprintf(path, sizeof(path), "/proc/%d/stat", pid);
  FILE* f = fopen(path, "r");
  if (f == NULL) return -1;
  size_t n = fread(buf, 1, sizeof(buf) - 1, f);
  fclose(f);
  buf[n] = 0;
  char* p = strrchr(buf, ')');
  if (p == NULL) return -1;
  unsigned long utime = 0, stime = 0;
  // Fields after the command: state is field 3; utime and stime are 14, 15.
  if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
             &utime, &stime) != 2) {
    return -1;
  }
  return (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
}

int main(int argc, char** argv) {
  int port = 0, conns = 64, size = 64, depth = 4, pid = 0;
  double dur = 5, warm = 1;
  int opt;
  while ((opt = getopt(argc, argv, "p:c:s:k:d:w:S:")) != -1) {
    switch (opt) {
      case 'p': port = atoi(optarg); break;
      case 'c': conns = atoi(optarg); break;
      case 's': size = atoi(optarg); break;
      case 'k': depth = atoi(optarg); break;
      case 'd': dur = atof(optarg); break;
      case 'w': warm = atof(optarg); break;
      case 'S': pid = atoi(optarg); break;
      default:
        fprintf(stderr, "usage: %s -p PORT [-c N] [-s BYTES] [-k DEPTH] [-d S] [-w S] [-S PID]\n", argv[0]);
        return 2;
    }
  }
  if (port <= 0 || conns <= 0 || size <= 0 || size > 65507 || depth <= 0) {
    fprintf(stderr, "udp_load: bad arguments (-p is required)\n");
    return 2;
  }
  struct sockaddr_in to = {0};
  to.sin_family = AF_INET;
  to.sin_port = htons((uint16_t)port);
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int ep = epoll_create1(EPOLL_CLOEXEC);
  int* fds = calloc((size_t)conns, sizeof(int));
  double* last = calloc((size_t)conns, sizeof(double));
  char* msg = malloc((size_t)size);
  char* in = malloc(65536);
  memset(msg, 'u', (size_t)size);
  for (int i = 0; i < conns; ++i) {
    fds[i] = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fds[i] < 0 || connect(fds[i], (struct sockaddr*)&to, sizeof(to)) != 0) {
      perror("udp_load: socket/connect");
      return 1;
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
    epoll_ctl(ep, EPOLL_CTL_ADD, fds[i], &ev);
    for (int k = 0; k < depth; ++k) (void)!send(fds[i], msg, (size_t)size, 0);
    last[i] = Now();
  }
  const double start = Now();
  double measure_from = start + warm, end = measure_from + dur;
  long echoed = 0, lost = 0, errors = 0;
  double cpu0 = -1;
  int measuring = 0;
  struct epoll_event evs[256];
  for (;;) {
    double now = Now();
    if (!measuring && now >= measure_from) {
      measuring = 1;
      echoed = lost = 0;
      cpu0 = pid > 0 ? CpuSeconds(pid) : -1;
      measure_from = now;
    }
    if (now >= end) break;
    int n = epoll_wait(ep, evs, 256, 10);
    now = Now();
    for (int e = 0; e < n; ++e) {
      int i = (int)evs[e].data.u32;
      for (;;) {
        ssize_t r = recv(fds[i], in, 65536, 0);
        if (r < 0) {
          if (errno != EAGAIN && errno != EINTR) ++errors;
          break;
        }
        ++echoed;
        last[i] = now;
        (void)!send(fds[i], msg, (size_t)size, 0);
      }
    }
    for (int i = 0; i < conns; ++i) {
      if (now - last[i] > 0.1) {
        ++lost;
        last[i] = now;
        (void)!send(fds[i], msg, (size_t)size, 0);
      }
    }
  }
  const double secs = Now() - measure_from;
  const double cpu = pid > 0 && cpu0 >= 0 ? CpuSeconds(pid) - cpu0 : -1;
  printf("conns=%d size=%d depth=%d secs=%.2f dgrams_s=%.0f lost=%ld errors=%ld",
         conns, size, depth, secs, (double)echoed / secs, lost, errors);
  if (cpu >= 0 && echoed > 0) {
    printf(" srv_cpu=%.2f srv_us_per_dgram=%.3f", cpu / secs, cpu * 1e6 / (double)echoed);
  }
  printf("\n");
  return 0;
}
