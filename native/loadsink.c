/*
 * Benchmark tool, not part of the server: the receiving end of lancast's load generator.
 *
 * Headless viewers (bench/relay/subscribers.ts) let werift do ICE, DTLS and SRTP keying; then
 * their UDP sockets are handed to this sink, which drains them on one native thread with epoll
 * and recvmmsg(), reading only the first bytes of the packets it just counts, counts RTP per
 * viewer and SSRC (sequence gaps give the loss), and hands back to
 * JavaScript only what werift must still see: STUN, DTLS and every SAMPLE-th RTP packet (werift
 * decrypts and authenticates those, proving the stream is real SRTP). The server's RTCP is
 * counted and dropped. The point is that
 * the generator costs a small fraction of a core at hundreds of viewers, so on a 2-core machine
 * the server, not the generator, sets the limit.
 *
 *   create(onPacket(route, data, address, port), sample) -> sink
 *   add(sink, fd, viewer, route)  the sink reads fd from now on (the caller stops its own reading),
 *                                 counting its RTP for that viewer; route comes back with handed packets
 *   stats(sink) -> [rtpPackets, lost, octets, handedToJs, streams, rtcpDropped, viewersReceiving, truncated]
 *                  (viewersReceiving: viewers with RTP since the previous stats() call; truncated:
 *                  non-RTP packets werift did not get because only their first bytes were read)
 *   close(sink)
 */
#define _GNU_SOURCE /* recvmmsg, SO_RCVBUFFORCE */
#define NAPI_VERSION 8
#include <node_api.h>
#define NATIVE_NAME "lancast loadsink"
#include "napi_common.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 64
#define MAX_PACKET 2048
/* What is read of a packet werift will not see: the RTP header to count it, or a whole STUN
 * request (~100 bytes); copying whole 1,200-byte packets out of the kernel only to count them
 * cost the sink most of its CPU. */
#define SKIM_BYTES 256
#define STREAMS_PER_VIEWER 4

/* Sequence numbers found missing and not yet asked for again (NACK), per stream. */
#define MISSING_MAX 64

typedef struct {
  uint32_t ssrc;
  uint16_t last_seq;
  int used;
  uint32_t cycles;     /* sequence wraps: the extended highest sequence number is cycles << 16 | last_seq */
  uint64_t received;   /* its packets */
  uint64_t lost;       /* its packets never seen (gaps) */
  uint16_t missing[MISSING_MAX];
  int missing_count;
} stream_state;

typedef struct {
  stream_state streams[STREAMS_PER_VIEWER];
  uint64_t packets;     /* RTP packets this viewer received */
  uint64_t seen;        /* its packets at the last stats() call */
  uint32_t sample_tick; /* its own sampling counter: every viewer gets its share checked */
} viewer;

/* One socket: a viewer may have several (one per local ICE candidate), and the server may send
 * on a pair other than the one the viewer nominated, so every socket of a viewer is drained and
 * counted against the same viewer. */
typedef struct {
  int fd;
  int route; /* handed back to JS with each packet: which socket it came from */
  viewer *viewer;
} socket_entry;

typedef struct {
  int epoll;
  int stop_pipe[2];
  pthread_t thread;
  int running;
  uint32_t sample;
  napi_threadsafe_function on_packet;
  pthread_mutex_t lock; /* guards the viewer table and the counters */
  viewer **viewers; /* by viewer id */
  int viewer_capacity;
  socket_entry **sockets;
  int socket_count, socket_capacity;
  uint64_t packets, lost, octets, handed, streams, rtcp, truncated;
} sink;

typedef struct {
  int id;
  uint16_t port;
  char address[INET6_ADDRSTRLEN];
  size_t length;
  uint8_t data[];
} handoff;

static void hand_to_js(sink *s, int id, const uint8_t *data, size_t length, const struct sockaddr_storage *from) {
  handoff *h = malloc(sizeof(handoff) + length);
  if (!h) return;
  h->id = id;
  h->length = length;
  memcpy(h->data, data, length);
  h->address[0] = 0;
  h->port = 0;
  if (from->ss_family == AF_INET) {
    const struct sockaddr_in *a = (const struct sockaddr_in *)from;
    inet_ntop(AF_INET, &a->sin_addr, h->address, sizeof h->address);
    h->port = ntohs(a->sin_port);
  } else if (from->ss_family == AF_INET6) {
    const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)from;
    inet_ntop(AF_INET6, &a->sin6_addr, h->address, sizeof h->address);
    h->port = ntohs(a->sin6_port);
  }
  if (napi_call_threadsafe_function(s->on_packet, h, napi_tsfn_nonblocking) != napi_ok) free(h);
}

/* Count one RTP packet of a viewer; returns nonzero when it is the sampled one for JS. */
static int count_rtp(sink *s, viewer *v, const uint8_t *p, size_t n) {
  uint32_t ssrc = ((uint32_t)p[8] << 24) | ((uint32_t)p[9] << 16) | ((uint32_t)p[10] << 8) | p[11];
  uint16_t seq = (uint16_t)((p[2] << 8) | p[3]);
  s->packets++;
  v->packets++;
  s->octets += n;
  for (int i = 0; i < STREAMS_PER_VIEWER; i++) {
    stream_state *st = &v->streams[i];
    if (!st->used) {
      st->used = 1;
      st->ssrc = ssrc;
      st->last_seq = seq;
      st->received = 1;
      s->streams++;
      break;
    }
    if (st->ssrc == ssrc) {
      uint16_t gap = (uint16_t)(seq - st->last_seq);
      st->received++;
      if (gap > 1 && gap < 1000) {
        s->lost += gap - 1;
        st->lost += gap - 1;
        for (uint16_t m = (uint16_t)(st->last_seq + 1); m != seq; m++) {
          if (st->missing_count == MISSING_MAX) {
            memmove(st->missing, st->missing + 1, (MISSING_MAX - 1) * sizeof st->missing[0]);
            st->missing_count--;
          }
          st->missing[st->missing_count++] = m;
        }
      }
      if (gap >= 1 && gap < 1000) {
        if (seq < st->last_seq) st->cycles++;
        st->last_seq = seq;
      }
      break;
    }
  }
  /* Per viewer, so that sampling cannot alias with the order sockets are drained in: a viewer
   * whose packets werift never sees would send no receiver reports, and the relay would rightly
   * close its leg as silent. */
  /* Its first packets all go to werift, so its receivers know their streams (and report on them)
   * from the start. */
  return v->packets <= 16 || ++v->sample_tick % s->sample == 0;
}

/* How many of a viewer's next packets can be skimmed: the RTP packets before the next one
 * count_rtp() picks for werift, which must be read whole. */
static int skim_budget(const sink *s, const viewer *v) {
  if (v->packets < 16) return 0;
  return (int)(s->sample - v->sample_tick % s->sample) - 1;
}

static void drain(sink *s, socket_entry *e) {
  static __thread uint8_t buffers[BATCH][MAX_PACKET];
  static __thread struct sockaddr_storage from[BATCH];
  struct mmsghdr msgs[BATCH];
  struct iovec iov[BATCH];
  for (;;) {
    /* Only this thread changes a viewer's counters, so they can be read without the lock. */
    int skim = skim_budget(s, e->viewer);
    int want = skim <= 0 ? 1 : skim < BATCH ? skim : BATCH;
    size_t room = skim <= 0 ? MAX_PACKET : SKIM_BYTES;
    for (int i = 0; i < want; i++) {
      iov[i].iov_base = buffers[i];
      iov[i].iov_len = room;
      memset(&msgs[i].msg_hdr, 0, sizeof msgs[i].msg_hdr);
      msgs[i].msg_hdr.msg_iov = &iov[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
      msgs[i].msg_hdr.msg_name = &from[i];
      msgs[i].msg_hdr.msg_namelen = sizeof from[i];
    }
    /* MSG_TRUNC: msg_len is each datagram's real length, however much of it was read. */
    int got = recvmmsg(e->fd, msgs, want, MSG_DONTWAIT | MSG_TRUNC, NULL);
    if (got <= 0) return; /* EAGAIN: drained (or the socket is gone) */
    pthread_mutex_lock(&s->lock);
    for (int i = 0; i < got; i++) {
      const uint8_t *p = buffers[i];
      size_t n = msgs[i].msg_len;
      size_t have = n < room ? n : room;
      int rtp_or_rtcp = have >= 8 && (p[0] & 0xc0) == 0x80;
      int rtcp = rtp_or_rtcp && (p[1] & 0x7f) >= 64 && (p[1] & 0x7f) <= 95;
      if (rtcp) {
        /* The server's sender reports: werift's receiver reports do not depend on them, and
         * decrypting a few per second per viewer in JavaScript adds up at hundreds of viewers. */
        s->rtcp++;
        continue;
      }
      if (!rtp_or_rtcp || have < 12 || count_rtp(s, e->viewer, p, n)) {
        if (have < n) {
          s->truncated++; /* cannot happen for RTP (skim_budget); a STUN or DTLS record over SKIM_BYTES */
          continue;
        }
        s->handed++;
        hand_to_js(s, e->route, p, n, &from[i]);
      }
    }
    pthread_mutex_unlock(&s->lock);
    if (got < want) return;
  }
}

/*
 * Poll, do not block: a thread asleep in epoll_wait() must be woken by every packet the server
 * sends, and on loopback that wake-up is charged to the server's sendto(), which would make the
 * server look slower than it is (measured: the worker thread's CPU rose from 43 % to 62 % at
 * 150 viewers). So the sink drains whatever is ready, then sleeps 1 ms and lets packets pile up
 * in the socket buffers (4 MiB each; a viewer gets ~0.3 packets per ms).
 */
static void *run(void *arg) {
  sink *s = arg;
  struct epoll_event events[64];
  const struct timespec pause = { 0, 1000000 };
  for (;;) {
    int n = epoll_wait(s->epoll, events, 64, 0);
    if (n < 0 && errno != EINTR) break;
    for (int i = 0; i < n; i++) {
      if (events[i].data.ptr == NULL) return NULL; /* the stop pipe */
      drain(s, events[i].data.ptr);
    }
    if (n < 64) nanosleep(&pause, NULL);
  }
  return NULL;
}

static void call_js(napi_env env, napi_value callback, void *context, void *data) {
  (void)context;
  handoff *h = data;
  if (env && callback) {
    napi_value args[4], undefined;
    void *copy;
    napi_create_int32(env, h->id, &args[0]);
    napi_create_buffer_copy(env, h->length, h->data, &copy, &args[1]);
    napi_create_string_utf8(env, h->address, NAPI_AUTO_LENGTH, &args[2]);
    napi_create_uint32(env, h->port, &args[3]);
    napi_get_undefined(env, &undefined);
    napi_call_function(env, undefined, callback, 4, args, NULL);
  }
  free(h);
}

static void stop(sink *s) {
  if (!s->running) return;
  s->running = 0;
  char byte = 1;
  if (write(s->stop_pipe[1], &byte, 1) < 0) { /* the thread is gone already */ }
  pthread_join(s->thread, NULL);
}

static void finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  sink *s = data;
  stop(s);
  close(s->epoll);
  close(s->stop_pipe[0]);
  close(s->stop_pipe[1]);
  for (int i = 0; i < s->viewer_capacity; i++) free(s->viewers[i]);
  free(s->viewers);
  for (int i = 0; i < s->socket_count; i++) free(s->sockets[i]);
  free(s->sockets);
  pthread_mutex_destroy(&s->lock);
  free(s);
}

static napi_value create(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], name, result;
  uint32_t sample;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  CHECK(napi_get_value_uint32(env, argv[1], &sample));
  sink *s = calloc(1, sizeof(sink));
  if (!s) return NULL;
  s->sample = sample ? sample : 1;
  pthread_mutex_init(&s->lock, NULL);
  s->epoll = epoll_create1(EPOLL_CLOEXEC);
  if (s->epoll < 0 || pipe(s->stop_pipe) != 0) {
    napi_throw_error(env, NULL, "lancast loadsink: epoll or pipe failed");
    return NULL;
  }
  struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };
  epoll_ctl(s->epoll, EPOLL_CTL_ADD, s->stop_pipe[0], &ev);
  napi_create_string_utf8(env, "lancast-loadsink", NAPI_AUTO_LENGTH, &name);
  CHECK(napi_create_threadsafe_function(env, argv[0], NULL, name, 0, 1, NULL, NULL, NULL, call_js, &s->on_packet));
  /* The sink must not keep the process alive by itself. */
  napi_unref_threadsafe_function(env, s->on_packet);
  if (pthread_create(&s->thread, NULL, run, s) != 0) {
    napi_throw_error(env, NULL, "lancast loadsink: no thread");
    return NULL;
  }
  s->running = 1;
  CHECK(napi_create_external(env, s, finalize, NULL, &result));
  return result;
}

static sink *unwrap(napi_env env, napi_value value) {
  void *data = NULL;
  if (napi_get_value_external(env, value, &data) != napi_ok) return NULL;
  return data;
}

static int grow(void ***array, int *capacity, int needed) {
  if (needed < *capacity) return 1;
  int next = *capacity ? *capacity : 64;
  while (next <= needed) next *= 2;
  void **grown = realloc(*array, sizeof(void *) * next);
  if (!grown) return 0;
  memset(grown + *capacity, 0, sizeof(void *) * (next - *capacity));
  *array = grown;
  *capacity = next;
  return 1;
}

/* add(sink, fd, viewerId, route): drain fd from now on, counting its RTP against viewerId. */
static napi_value add(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  int32_t fd, id, route;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  sink *s = unwrap(env, argv[0]);
  if (!s) CHECK(napi_invalid_arg);
  CHECK(napi_get_value_int32(env, argv[1], &fd));
  CHECK(napi_get_value_int32(env, argv[2], &id));
  CHECK(napi_get_value_int32(env, argv[3], &route));
  if (id < 0) CHECK(napi_invalid_arg);
  socket_entry *e = calloc(1, sizeof(socket_entry));
  if (!e) return NULL;
  e->fd = fd;
  e->route = route;
  int size = 4 << 20;
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size) != 0) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
  pthread_mutex_lock(&s->lock);
  int ok = grow((void ***)&s->viewers, &s->viewer_capacity, id) && grow((void ***)&s->sockets, &s->socket_capacity, s->socket_count);
  if (ok && !s->viewers[id]) s->viewers[id] = calloc(1, sizeof(viewer));
  ok = ok && s->viewers[id];
  if (ok) {
    e->viewer = s->viewers[id];
    s->sockets[s->socket_count++] = e;
  }
  pthread_mutex_unlock(&s->lock);
  if (!ok) {
    free(e);
    napi_throw_error(env, NULL, "lancast loadsink: out of memory");
    return NULL;
  }
  struct epoll_event ev = { .events = EPOLLIN, .data.ptr = e };
  if (epoll_ctl(s->epoll, EPOLL_CTL_ADD, fd, &ev) != 0) {
    napi_throw_error(env, NULL, "lancast loadsink: epoll_ctl failed");
    return NULL;
  }
  return NULL;
}

static napi_value stats(napi_env env, napi_callback_info info) {
  sink *s = unwrap(env, first_arg(env, info));
  if (!s) CHECK(napi_invalid_arg);
  pthread_mutex_lock(&s->lock);
  /* Viewers whose RTP kept coming since the last call: one that stopped shows no gap, only this. */
  uint64_t receiving = 0;
  for (int i = 0; i < s->viewer_capacity; i++) {
    viewer *v = s->viewers[i];
    if (!v) continue;
    if (v->packets > v->seen) receiving++;
    v->seen = v->packets;
  }
  double values[8] = { (double)s->packets, (double)s->lost, (double)s->octets, (double)s->handed, (double)s->streams, (double)s->rtcp, (double)receiving, (double)s->truncated };
  pthread_mutex_unlock(&s->lock);
  return number_array(env, values, 8);
}

/* streams(sink, viewer) -> [ssrc, received, lost, extendedHighestSeq, ...] for each of its streams:
 * what a receiver report says. */
static napi_value streams(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  sink *s = unwrap(env, argv[0]);
  int32_t id;
  if (!s || napi_get_value_int32(env, argv[1], &id) != napi_ok) CHECK(napi_invalid_arg);
  double values[STREAMS_PER_VIEWER * 4];
  int n = 0;
  pthread_mutex_lock(&s->lock);
  viewer *v = id >= 0 && id < s->viewer_capacity ? s->viewers[id] : NULL;
  for (int i = 0; v && i < STREAMS_PER_VIEWER; i++) {
    const stream_state *st = &v->streams[i];
    if (!st->used) continue;
    values[n++] = st->ssrc;
    values[n++] = (double)st->received;
    values[n++] = (double)st->lost;
    values[n++] = (double)(((uint64_t)st->cycles << 16) | st->last_seq);
  }
  pthread_mutex_unlock(&s->lock);
  return number_array(env, values, n);
}

/* nacks(sink) -> [viewer, ssrc, count, seq x count, viewer, ...]: every sequence number found
 * missing since the last call, by viewer and stream; the lists start empty again. */
static napi_value nacks(napi_env env, napi_callback_info info) {
  sink *s = unwrap(env, first_arg(env, info));
  if (!s) CHECK(napi_invalid_arg);
  pthread_mutex_lock(&s->lock);
  size_t size = 0;
  for (int i = 0; i < s->viewer_capacity; i++) {
    viewer *v = s->viewers[i];
    for (int k = 0; v && k < STREAMS_PER_VIEWER; k++) if (v->streams[k].missing_count) size += 3 + v->streams[k].missing_count;
  }
  double *values = size ? malloc(size * sizeof(double)) : NULL;
  size_t n = 0;
  for (int i = 0; values && i < s->viewer_capacity; i++) {
    viewer *v = s->viewers[i];
    for (int k = 0; v && k < STREAMS_PER_VIEWER; k++) {
      stream_state *st = &v->streams[k];
      if (!st->missing_count) continue;
      values[n++] = i;
      values[n++] = st->ssrc;
      values[n++] = st->missing_count;
      for (int m = 0; m < st->missing_count; m++) values[n++] = st->missing[m];
      st->missing_count = 0;
    }
  }
  pthread_mutex_unlock(&s->lock);
  napi_value result = number_array(env, values, (int)n);
  free(values);
  return result;
}

static napi_value close_sink(napi_env env, napi_callback_info info) {
  sink *s = unwrap(env, first_arg(env, info));
  if (s) stop(s);
  return NULL;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    { "create", NULL, create, NULL, NULL, NULL, napi_default, NULL },
    { "add", NULL, add, NULL, NULL, NULL, napi_default, NULL },
    { "stats", NULL, stats, NULL, NULL, NULL, napi_default, NULL },
    { "streams", NULL, streams, NULL, NULL, NULL, napi_default, NULL },
    { "nacks", NULL, nacks, NULL, NULL, NULL, napi_default, NULL },
    { "close", NULL, close_sink, NULL, NULL, NULL, napi_default, NULL },
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
