/* uv_echo: the libuv yardstick. One libuv loop echoing on 127.0.0.1:PORT
 * the way a careful libuv program would: one shared read buffer per loop,
 * uv_try_write straight from it, and only when that is short (or writes are
 * already queued, which uv_try_write reports as UV_EAGAIN) a heap copy of
 * the rest handed to uv_write. Reading pauses while more than kHighWater
 * bytes wait to be written.
 *
 *   uv_echo -p PORT
 *
 * Accepted sockets get TCP_NODELAY, as actnet's do. Prints a line
 * containing "listening" when ready; exits 0 on SIGINT or SIGTERM. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

enum { kReadBuf = 64 * 1024, kHighWater = 1 << 20 };

static char g_buf[kReadBuf];
static int g_buf_busy; /* the shared buffer is lent to one read at a time */

struct write_req {
  uv_write_t req;
  char data[]; /* the bytes being written */
};

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  (void)h;
  (void)suggested;
  if (g_buf_busy) { /* cannot happen with one loop, but never share it twice */
    buf->base = malloc(kReadBuf);
    buf->len = buf->base ? kReadBuf : 0;
    return;
  }
  g_buf_busy = 1;
  *buf = uv_buf_init(g_buf, kReadBuf);
}

static void release(const uv_buf_t *buf) {
  if (buf->base == g_buf) {
    g_buf_busy = 0;
  } else {
    free(buf->base);
  }
}

static void on_close(uv_handle_t *h) { free(h); }

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf);

static void on_written(uv_write_t *req, int status) {
  uv_stream_t *s = req->handle;
  free(req);
  if (status < 0) {
    if (!uv_is_closing((uv_handle_t *)s)) uv_close((uv_handle_t *)s, on_close);
    return;
  }
  if (uv_stream_get_write_queue_size(s) == 0 && !uv_is_closing((uv_handle_t *)s)) {
    uv_read_start(s, on_alloc, on_read); /* no-op if already reading */
  }
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
  if (n < 0) {
    release(buf);
    if (!uv_is_closing((uv_handle_t *)s)) uv_close((uv_handle_t *)s, on_close);
    return;
  }
  size_t done = 0;
  if (n > 0) {
    uv_buf_t b = uv_buf_init(buf->base, (unsigned)n);
    int w = uv_try_write(s, &b, 1);
    if (w > 0) done = (size_t)w;
    else if (w != UV_EAGAIN) {
      release(buf);
      uv_close((uv_handle_t *)s, on_close);
      return;
    }
  }
  if (done < (size_t)n) {
    size_t rest = (size_t)n - done;
    struct write_req *wr = malloc(sizeof *wr + rest);
    if (wr == NULL) abort();
    memcpy(wr->data, buf->base + done, rest);
    uv_buf_t b = uv_buf_init(wr->data, (unsigned)rest);
    if (uv_write(&wr->req, s, &b, 1, on_written) != 0) {
      free(wr);
      release(buf);
      uv_close((uv_handle_t *)s, on_close);
      return;
    }
    if (uv_stream_get_write_queue_size(s) > kHighWater) uv_read_stop(s);
  }
  release(buf);
}

static void on_connection(uv_stream_t *server, int status) {
  if (status < 0) return;
  uv_tcp_t *client = malloc(sizeof *client);
  if (client == NULL) abort();
  uv_tcp_init(server->loop, client);
  if (uv_accept(server, (uv_stream_t *)client) != 0) {
    uv_close((uv_handle_t *)client, on_close);
    return;
  }
  uv_tcp_nodelay(client, 1);
  uv_read_start((uv_stream_t *)client, on_alloc, on_read);
}

static void on_signal(uv_signal_t *h, int sig) {
  (void)sig;
  uv_stop(h->loop);
}

int main(int argc, char **argv) {
  int port = 0, opt;
  while ((opt = getopt(argc, argv, "p:")) != -1) {
    if (opt == 'p') port = atoi(optarg);
    else break;
  }
  if (port <= 0 || port > 65535) {
    fprintf(stderr, "usage: %s -p PORT\n", argv[0]);
    return 2;
  }
  uv_loop_t *loop = uv_default_loop();
  uv_tcp_t server;
  uv_tcp_init(loop, &server);
  struct sockaddr_in addr;
  uv_ip4_addr("127.0.0.1", port, &addr);
  int rc = uv_tcp_bind(&server, (const struct sockaddr *)&addr, 0);
  if (rc == 0) rc = uv_listen((uv_stream_t *)&server, 4096, on_connection);
  if (rc != 0) {
    fprintf(stderr, "uv_echo: listen 127.0.0.1:%d: %s\n", port, uv_strerror(rc));
    return 1;
  }
  uv_signal_t sigint, sigterm;
  uv_signal_init(loop, &sigint);
  uv_signal_init(loop, &sigterm);
  uv_signal_start(&sigint, on_signal, SIGINT);
  uv_signal_start(&sigterm, on_signal, SIGTERM);
  printf("uv_echo: listening on 127.0.0.1:%d with libuv %s\n", port, uv_version_string());
  fflush(stdout);
  uv_run(loop, UV_RUN_DEFAULT);
  return 0; /* open connections die with the process */
}
