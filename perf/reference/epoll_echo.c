/* epoll_echo: the yardstick for one event loop. A raw epoll echo server
 * doing the least work an echo can do: level-triggered epoll, one read()
 * per readiness event into the loop's buffer, a direct write() of what was
 * read, and a copy of only what a short write leaves unsent (reading then
 * pauses until that copy has drained, so memory stays bounded).
 *
 *   epoll_echo -p PORT [-t THREADS]
 *
 * Listens on 127.0.0.1:PORT. With -t N, N threads each run a loop with their
 * own SO_REUSEPORT listener and the kernel spreads connections. Accepted
 * sockets get TCP_NODELAY, as actnet's do. Prints a line containing
 * "listening" when ready; exits 0 on SIGINT or SIGTERM. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

enum { kReadBuf = 64 * 1024, kMaxEvents = 256, kMaxThreads = 64 };

struct conn {
  int fd;
  char *pending; /* bytes a short write left, in order */
  size_t pending_len, pending_cap;
};

struct loop {
  int listen_fd;
  int epfd;
  char buf[kReadBuf];
};

static int g_port;

static void die(const char *what) {
  perror(what);
  exit(1);
}

static int open_listener(void) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) die("socket");
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)g_port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0) die("bind 127.0.0.1");
  if (listen(fd, 4096) != 0) die("listen");
  return fd;
}

static void set_events(struct loop *l, struct conn *c, uint32_t events) {
  struct epoll_event ev = {.events = events, .data.ptr = c};
  epoll_ctl(l->epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

static void close_conn(struct conn *c) {
  close(c->fd); /* also removes it from the epoll set */
  free(c->pending);
  free(c);
}

static void keep(struct conn *c, const char *p, size_t n) {
  if (c->pending_len + n > c->pending_cap) {
    size_t cap = c->pending_cap ? c->pending_cap : 4096;
    while (cap < c->pending_len + n) cap *= 2;
    c->pending = realloc(c->pending, cap);
    if (c->pending == NULL) die("realloc");
    c->pending_cap = cap;
  }
  memcpy(c->pending + c->pending_len, p, n);
  c->pending_len += n;
}

static void accept_all(struct loop *l) {
  for (;;) {
    int fd = accept4(l->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      return; /* EAGAIN, or out of fds: try again on the next event */
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct conn *c = calloc(1, sizeof *c);
    if (c == NULL) die("calloc");
    c->fd = fd;
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
    epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev);
  }
}

static void on_readable(struct loop *l, struct conn *c) {
  ssize_t n = read(c->fd, l->buf, sizeof l->buf);
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
  if (n <= 0) {
    close_conn(c);
    return;
  }
  ssize_t w = write(c->fd, l->buf, (size_t)n);
  if (w == n) return;
  if (w < 0) {
    if (errno != EAGAIN && errno != EINTR) {
      close_conn(c);
      return;
    }
    w = 0;
  }
  keep(c, l->buf + w, (size_t)(n - w));
  set_events(l, c, EPOLLOUT); /* stop reading until the rest is out */
}

static void on_writable(struct loop *l, struct conn *c) {
  ssize_t w = write(c->fd, c->pending, c->pending_len);
  if (w < 0) {
    if (errno != EAGAIN && errno != EINTR) close_conn(c);
    return;
  }
  memmove(c->pending, c->pending + w, c->pending_len - (size_t)w);
  c->pending_len -= (size_t)w;
  if (c->pending_len == 0) set_events(l, c, EPOLLIN);
}

static void *run_loop(void *arg) {
  struct loop *l = arg;
  struct epoll_event events[kMaxEvents];
  for (;;) {
    int n = epoll_wait(l->epfd, events, kMaxEvents, -1);
    for (int i = 0; i < n; ++i) {
      struct conn *c = events[i].data.ptr;
      if (c == NULL) {
        accept_all(l);
      } else if (c->pending_len > 0) {
        on_writable(l, c);
      } else {
        on_readable(l, c);
      }
    }
  }
  return NULL;
}

static void on_signal(int sig) {
  (void)sig;
  _exit(0);
}

int main(int argc, char **argv) {
  int threads = 1, opt;
  while ((opt = getopt(argc, argv, "p:t:")) != -1) {
    if (opt == 'p') g_port = atoi(optarg);
    else if (opt == 't') threads = atoi(optarg);
    else {
      fprintf(stderr, "usage: %s -p PORT [-t THREADS]\n", argv[0]);
      return 2;
    }
  }
  if (g_port <= 0 || g_port > 65535 || threads < 1 || threads > kMaxThreads) {
    fprintf(stderr, "usage: %s -p PORT [-t THREADS(1..%d)]\n", argv[0], kMaxThreads);
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  signal(SIGINT, on_signal);
  signal(SIGTERM, on_signal);
  struct loop *first = NULL;
  for (int t = 0; t < threads; ++t) {
    struct loop *l = calloc(1, sizeof *l);
    if (l == NULL) die("calloc");
    l->listen_fd = open_listener();
    l->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (l->epfd < 0) die("epoll_create1");
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    epoll_ctl(l->epfd, EPOLL_CTL_ADD, l->listen_fd, &ev);
    pthread_t tid;
    if (t == 0) {
      first = l; /* loop 0 runs on the main thread */
    } else if (pthread_create(&tid, NULL, run_loop, l) != 0) {
      die("pthread_create");
    }
  }
  printf("epoll_echo: listening on 127.0.0.1:%d with %d loops\n", g_port, threads);
  fflush(stdout);
  run_loop(first);
  return 0;
}
