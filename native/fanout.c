/*
 * lancast's forwarding hot path, natively: for one RTP packet from the publisher, write each
 * viewer's 12-byte header (its SSRC, payload type, sequence and timestamp offsets), encrypt the
 * payload straight from the publisher's buffer into a stack buffer (SRTP AEAD_AES_128_GCM or
 * AES_CM_128_HMAC_SHA1_80, one reused OpenSSL context per viewer, no allocation), and sendto() it
 * on the viewer's own ICE socket. Everything else (ICE, DTLS, RTCP, negotiation) stays in werift.
 *
 * Built from source by scripts/build.mjs against Node's own headers and Node's own OpenSSL (its
 * symbols are exported by the node binary); src/relay/egress.ts falls back to TypeScript when
 * this file could not be compiled. The publisher's leg uses the other direction (`ingress`,
 * `unprotect`): SRTP from the broadcaster authenticated and decrypted with one reused context,
 * where werift would build a new decipher and parse the header bit by bit for every packet; and,
 * while nobody consumes the publisher's media, `drain` reads its leg's socket in batches, so that
 * media is counted and dropped without waking JavaScript for each packet.
 * Every leg's RTCP goes through `srtcp`, `unprotectRtcp` and `protectRtcp` (SRTCP both ways, one
 * reused context per direction, a replay window per sender) where werift would do the same.
 * Thread-safe: every call works on its arguments and the stack,
 * so worker threads each load it and use it for their own viewers.
 */
#define _GNU_SOURCE /* recvmmsg */
#define NAPI_VERSION 8
#include <node_api.h>
#include "napi_common.h"
#include <openssl/evp.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#define PROFILE_AES_CM_HMAC_SHA1_80 1
#define PROFILE_AEAD_AES_128_GCM 7
#define PROFILE_NONE 0 /* benchmarks only: header rewrite without SRTP, to split the cost */
#define FLAG_NO_SEND 1   /* benchmarks only: everything but the sendto() */
#define MAX_PACKET 1600
#define HEADER 12

/* ---- The relay thread's lock. ----
   The main thread may hand its routed publisher legs' and its viewer legs' sockets to one native
   thread (relayThread, see "The relay thread" below), which then reads, decrypts, forwards and
   queues what arrives without waking Node's event loop. Everything that thread touches (ingress,
   egress and SRTCP contexts, routes and queues) belongs to that one environment, so every call of
   this module from it, and every finalizer, holds `relay_lock` (recursive: a call may finalize);
   calls from worker threads, whose contexts the relay thread never sees, do not lock. */
static pthread_mutex_t relay_lock;
static pthread_once_t relay_lock_once = PTHREAD_ONCE_INIT;
static napi_env threaded_env; /* the environment whose legs the relay thread reads; NULL: none */

static void relay_lock_init(void) {
  pthread_mutexattr_t a;
  pthread_mutexattr_init(&a);
  pthread_mutexattr_settype(&a, PTHREAD_MUTEX_RECURSIVE);
  pthread_mutex_init(&relay_lock, &a);
  pthread_mutexattr_destroy(&a);
}

/* Locks for a call from `env` when the relay thread serves it; returns whether it locked. */
static int lock_for(napi_env env) {
  if (env != threaded_env || !env) return 0;
  pthread_mutex_lock(&relay_lock);
  return 1;
}

static void unlock_if(int locked) {
  if (locked) pthread_mutex_unlock(&relay_lock);
}

/* HMAC-SHA1 keyed once (hmac_sha1_key, below). */
typedef struct {
  SHA_CTX inner, outer; /* SHA-1 after the key XOR ipad, and after the key XOR opad */
} hmac_sha1;

typedef struct {
  uint32_t roc;
  uint16_t highest;
  int started;
} roc_state;

typedef struct {
  int fd;
  struct sockaddr_storage dest;
  socklen_t dest_len;
  uint32_t ssrc;
  uint8_t payload_type;
  uint16_t seq_offset;
  uint32_t ts_offset;
  /* A simulcast viewer's run of one layer (src/relay/rewriter.ts): added to VP8 picture ids and TL0PICIDX. */
  uint16_t pid_offset;
  uint8_t tl0_offset;
  int profile;
  int flags;
  uint8_t salt[14];
  EVP_CIPHER_CTX *cipher; /* GCM, or ECB for AES-CM (aes_cm) */
  hmac_sha1 hmac;
  roc_state streams[2]; /* 0: the media stream, 1: its RTX stream */
  double packets, octets, dropped;
  int closed;
} egress;

static void release(egress *e) {
  if (e->cipher) EVP_CIPHER_CTX_free(e->cipher);
  e->cipher = NULL;
  OPENSSL_cleanse(&e->hmac, sizeof e->hmac);
  e->closed = 1;
}

static void finalize(napi_env env, void *data, void *hint) {
  (void)hint;
  int locked = lock_for(env);
  release((egress *)data);
  free(data);
  unlock_if(locked);
}

/* The rollover counter to use for `seq` on a stream we send, advancing on wrap (RFC 3711 3.3.1). */
static uint32_t roc_for(roc_state *s, uint16_t seq) {
  if (!s->started) {
    s->started = 1;
    s->highest = seq;
    return s->roc;
  }
  int16_t diff = (int16_t)(uint16_t)(seq - s->highest);
  if (diff > 0) {
    if (seq < s->highest) s->roc++;
    s->highest = seq;
    return s->roc;
  }
  if (seq > s->highest && s->roc > 0) return s->roc - 1; /* late, from before the wrap */
  return s->roc;
}

static uint32_t get32(const uint8_t *p) { return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3]; }

static uint64_t monotonic_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static void put32(uint8_t *p, uint32_t v) {
  p[0] = v >> 24;
  p[1] = v >> 16;
  p[2] = v >> 8;
  p[3] = v;
}

/* ---- AES-CM and HMAC-SHA1 keyed once (RFC 3711 4.1.1 and 4.2.1). ----
   OpenSSL 3 re-keys per message what these keep: HMAC_Init_ex(ctx, NULL, ...) copies two digest
   contexts through its provider (allocating and clearing them), and setting a CTR context's IV
   goes through the provider's parameter look-ups by name; that set-up cost more than the
   AES-NI and SHA work of a 1200-byte packet. So the key's HMAC pads are hashed once and their
   SHA-1 states copied per message, and AES-CM's keystream, E(k, IV + i) for the counter blocks,
   comes from one ECB context keyed once (one OpenSSL call per packet, still AES-NI). */
static void hmac_sha1_key(hmac_sha1 *h, const void *key, size_t len) {
  uint8_t k[SHA_CBLOCK] = {0}, pad[SHA_CBLOCK];
  if (len > SHA_CBLOCK) SHA1(key, len, k); /* RFC 2104 2: a longer key is hashed first */
  else memcpy(k, key, len);
  for (int i = 0; i < SHA_CBLOCK; i++) pad[i] = k[i] ^ 0x36;
  SHA1_Init(&h->inner);
  SHA1_Update(&h->inner, pad, SHA_CBLOCK);
  for (int i = 0; i < SHA_CBLOCK; i++) pad[i] = k[i] ^ 0x5c;
  SHA1_Init(&h->outer);
  SHA1_Update(&h->outer, pad, SHA_CBLOCK);
  OPENSSL_cleanse(k, sizeof k);
  OPENSSL_cleanse(pad, sizeof pad);
}

/* HMAC-SHA1 of `a` followed by `b` (bl may be 0). */
static void hmac_sha1_of(const hmac_sha1 *h, const void *a, size_t al, const void *b, size_t bl, uint8_t mac[SHA_DIGEST_LENGTH]) {
  SHA_CTX c = h->inner;
  SHA1_Update(&c, a, al);
  if (bl) SHA1_Update(&c, b, bl);
  SHA1_Final(mac, &c);
  c = h->outer;
  SHA1_Update(&c, mac, SHA_DIGEST_LENGTH);
  SHA1_Final(mac, &c);
}

/* An AES-128-ECB context keyed with `key`, for aes_cm; NULL when OpenSSL refuses. */
static EVP_CIPHER_CTX *aes_cm_context(const void *key) {
  EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
  if (c && EVP_EncryptInit_ex(c, EVP_aes_128_ecb(), NULL, key, NULL) == 1 && EVP_CIPHER_CTX_set_padding(c, 0) == 1) return c;
  EVP_CIPHER_CTX_free(c);
  return NULL;
}

/* AES-CM: `out` = `in` XOR the keystream from the counter block `iv` (its last two bytes zero,
   the block counter's; SRTP packets stay far below 2^16 blocks). 1 on success. */
static int aes_cm(EVP_CIPHER_CTX *ecb, const uint8_t iv[16], const uint8_t *in, uint8_t *out, size_t len) {
  enum { BLOCKS = 64 };
  uint8_t ks[BLOCKS * 16];
  for (size_t done = 0, block = 0; done < len; ) {
    size_t n = (len - done + 15) / 16;
    if (n > BLOCKS) n = BLOCKS;
    for (size_t i = 0; i < n; i++, block++) {
      memcpy(ks + 16 * i, iv, 14);
      ks[16 * i + 14] = (uint8_t)(block >> 8);
      ks[16 * i + 15] = (uint8_t)block;
    }
    int outl = 0;
    if (block > 0x10000 || EVP_EncryptUpdate(ecb, ks, &outl, ks, (int)(16 * n)) != 1) return 0;
    size_t m = len - done < 16 * n ? len - done : 16 * n, i = 0;
    for (; i + 8 <= m; i += 8) {
      uint64_t a, k;
      memcpy(&a, in + done + i, 8);
      memcpy(&k, ks + i, 8);
      a ^= k;
      memcpy(out + done + i, &a, 8);
    }
    for (; i < m; i++) out[done + i] = in[done + i] ^ ks[i];
    done += m;
  }
  return 1;
}

/* Protect and send one packet; returns 1 when the kernel took it. */
static int protect_and_send(egress *e, int stream, const uint8_t *payload, size_t len, int marker, uint8_t pt,
                            uint16_t seq, uint32_t ts, uint32_t ssrc) {
  if (e->closed || len + HEADER + 16 > MAX_PACKET) {
    e->dropped++;
    return 0;
  }
  uint8_t out[MAX_PACKET];
  out[0] = 0x80;
  out[1] = (uint8_t)((marker ? 0x80 : 0) | (pt & 0x7f));
  out[2] = seq >> 8;
  out[3] = seq & 0xff;
  put32(out + 4, ts);
  put32(out + 8, ssrc);
  uint32_t roc = roc_for(&e->streams[stream], seq);
  int outl = 0;
  size_t total;
  if (e->profile == PROFILE_NONE) {
    memcpy(out + HEADER, payload, len);
    total = HEADER + len;
  } else if (e->profile == PROFILE_AEAD_AES_128_GCM) {
    /* RFC 7714 8.1: IV = (0x0000 || SSRC || ROC || SEQ) XOR salt; the header is the AAD. */
    uint8_t iv[12] = {0};
    put32(iv + 2, ssrc);
    put32(iv + 6, roc);
    iv[10] = seq >> 8;
    iv[11] = seq & 0xff;
    for (int i = 0; i < 12; i++) iv[i] ^= e->salt[i];
    if (EVP_EncryptInit_ex(e->cipher, NULL, NULL, NULL, iv) != 1 ||
        EVP_EncryptUpdate(e->cipher, NULL, &outl, out, HEADER) != 1 ||
        EVP_EncryptUpdate(e->cipher, out + HEADER, &outl, payload, (int)len) != 1 ||
        EVP_EncryptFinal_ex(e->cipher, out + HEADER + outl, &outl) != 1 ||
        EVP_CIPHER_CTX_ctrl(e->cipher, EVP_CTRL_GCM_GET_TAG, 16, out + HEADER + len) != 1) {
      e->dropped++;
      return 0;
    }
    total = HEADER + len + 16;
  } else {
    /* RFC 3711 4.1.1: IV = (salt << 16) XOR (SSRC << 64) XOR (index << 16); then HMAC-SHA1/80
       over header, ciphertext and ROC. */
    uint8_t iv[16] = {0};
    memcpy(iv, e->salt, 14);
    iv[4] ^= ssrc >> 24;
    iv[5] ^= ssrc >> 16;
    iv[6] ^= ssrc >> 8;
    iv[7] ^= ssrc;
    iv[8] ^= roc >> 24;
    iv[9] ^= roc >> 16;
    iv[10] ^= roc >> 8;
    iv[11] ^= roc;
    iv[12] ^= seq >> 8;
    iv[13] ^= seq & 0xff;
    uint8_t rocb[4];
    put32(rocb, roc);
    uint8_t mac[20];
    if (!aes_cm(e->cipher, iv, payload, out + HEADER, len)) {
      e->dropped++;
      return 0;
    }
    hmac_sha1_of(&e->hmac, out, HEADER + len, rocb, 4, mac);
    memcpy(out + HEADER + len, mac, 10);
    total = HEADER + len + 10;
  }
  if (e->flags & FLAG_NO_SEND) {
    e->packets++;
    e->octets += (double)len;
    return 1;
  }
  ssize_t sent = sendto(e->fd, out, total, MSG_DONTWAIT | MSG_NOSIGNAL, (struct sockaddr *)&e->dest, e->dest_len);
  if (sent < 0) {
    e->dropped++;
    return 0;
  }
  e->packets++;
  e->octets += (double)len;
  return 1;
}

static egress *unwrap(napi_env env, napi_value v) {
  void *p = NULL;
  if (napi_get_value_external(env, v, &p) != napi_ok || !p) return NULL;
  if (*(uint32_t *)p == 0x6c6e6369u || *(uint32_t *)p == 0x6c6e6372u) return NULL; /* an ingress or SRTCP handle (INGRESS_MAGIC, SRTCP_MAGIC), not an egress */
  return (egress *)p;
}

static uint32_t u32(napi_env env, napi_value v) {
  uint32_t x = 0;
  napi_get_value_uint32(env, v, &x);
  return x;
}

/* The payload buffer and marker flag of a send call; 0 on bad arguments. */
static int payload_args(napi_env env, napi_value buf, napi_value flag, void **payload, size_t *len, bool *marker) {
  return napi_get_buffer_info(env, buf, payload, len) == napi_ok && napi_get_value_bool(env, flag, marker) == napi_ok;
}

static napi_value u32_result(napi_env env, uint32_t n) {
  napi_value out = NULL;
  napi_create_uint32(env, n, &out);
  return out;
}

/* create(fd, ip, port, ssrc, payloadType, seqOffset, tsOffset, profile, key, salt, authKey|null[, flags]) */
/* `ip` (IPv4 or IPv6 text) and `port` as a socket address; returns its length, 0 when `ip` is not an address. */
static socklen_t socket_address(const char *ip, uint32_t port, struct sockaddr_storage *out) {
  memset(out, 0, sizeof *out);
  struct sockaddr_in *v4 = (struct sockaddr_in *)out;
  struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)out;
  if (inet_pton(AF_INET, ip, &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons((uint16_t)port);
    return sizeof *v4;
  }
  if (inet_pton(AF_INET6, ip, &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons((uint16_t)port);
    return sizeof *v6;
  }
  return 0;
}

static napi_value create(napi_env env, napi_callback_info info) {
  size_t argc = 12;
  napi_value argv[12];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 11) {
    napi_throw_type_error(env, NULL, "create() takes 11 arguments");
    return NULL;
  }
  egress *e = calloc(1, sizeof(egress));
  if (!e) {
    napi_throw_error(env, NULL, "out of memory");
    return NULL;
  }
  int32_t fd = -1;
  CHECK(napi_get_value_int32(env, argv[0], &fd));
  e->fd = fd;
  char ip[64] = {0};
  size_t iplen = 0;
  CHECK(napi_get_value_string_utf8(env, argv[1], ip, sizeof ip, &iplen));
  uint32_t port = u32(env, argv[2]);
  e->dest_len = socket_address(ip, port, &e->dest);
  if (e->dest_len == 0) {
    free(e);
    napi_throw_error(env, NULL, "not an IP address");
    return NULL;
  }
  e->ssrc = u32(env, argv[3]);
  e->payload_type = (uint8_t)u32(env, argv[4]);
  e->seq_offset = (uint16_t)u32(env, argv[5]);
  e->ts_offset = u32(env, argv[6]);
  e->profile = (int)u32(env, argv[7]);
  e->flags = argc > 11 ? (int)u32(env, argv[11]) : 0;
  void *key = NULL, *salt = NULL, *auth = NULL;
  size_t keyl = 0, saltl = 0, authl = 0;
  CHECK(napi_get_buffer_info(env, argv[8], &key, &keyl));
  CHECK(napi_get_buffer_info(env, argv[9], &salt, &saltl));
  int ok = keyl == 16;
  if (e->profile == PROFILE_AEAD_AES_128_GCM) {
    ok = ok && saltl >= 12; /* a 14-byte derived salt is used by its first 12 bytes (RFC 7714 8.1) */
    memcpy(e->salt, salt, saltl < 14 ? saltl : 14);
    e->cipher = EVP_CIPHER_CTX_new();
    ok = ok && e->cipher && EVP_EncryptInit_ex(e->cipher, EVP_aes_128_gcm(), NULL, key, NULL) == 1;
  } else if (e->profile == PROFILE_AES_CM_HMAC_SHA1_80) {
    CHECK(napi_get_buffer_info(env, argv[10], &auth, &authl));
    ok = ok && saltl == 14 && authl == 20;
    memcpy(e->salt, salt, saltl < 14 ? saltl : 14);
    ok = ok && (e->cipher = aes_cm_context(key)) != NULL;
    if (ok) hmac_sha1_key(&e->hmac, auth, authl);
  } else {
    ok = e->profile == PROFILE_NONE;
  }
  if (!ok) {
    release(e);
    free(e);
    napi_throw_error(env, NULL, "unsupported SRTP profile or key sizes");
    return NULL;
  }
  napi_value out;
  CHECK(napi_create_external(env, e, finalize, NULL, &out));
  return out;
}

/* The VP8 payload descriptor (RFC 7741 4.2) with the egress's picture id and TL0PICIDX offsets
   added, in `out` (a copy of `payload`); the same rewrite as rewriter.ts. */
static const uint8_t *vp8_rewrite(const egress *e, const uint8_t *payload, size_t len, uint8_t *out) {
  if (len < 3 || !(payload[0] & 0x80)) return payload;
  uint8_t x = payload[1];
  size_t i = 2;
  long pid_at = -1, tl0_at = -1;
  int long_pid = 0;
  if (x & 0x80) {
    pid_at = (long)i;
    long_pid = (payload[i] & 0x80) != 0;
    i += long_pid ? 2 : 1;
  }
  if (x & 0x40) tl0_at = (long)i;
  if (pid_at < 0 && tl0_at < 0) return payload;
  if ((pid_at >= 0 && (size_t)pid_at + (long_pid ? 1 : 0) >= len) || (tl0_at >= 0 && (size_t)tl0_at >= len)) return payload;
  memcpy(out, payload, len);
  if (pid_at >= 0) {
    if (long_pid) {
      uint16_t pid = (uint16_t)((((payload[pid_at] & 0x7f) << 8) | payload[pid_at + 1]) + e->pid_offset) & 0x7fff;
      out[pid_at] = 0x80 | (pid >> 8);
      out[pid_at + 1] = pid & 0xff;
    } else {
      out[pid_at] = (uint8_t)((payload[pid_at] + e->pid_offset) & 0x7f);
    }
  }
  if (tl0_at >= 0) out[tl0_at] = (uint8_t)(payload[tl0_at] + e->tl0_offset);
  return out;
}

/* The publisher's packet to one viewer, with its header, offsets and VP8 ids; 1 when the kernel took it. */
static int send_rewritten(egress *e, const uint8_t *payload, size_t len, int marker, uint32_t seq, uint32_t ts) {
  uint8_t copy[MAX_PACKET];
  const uint8_t *p = (e->pid_offset || e->tl0_offset) && len <= MAX_PACKET ? vp8_rewrite(e, payload, len, copy) : payload;
  return protect_and_send(e, 0, p, len, marker, e->payload_type, (uint16_t)(seq + e->seq_offset), ts + e->ts_offset, e->ssrc);
}

/* fanout(egresses[], payload, marker, seq, ts) -> packets the kernel took */
static napi_value fanout(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  uint32_t n = 0;
  CHECK(napi_get_array_length(env, argv[0], &n));
  void *payload = NULL;
  size_t len = 0;
  bool marker = false;
  if (!payload_args(env, argv[1], argv[2], &payload, &len, &marker)) CHECK(napi_invalid_arg);
  uint32_t seq = u32(env, argv[3]), ts = u32(env, argv[4]);
  uint32_t sent = 0;
  for (uint32_t i = 0; i < n; i++) {
    napi_value item;
    if (napi_get_element(env, argv[0], i, &item) != napi_ok) continue;
    egress *e = unwrap(env, item);
    if (e) sent += send_rewritten(e, payload, len, marker, seq, ts);
  }
  return u32_result(env, sent);
}

/* sendRaw(egress, stream, payload, marker, payloadType, seq, ts, ssrc) -> 1 | 0 (no offsets applied) */
static napi_value send_raw(napi_env env, napi_callback_info info) {
  size_t argc = 8;
  napi_value argv[8];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  egress *e = unwrap(env, argv[0]);
  void *payload = NULL;
  size_t len = 0;
  bool marker = false;
  if (!payload_args(env, argv[2], argv[3], &payload, &len, &marker)) CHECK(napi_invalid_arg);
  int ok = e ? protect_and_send(e, u32(env, argv[1]) ? 1 : 0, payload, len, marker, (uint8_t)u32(env, argv[4]),
                                (uint16_t)u32(env, argv[5]), u32(env, argv[6]), u32(env, argv[7]))
             : 0;
  return u32_result(env, (uint32_t)ok);
}

/* setOffsets(egress, seqOffset, tsOffset, pidOffset, tl0Offset): what fanout adds from now on. */
static napi_value set_offsets(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  egress *e = argc == 5 ? unwrap(env, argv[0]) : NULL;
  if (!e) {
    napi_throw_type_error(env, NULL, "setOffsets(egress, seqOffset, tsOffset, pidOffset, tl0Offset)");
    return NULL;
  }
  e->seq_offset = (uint16_t)u32(env, argv[1]);
  e->ts_offset = u32(env, argv[2]);
  e->pid_offset = (uint16_t)(u32(env, argv[3]) & 0x7fff);
  e->tl0_offset = (uint8_t)u32(env, argv[4]);
  return NULL;
}

/* stats(egress) -> [packets, payloadOctets, dropped] */
static napi_value stats(napi_env env, napi_callback_info info) {
  egress *e = unwrap(env, first_arg(env, info));
  double vals[3] = {e ? e->packets : 0, e ? e->octets : 0, e ? e->dropped : 0};
  return number_array(env, vals, 3);
}

/* close(egress): no more sends; the keys are wiped now, the memory at finalisation. */
static napi_value close_egress(napi_env env, napi_callback_info info) {
  egress *e = unwrap(env, first_arg(env, info));
  if (e) release(e);
  return NULL;
}

/* ---- The publisher's leg: SRTP in, plain RTP out (werift parses and routes the result). ---- */

#define INGRESS_MAGIC 0x6c6e6369u /* tells an ingress external from an egress one */
#define INGRESS_STREAMS 8

typedef struct {
  uint32_t ssrc;
  uint32_t roc;
  uint16_t highest;
  int used;
  uint64_t last; /* when it last authenticated (the ingress's packet clock), for eviction */
} rx_stream;

typedef struct {
  uint32_t magic;
  int profile;
  uint8_t salt[14];
  EVP_CIPHER_CTX *cipher; /* GCM, or ECB for AES-CM (aes_cm) */
  hmac_sha1 hmac;
  rx_stream streams[INGRESS_STREAMS];
  uint64_t clock;
  double packets, rejected;
  uint8_t *drainbuf; /* DRAIN_BATCH datagrams of DRAIN_SLOT bytes, made on the first drain */
  struct relay_state *relay; /* the routes and the queue of `take`, made on the first `route` or `take` */
} ingress;

struct relay_state;
static void relay_free(napi_env env, struct relay_state *r);

static void ingress_finalize(napi_env env, void *data, void *hint) {
  (void)hint;
  int locked = lock_for(env);
  ingress *in = data;
  if (in->cipher) EVP_CIPHER_CTX_free(in->cipher);
  free(in->drainbuf);
  relay_free(env, in->relay);
  free(in);
  unlock_if(locked);
}

static ingress *unwrap_ingress(napi_env env, napi_value v) {
  void *p = NULL;
  if (napi_get_value_external(env, v, &p) != napi_ok || !p || ((ingress *)p)->magic != INGRESS_MAGIC) return NULL;
  return p;
}

/* ingress(profile, key, salt, authKey|null): the remote side's session keys of one DTLS transport. */
static napi_value ingress_create(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  ingress *in = calloc(1, sizeof(ingress));
  if (!in) {
    napi_throw_error(env, NULL, "out of memory");
    return NULL;
  }
  in->magic = INGRESS_MAGIC;
  in->profile = (int)u32(env, argv[0]);
  void *key = NULL, *salt = NULL, *auth = NULL;
  size_t keyl = 0, saltl = 0, authl = 0;
  int ok = napi_get_buffer_info(env, argv[1], &key, &keyl) == napi_ok && napi_get_buffer_info(env, argv[2], &salt, &saltl) == napi_ok &&
           keyl == 16 && saltl >= 12 && saltl <= 14;
  if (ok) memcpy(in->salt, salt, saltl);
  if (ok && in->profile == PROFILE_AEAD_AES_128_GCM) {
    in->cipher = EVP_CIPHER_CTX_new();
    ok = in->cipher && EVP_DecryptInit_ex(in->cipher, EVP_aes_128_gcm(), NULL, key, NULL) == 1;
  } else if (ok && in->profile == PROFILE_AES_CM_HMAC_SHA1_80) {
    ok = argc > 3 && napi_get_buffer_info(env, argv[3], &auth, &authl) == napi_ok && authl == 20 && saltl == 14;
    /* AES-CM is its own inverse. */
    ok = ok && (in->cipher = aes_cm_context(key)) != NULL;
    if (ok) hmac_sha1_key(&in->hmac, auth, authl);
  } else {
    ok = 0;
  }
  if (!ok) {
    ingress_finalize(env, in, NULL);
    napi_throw_error(env, NULL, "unsupported SRTP profile or key sizes");
    return NULL;
  }
  napi_value out;
  CHECK(napi_create_external(env, in, ingress_finalize, NULL, &out));
  return out;
}

/* The state of `ssrc`, or NULL. Only looks: a packet that has not authenticated yet must not take
   a slot, or a few forged SSRCs would evict the real stream's rollover counter. */
static rx_stream *rx_find(ingress *in, uint32_t ssrc) {
  for (int i = 0; i < INGRESS_STREAMS; i++)
    if (in->streams[i].used && in->streams[i].ssrc == ssrc) return &in->streams[i];
  return NULL;
}

/* A slot for a new, authenticated stream: a free one, else the one quiet the longest. */
static rx_stream *rx_claim(ingress *in, uint32_t ssrc) {
  rx_stream *s = &in->streams[0];
  for (int i = 0; i < INGRESS_STREAMS && s->used; i++)
    if (!in->streams[i].used || in->streams[i].last < s->last) s = &in->streams[i];
  memset(s, 0, sizeof *s);
  s->ssrc = ssrc;
  return s;
}

/* RFC 3711 3.3.1 and appendix A: the rollover counter the sender most likely used for `seq`; a
   stream without state starts at 0. Nothing is stored until the packet has authenticated. */
static uint32_t roc_guess(const rx_stream *s, uint16_t seq) {
  if (!s) return 0;
  if (s->highest < 32768) return ((int)seq - (int)s->highest > 32768 && s->roc > 0) ? s->roc - 1 : s->roc;
  return ((int)s->highest - 32768 > (int)seq) ? s->roc + 1 : s->roc;
}

static void roc_accept(rx_stream *s, uint16_t seq, uint32_t v) {
  if (!s->used) {
    s->used = 1;
    s->roc = v;
    s->highest = seq;
  } else if (v > s->roc || (v == s->roc && seq > s->highest)) {
    s->roc = v;
    s->highest = seq;
  }
}

/* Authenticate and decrypt one SRTP packet: the payload goes to `plain`, the header's length and
   the payload's to *hlen and *body. 1 when it authenticates; only then does the stream's rollover
   counter move (a forged or damaged packet must not move it). */
static int ingress_open(ingress *in, const uint8_t *p, size_t n, uint8_t *plain, size_t *hlen_out, size_t *body_out) {
  size_t tag = in->profile == PROFILE_AEAD_AES_128_GCM ? 16 : 10;
  if (n < HEADER + tag || (p[0] & 0xc0) != 0x80) {
    in->rejected++;
    return 0;
  }
  size_t hlen = HEADER + 4 * (size_t)(p[0] & 0x0f);
  if ((p[0] & 0x10) && hlen + 4 <= n) hlen += 4 + 4 * (size_t)((p[hlen + 2] << 8) | p[hlen + 3]);
  if (hlen + tag > n || n > MAX_PACKET) {
    in->rejected++;
    return 0;
  }
  uint16_t seq = (uint16_t)((p[2] << 8) | p[3]);
  uint32_t ssrc = ((uint32_t)p[8] << 24) | ((uint32_t)p[9] << 16) | ((uint32_t)p[10] << 8) | p[11];
  rx_stream *s = rx_find(in, ssrc);
  uint32_t roc = roc_guess(s, seq);
  size_t body = n - hlen - tag;
  int outl = 0, ok;
  if (in->profile == PROFILE_AEAD_AES_128_GCM) {
    uint8_t iv[12] = {0};
    put32(iv + 2, ssrc);
    put32(iv + 6, roc);
    iv[10] = seq >> 8;
    iv[11] = seq & 0xff;
    for (int i = 0; i < 12; i++) iv[i] ^= in->salt[i];
    ok = EVP_DecryptInit_ex(in->cipher, NULL, NULL, NULL, iv) == 1 && EVP_DecryptUpdate(in->cipher, NULL, &outl, p, (int)hlen) == 1 &&
         EVP_DecryptUpdate(in->cipher, plain, &outl, p + hlen, (int)body) == 1 &&
         EVP_CIPHER_CTX_ctrl(in->cipher, EVP_CTRL_GCM_SET_TAG, 16, (void *)(p + n - 16)) == 1 &&
         EVP_DecryptFinal_ex(in->cipher, plain + outl, &outl) == 1;
  } else {
    uint8_t rocb[4], mac[20];
    put32(rocb, roc);
    hmac_sha1_of(&in->hmac, p, n - tag, rocb, 4, mac);
    ok = CRYPTO_memcmp(mac, p + n - tag, tag) == 0;
    if (ok) {
      uint8_t iv[16] = {0};
      memcpy(iv, in->salt, 14);
      for (int i = 0; i < 4; i++) iv[4 + i] ^= (uint8_t)(ssrc >> (24 - 8 * i));
      for (int i = 0; i < 4; i++) iv[8 + i] ^= (uint8_t)(roc >> (24 - 8 * i));
      iv[12] ^= seq >> 8;
      iv[13] ^= seq & 0xff;
      ok = aes_cm(in->cipher, iv, p + hlen, plain, body);
    }
  }
  if (!ok) {
    in->rejected++;
    return 0;
  }
  if (!s) s = rx_claim(in, ssrc);
  roc_accept(s, seq, roc);
  s->last = ++in->clock;
  in->packets++;
  *hlen_out = hlen;
  *body_out = body;
  return 1;
}

/* unprotect(ingress, srtp) -> plain RTP Buffer, or null when it does not authenticate or parse. */
static napi_value unprotect(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], result = NULL;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  ingress *in = unwrap_ingress(env, argv[0]);
  void *data = NULL;
  size_t n = 0;
  if (!in || napi_get_buffer_info(env, argv[1], &data, &n) != napi_ok) CHECK(napi_invalid_arg);
  napi_get_null(env, &result);
  uint8_t plain[MAX_PACKET];
  size_t hlen = 0, body = 0;
  if (!ingress_open(in, data, n, plain, &hlen, &body)) return result;
  void *out = NULL;
  CHECK(napi_create_buffer(env, hlen + body, &out, &result));
  memcpy(out, data, hlen);
  memcpy((uint8_t *)out + hlen, plain, body);
  return result;
}

/* ---- While nobody consumes the media: the leg's socket read here, in batches (src/relay/ingress-gate.ts). ---- */

#define DRAIN_BATCH 16
#define DRAIN_SLOT 2048
#define DRAIN_RECORD 5 /* per RTP packet: ssrc, seq, header length, payload length, marker */

/* RFC 7983 (first byte 128-191) and RFC 5761 (second byte's low 7 bits not 64-95, i.e. not RTCP). */
static int is_rtp(const uint8_t *p, size_t n) {
  return n >= HEADER && p[0] >= 128 && p[0] <= 191 && ((p[1] & 0x7f) < 64 || (p[1] & 0x7f) > 95);
}

/* Up to `want` datagrams waiting on `fd`, without blocking, into `buf` (DRAIN_SLOT bytes each);
   returns how many (0 when none wait or the socket fails). */
static int read_batch(int fd, uint8_t *buf, unsigned int want, struct mmsghdr *msgs, struct iovec *iov, struct sockaddr_storage *from) {
  memset(msgs, 0, sizeof *msgs * want);
  for (unsigned int i = 0; i < want; i++) {
    iov[i].iov_base = buf + (size_t)i * DRAIN_SLOT;
    iov[i].iov_len = DRAIN_SLOT;
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
    msgs[i].msg_hdr.msg_name = &from[i];
    msgs[i].msg_hdr.msg_namelen = sizeof from[i];
  }
  int got = recvmmsg(fd, msgs, want, MSG_DONTWAIT, NULL);
  return got < 0 ? 0 : got;
}

/* A batch read into a queue's free slots. */
typedef struct {
  struct mmsghdr msgs[DRAIN_BATCH];
  struct iovec iov[DRAIN_BATCH];
  struct sockaddr_storage from[DRAIN_BATCH];
  unsigned int want;
} batch;

/* What waits on `fd`, into the slots from `used` of a queue of `slots` (DRAIN_SLOT bytes each) at
   `buf`, a batch at most; how many (0: none wait, or the queue is full). */
static int read_into(int fd, uint8_t *buf, uint32_t used, uint32_t slots, batch *b) {
  if (used >= slots) return 0;
  b->want = slots - used < DRAIN_BATCH ? slots - used : DRAIN_BATCH;
  return read_batch(fd, buf + (size_t)used * DRAIN_SLOT, b->want, b->msgs, b->iov, b->from);
}

/* A datagram for werift, appended to `out` as (buffer, address, port): what its socket would have given it. */
static napi_status push_datagram(napi_env env, napi_value out, uint32_t *outn, const uint8_t *p, size_t n, const struct sockaddr_storage *from) {
  char address[INET6_ADDRSTRLEN] = "";
  int port = 0;
  if (from->ss_family == AF_INET) {
    const struct sockaddr_in *a = (const struct sockaddr_in *)from;
    inet_ntop(AF_INET, &a->sin_addr, address, sizeof address);
    port = ntohs(a->sin_port);
  } else if (from->ss_family == AF_INET6) {
    const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)from;
    inet_ntop(AF_INET6, &a->sin6_addr, address, sizeof address);
    port = ntohs(a->sin6_port);
  }
  napi_value buf, addr, portv;
  void *copy = NULL;
  napi_status st;
  if ((st = napi_create_buffer_copy(env, n, p, &copy, &buf)) != napi_ok || (st = napi_create_string_utf8(env, address, NAPI_AUTO_LENGTH, &addr)) != napi_ok ||
      (st = napi_create_int32(env, port, &portv)) != napi_ok || (st = napi_set_element(env, out, (*outn)++, buf)) != napi_ok ||
      (st = napi_set_element(env, out, (*outn)++, addr)) != napi_ok)
    return st;
  return napi_set_element(env, out, (*outn)++, portv);
}

/* What both drains take after their context: a socket's descriptor and a records array of
   `want`'s type; 0 on bad ones. */
static int drain_args(napi_env env, napi_value fdv, napi_value recv, napi_typedarray_type want, int32_t *fd, void **rec, size_t *length) {
  napi_typedarray_type type;
  return napi_get_value_int32(env, fdv, fd) == napi_ok && *fd >= 0 && napi_get_typedarray_info(env, recv, &type, length, rec, NULL, NULL) == napi_ok &&
         type == want;
}

/* The buffer a context reads batches into (DRAIN_BATCH datagrams of DRAIN_SLOT bytes), made on
   its first drain; NULL with an error thrown when memory is out. */
static uint8_t *drain_buffer(napi_env env, uint8_t **buf) {
  if (!*buf && !(*buf = malloc((size_t)DRAIN_BATCH * DRAIN_SLOT))) napi_throw_error(env, NULL, "out of memory");
  return *buf;
}

/* drain's and take's arguments: (ingress, fd, a typed array of type `want`); NULL with an error thrown on bad ones. */
static ingress *ingress_read_args(napi_env env, napi_callback_info info, napi_typedarray_type want, int32_t *fd, void **array, size_t *length) {
  size_t argc = 3;
  napi_value argv[3];
  ingress *in = NULL;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 3 || !(in = unwrap_ingress(env, argv[0])) ||
      !drain_args(env, argv[1], argv[2], want, fd, array, length)) {
    napi_throw_error(env, NULL, NATIVE_NAME ": bad arguments");
    return NULL;
  }
  return in;
}

/* drain(ingress, fd, records Uint32Array) -> [rtp, rejected, (buffer, address, port)...]:
   reads what is waiting on the socket without blocking. Each RTP packet is authenticated and
   decrypted (its rollover counter kept) and, when it authenticates, described in `records`
   (DRAIN_RECORD numbers each) and dropped. Anything else (STUN, DTLS, SRTCP) comes back whole with
   its sender, for werift. Stops when the socket is empty or `records` is full. */
static napi_value drain(napi_env env, napi_callback_info info) {
  int32_t fd = -1;
  size_t length = 0;
  void *rec = NULL;
  ingress *in = ingress_read_args(env, info, napi_uint32_array, &fd, &rec, &length);
  if (!in) return NULL;
  if (!drain_buffer(env, &in->drainbuf)) return NULL;
  uint32_t *records = rec;
  size_t cap = length / DRAIN_RECORD, used = 0;
  double rejected = 0;
  napi_value out;
  CHECK(napi_create_array(env, &out));
  uint32_t outn = 2;
  uint8_t plain[MAX_PACKET];
  struct mmsghdr msgs[DRAIN_BATCH];
  struct iovec iov[DRAIN_BATCH];
  struct sockaddr_storage from[DRAIN_BATCH];
  while (used < cap) {
    unsigned int want = cap - used < DRAIN_BATCH ? (unsigned int)(cap - used) : DRAIN_BATCH;
    int got = read_batch(fd, in->drainbuf, want, msgs, iov, from);
    if (got <= 0) break;
    for (int i = 0; i < got; i++) {
      const uint8_t *p = iov[i].iov_base;
      size_t n = msgs[i].msg_len;
      int truncated = (msgs[i].msg_hdr.msg_flags & MSG_TRUNC) != 0;
      if (is_rtp(p, n)) {
        size_t hlen = 0, body = 0;
        if (truncated || !ingress_open(in, p, n, plain, &hlen, &body)) {
          if (truncated) in->rejected++;
          rejected++;
          continue;
        }
        size_t padding = (p[0] & 0x20) && body > 0 ? plain[body - 1] : 0;
        uint32_t *r = records + used++ * DRAIN_RECORD;
        r[0] = ((uint32_t)p[8] << 24) | ((uint32_t)p[9] << 16) | ((uint32_t)p[10] << 8) | p[11];
        r[1] = (uint32_t)((p[2] << 8) | p[3]);
        r[2] = (uint32_t)hlen;
        r[3] = (uint32_t)(padding <= body ? body - padding : 0);
        r[4] = (p[1] & 0x80) ? 1 : 0;
        continue;
      }
      if (truncated) continue; /* werift could not use part of a datagram either */
      CHECK(push_datagram(env, out, &outn, p, n, &from[i]));
    }
    if ((unsigned int)got < want) break;
  }
  napi_value v;
  CHECK(napi_create_double(env, (double)used, &v));
  CHECK(napi_set_element(env, out, 0, v));
  CHECK(napi_create_double(env, rejected, &v));
  CHECK(napi_set_element(env, out, 1, v));
  return out;
}

/* ---- While the media is consumed: forwarded here, JavaScript told later (src/relay/ingress-gate.ts). ----
   route(ingress, ssrc, egresses[] | null) names the viewers every RTP packet of `ssrc` goes to.
   While a leg has routes, its watcher (below) reads the socket itself as soon as datagrams wait:
   each routed packet is authenticated, decrypted and sent to its viewers at once (as fanout()
   would), and queued, plain, for JavaScript, which takes the queue (take()) for everything else
   it does with a packet (history, statistics, keyframes, the publisher's NACKs and reports) at
   most every RELAY_FLUSH_MS; the watcher wakes it at once for anything it did not forward itself
   (another SSRC, such as the publisher's retransmissions; STUN, DTLS, SRTCP), for a gap in a
   routed stream (the publisher's NACK must not wait) and when the queue fills. */

#define ROUTES 4
#define QUEUE_SLOTS 64         /* datagrams waiting for JavaScript, at most */
#define QUEUE_SOON 48          /* JavaScript is woken once this many wait */
#define RELAY_FLUSH_MS 250     /* ... or once the oldest has waited this long */

typedef struct {
  uint32_t ssrc;
  uint32_t n;
  egress **list;
  napi_ref *refs; /* the egresses' externals, kept alive while routed */
  uint16_t highest;
  int started;
} route;

typedef struct {
  uint16_t len;  /* bytes in the slot: plain RTP (header and payload), or the datagram as it came */
  int8_t rtp;
  int32_t sent;  /* RTP: the viewers it went to here, or -1: not forwarded (JavaScript forwards it) */
  uint64_t at_ns;
  struct sockaddr_storage from;
} queued;

struct relay_state {
  route routes[ROUTES];
  int nroutes;
  uint8_t *buf; /* QUEUE_SLOTS slots of DRAIN_SLOT bytes */
  queued meta[QUEUE_SLOTS];
  uint32_t n;
  int urgent;
  double rejected, forwarded;
};

static void route_clear(napi_env env, route *r) {
  for (uint32_t i = 0; i < r->n; i++)
    if (r->refs[i]) napi_delete_reference(env, r->refs[i]);
  free(r->list);
  free(r->refs);
  memset(r, 0, sizeof *r);
}

static void relay_free(napi_env env, struct relay_state *r) {
  if (!r) return;
  for (int i = 0; i < r->nroutes; i++) route_clear(env, &r->routes[i]);
  free(r->buf);
  free(r);
}

static route *route_find(struct relay_state *r, uint32_t ssrc) {
  for (int k = 0; k < r->nroutes; k++)
    if (r->routes[k].ssrc == ssrc) return &r->routes[k];
  return NULL;
}

static struct relay_state *relay_of(ingress *in) {
  if (!in->relay && (in->relay = calloc(1, sizeof(struct relay_state))) && !(in->relay->buf = malloc((size_t)QUEUE_SLOTS * DRAIN_SLOT))) {
    free(in->relay);
    in->relay = NULL;
  }
  return in->relay;
}

/* Reads what waits on `fd` into the queue (until it is full): routed RTP is forwarded on the way. */
static void relay_read(ingress *in, struct relay_state *r, int fd) {
  batch b;
  uint8_t plain[MAX_PACKET];
  for (int got; (got = read_into(fd, r->buf, r->n, QUEUE_SLOTS, &b)) > 0;) {
    uint64_t now = monotonic_ns();
    uint32_t base = r->n;
    for (int i = 0; i < got; i++) {
      uint8_t *p = b.iov[i].iov_base;
      size_t n = b.msgs[i].msg_len;
      int truncated = (b.msgs[i].msg_hdr.msg_flags & MSG_TRUNC) != 0;
      queued q = {0};
      q.at_ns = now;
      q.sent = -1;
      if (is_rtp(p, n)) {
        size_t hlen = 0, body = 0;
        if (truncated || !ingress_open(in, p, n, plain, &hlen, &body)) {
          if (truncated) in->rejected++;
          r->rejected++;
          continue;
        }
        /* the slot now holds the plain packet, as werift's own decrypt returns it */
        memcpy(p + hlen, plain, body);
        size_t padding = (p[0] & 0x20) && body > 0 ? plain[body - 1] : 0;
        size_t payload = padding <= body ? body - padding : 0;
        uint32_t ssrc = get32(p + 8);
        uint16_t seq = (uint16_t)((p[2] << 8) | p[3]);
        route *rt = route_find(r, ssrc);
        if (rt) {
          uint16_t ahead = (uint16_t)(seq - rt->highest);
          if (!rt->started || (ahead > 0 && ahead < 0x8000)) {
            if (rt->started && ahead > 1) r->urgent = 1; /* a gap: the publisher's NACK must not wait */
            rt->highest = seq;
            rt->started = 1;
          }
          q.sent = 0;
          /* padding alone is the publisher's probe for its own leg: not for viewers (forwarder.ts) */
          for (uint32_t k = 0; payload > 0 && k < rt->n; k++) q.sent += send_rewritten(rt->list[k], p + hlen, payload, (p[1] & 0x80) != 0, seq, get32(p + 4));
          r->forwarded++;
        } else {
          r->urgent = 1;
        }
        q.rtp = 1;
        q.len = (uint16_t)(hlen + body);
      } else {
        if (truncated) continue; /* werift could not use part of a datagram either */
        q.len = (uint16_t)n;
        q.from = b.from[i];
        r->urgent = 1;
      }
      /* kept: closes up behind datagrams of the batch that were not */
      if (r->n != base + (uint32_t)i) memmove(r->buf + (size_t)r->n * DRAIN_SLOT, p, q.len);
      r->meta[r->n++] = q;
    }
    if ((unsigned int)got < b.want) break;
  }
  if (r->n >= QUEUE_SOON) r->urgent = 1;
}

static void place_ingress(ingress *in);

/* route(ingress, ssrc, egresses[] | null): from now on every RTP packet of `ssrc` the leg's watcher
   reads goes to these viewers at once (null: no longer forwarded here). */
static napi_value route_update(napi_env env, napi_callback_info info, ingress **changed) {
  size_t argc = 3;
  napi_value argv[3];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  ingress *in = argc >= 3 ? unwrap_ingress(env, argv[0]) : NULL;
  uint32_t ssrc = 0;
  napi_valuetype t;
  *changed = in;
  if (!in || napi_get_value_uint32(env, argv[1], &ssrc) != napi_ok || napi_typeof(env, argv[2], &t) != napi_ok) CHECK(napi_invalid_arg);
  bool array = false;
  if (t != napi_null && (napi_is_array(env, argv[2], &array) != napi_ok || !array)) CHECK(napi_invalid_arg);
  struct relay_state *r = relay_of(in);
  if (!r) {
    napi_throw_error(env, NULL, "out of memory");
    return NULL;
  }
  route *rt = route_find(r, ssrc);
  route kept = {0};
  if (rt) {
    kept.highest = rt->highest;
    kept.started = rt->started;
    route_clear(env, rt);
    *rt = r->routes[--r->nroutes]; /* the last one takes its place */
    memset(&r->routes[r->nroutes], 0, sizeof(route));
  }
  if (!array) return NULL;
  if (r->nroutes == ROUTES) {
    napi_throw_error(env, NULL, "too many routed streams on one leg");
    return NULL;
  }
  uint32_t n = 0;
  CHECK(napi_get_array_length(env, argv[2], &n));
  rt = &r->routes[r->nroutes];
  *rt = kept;
  rt->ssrc = ssrc;
  rt->list = calloc(n ? n : 1, sizeof(egress *));
  rt->refs = calloc(n ? n : 1, sizeof(napi_ref));
  if (!rt->list || !rt->refs) {
    route_clear(env, rt);
    napi_throw_error(env, NULL, "out of memory");
    return NULL;
  }
  r->nroutes++;
  for (uint32_t i = 0; i < n; i++) {
    napi_value item;
    egress *e = napi_get_element(env, argv[2], i, &item) == napi_ok ? unwrap(env, item) : NULL;
    if (!e || napi_create_reference(env, item, 1, &rt->refs[rt->n]) != napi_ok) continue;
    rt->list[rt->n++] = e;
  }
  return NULL;
}

static napi_value route_set(napi_env env, napi_callback_info info) {
  ingress *in = NULL;
  napi_value v = route_update(env, info, &in);
  /* a leg with routes is read by the relay thread, one without by this loop */
  if (in && env == threaded_env) place_ingress(in);
  return v;
}

/* take(ingress, fd, ages Float64Array) -> [datagrams, rejected, forwarded, rtp Buffer | null,
   (end | buffer, address | null, port | sent)...]: what the leg's watcher queued, then what waits
   on `fd` (read the same way: routed RTP forwarded on the way), up to `ages`'s length, in arrival
   order. RTP comes back plain, as werift's own decrypt returns it, one packet after the other in
   the one `rtp` buffer (each ends at its `end` offset and starts where the one before ended: one
   allocation a take, not one a packet), with null and how many viewers it went to here (-1: none,
   not routed); anything else whole in its own buffer with its sender. `ages` gets how long ago
   each arrived, in ms. `rejected` and `forwarded` count what the queue saw since the last take. */
static napi_value take(napi_env env, napi_callback_info info) {
  int32_t fd = -1;
  size_t length = 0;
  void *ages = NULL;
  ingress *in = ingress_read_args(env, info, napi_float64_array, &fd, &ages, &length);
  if (!in) return NULL;
  struct relay_state *r = relay_of(in);
  if (!r) {
    napi_throw_error(env, NULL, "out of memory");
    return NULL;
  }
  if (r->n < length) relay_read(in, r, fd);
  uint32_t count = r->n < length ? r->n : (uint32_t)length;
  uint64_t now = monotonic_ns();
  napi_value out, v, none, rtp;
  CHECK(napi_create_array_with_length(env, 4 + 3 * (size_t)count, &out));
  CHECK(napi_get_null(env, &none));
  size_t rtp_bytes = 0;
  for (uint32_t i = 0; i < count; i++)
    if (r->meta[i].rtp) rtp_bytes += r->meta[i].len;
  uint8_t *rtp_data = NULL;
  if (rtp_bytes > 0) CHECK(napi_create_buffer(env, rtp_bytes, (void **)&rtp_data, &rtp));
  else rtp = none;
  CHECK(napi_set_element(env, out, 3, rtp));
  uint32_t outn = 4;
  size_t end = 0;
  for (uint32_t i = 0; i < count; i++) {
    const queued *q = &r->meta[i];
    const uint8_t *p = r->buf + (size_t)i * DRAIN_SLOT;
    ((double *)ages)[i] = (double)(now - q->at_ns) / 1e6;
    if (!q->rtp) {
      CHECK(push_datagram(env, out, &outn, p, q->len, &q->from));
      continue;
    }
    memcpy(rtp_data + end, p, q->len);
    end += q->len;
    napi_value at, sent;
    CHECK(napi_create_double(env, (double)end, &at));
    CHECK(napi_create_int32(env, q->sent, &sent));
    CHECK(napi_set_element(env, out, outn++, at));
    CHECK(napi_set_element(env, out, outn++, none));
    CHECK(napi_set_element(env, out, outn++, sent));
  }
  /* what did not fit moves to the front */
  if (count < r->n) {
    memmove(r->buf, r->buf + (size_t)count * DRAIN_SLOT, (size_t)(r->n - count) * DRAIN_SLOT);
    memmove(r->meta, r->meta + count, (r->n - count) * sizeof(queued));
  }
  r->n -= count;
  r->urgent = r->n >= QUEUE_SOON;
  double head[3] = {(double)count, r->rejected, r->forwarded};
  r->rejected = r->forwarded = 0;
  for (uint32_t i = 0; i < 3; i++) {
    CHECK(napi_create_double(env, head[i], &v));
    CHECK(napi_set_element(env, out, i, v));
  }
  return out;
}

/* ingressStats(ingress) -> [packets, rejected] */
static napi_value ingress_stats(napi_env env, napi_callback_info info) {
  ingress *in = unwrap_ingress(env, first_arg(env, info));
  double vals[2] = {in ? in->packets : 0, in ? in->rejected : 0};
  return number_array(env, vals, 2);
}

/* ---- SRTCP for every leg: the peer's RTCP in, ours out (RFC 3711 3.4 and 4, RFC 7714 9). ----
   werift builds a new cipher and HMAC for each RTCP packet both ways; a leg's reports (receiver
   reports, REMB, NACK, PLI in; sender reports out) take one reused context per direction here. */

#define SRTCP_MAGIC 0x6c6e6372u
#define SRTCP_STREAMS 8
#define SRTCP_WINDOW 64          /* replay window in indices (RFC 3711 3.3.2: at least 64) */
#define SRTCP_MAX_INDEX 0x7fffffffu
#define SRTCP_INDEX_SIZE 4
#define RTCP_HEADER 8            /* the first header word and the sender's SSRC stay in the clear */
#define STUN_USER_MAX 514        /* USERNAME's own limit (RFC 5389 15.3: under 513 bytes) */

typedef struct {
  uint32_t ssrc;
  uint32_t highest; /* the highest index that authenticated */
  uint64_t seen;    /* bit k: index highest - k authenticated */
  int used;
  uint64_t last;
} rtcp_stream;

typedef struct {
  uint32_t magic;
  int profile;
  uint8_t in_salt[14], out_salt[14];
  EVP_CIPHER_CTX *in_cipher, *out_cipher; /* GCM, or ECB for AES-CM (aes_cm) */
  hmac_sha1 in_hmac, out_hmac;
  rtcp_stream streams[SRTCP_STREAMS];
  uint64_t clock;
  uint32_t out_index; /* the index of the last packet protected; the next is one more */
  double in_packets, rejected, out_packets;
  /* Consent checks (RFC 7675) from the leg's selected far end, answered by drainRtcp: see stun_answer. */
  hmac_sha1 *stun_hmac;             /* keyed with our ICE password; NULL: every STUN message goes to werift */
  uint8_t stun_user[STUN_USER_MAX]; /* USERNAME as the peer sends it: our ufrag, ':', theirs */
  size_t stun_user_len;
  int stun_controlling;             /* our ICE role: 1 controlling (requests say ICE-CONTROLLED), 0 controlled */
  struct sockaddr_storage stun_peer;
  double stun_answered;
  /* Our own consent checks to that far end (RFC 7675 5.1), sent by checkConsent: see stun_check. */
  hmac_sha1 *check_hmac;             /* keyed with the far end's ICE password; NULL: werift sends them */
  uint8_t check_user[STUN_USER_MAX]; /* USERNAME as we send it: their ufrag, ':', ours */
  size_t check_user_len;
  uint8_t check_tiebreaker[8];
  uint32_t check_priority;
  uint8_t check_id[12]; /* the transaction of the check awaiting its answer */
  int check_pending;
  uint64_t check_sent_ns;
  double check_answers, check_rtt_ms;
  struct rtcp_queue *queue; /* what was read and waits for drainRtcp (see rtcp_read), made on the first watch or drainRtcp */
} srtcp;

struct rtcp_queue;
static void rtcp_queue_free(void *s);

static void srtcp_finalize(napi_env env, void *data, void *hint) {
  (void)hint;
  int locked = lock_for(env);
  srtcp *s = data;
  if (s->in_cipher) EVP_CIPHER_CTX_free(s->in_cipher);
  if (s->out_cipher) EVP_CIPHER_CTX_free(s->out_cipher);
  free(s->stun_hmac);
  free(s->check_hmac);
  rtcp_queue_free(s);
  free(s);
  unlock_if(locked);
}

static srtcp *unwrap_srtcp(napi_env env, napi_value v) {
  void *p = NULL;
  if (napi_get_value_external(env, v, &p) != napi_ok || !p || ((srtcp *)p)->magic != SRTCP_MAGIC) return NULL;
  return p;
}


/* One direction's SRTCP session keys into a reused context; 0 on a bad key or size. GCM is set up
   to decrypt or encrypt; AES-CTR is its own inverse. */
static int srtcp_direction(napi_env env, int profile, int decrypt, napi_value key, napi_value salt, napi_value auth,
                           EVP_CIPHER_CTX **cipher, hmac_sha1 *hmac, uint8_t *salt_out) {
  void *k = NULL, *sa = NULL, *a = NULL;
  size_t kl = 0, sl = 0, al = 0;
  if (napi_get_buffer_info(env, key, &k, &kl) != napi_ok || napi_get_buffer_info(env, salt, &sa, &sl) != napi_ok || kl != 16 ||
      sl < 12 || sl > 14)
    return 0;
  memcpy(salt_out, sa, sl);
  if (profile == PROFILE_AEAD_AES_128_GCM) {
    if (!(*cipher = EVP_CIPHER_CTX_new())) return 0;
    return (decrypt ? EVP_DecryptInit_ex(*cipher, EVP_aes_128_gcm(), NULL, k, NULL) : EVP_EncryptInit_ex(*cipher, EVP_aes_128_gcm(), NULL, k, NULL)) == 1;
  }
  if (profile != PROFILE_AES_CM_HMAC_SHA1_80 || napi_get_buffer_info(env, auth, &a, &al) != napi_ok || al != 20 || sl != 14) return 0;
  if (!(*cipher = aes_cm_context(k))) return 0;
  hmac_sha1_key(hmac, a, al);
  return 1;
}

/* srtcp(profile, inKey, inSalt, inAuthKey|null, outKey, outSalt, outAuthKey|null, lastIndexSent): one
   leg's SRTCP session keys both ways; the first packet protected carries lastIndexSent + 1. */
static napi_value srtcp_create(napi_env env, napi_callback_info info) {
  size_t argc = 8;
  napi_value argv[8];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 8) {
    napi_throw_type_error(env, NULL, "srtcp() takes 8 arguments");
    return NULL;
  }
  srtcp *s = calloc(1, sizeof(srtcp));
  if (!s) {
    napi_throw_error(env, NULL, "out of memory");
    return NULL;
  }
  s->magic = SRTCP_MAGIC;
  s->profile = (int)u32(env, argv[0]);
  s->out_index = u32(env, argv[7]) & SRTCP_MAX_INDEX;
  int ok = srtcp_direction(env, s->profile, 1, argv[1], argv[2], argv[3], &s->in_cipher, &s->in_hmac, s->in_salt) &&
           srtcp_direction(env, s->profile, 0, argv[4], argv[5], argv[6], &s->out_cipher, &s->out_hmac, s->out_salt);
  if (!ok) {
    srtcp_finalize(env, s, NULL);
    napi_throw_error(env, NULL, "unsupported SRTP profile or key sizes");
    return NULL;
  }
  napi_value out;
  CHECK(napi_create_external(env, s, srtcp_finalize, NULL, &out));
  return out;
}

/* The counter block for AES-CM (RFC 3711 4.1.1 with the SRTCP index for i): salt XOR SSRC << 64 XOR index << 16. */
static void srtcp_ctr_iv(uint8_t iv[16], const uint8_t *salt, uint32_t ssrc, uint32_t index) {
  memset(iv, 0, 16);
  memcpy(iv, salt, 14);
  for (int i = 0; i < 4; i++) iv[4 + i] ^= (uint8_t)(ssrc >> (24 - 8 * i));
  for (int i = 0; i < 4; i++) iv[10 + i] ^= (uint8_t)(index >> (24 - 8 * i));
}

/* RFC 7714 9.1: IV = (0x0000 || SSRC || 0x0000 || 0 || SRTCP index) XOR salt. */
static void srtcp_gcm_iv(uint8_t iv[12], const uint8_t *salt, uint32_t ssrc, uint32_t index) {
  memset(iv, 0, 12);
  put32(iv + 2, ssrc);
  put32(iv + 8, index);
  for (int i = 0; i < 12; i++) iv[i] ^= salt[i];
}

static rtcp_stream *rtcp_find(srtcp *s, uint32_t ssrc) {
  for (int i = 0; i < SRTCP_STREAMS; i++)
    if (s->streams[i].used && s->streams[i].ssrc == ssrc) return &s->streams[i];
  return NULL;
}

/* A slot for a sender whose packet authenticated: a free one, else the one quiet the longest. */
static rtcp_stream *rtcp_claim(srtcp *s, uint32_t ssrc) {
  rtcp_stream *st = &s->streams[0];
  for (int i = 0; i < SRTCP_STREAMS && st->used; i++)
    if (!s->streams[i].used || s->streams[i].last < st->last) st = &s->streams[i];
  memset(st, 0, sizeof *st);
  st->ssrc = ssrc;
  return st;
}

/* RFC 3711 3.3.2: an index already received, or too old to tell, is a replay. */
static int rtcp_replayed(const rtcp_stream *st, uint32_t index) {
  if (!st || index > st->highest) return 0;
  uint32_t back = st->highest - index;
  return back >= SRTCP_WINDOW || ((st->seen >> back) & 1);
}

static void rtcp_accept(rtcp_stream *st, uint32_t index) {
  if (!st->used) {
    st->used = 1;
    st->highest = index;
    st->seen = 1;
  } else if (index > st->highest) {
    uint32_t ahead = index - st->highest;
    st->seen = ahead >= SRTCP_WINDOW ? 1 : (st->seen << ahead) | 1;
    st->highest = index;
  } else {
    st->seen |= 1ull << (st->highest - index);
  }
}

/* One SRTCP packet `p` (n bytes) opened into `plain` (room for n bytes): authenticated, decrypted
   and checked against replays; returns the plain compound's length, 0 when refused (then nothing
   changes but the rejected count). */
static size_t srtcp_open(srtcp *s, const uint8_t *p, size_t n, uint8_t *plain) {
  int gcm = s->profile == PROFILE_AEAD_AES_128_GCM;
  size_t tag = gcm ? 16 : 10;
  if (n < RTCP_HEADER + SRTCP_INDEX_SIZE + tag || n > INT32_MAX || (p[0] & 0xc0) != 0x80) {
    s->rejected++;
    return 0;
  }
  /* The trailer: E flag and index, then the tag (RFC 3711 3.4); the tag, then E and index (RFC 7714 9). */
  size_t len = n - tag - SRTCP_INDEX_SIZE;
  const uint8_t *word = gcm ? p + n - SRTCP_INDEX_SIZE : p + len;
  uint32_t index = get32(word) & SRTCP_MAX_INDEX, ssrc = get32(p + 4);
  int encrypted = word[0] >> 7;
  rtcp_stream *st = rtcp_find(s, ssrc);
  if (rtcp_replayed(st, index)) {
    s->rejected++;
    return 0;
  }
  int outl = 0, ok;
  if (gcm) {
    uint8_t iv[12];
    srtcp_gcm_iv(iv, s->in_salt, ssrc, index);
    size_t clear = encrypted ? RTCP_HEADER : len; /* the AAD: what is not encrypted, then E and index */
    memcpy(plain, p, clear);
    ok = EVP_DecryptInit_ex(s->in_cipher, NULL, NULL, NULL, iv) == 1 && EVP_DecryptUpdate(s->in_cipher, NULL, &outl, p, (int)clear) == 1 &&
         EVP_DecryptUpdate(s->in_cipher, NULL, &outl, word, SRTCP_INDEX_SIZE) == 1 &&
         (clear == len || EVP_DecryptUpdate(s->in_cipher, plain + clear, &outl, p + clear, (int)(len - clear)) == 1) &&
         EVP_CIPHER_CTX_ctrl(s->in_cipher, EVP_CTRL_GCM_SET_TAG, 16, (void *)(p + len)) == 1 &&
         EVP_DecryptFinal_ex(s->in_cipher, plain + len, &outl) == 1;
  } else {
    uint8_t mac[20];
    hmac_sha1_of(&s->in_hmac, p, len + SRTCP_INDEX_SIZE, NULL, 0, mac);
    ok = CRYPTO_memcmp(mac, p + n - tag, tag) == 0;
    memcpy(plain, p, encrypted ? RTCP_HEADER : len);
    if (ok && encrypted) {
      uint8_t iv[16];
      srtcp_ctr_iv(iv, s->in_salt, ssrc, index);
      ok = aes_cm(s->in_cipher, iv, p + RTCP_HEADER, plain + RTCP_HEADER, len - RTCP_HEADER);
    }
  }
  if (!ok) {
    s->rejected++;
    return 0;
  }
  if (!st) st = rtcp_claim(s, ssrc);
  rtcp_accept(st, index);
  st->last = ++s->clock;
  s->in_packets++;
  return len;
}

/* The (srtcp, packet) arguments of unprotectRtcp and protectRtcp; NULL with an error thrown when they are not. */
static srtcp *srtcp_packet_args(napi_env env, napi_callback_info info, void **data, size_t *n) {
  size_t argc = 2;
  napi_value argv[2];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  srtcp *s = argc >= 2 ? unwrap_srtcp(env, argv[0]) : NULL;
  if (!s || napi_get_buffer_info(env, argv[1], data, n) != napi_ok) {
    napi_throw_error(env, NULL, NATIVE_NAME ": bad arguments");
    return NULL;
  }
  return s;
}

/* unprotectRtcp(srtcp, packet) -> the plain compound RTCP, or null when it does not authenticate,
   parse, or is a replay. A packet refused changes nothing. */
static napi_value unprotect_rtcp(napi_env env, napi_callback_info info) {
  napi_value result = NULL, plain_value = NULL;
  void *data = NULL;
  size_t n = 0;
  srtcp *s = srtcp_packet_args(env, info, &data, &n);
  if (!s) return NULL;
  napi_get_null(env, &result);
  uint8_t stack[MAX_PACKET];
  uint8_t *plain = n <= sizeof stack ? stack : malloc(n);
  if (!plain) return result;
  size_t len = srtcp_open(s, data, n, plain);
  void *copy = NULL;
  if (len > 0 && napi_create_buffer_copy(env, len, plain, &copy, &plain_value) == napi_ok) result = plain_value;
  if (plain != stack) free(plain);
  return result;
}

/* SRTCP of the plain compound `p` (n bytes, RTCP_HEADER at least, checked by the caller) into
   `out` (n + SRTCP_INDEX_SIZE + 16 bytes at least), with the E flag and the leg's next index;
   returns its size, 0 when the index space (2^31 packets) is spent or OpenSSL fails. */
static size_t srtcp_seal(srtcp *s, const uint8_t *p, size_t n, uint8_t *out) {
  int gcm = s->profile == PROFILE_AEAD_AES_128_GCM;
  size_t tag = gcm ? 16 : 10;
  if (s->out_index >= SRTCP_MAX_INDEX) return 0;
  uint32_t index = ++s->out_index, ssrc = get32(p + 4); /* spent even if OpenSSL fails: never reused */
  uint8_t word[4];
  put32(word, 0x80000000u | index);
  memcpy(out, p, RTCP_HEADER);
  int outl = 0, ok;
  if (gcm) {
    uint8_t iv[12];
    srtcp_gcm_iv(iv, s->out_salt, ssrc, index);
    ok = EVP_EncryptInit_ex(s->out_cipher, NULL, NULL, NULL, iv) == 1 && EVP_EncryptUpdate(s->out_cipher, NULL, &outl, p, RTCP_HEADER) == 1 &&
         EVP_EncryptUpdate(s->out_cipher, NULL, &outl, word, SRTCP_INDEX_SIZE) == 1 &&
         (n == RTCP_HEADER || EVP_EncryptUpdate(s->out_cipher, out + RTCP_HEADER, &outl, p + RTCP_HEADER, (int)(n - RTCP_HEADER)) == 1) &&
         EVP_EncryptFinal_ex(s->out_cipher, out + n, &outl) == 1 && EVP_CIPHER_CTX_ctrl(s->out_cipher, EVP_CTRL_GCM_GET_TAG, 16, out + n) == 1;
    memcpy(out + n + tag, word, SRTCP_INDEX_SIZE);
  } else {
    uint8_t iv[16], mac[20];
    srtcp_ctr_iv(iv, s->out_salt, ssrc, index);
    memcpy(out + n, word, SRTCP_INDEX_SIZE);
    ok = aes_cm(s->out_cipher, iv, p + RTCP_HEADER, out + RTCP_HEADER, n - RTCP_HEADER);
    hmac_sha1_of(&s->out_hmac, out, n + SRTCP_INDEX_SIZE, NULL, 0, mac);
    memcpy(out + n + SRTCP_INDEX_SIZE, mac, tag);
  }
  if (!ok) return 0;
  s->out_packets++;
  return n + SRTCP_INDEX_SIZE + tag;
}

static int rtcp_sealable(const uint8_t *p, size_t n) { return n >= RTCP_HEADER && n <= INT32_MAX - 64 && (p[0] & 0xc0) == 0x80; }

/* protectRtcp(srtcp, rtcp) -> SRTCP with the E flag and the leg's next index, or null for a
   packet that is not RTCP or when the index space (2^31 packets) is spent. */
static napi_value protect_rtcp(napi_env env, napi_callback_info info) {
  napi_value result = NULL, out_value = NULL;
  void *data = NULL;
  size_t n = 0;
  srtcp *s = srtcp_packet_args(env, info, &data, &n);
  if (!s) return NULL;
  napi_get_null(env, &result);
  uint8_t *out = NULL;
  size_t tag = s->profile == PROFILE_AEAD_AES_128_GCM ? 16 : 10;
  if (!rtcp_sealable(data, n) || s->out_index >= SRTCP_MAX_INDEX ||
      napi_create_buffer(env, n + SRTCP_INDEX_SIZE + tag, (void **)&out, &out_value) != napi_ok)
    return result;
  return srtcp_seal(s, data, n, out) ? out_value : result;
}

/* srtcpStats(srtcp) -> [packetsIn, rejected, packetsOut, lastIndexSent] */
static napi_value srtcp_stats(napi_env env, napi_callback_info info) {
  srtcp *s = unwrap_srtcp(env, first_arg(env, info));
  double vals[5] = {s ? s->in_packets : 0, s ? s->rejected : 0, s ? s->out_packets : 0, s ? s->out_index : 0, s ? s->stun_answered : 0};
  return number_array(env, vals, 5);
}

/* ---- A viewer's RTCP, read and parsed here: werift is handed what its router needs. ----
   A relayed room's viewers each send receiver reports and REMB several times a second; through
   Node's UDP callback, werift's ICE and DTLS demultiplexing and its RTCP parser that cost a tenth
   of a millisecond each. drainRtcp reads what waits on a viewer leg's socket, opens each SRTCP
   packet with the leg's context and describes its reports and feedback in `records`
   (RTCP_RECORD numbers each, below); src/relay/rtcp-intake.ts builds werift's packets from them. */

#define RTCP_RECORD 8
#define REC_SR 200    /* ssrc, NTP high, NTP low, RTP timestamp, packets, octets, report blocks (that follow) */
#define REC_RR 201    /* ssrc, -, -, -, -, -, report blocks (that follow) */
#define REC_BLOCK 1   /* ssrc, fraction lost, packets lost, highest sequence, jitter, LSR, DLSR */
#define REC_ITEM 2    /* one entry of the packet before: NACK pid, blp; FIR ssrc, sequence; REMB ssrc */
#define REC_NACK 205  /* sender ssrc, media ssrc, entries */
#define REC_PLI 3     /* sender ssrc, media ssrc */
#define REC_FIR 4     /* sender ssrc, media ssrc, entries */
#define REC_REMB 5    /* sender ssrc, media ssrc, ssrc count field, exponent, mantissa, entries */

static double *rtcp_record(double *rec, size_t *used, double kind, double a, double b, double c, double d, double e, double f, double g) {
  double *r = rec + (*used)++ * RTCP_RECORD;
  r[0] = kind, r[1] = a, r[2] = b, r[3] = c, r[4] = d, r[5] = e, r[6] = f, r[7] = g;
  return r;
}

static void rtcp_blocks(const uint8_t *q, int count, double *rec, size_t *used) {
  for (int i = 0; i < count; i++, q += 24)
    rtcp_record(rec, used, REC_BLOCK, get32(q), q[4], (q[5] << 16) | (q[6] << 8) | q[7], get32(q + 8), get32(q + 12), get32(q + 16), get32(q + 20));
}

/* The records of one plain compound packet (at most n / 4 + 1 of them). A packet cut short ends
   the compound (what came before it stands); types werift's router does nothing with are skipped. */
static size_t rtcp_parse(const uint8_t *p, size_t n, double *rec) {
  size_t used = 0, pos = 0;
  while (pos + 4 <= n && (p[pos] >> 6) == 2) {
    int count = p[pos] & 0x1f, type = p[pos + 1];
    size_t size = 4 + 4 * (size_t)((p[pos + 2] << 8) | p[pos + 3]);
    if (pos + size > n) break;
    const uint8_t *q = p + pos + 4;
    size_t qn = size - 4;
    if (p[pos] & 0x20) {
      if (qn == 0 || q[qn - 1] > qn) break;
      qn -= q[qn - 1];
    }
    pos += size;
    if (type == 200 && qn >= 24 + 24 * (size_t)count) {
      rtcp_record(rec, &used, REC_SR, get32(q), get32(q + 4), get32(q + 8), get32(q + 12), get32(q + 16), get32(q + 20), count);
      rtcp_blocks(q + 24, count, rec, &used);
    } else if (type == 201 && qn >= 4 + 24 * (size_t)count) {
      rtcp_record(rec, &used, REC_RR, get32(q), 0, 0, 0, 0, 0, count);
      rtcp_blocks(q + 4, count, rec, &used);
    } else if (type == 205 && count == 1 && qn >= 8) {
      size_t entries = (qn - 8) / 4;
      rtcp_record(rec, &used, REC_NACK, get32(q), get32(q + 4), (double)entries, 0, 0, 0, 0);
      for (size_t i = 0; i < entries; i++) rtcp_record(rec, &used, REC_ITEM, (q[8 + 4 * i] << 8) | q[9 + 4 * i], (q[10 + 4 * i] << 8) | q[11 + 4 * i], 0, 0, 0, 0, 0);
    } else if (type == 206 && count == 1 && qn >= 8) {
      rtcp_record(rec, &used, REC_PLI, get32(q), get32(q + 4), 0, 0, 0, 0, 0);
    } else if (type == 206 && count == 4 && qn >= 8) {
      size_t entries = (qn - 8) / 8;
      rtcp_record(rec, &used, REC_FIR, get32(q), get32(q + 4), (double)entries, 0, 0, 0, 0);
      for (size_t i = 0; i < entries; i++) rtcp_record(rec, &used, REC_ITEM, get32(q + 8 + 8 * i), q[12 + 8 * i], 0, 0, 0, 0, 0);
    } else if (type == 206 && count == 15 && qn >= 16 && memcmp(q + 8, "REMB", 4) == 0) {
      size_t entries = (qn - 16) / 4;
      rtcp_record(rec, &used, REC_REMB, get32(q), get32(q + 4), q[12], q[13] >> 2, ((q[13] & 3) << 16) | (q[14] << 8) | q[15], (double)entries, 0);
      for (size_t i = 0; i < entries; i++) rtcp_record(rec, &used, REC_ITEM, get32(q + 16 + 4 * i), 0, 0, 0, 0, 0, 0);
    }
  }
  return used;
}

/* ---- Consent checks, answered where they are read. ----
   Each viewer's browser checks the selected pair every few seconds (RFC 7675), and werift's own
   answer is costly for what it does (docs/performance.md, "Consent checks answered natively"):
   parsing the message twice, two HMACs through Node's crypto, a new response object, a promise to send it,
   and the pair bookkeeping, all code too rarely run to stay warm. So drainRtcp answers the one
   request it can answer without werift: a Binding request from the selected pair's far end, that
   names our ufrag and theirs exactly, says the role opposite ours, carries nothing else werift
   would have to understand, and whose MESSAGE-INTEGRITY and FINGERPRINT check. Its answer is what
   werift's would be: XOR-MAPPED-ADDRESS, MESSAGE-INTEGRITY, FINGERPRINT. Anything else (another
   address, an ICE restart's new ufrag, a role conflict, a wrong key, a response) goes to werift,
   which answers or refuses it as before (werift/stun-auth.ts). */
#define STUN_COOKIE 0x2112A442u
#define STUN_FINGERPRINT_XOR 0x5354554eu
#define STUN_MAX 548 /* a request longer than this is not a consent check: werift may have it */

/* CRC-32 (ISO 3309, as FINGERPRINT uses), bit by bit: a few dozen bytes every few seconds. */
static uint32_t stun_crc32(const uint8_t *p, size_t n) {
  uint32_t c = 0xffffffffu;
  for (size_t i = 0; i < n; i++) {
    c ^= p[i];
    for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1)));
  }
  return ~c;
}

static int same_peer(const struct sockaddr_storage *a, const struct sockaddr_storage *b) {
  if (a->ss_family != b->ss_family) return 0;
  if (a->ss_family == AF_INET) {
    const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;
    return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
  }
  if (a->ss_family == AF_INET6) {
    const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;
    return x->sin6_port == y->sin6_port && memcmp(&x->sin6_addr, &y->sin6_addr, 16) == 0;
  }
  return 0;
}

/* HMAC-SHA1 of `m`'s first `upto` bytes with the header's length field set to `length` (RFC 5389 15.4). */
static void stun_mac(const hmac_sha1 *hmac, const uint8_t *m, size_t upto, size_t length, uint8_t mac[20]) {
  uint8_t head[4] = {m[0], m[1], (uint8_t)(length >> 8), (uint8_t)length};
  hmac_sha1_of(hmac, head, 4, m + 4, upto - 4, mac);
}

/* Appends MESSAGE-INTEGRITY (keyed by `hmac`) and FINGERPRINT to the message of `at` bytes in `r`,
   setting its length; returns the new size, 0 when the HMAC fails. */
static size_t stun_seal(const hmac_sha1 *hmac, uint8_t *r, size_t at) {
  r[at] = 0x00, r[at + 1] = 0x08, r[at + 2] = 0, r[at + 3] = 20;
  stun_mac(hmac, r, at, at - 20 + 24, r + at + 4);
  at += 24;
  r[at] = 0x80, r[at + 1] = 0x28, r[at + 2] = 0, r[at + 3] = 4;
  r[2] = (uint8_t)((at - 20 + 8) >> 8), r[3] = (uint8_t)(at - 20 + 8);
  put32(r + at + 4, stun_crc32(r, at) ^ STUN_FINGERPRINT_XOR);
  return at + 8;
}

static socklen_t peer_length(const struct sockaddr_storage *a) {
  return a->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
}

/* 1 when `p` (n bytes) is one whole STUN message whose first two bytes (class and method) are
   `t0` `t1`: at most STUN_MAX bytes, a length field that agrees, the magic cookie. */
static int stun_message(const uint8_t *p, size_t n, uint8_t t0, uint8_t t1) {
  return n >= 20 && n <= STUN_MAX && (n & 3) == 0 && p[0] == t0 && p[1] == t1 && (((size_t)p[2] << 8) | p[3]) == n - 20 && get32(p + 4) == STUN_COOKIE;
}

/* 1 when the FINGERPRINT at `fp` (0: there is none) and the MESSAGE-INTEGRITY at `mi`, keyed by
   `hmac` and compared in constant time, both check. */
static int stun_intact(const hmac_sha1 *hmac, const uint8_t *p, size_t mi, size_t fp) {
  uint8_t buf[STUN_MAX], mac[20];
  if (fp) {
    memcpy(buf, p, fp);
    buf[2] = (uint8_t)((fp - 20 + 8) >> 8);
    buf[3] = (uint8_t)(fp - 20 + 8);
    if ((stun_crc32(buf, fp) ^ STUN_FINGERPRINT_XOR) != get32(p + fp + 4)) return 0;
  }
  stun_mac(hmac, p, mi, mi - 20 + 24, mac);
  return CRYPTO_memcmp(mac, p + mi + 4, 20) == 0;
}

/* 1 when `p` was a consent check from the selected far end and has been answered on `fd`. */
static int stun_answer(srtcp *s, int fd, const uint8_t *p, size_t n, const struct sockaddr_storage *from, socklen_t fromlen) {
  if (!s->stun_hmac || !stun_message(p, n, 0x00, 0x01) || !same_peer(from, &s->stun_peer)) return 0;
  size_t pos = 20, mi = 0, fp = 0;
  int user = 0, role = 0;
  while (pos < n) {
    if (pos + 4 > n || fp) return 0; /* nothing may follow FINGERPRINT */
    unsigned int type = ((unsigned int)p[pos] << 8) | p[pos + 1];
    size_t len = ((size_t)p[pos + 2] << 8) | p[pos + 3], next = pos + 4 + ((len + 3) & ~(size_t)3);
    if (next > n || (mi && type != 0x8028)) return 0; /* only FINGERPRINT after MESSAGE-INTEGRITY */
    switch (type) {
    case 0x0006: /* USERNAME */
      if (user || len != s->stun_user_len || memcmp(p + pos + 4, s->stun_user, len) != 0) return 0;
      user = 1;
      break;
    case 0x0008: /* MESSAGE-INTEGRITY */
      if (len != 20) return 0;
      mi = pos;
      break;
    case 0x8028: /* FINGERPRINT */
      if (len != 4) return 0;
      fp = pos;
      break;
    case 0x802A: /* ICE-CONTROLLING: ours must be controlled */
    case 0x8029: /* ICE-CONTROLLED: ours must be controlling */
      if (len != 8 || role || (type == 0x802A) == s->stun_controlling) return 0;
      role = 1;
      break;
    case 0x0024: /* PRIORITY */
    case 0x0025: /* USE-CANDIDATE: the pair is selected already */
      break;
    default:
      if (type < 0x8000) return 0; /* comprehension-required, and not ours to judge */
    }
    pos = next;
  }
  if (!user || !role || !mi || !fp || !stun_intact(s->stun_hmac, p, mi, fp)) return 0;

  /* Binding success: the same transaction, XOR-MAPPED-ADDRESS, MESSAGE-INTEGRITY, FINGERPRINT. */
  uint8_t r[STUN_MAX];
  size_t at = 20;
  r[0] = 0x01;
  r[1] = 0x01;
  memcpy(r + 4, p + 4, 16); /* cookie and transaction id */
  int v6 = from->ss_family == AF_INET6;
  r[at] = 0x00, r[at + 1] = 0x20, r[at + 2] = 0, r[at + 3] = v6 ? 20 : 8;
  r[at + 4] = 0, r[at + 5] = v6 ? 2 : 1;
  uint16_t port = v6 ? ((const struct sockaddr_in6 *)from)->sin6_port : ((const struct sockaddr_in *)from)->sin_port; /* network order */
  const uint8_t *pb = (const uint8_t *)&port;
  r[at + 6] = pb[0] ^ 0x21, r[at + 7] = pb[1] ^ 0x12;
  const uint8_t *addr = v6 ? ((const struct sockaddr_in6 *)from)->sin6_addr.s6_addr : (const uint8_t *)&((const struct sockaddr_in *)from)->sin_addr.s_addr;
  for (int i = 0; i < (v6 ? 16 : 4); i++) r[at + 8 + i] = addr[i] ^ p[4 + i]; /* cookie, then transaction id */
  at = stun_seal(s->stun_hmac, r, at + (v6 ? 28 : 12));
  if (at == 0) return 0;
  if (sendto(fd, r, at, 0, (const struct sockaddr *)from, fromlen) != (ssize_t)at) return 0; /* werift answers it then */
  s->stun_answered++;
  return 1;
}

/* ---- Consent checks, sent from here. ----
   The relay checks each viewer's selected pair every 4-6 s too (RFC 7675 5.1). werift's own check
   makes an abort controller, a transaction object with its timers, the message attribute by
   attribute, its HMAC through Node's crypto, a promise and a send through Node's UDP socket, for
   one small request (what that cost: docs/performance.md, "Consent checks sent natively").
   checkConsent sends the request werift would (USERNAME, PRIORITY, ICE-CONTROLLING or -CONTROLLED
   with werift's tie-breaker, MESSAGE-INTEGRITY, FINGERPRINT) to the selected far end, and drainRtcp
   takes its answer: a Binding success from that far end, for that transaction, whose
   MESSAGE-INTEGRITY checks with the far end's password (and FINGERPRINT, when there is one).
   Anything else goes to werift as before. src/relay/consent-checks.ts keeps the time and tells
   werift's agent what its own loop would have. */

/* 1 when `p` answered the check in flight (and is taken), 0 when it is for werift. */
static int stun_check(srtcp *s, const uint8_t *p, size_t n, const struct sockaddr_storage *from) {
  if (!s->check_hmac || !s->check_pending || !stun_message(p, n, 0x01, 0x01) || memcmp(p + 8, s->check_id, 12) != 0 || !same_peer(from, &s->stun_peer)) return 0;
  size_t pos = 20, mi = 0, fp = 0;
  while (pos < n) {
    if (pos + 4 > n || fp) return 0;
    unsigned int type = ((unsigned int)p[pos] << 8) | p[pos + 1];
    size_t len = ((size_t)p[pos + 2] << 8) | p[pos + 3], next = pos + 4 + ((len + 3) & ~(size_t)3);
    if (next > n || (mi && type != 0x8028)) return 0;
    if (type == 0x0008) {
      if (len != 20) return 0;
      mi = pos;
    } else if (type == 0x8028) {
      if (len != 4) return 0;
      fp = pos;
    }
    pos = next;
  }
  if (!mi || !stun_intact(s->check_hmac, p, mi, fp)) return 0;
  s->check_pending = 0;
  s->check_answers++;
  s->check_rtt_ms = (double)(monotonic_ns() - s->check_sent_ns) / 1e6;
  return 1;
}

/* checkConsent(srtcp, fd) -> [sent, answers, rttMs]: sends a consent check to the selected far end
   on `fd` (sent: 1, or 0 when there are no credentials or the kernel refused it); `answers` so far,
   counted before this one, and the round trip of the last. A check still unanswered is given up. */
static napi_value check_consent(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  srtcp *s = argc >= 2 ? unwrap_srtcp(env, argv[0]) : NULL;
  int32_t fd = -1;
  if (!s || napi_get_value_int32(env, argv[1], &fd) != napi_ok || fd < 0) CHECK(napi_invalid_arg);
  double answers = s->check_answers, rtt = s->check_rtt_ms, sent = 0;
  s->check_pending = 0;
  if (s->check_hmac && s->stun_hmac) {
    uint8_t r[STUN_MAX];
    size_t at = 20;
    r[0] = 0x00, r[1] = 0x01;
    put32(r + 4, STUN_COOKIE);
    if (RAND_bytes(r + 8, 12) == 1) {
      r[at] = 0x00, r[at + 1] = 0x06, r[at + 2] = (uint8_t)(s->check_user_len >> 8), r[at + 3] = (uint8_t)s->check_user_len;
      memcpy(r + at + 4, s->check_user, s->check_user_len);
      size_t padded = (s->check_user_len + 3) & ~(size_t)3;
      memset(r + at + 4 + s->check_user_len, 0, padded - s->check_user_len);
      at += 4 + padded;
      r[at] = 0x00, r[at + 1] = 0x24, r[at + 2] = 0, r[at + 3] = 4;
      put32(r + at + 4, s->check_priority);
      at += 8;
      r[at] = 0x80, r[at + 1] = s->stun_controlling ? 0x2A : 0x29, r[at + 2] = 0, r[at + 3] = 8;
      memcpy(r + at + 4, s->check_tiebreaker, 8);
      at = stun_seal(s->check_hmac, r, at + 12);
      if (at != 0 && sendto(fd, r, at, 0, (const struct sockaddr *)&s->stun_peer, peer_length(&s->stun_peer)) == (ssize_t)at) {
        memcpy(s->check_id, r + 8, 12);
        s->check_pending = 1;
        s->check_sent_ns = monotonic_ns();
        sent = 1;
      }
    }
  }
  napi_value out, v;
  double values[3] = {sent, answers, rtt};
  CHECK(napi_create_array_with_length(env, 3, &out));
  for (uint32_t i = 0; i < 3; i++) {
    CHECK(napi_create_double(env, values[i], &v));
    CHECK(napi_set_element(env, out, i, v));
  }
  return out;
}

/* sendRtcp(srtcp, fd, address, port, rtcp) -> whether the compound went out: protected as
   protectRtcp does and sent on socket `fd` to `address`:`port` (the selected pair's far end),
   without Node's dgram and werift's promise chain. */
static napi_value send_rtcp(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  srtcp *s = argc >= 5 ? unwrap_srtcp(env, argv[0]) : NULL;
  int32_t fd = -1;
  uint32_t port = 0;
  char address[INET6_ADDRSTRLEN];
  size_t address_len = 0;
  void *data = NULL;
  size_t n = 0;
  if (!s || napi_get_value_int32(env, argv[1], &fd) != napi_ok || fd < 0 ||
      napi_get_value_string_utf8(env, argv[2], address, sizeof address, &address_len) != napi_ok || napi_get_value_uint32(env, argv[3], &port) != napi_ok ||
      port > 65535 || napi_get_buffer_info(env, argv[4], &data, &n) != napi_ok)
    CHECK(napi_invalid_arg);
  struct sockaddr_storage to;
  socklen_t to_len = socket_address(address, port, &to);
  uint8_t out[MAX_PACKET + SRTCP_INDEX_SIZE + 16];
  size_t len = to_len && rtcp_sealable(data, n) && n <= MAX_PACKET ? srtcp_seal(s, data, n, out) : 0;
  int sent = len > 0 && sendto(fd, out, len, MSG_DONTWAIT | MSG_NOSIGNAL, (const struct sockaddr *)&to, to_len) == (ssize_t)len;
  napi_value v;
  CHECK(napi_get_boolean(env, sent, &v));
  return v;
}

/* HMAC-SHA1 keyed with `key` (a STUN password), or NULL when out of memory. */
static hmac_sha1 *sha1_hmac(const char *key, size_t len) {
  hmac_sha1 *h = malloc(sizeof *h);
  if (h) hmac_sha1_key(h, key, len);
  return h;
}

/* consent(srtcp, username, password, controlling, address, port[, checkUsername, checkPassword,
   tieBreaker, priority]): drainRtcp answers the consent checks `address`:`port` sends with
   `username` ("ourUfrag:theirUfrag"), keyed with our `password`; with the last four, checkConsent
   sends our own to it with `checkUsername` ("theirUfrag:ourUfrag"), keyed with `checkPassword`
   (theirs), saying our role with `tieBreaker` (a BigInt) and `priority`. consent(srtcp, null) stops both. */
static napi_value consent(napi_env env, napi_callback_info info) {
  size_t argc = 10;
  napi_value argv[10];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  srtcp *s = argc >= 2 ? unwrap_srtcp(env, argv[0]) : NULL;
  if (!s) CHECK(napi_invalid_arg);
  free(s->stun_hmac);
  free(s->check_hmac);
  s->stun_hmac = NULL;
  s->check_hmac = NULL;
  s->check_pending = 0;
  napi_valuetype t;
  CHECK(napi_typeof(env, argv[1], &t));
  if (t == napi_null || t == napi_undefined) return NULL;
  char password[STUN_USER_MAX], address[INET6_ADDRSTRLEN];
  size_t user_len = 0, password_len = 0, address_len = 0;
  bool controlling = false;
  uint32_t port = 0;
  if (argc < 6 || napi_get_value_string_utf8(env, argv[1], (char *)s->stun_user, sizeof s->stun_user, &user_len) != napi_ok ||
      napi_get_value_string_utf8(env, argv[2], password, sizeof password, &password_len) != napi_ok ||
      napi_get_value_bool(env, argv[3], &controlling) != napi_ok || napi_get_value_string_utf8(env, argv[4], address, sizeof address, &address_len) != napi_ok ||
      napi_get_value_uint32(env, argv[5], &port) != napi_ok || user_len >= sizeof s->stun_user - 1 || password_len >= sizeof password - 1 || port > 65535) {
    napi_throw_type_error(env, NULL, "consent(srtcp, username, password, controlling, address, port)");
    return NULL;
  }
  if (socket_address(address, port, &s->stun_peer) == 0) {
    napi_throw_type_error(env, NULL, "consent(): not an IP address");
    return NULL;
  }
  s->stun_user_len = user_len;
  s->stun_controlling = controlling;
  if (!(s->stun_hmac = sha1_hmac(password, password_len))) {
    napi_throw_error(env, NULL, "consent(): HMAC unavailable");
    return NULL;
  }
  if (argc < 10) return NULL;
  char check_password[STUN_USER_MAX];
  size_t check_user_len = 0, check_password_len = 0;
  uint64_t tiebreaker = 0;
  bool lossless = false;
  uint32_t priority = 0;
  if (napi_get_value_string_utf8(env, argv[6], (char *)s->check_user, sizeof s->check_user, &check_user_len) != napi_ok ||
      napi_get_value_string_utf8(env, argv[7], check_password, sizeof check_password, &check_password_len) != napi_ok ||
      napi_get_value_bigint_uint64(env, argv[8], &tiebreaker, &lossless) != napi_ok || !lossless || napi_get_value_uint32(env, argv[9], &priority) != napi_ok ||
      check_user_len >= sizeof s->check_user - 1 || check_password_len >= sizeof check_password - 1) {
    napi_throw_type_error(env, NULL, "consent(): checkUsername, checkPassword, tieBreaker (BigInt), priority");
    return NULL;
  }
  s->check_user_len = check_user_len;
  for (int i = 0; i < 8; i++) s->check_tiebreaker[i] = (uint8_t)(tiebreaker >> (56 - 8 * i));
  s->check_priority = priority;
  if (!(s->check_hmac = sha1_hmac(check_password, check_password_len))) napi_throw_error(env, NULL, "consent(): HMAC unavailable");
  return NULL;
}

static int is_rtcp(const uint8_t *p, size_t n) { return n >= 2 && p[0] >= 128 && p[0] <= 191 && p[1] >= 192 && p[1] <= 208; }


/* ---- A viewer leg's RTCP, read as it comes and handed to JavaScript in batches. ----
   A watched leg's socket (watch(fd, ready, srtcp)) is read here as soon as datagrams wait: consent
   checks are answered and our own checks' answers taken at once, SRTCP is authenticated and
   decrypted and kept, plain, for drainRtcp, which describes it then. JavaScript is woken at once
   for what needs it now (a NACK, PLI, FIR or other feedback but REMB; anything for werift; a full
   queue); receiver reports and REMB wait until JavaScript comes anyway (the publisher's batch,
   src/relay/ingress-gate.ts, takes every leg's: rtcpWaiting) or RTCP_FLUSH_MS. A report block's
   DLSR grows by how long its report waited, so the round trip reckoned from it stays true. */
#define RTCP_QUEUE 8 /* a leg sends a few reports a second */
#define RTCP_FLUSH_MS 250

struct rtcp_queue {
  uint8_t buf[RTCP_QUEUE][DRAIN_SLOT];
  struct {
    uint16_t len;  /* plain SRTCP's RTCP, or the datagram for werift */
    uint16_t wire; /* its size on the wire */
    int8_t rtcp;
    uint64_t at_ns;
    struct sockaddr_storage from;
  } meta[RTCP_QUEUE];
  uint32_t n;
  int urgent;
  double rejected, rejected_bytes, answered; /* since the last drainRtcp */
  int waiting;               /* something above for drainRtcp to tell, since since_ns */
  uint64_t since_ns;
  uint32_t *counter;         /* rtcp_waiting of the thread that made it (the relay thread counts there too) */
};

/* Legs of this thread with something waiting for drainRtcp. */
static __thread uint32_t rtcp_waiting;

static void rtcp_mark(struct rtcp_queue *q, uint64_t now) {
  if (q->waiting) return;
  q->waiting = 1;
  q->since_ns = now;
  (*q->counter)++;
}

/* Forgets what waits (the leg is no longer read here). */
static void rtcp_forget(struct rtcp_queue *q) {
  if (q->waiting) (*q->counter)--;
  q->n = 0;
  q->waiting = q->urgent = 0;
  q->rejected = q->rejected_bytes = q->answered = 0;
}

static void rtcp_queue_free(void *p) {
  srtcp *s = p;
  if (s->queue) rtcp_forget(s->queue);
  free(s->queue);
  s->queue = NULL;
}

/* Feedback that needs JavaScript now: any transport-layer feedback (NACK) and payload-specific feedback but REMB (PLI, FIR). */
static int rtcp_urgent(const uint8_t *p, size_t n) {
  size_t pos = 0;
  while (pos + 4 <= n) {
    int count = p[pos] & 0x1f, type = p[pos + 1];
    if (type == 205 || (type == 206 && count != 15)) return 1;
    pos += 4 + 4 * (size_t)((p[pos + 2] << 8) | p[pos + 3]);
  }
  return 0;
}

/* Reads what waits on `fd` into the leg's queue, until it is full (see above). */
static void rtcp_read(srtcp *s, int fd) {
  struct rtcp_queue *q = s->queue;
  batch b;
  uint8_t plain[DRAIN_SLOT];
  for (int got; (got = read_into(fd, q->buf[0], q->n, RTCP_QUEUE, &b)) > 0;) {
    uint64_t now = monotonic_ns();
    uint32_t base = q->n;
    for (int i = 0; i < got; i++) {
      uint8_t *p = b.iov[i].iov_base;
      size_t n = b.msgs[i].msg_len, len = n;
      if ((b.msgs[i].msg_hdr.msg_flags & MSG_TRUNC) != 0) continue; /* werift could not use part of a datagram either */
      int rtcp = is_rtcp(p, n);
      if (!rtcp) {
        if (stun_check(s, p, n, &b.from[i])) continue;
        if (stun_answer(s, fd, p, n, &b.from[i], b.msgs[i].msg_hdr.msg_namelen)) {
          q->answered++;
          rtcp_mark(q, now);
          continue;
        }
        q->urgent = 1;
      } else {
        len = srtcp_open(s, p, n, plain);
        if (len == 0) {
          q->rejected++;
          q->rejected_bytes += (double)n;
          rtcp_mark(q, now);
          continue;
        }
        memcpy(p, plain, len);
        if (rtcp_urgent(p, len)) q->urgent = 1;
      }
      /* kept: closes up behind datagrams of the batch that were not */
      if (q->n != base + (uint32_t)i) memmove(q->buf[q->n], p, len);
      q->meta[q->n].len = (uint16_t)len;
      q->meta[q->n].wire = (uint16_t)n;
      q->meta[q->n].rtcp = (int8_t)rtcp;
      q->meta[q->n].at_ns = now;
      q->meta[q->n].from = b.from[i];
      q->n++;
      rtcp_mark(q, now);
    }
    if ((unsigned int)got < b.want) break;
  }
  if (q->n == RTCP_QUEUE) q->urgent = 1;
}

/* The leg's queue, made on first use; NULL with an error thrown when memory is out. */
static struct rtcp_queue *rtcp_queue_of(napi_env env, srtcp *s) {
  if (!s->queue && !(s->queue = calloc(1, sizeof(struct rtcp_queue)))) napi_throw_error(env, NULL, "out of memory");
  else if (!s->queue->counter) s->queue->counter = &rtcp_waiting;
  return s->queue;
}

/* rtcpWaiting() -> legs of this thread with RTCP waiting for drainRtcp */
static napi_value rtcp_waiting_count(napi_env env, napi_callback_info info) {
  (void)info;
  return u32_result(env, rtcp_waiting);
}

/* drainRtcp(srtcp, fd, records Float64Array) -> [records, datagrams, bytes, rejected, answered, (buffer, address, port)...]:
   reads what waits on a viewer leg's socket without blocking. Each SRTCP datagram (`datagrams`,
   `bytes` on the wire) is opened with the leg's context; one that authenticates is described in
   `records`, one that does not is counted in `rejected` and dropped. A consent check the leg's
   context can answer (stun_answer) is answered and counted in `answered`, and the answer to our own
   check (stun_check) is taken; anything else (STUN, DTLS) comes back whole with its sender, for
   werift. Stops when the socket is empty or `records` might not hold another datagram's. What the
   leg's watcher queued (rtcp_read) comes first; with `queuedOnly`, only that. */
static napi_value drain_rtcp(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  srtcp *s = argc >= 3 ? unwrap_srtcp(env, argv[0]) : NULL;
  bool queued_only = false;
  if (argc > 3 && napi_get_value_bool(env, argv[3], &queued_only) != napi_ok) queued_only = false;
  int32_t fd = -1;
  size_t length = 0;
  void *rec = NULL;
  if (!s || !drain_args(env, argv[1], argv[2], napi_float64_array, &fd, &rec, &length)) CHECK(napi_invalid_arg);
  struct rtcp_queue *q = rtcp_queue_of(env, s);
  if (!q) return NULL;
  const size_t most = DRAIN_SLOT / 4 + 1; /* records one datagram can give */
  size_t cap = length / RTCP_RECORD, used = 0;
  double datagrams = 0, bytes = 0;
  napi_value out;
  CHECK(napi_create_array(env, &out));
  uint32_t outn = 5;
  /* what the watcher queued, then what waits, read into the queue the same way (rtcp_read) */
  const uint64_t called = monotonic_ns();
  while (cap - used >= most) {
    if (q->n == 0) {
      if (queued_only) break;
      rtcp_read(s, fd);
      if (q->n == 0) break;
    }
    uint64_t now = monotonic_ns();
    uint32_t k = 0;
    for (; k < q->n && cap - used >= most; k++) {
      if (!q->meta[k].rtcp) {
        CHECK(push_datagram(env, out, &outn, q->buf[k], q->meta[k].len, &q->meta[k].from));
        continue;
      }
      datagrams++;
      bytes += q->meta[k].wire;
      double *first = (double *)rec + used * RTCP_RECORD;
      size_t added = rtcp_parse(q->buf[k], q->meta[k].len, first);
      /* a report that waited for this call: its DLSR (1/65536 s) grows by as much, so the round trip stays true */
      double waited = q->meta[k].at_ns < called ? (double)(now - q->meta[k].at_ns) * 65536.0 / 1e9 : 0;
      for (size_t r = 0; r < added; r++) {
        double *b = first + r * RTCP_RECORD;
        if (b[0] == REC_BLOCK && b[6] != 0) b[7] = b[7] + waited > 4294967295.0 ? 4294967295.0 : (double)(uint32_t)(b[7] + waited);
      }
      used += added;
    }
    if (k < q->n) {
      memmove(q->buf[0], q->buf[k], (size_t)(q->n - k) * DRAIN_SLOT);
      memmove(&q->meta[0], &q->meta[k], (q->n - k) * sizeof q->meta[0]);
    }
    q->n -= k;
    q->urgent = q->n == RTCP_QUEUE;
  }
  /* a datagram that did not authenticate is still one the leg received */
  datagrams += q->rejected;
  bytes += q->rejected_bytes;
  double rejected = q->rejected, answered = q->answered;
  q->rejected = q->rejected_bytes = q->answered = 0;
  if (q->n > 0) q->since_ns = q->meta[0].at_ns;
  else if (q->waiting) {
    q->waiting = 0;
    (*q->counter)--;
  }
  double head[5] = {(double)used, datagrams, bytes, rejected, answered};
  for (uint32_t i = 0; i < 5; i++) {
    napi_value v;
    CHECK(napi_create_double(env, head[i], &v));
    CHECK(napi_set_element(env, out, i, v));
  }
  return out;
}

/* ---- While the media is consumed: the leg's socket read here as soon as it is readable. ----
   watch(fd, callback) polls a duplicate of the socket on the calling thread's own libuv loop
   (Node's UDP handle keeps the original; libuv keeps one watcher per descriptor) and calls
   `callback(ok)` whenever datagrams wait, which then reads them (take, drainRtcp): one call into
   JavaScript for what arrived together, and none of Node's per-datagram work (a handle callback,
   a Buffer and an address for each). With a context (an ingress or a leg's SRTCP), the watcher
   reads them itself and calls only when JavaScript is needed (relay_read, rtcp_read). unwatch(w)
   stops it; the callback must unwatch, as it holds the watcher.

   The relay thread. In the environment that asked for it (relayThread: the main thread), a
   watcher that reads for itself (a viewer leg's, and a publisher leg's while a stream on it is
   routed) is polled by one native thread instead of the event loop: each publisher packet and
   each viewer report is read, forwarded or queued there, and Node's loop wakes only when
   JavaScript is needed (uv_async_send), about four times a second in a small room, where it woke
   for every datagram. Each turn of Node's loop has a fixed cost of its own (its timers, its check
   phase making an object and a callback scope for native immediates, the microtask checkpoint)
   that was about a fifth of a small room's CPU. The thread holds relay_lock while it works. */
#define WATCH_MAGIC 0x5741544cu

typedef struct watcher {
  uint32_t magic;
  uv_poll_t poll;
  uv_timer_t timer; /* with an ingress: JavaScript's turn once what was forwarded here has waited RELAY_FLUSH_MS */
  uv_async_t async; /* the relay thread's call for JavaScript */
  napi_env env;
  napi_ref callback;
  napi_async_context context;
  ingress *in;     /* a publisher leg's socket: routed RTP forwarded here (relay_read) */
  srtcp *rtcp;     /* a viewer leg's socket: its RTCP queued here (rtcp_read) */
  napi_ref in_ref; /* either's external, kept alive while watched */
  int fd;
  int active;
  int owners; /* the JavaScript external and the three libuv handles: the last to let go frees it */
  /* With the relay thread (all under relay_lock): */
  int threaded;       /* polled by the relay thread, not this loop */
  int paused;         /* threaded but out of its poll set until JavaScript has come: its queue is full */
  int pending;        /* the relay thread called for JavaScript, with pending_status */
  int pending_status;
  struct watcher *next; /* every watcher of threaded_env */
} watcher;

static watcher *env_watchers;
static int relay_epoll = -1;
static double relay_wakeups, relay_calls; /* the thread's turns with something read, and its calls for JavaScript */

static void watch_release(watcher *w) {
  if (--w->owners == 0) free(w);
}

static void watch_closed(uv_handle_t *h) { watch_release(h->data); }

static void watch_ready(uv_poll_t *h, int status, int events);

/* Into the relay thread's poll set; 1 when it is. */
static int relay_poll(watcher *w) {
  struct epoll_event ev = {.events = EPOLLIN, .data.ptr = w};
  return epoll_ctl(relay_epoll, EPOLL_CTL_ADD, w->fd, &ev) == 0;
}

/* Out of it, if it is there (threaded and not paused). */
static void relay_unpoll(watcher *w) {
  if (w->threaded && !w->paused) epoll_ctl(relay_epoll, EPOLL_CTL_DEL, w->fd, NULL);
}

/* Whether the relay thread should poll `w` (see above); under relay_lock. */
static int wants_thread(const watcher *w) {
  return w->active && w->env == threaded_env && relay_epoll >= 0 && (w->rtcp || (w->in && w->in->relay && w->in->relay->nroutes > 0));
}

/* Moves `w` to the relay thread or back to this loop, as wants_thread says; under relay_lock, on w's thread. */
static void place(watcher *w) {
  int want = wants_thread(w);
  if (want == w->threaded) return;
  if (want) {
    if (!relay_poll(w)) return; /* stays on this loop */
    uv_poll_stop(&w->poll);
    uv_timer_stop(&w->timer);
    w->threaded = 1;
    w->paused = 0;
  } else {
    relay_unpoll(w);
    w->threaded = w->paused = 0;
    if (w->active) uv_poll_start(&w->poll, UV_READABLE, watch_ready);
  }
}

/* Every watcher of `in` placed anew (its routes changed); under relay_lock. */
static void place_ingress(ingress *in) {
  for (watcher *w = env_watchers; w; w = w->next)
    if (w->in == in) place(w);
}

/* Stops polling and lets libuv free the watcher; the JavaScript side keeps a dead external. */
static void watch_stop(watcher *w, int release_js) {
  int locked = lock_for(w->env);
  if (!w->active) {
    unlock_if(locked);
    return;
  }
  w->active = 0;
  relay_unpoll(w);
  w->threaded = w->paused = w->pending = 0;
  for (watcher **at = &env_watchers; *at; at = &(*at)->next)
    if (*at == w) {
      *at = w->next;
      break;
    }
  uv_poll_stop(&w->poll);
  uv_timer_stop(&w->timer);
  close(w->fd);
  /* a leg that stops being read here: what it queued goes nowhere (werift reads the socket now) */
  if (w->rtcp && w->rtcp->queue) rtcp_forget(w->rtcp->queue);
  if (release_js) {
    napi_delete_reference(w->env, w->callback);
    if (w->in_ref) napi_delete_reference(w->env, w->in_ref);
    napi_async_destroy(w->env, w->context);
  }
  uv_close((uv_handle_t *)&w->poll, watch_closed);
  uv_close((uv_handle_t *)&w->timer, watch_closed);
  uv_close((uv_handle_t *)&w->async, watch_closed);
  unlock_if(locked);
}

static void watch_env_gone(void *arg) { watch_stop(arg, 0); }

/* Calls the watcher's JavaScript callback: ok unless `status` says the socket broke. */
static void watch_call(watcher *w, int status) {
  uv_timer_stop(&w->timer);
  napi_env env = w->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value cb, recv, arg, result;
  if (status < 0) uv_poll_stop(&w->poll); /* no busy loop on a broken descriptor: JavaScript is told */
  /* napi_make_callback wants an object to call on (undefined throws) */
  if (napi_get_reference_value(env, w->callback, &cb) == napi_ok && napi_get_global(env, &recv) == napi_ok &&
      napi_get_boolean(env, status == 0, &arg) == napi_ok) {
    if (napi_make_callback(env, w->context, recv, cb, 1, &arg, &result) != napi_ok) {
      bool pending = false;
      napi_value err;
      if (napi_is_exception_pending(env, &pending) == napi_ok && pending && napi_get_and_clear_last_exception(env, &err) == napi_ok)
        napi_fatal_exception(env, err);
    }
  }
  napi_close_handle_scope(env, scope);
}

/* Whether what `w` queued needs JavaScript now; else, in *wait_ms, how long until it will. */
static int queue_due(const watcher *w, uint64_t now, int64_t *wait_ms) {
  int urgent;
  uint32_t n;
  uint64_t oldest, flush_ms;
  if (w->in) {
    const struct relay_state *r = w->in->relay;
    if (!r) return 0;
    urgent = r->urgent, n = r->n, oldest = n ? r->meta[0].at_ns : 0, flush_ms = RELAY_FLUSH_MS;
  } else if (w->rtcp && w->rtcp->queue) {
    const struct rtcp_queue *q = w->rtcp->queue;
    urgent = q->urgent, n = (uint32_t)q->waiting, oldest = q->since_ns, flush_ms = RTCP_FLUSH_MS;
  } else {
    return 0;
  }
  if (n == 0) return 0;
  if (urgent) return 1;
  uint64_t waited = (now - oldest) / 1000000u;
  if (waited >= flush_ms) return 1;
  *wait_ms = (int64_t)(flush_ms - waited);
  return 0;
}

static void watch_timer(uv_timer_t *t) {
  watcher *w = t->data;
  if (!w->active) return;
  int locked = lock_for(w->env);
  int call = w->in ? w->in->relay && w->in->relay->n > 0 : w->rtcp && w->rtcp->queue->waiting;
  unlock_if(locked);
  if (call) watch_call(w, 0);
}

/* After reading into a queue: 1 to wake JavaScript now, 0 to leave it (the watcher's timer armed for when the oldest is due). */
static int watch_due(watcher *w) {
  int64_t wait = -1;
  if (queue_due(w, monotonic_ns(), &wait)) return 1;
  if (wait >= 0 && !uv_is_active((uv_handle_t *)&w->timer)) uv_timer_start(&w->timer, watch_timer, (uint64_t)wait, 0);
  return 0;
}

static void watch_ready(uv_poll_t *h, int status, int events) {
  (void)events;
  watcher *w = h->data;
  if (!w->active) return;
  int locked = lock_for(w->env);
  struct relay_state *r = w->in ? w->in->relay : NULL;
  int call = 1;
  if (status == 0 && r && r->nroutes > 0) {
    /* forwarded at once; JavaScript's turn only when something needs it now or the oldest is due */
    relay_read(w->in, r, w->fd);
    call = watch_due(w);
  } else if (status == 0 && w->rtcp) {
    rtcp_read(w->rtcp, w->fd);
    call = watch_due(w);
  }
  unlock_if(locked);
  if (call) watch_call(w, status);
}

/* The relay thread's call, on w's own loop: JavaScript takes what waits (never with relay_lock held:
   the thread goes on forwarding meanwhile). */
static void watch_async(uv_async_t *a) {
  watcher *w = a->data;
  pthread_mutex_lock(&relay_lock);
  int pending = w->active && w->pending, status = w->pending_status;
  w->pending = 0;
  pthread_mutex_unlock(&relay_lock);
  if (!pending) return;
  watch_call(w, status);
  pthread_mutex_lock(&relay_lock);
  if (w->threaded && w->paused && status == 0 && relay_poll(w)) w->paused = 0;
  /* what JavaScript left (a batch at most of what it takes at once) goes at its time, from this loop */
  int again = w->active && watch_due(w);
  pthread_mutex_unlock(&relay_lock);
  if (again) uv_timer_start(&w->timer, watch_timer, 0, 0);
}

/* relayThreadStats() -> [turns with something read, calls for JavaScript], since the start */
static napi_value relay_thread_stats(napi_env env, napi_callback_info info) {
  (void)info;
  pthread_mutex_lock(&relay_lock);
  double v[2] = {relay_wakeups, relay_calls};
  pthread_mutex_unlock(&relay_lock);
  return number_array(env, v, 2);
}

/* Asks w's loop for JavaScript; under relay_lock, on the relay thread. */
static void relay_call(watcher *w, int status) {
  if (!w->pending) {
    w->pending = 1;
    w->pending_status = status;
    relay_calls++;
    uv_async_send(&w->async);
  }
}

static int relay_listed(const watcher *w) {
  for (const watcher *x = env_watchers; x; x = x->next)
    if (x == w) return 1;
  return 0;
}

/* Out of the poll set until JavaScript has come (a full queue would wake the thread without end). */
static void relay_pause(watcher *w) {
  if (!w->paused && epoll_ctl(relay_epoll, EPOLL_CTL_DEL, w->fd, NULL) == 0) w->paused = 1;
}

static void *relay_main(void *arg) {
  (void)arg;
  struct epoll_event ev[32];
  int timeout = -1;
  for (;;) {
    int n = epoll_wait(relay_epoll, ev, 32, timeout);
    if (n < 0 && errno != EINTR) return NULL;
    pthread_mutex_lock(&relay_lock);
    if (n > 0) relay_wakeups++;
    for (int i = 0; i < n; i++) {
      watcher *w = ev[i].data.ptr;
      /* an event read before unwatch took the lock may name a watcher gone since */
      if (!relay_listed(w) || !w->threaded || w->paused) continue;
      if (ev[i].events & (EPOLLERR | EPOLLHUP)) {
        relay_pause(w);
        relay_call(w, -1);
        continue;
      }
      if (w->in && w->in->relay) {
        relay_read(w->in, w->in->relay, w->fd);
        if (w->in->relay->n >= QUEUE_SLOTS) relay_pause(w);
      } else if (w->rtcp) {
        rtcp_read(w->rtcp, w->fd);
        if (w->rtcp->queue->n >= RTCP_QUEUE) relay_pause(w);
      }
    }
    /* whatever is due goes to JavaScript; the next wait ends when the oldest not yet due will be */
    uint64_t now = monotonic_ns();
    int64_t soonest = -1;
    for (watcher *w = env_watchers; w; w = w->next) {
      int64_t wait = -1;
      if (!w->threaded || w->pending) continue;
      if (queue_due(w, now, &wait)) relay_call(w, 0);
      else if (wait >= 0 && (soonest < 0 || wait < soonest)) soonest = wait;
    }
    pthread_mutex_unlock(&relay_lock);
    timeout = soonest < 0 ? -1 : (int)soonest + 1;
  }
}

/* relayThread() -> whether this environment's legs are now read by the relay thread (see above):
   only the first environment to ask gets it. */
static napi_value relay_thread(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value out;
  pthread_mutex_lock(&relay_lock);
  if (!threaded_env) {
    pthread_t t;
    pthread_attr_t a;
    int ep = epoll_create1(EPOLL_CLOEXEC);
    pthread_attr_init(&a);
    pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
    if (ep >= 0) {
      relay_epoll = ep;
      if (pthread_create(&t, &a, relay_main, NULL) == 0) threaded_env = env;
      else {
        close(ep);
        relay_epoll = -1;
      }
    }
    pthread_attr_destroy(&a);
  }
  int ours = threaded_env == env;
  pthread_mutex_unlock(&relay_lock);
  CHECK(napi_get_boolean(env, ours, &out));
  return out;
}

static void watch_finalize(napi_env env, void *data, void *hint) {
  (void)hint;
  watcher *w = data;
  if (w->active) {
    napi_remove_env_cleanup_hook(env, watch_env_gone, w);
    watch_stop(w, 0);
  }
  watch_release(w);
}

static napi_value watch(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t fd = -1;
  napi_valuetype t;
  if (argc < 2 || napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0 || napi_typeof(env, argv[1], &t) != napi_ok || t != napi_function)
    CHECK(napi_invalid_arg);
  ingress *in = NULL;
  srtcp *rtcp = NULL;
  if (argc >= 3 && napi_typeof(env, argv[2], &t) == napi_ok && t != napi_undefined && !(in = unwrap_ingress(env, argv[2])) && !(rtcp = unwrap_srtcp(env, argv[2])))
    CHECK(napi_invalid_arg);
  if (rtcp && !rtcp_queue_of(env, rtcp)) return NULL;
  struct uv_loop_s *loop = NULL;
  CHECK(napi_get_uv_event_loop(env, &loop));
  watcher *w = calloc(1, sizeof(watcher));
  if (!w) {
    napi_throw_error(env, NULL, "out of memory");
    return NULL;
  }
  w->magic = WATCH_MAGIC;
  w->env = env;
  w->poll.data = w;
  w->timer.data = w;
  w->async.data = w;
  w->in = in;
  w->rtcp = rtcp;
  w->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (w->fd < 0 || uv_poll_init(loop, &w->poll, w->fd) != 0) {
    if (w->fd >= 0) close(w->fd);
    free(w);
    napi_throw_error(env, NULL, "cannot poll the socket");
    return NULL;
  }
  napi_value name, out;
  CHECK(napi_create_string_utf8(env, "lancast:ingress", NAPI_AUTO_LENGTH, &name));
  CHECK(napi_async_init(env, NULL, name, &w->context));
  CHECK(napi_create_reference(env, argv[1], 1, &w->callback));
  if (in || rtcp) CHECK(napi_create_reference(env, argv[2], 1, &w->in_ref));
  uv_timer_init(loop, &w->timer);
  uv_async_init(loop, &w->async, watch_async);
  w->active = 1;
  w->owners = 4;
  if (uv_poll_start(&w->poll, UV_READABLE, watch_ready) != 0) {
    w->owners = 3; /* no external will hold it */
    watch_stop(w, 1);
    napi_throw_error(env, NULL, "cannot poll the socket");
    return NULL;
  }
  if (env == threaded_env) {
    pthread_mutex_lock(&relay_lock);
    w->next = env_watchers;
    env_watchers = w;
    place(w);
    pthread_mutex_unlock(&relay_lock);
  }
  CHECK(napi_add_env_cleanup_hook(env, watch_env_gone, w));
  CHECK(napi_create_external(env, w, watch_finalize, NULL, &out));
  return out;
}

static napi_value unwatch(napi_env env, napi_callback_info info) {
  napi_value arg = first_arg(env, info);
  void *p = NULL;
  if (!arg || napi_get_value_external(env, arg, &p) != napi_ok || !p || ((watcher *)p)->magic != WATCH_MAGIC) CHECK(napi_invalid_arg);
  watcher *w = p;
  if (w->active) {
    napi_remove_env_cleanup_hook(env, watch_env_gone, w);
    watch_stop(w, 1);
  }
  return NULL;
}

/* Every call from the relay thread's environment holds relay_lock (see its section). */
#define GUARDED(fn)                                                         \
  static napi_value fn##_guarded(napi_env env, napi_callback_info info) { \
    int locked = lock_for(env);                                           \
    napi_value v = fn(env, info);                                         \
    unlock_if(locked);                                                    \
    return v;                                                             \
  }
GUARDED(create)
GUARDED(fanout)
GUARDED(send_raw)
GUARDED(set_offsets)
GUARDED(stats)
GUARDED(close_egress)
GUARDED(ingress_create)
GUARDED(unprotect)
GUARDED(ingress_stats)
GUARDED(srtcp_create)
GUARDED(unprotect_rtcp)
GUARDED(protect_rtcp)
GUARDED(srtcp_stats)
GUARDED(drain)
GUARDED(route_set)
GUARDED(take)
GUARDED(drain_rtcp)
GUARDED(rtcp_waiting_count)
GUARDED(consent)
GUARDED(check_consent)
GUARDED(send_rtcp)

NAPI_MODULE_INIT() {
  pthread_once(&relay_lock_once, relay_lock_init);
  napi_property_descriptor props[] = {
      {"create", NULL, create_guarded, NULL, NULL, NULL, napi_default, NULL},
      {"fanout", NULL, fanout_guarded, NULL, NULL, NULL, napi_default, NULL},
      {"sendRaw", NULL, send_raw_guarded, NULL, NULL, NULL, napi_default, NULL},
      {"setOffsets", NULL, set_offsets_guarded, NULL, NULL, NULL, napi_default, NULL},
      {"stats", NULL, stats_guarded, NULL, NULL, NULL, napi_default, NULL},
      {"close", NULL, close_egress_guarded, NULL, NULL, NULL, napi_default, NULL},
      {"ingress", NULL, ingress_create_guarded, NULL, NULL, NULL, napi_default, NULL},
      {"unprotect", NULL, unprotect_guarded, NULL, NULL, NULL, napi_default, NULL},
      {"ingressStats", NULL, ingress_stats_guarded, NULL, NULL, NULL, napi_default, NULL},
      {"srtcp", NULL, srtcp_create_guarded, NULL, NULL, NULL, napi_default, NULL},
      {"unprotectRtcp", NULL, unprotect_rtcp_guarded, NULL, NULL, NULL, napi_default, NULL},
      {"protectRtcp", NULL, protect_rtcp_guarded, NULL, NULL, NULL, napi_default, NULL},
      {"srtcpStats", NULL, srtcp_stats_guarded, NULL, NULL, NULL, napi_default, NULL},
      {"drain", NULL, drain_guarded, NULL, NULL, NULL, napi_default, NULL},
      {"route", NULL, route_set_guarded, NULL, NULL, NULL, napi_default, NULL},
      {"take", NULL, take_guarded, NULL, NULL, NULL, napi_default, NULL},
      {"watch", NULL, watch, NULL, NULL, NULL, napi_default, NULL},
      {"unwatch", NULL, unwatch, NULL, NULL, NULL, napi_default, NULL},
      {"relayThread", NULL, relay_thread, NULL, NULL, NULL, napi_default, NULL},
      {"relayThreadStats", NULL, relay_thread_stats, NULL, NULL, NULL, napi_default, NULL},
      {"drainRtcp", NULL, drain_rtcp_guarded, NULL, NULL, NULL, napi_default, NULL},
      {"rtcpWaiting", NULL, rtcp_waiting_count_guarded, NULL, NULL, NULL, napi_default, NULL},
      {"consent", NULL, consent_guarded, NULL, NULL, NULL, napi_default, NULL},
      {"checkConsent", NULL, check_consent_guarded, NULL, NULL, NULL, napi_default, NULL},
      {"sendRtcp", NULL, send_rtcp_guarded, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}
