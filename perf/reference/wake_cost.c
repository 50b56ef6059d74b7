/* wake_cost: what one sleep and one wake-up cost the thread that sleeps, on
 * this machine. An event loop that is not saturated pays this once per
 * blocking wait or coalescing window, so it sets how much batching is
 * worth (actors/coalesce.h, perf/compare/notes.md).
 *
 *   wake_cost [-n ROUNDS]
 *
 * Runs pinned to CPU 0 (the woken side) and, for the event-woken rows, a
 * child pinned to CPU 1. Rows:
 *   syscall          getppid(): the price of entering the kernel at all
 *   epoll_wait(0)    an empty zero-timeout poll
 *   nanosleep N us   clock_nanosleep(N us), timer slack 5 us: woken by a timer
 *   woken every N us epoll_wait(-1) on a socket the child writes one byte to
 *                    every N us (busy-timed, so the child never sleeps):
 *                    woken by another CPU, plus one read()
 * For each: wall time and CPU time charged to this thread per round
 * (CLOCK_THREAD_CPUTIME_ID). On bare metal a sleep costs a few
 * microseconds of CPU; in a VM the timer, the halt and the switch back can
 * each trap to the hypervisor, and the sleeping thread is charged for it. */
#define _GNU_SOURCE
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double clock_us(clockid_t id) {
  struct timespec t;
  clock_gettime(id, &t);
  return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

static void pin(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  if (sched_setaffinity(0, sizeof(set), &set) != 0) perror("sched_setaffinity");
}

struct span {
  double wall, cpu;
};

static struct span begin(void) {
  struct span s = {clock_us(CLOCK_MONOTONIC), clock_us(CLOCK_THREAD_CPUTIME_ID)};
  return s;
}

static void report(const char* what, struct span s, int rounds) {
  printf("%-22s wall %8.2f us   cpu %7.2f us   (per round, %d rounds)\n", what,
         (clock_us(CLOCK_MONOTONIC) - s.wall) / rounds,
         (clock_us(CLOCK_THREAD_CPUTIME_ID) - s.cpu) / rounds, rounds);
}

static void spin_until(double t) {
  while (clock_us(CLOCK_MONOTONIC) < t) {
  }
}

/* One byte every gap_us to fd, rounds times, from CPU 1; never sleeps. */
static void writer(int fd, int gap_us, int rounds) {
  pin(1);
  const char b = 1;
  double next = clock_us(CLOCK_MONOTONIC);
  for (int i = 0; i < rounds; ++i) {
    next += gap_us;
    spin_until(next);
    if (write(fd, &b, 1) != 1) _exit(1);
  }
  _exit(0);
}

static void woken_row(int gap_us, int rounds) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) {
    perror("socketpair");
    exit(1);
  }
  const pid_t child = fork();
  if (child == 0) writer(sv[1], gap_us, rounds);
  const int ep = epoll_create1(0);
  struct epoll_event ev = {.events = EPOLLIN};
  epoll_ctl(ep, EPOLL_CTL_ADD, sv[0], &ev);
  char buf[256];
  int got = 0, waits = 0;
  const struct span s = begin();
  while (got < rounds) {
    struct epoll_event out[4];
    if (epoll_wait(ep, out, 4, -1) <= 0) continue;
    ++waits;
    const ssize_t n = read(sv[0], buf, sizeof(buf));
    if (n > 0) got += (int)n;
  }
  char what[64];
  snprintf(what, sizeof(what), "woken every %d us", gap_us);
  report(what, s, waits);
  waitpid(child, NULL, 0);
  close(ep);
  close(sv[0]);
  close(sv[1]);
}

int main(int argc, char** argv) {
  int rounds = 20000;
  for (int opt; (opt = getopt(argc, argv, "n:")) != -1;) {
    if (opt == 'n') {
      rounds = atoi(optarg);
    } else {
      fprintf(stderr, "usage: %s [-n ROUNDS]\n", argv[0]);
      return 2;
    }
  }
  if (rounds <= 0) {
    fprintf(stderr, "-n must be positive\n");
    return 2;
  }
  pin(0);
  prctl(PR_SET_TIMERSLACK, 5000UL);

  struct span s = begin();
  for (int i = 0; i < rounds * 10; ++i) syscall(SYS_getppid);
  report("syscall", s, rounds * 10);

  const int ep = epoll_create1(0);
  struct epoll_event none[8];
  s = begin();
  for (int i = 0; i < rounds * 10; ++i) epoll_wait(ep, none, 8, 0);
  report("epoll_wait(0)", s, rounds * 10);
  close(ep);

  const int sleeps[] = {10, 40, 80, 200};
  for (size_t k = 0; k < sizeof(sleeps) / sizeof(sleeps[0]); ++k) {
    const struct timespec ts = {0, sleeps[k] * 1000L};
    s = begin();
    for (int i = 0; i < rounds; ++i) clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, NULL);
    char what[64];
    snprintf(what, sizeof(what), "nanosleep %d us", sleeps[k]);
    report(what, s, rounds);
  }

  const int gaps[] = {20, 50, 100};
  for (size_t k = 0; k < sizeof(gaps) / sizeof(gaps[0]); ++k) woken_row(gaps[k], rounds);
  return 0;
}
