// UDP echo load generator for `npm run bench -- echo`. Keeps up to `window` datagrams unanswered,
// sending in sendmmsg bursts and receiving with recvmmsg; every datagram carries its sequence
// number and send time (CLOCK_MONOTONIC), so each echo gives one round-trip time. Bounded in
// seconds and packets. Prints one JSON line.
//
//   echo_load <ipv4|ipv6[%scope]> <port> <seconds> <warmup_seconds> <max_packets> <size> <window> <burst>
//
// Datagrams unanswered for 20 ms are counted lost (and their window slots reused). Echoes whose
// payload differs from what was sent are counted `bad`.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <net/if.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_BURST 64
#define MAX_SIZE 1472
#define LOSS_TIMEOUT_NS 20000000ull

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int cmp_u32(const void* a, const void* b) {
  uint32_t x = *(const uint32_t*)a, y = *(const uint32_t*)b;
  return x < y ? -1 : x > y;
}

static uint8_t pattern(uint64_t seq, int i) { return (uint8_t)(seq * 131u + (unsigned)i * 7u); }

static void fill(uint8_t* p, int size, uint64_t seq, uint64_t ts) {
  memcpy(p, &seq, 8);
  memcpy(p + 8, &ts, 8);
  for (int i = 16; i < size; i++) p[i] = pattern(seq, i);
}

static double pct(const uint32_t* s, uint64_t n, double q) {
  if (n == 0) return 0;
  uint64_t i = (uint64_t)(q * (double)(n - 1) + 0.5);
  return s[i] / 1000.0;
}

int main(int argc, char** argv) {
  if (argc != 9) {
    fprintf(stderr, "usage: %s ipv4 port seconds warmup_seconds max_packets size window burst\n", argv[0]);
    return 2;
  }
  const char* ip = argv[1];
  int port = atoi(argv[2]);
  double seconds = atof(argv[3]);
  double warmup = atof(argv[4]);
  uint64_t max_packets = strtoull(argv[5], NULL, 10);
  int size = atoi(argv[6]);
  int window = atoi(argv[7]);
  int burst = atoi(argv[8]);
  if (port < 1 || port > 65535 || seconds <= 0 || seconds > 60 || warmup < 0 || warmup >= seconds ||
      max_packets < 1 || max_packets > 50000000 || size < 16 || size > MAX_SIZE || window < 1 || window > 65536 ||
      burst < 1 || burst > MAX_BURST) {
    fprintf(stderr, "echo_load: argument out of range\n");
    return 2;
  }
  // IPv4, or IPv6 when the address has a ':' (a link-local one may carry its scope: fe80::1%eth0).
  struct sockaddr_storage dst;
  socklen_t dst_len;
  memset(&dst, 0, sizeof(dst));
  if (strchr(ip, ':') != NULL) {
    struct sockaddr_in6* d6 = (struct sockaddr_in6*)&dst;
    char text[INET6_ADDRSTRLEN + IF_NAMESIZE + 2];
    snprintf(text, sizeof(text), "%s", ip);
    char* scope = strchr(text, '%');
    if (scope != NULL) {
      *scope++ = '\0';
      d6->sin6_scope_id = if_nametoindex(scope);
    }
    d6->sin6_family = AF_INET6;
    d6->sin6_port = htons((uint16_t)port);
    if (inet_pton(AF_INET6, text, &d6->sin6_addr) != 1 || (scope != NULL && d6->sin6_scope_id == 0)) {
      fprintf(stderr, "echo_load: bad address %s\n", ip);
      return 2;
    }
    dst_len = sizeof(*d6);
  } else {
    struct sockaddr_in* d4 = (struct sockaddr_in*)&dst;
    d4->sin_family = AF_INET;
    d4->sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, ip, &d4->sin_addr) != 1) {
      fprintf(stderr, "echo_load: bad address %s\n", ip);
      return 2;
    }
    dst_len = sizeof(*d4);
  }
  int fd = socket(dst.ss_family, SOCK_DGRAM, 0);
  if (fd < 0 || connect(fd, (struct sockaddr*)&dst, dst_len) != 0) {
    perror("echo_load: socket/connect");
    return 1;
  }
  int buf = 4 << 20;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
  setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));

  uint32_t* rtt = malloc(sizeof(uint32_t) * max_packets);
  uint8_t* sent_flag = calloc(max_packets, 1);
  static uint8_t out_buf[MAX_BURST][MAX_SIZE], in_buf[MAX_BURST][MAX_SIZE];
  struct iovec out_iov[MAX_BURST], in_iov[MAX_BURST];
  struct mmsghdr out_msg[MAX_BURST], in_msg[MAX_BURST];
  if (!rtt || !sent_flag) return 1;
  memset(out_msg, 0, sizeof(out_msg));
  memset(in_msg, 0, sizeof(in_msg));
  for (int i = 0; i < MAX_BURST; i++) {
    out_iov[i].iov_base = out_buf[i];
    out_iov[i].iov_len = (size_t)size;
    out_msg[i].msg_hdr.msg_iov = &out_iov[i];
    out_msg[i].msg_hdr.msg_iovlen = 1;
    in_iov[i].iov_base = in_buf[i];
    in_iov[i].iov_len = MAX_SIZE;
    in_msg[i].msg_hdr.msg_iov = &in_iov[i];
    in_msg[i].msg_hdr.msg_iovlen = 1;
  }

  uint64_t start = now_ns();
  uint64_t measure_from = start + (uint64_t)(warmup * 1e9);
  uint64_t end = start + (uint64_t)(seconds * 1e9);
  uint64_t sent = 0, received = 0, lost = 0, bad = 0, send_errors = 0;
  uint64_t measured = 0, samples = 0;
  int64_t inflight = 0;
  uint64_t last_progress = start;
  for (;;) {
    uint64_t t = now_ns();
    if (t >= end) break;
    if (sent >= max_packets && inflight == 0) break;
    if (sent < max_packets && inflight < window) {
      int k = burst;
      if (k > window - inflight) k = (int)(window - inflight);
      if ((uint64_t)k > max_packets - sent) k = (int)(max_packets - sent);
      for (int i = 0; i < k; i++) fill(out_buf[i], size, sent + (uint64_t)i, t);
      int n = sendmmsg(fd, out_msg, (unsigned)k, MSG_DONTWAIT);
      if (n > 0) {
        for (int i = 0; i < n; i++) sent_flag[sent + (uint64_t)i] = 1;
        sent += (uint64_t)n;
        inflight += n;
      } else if (n < 0 && errno != EAGAIN && errno != ENOBUFS && errno != ECONNREFUSED) {
        send_errors++;
      }
    }
    int r = recvmmsg(fd, in_msg, MAX_BURST, MSG_DONTWAIT, NULL);
    if (r > 0) {
      uint64_t t2 = now_ns();
      for (int i = 0; i < r; i++) {
        uint64_t seq, ts;
        int len = (int)in_msg[i].msg_len;
        if (len != size) {
          bad++;
          continue;
        }
        memcpy(&seq, in_buf[i], 8);
        memcpy(&ts, in_buf[i] + 8, 8);
        int ok = seq < sent && sent_flag[seq] == 1 && ts >= start && ts <= t2;
        for (int j = 16; ok && j < size; j++) ok = in_buf[i][j] == pattern(seq, j);
        if (!ok) {
          bad++;
          continue;
        }
        sent_flag[seq] = 2;
        received++;
        if (inflight > 0) inflight--;
        if (ts >= measure_from) {
          measured++;
          rtt[samples++] = (uint32_t)(t2 - ts > 0xffffffffull ? 0xffffffffull : t2 - ts);
        }
      }
      last_progress = t2;
      continue;
    }
    if (r < 0 && errno != EAGAIN && errno != ECONNREFUSED) {
      perror("echo_load: recvmmsg");
      return 1;
    }
    if (inflight >= window || sent >= max_packets) {
      // Nothing to send: wait for echoes (no spinning: the servers share the CPUs).
      struct pollfd p = {fd, POLLIN, 0};
      poll(&p, 1, 2);
      uint64_t t3 = now_ns();
      if (inflight > 0 && t3 - last_progress > LOSS_TIMEOUT_NS) {
        lost += (uint64_t)inflight;
        inflight = 0;
        last_progress = t3;
      }
    }
  }
  uint64_t stop = now_ns();
  double measured_s = (double)(stop - (measure_from < stop ? measure_from : stop)) / 1e9;
  qsort(rtt, samples, sizeof(uint32_t), cmp_u32);
  printf(
      "{\"sent\":%llu,\"received\":%llu,\"lost\":%llu,\"bad\":%llu,\"send_errors\":%llu,\"seconds\":%.3f,"
      "\"measured\":%llu,\"pps\":%.0f,\"p50_us\":%.1f,\"p90_us\":%.1f,\"p99_us\":%.1f,\"p999_us\":%.1f,"
      "\"max_us\":%.1f}\n",
      (unsigned long long)sent, (unsigned long long)received, (unsigned long long)lost, (unsigned long long)bad,
      (unsigned long long)send_errors, (double)(stop - start) / 1e9, (unsigned long long)measured,
      measured_s > 0 ? (double)measured / measured_s : 0.0, pct(rtt, samples, 0.50), pct(rtt, samples, 0.90),
      pct(rtt, samples, 0.99), pct(rtt, samples, 0.999), samples ? rtt[samples - 1] / 1000.0 : 0.0);
  return 0;
}
