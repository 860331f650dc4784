/* C reference ring for `npm run bench -- ring`: the same two-region layout (constants from
 * tilenet_layout.h, rendered from shared/ring/layout.ts) and the same protocol as
 * shared/ring/{producer,consumer}.ts, doing the same work per message (the producer writes 8
 * 64-bit words derived from the message number, the consumer reads all 8 and folds them into a
 * checksum). The Node bench creates and initialises the regions and passes them at fds 3, 4
 * (and 5, 6 for the return ring of ping-pong), exactly as to its Node children.
 *
 *   ring_bench produce <batch> <durationMs>        (fd 5: the run's control region, see ring-timing.ts)
 *   ring_bench consume <batch> <warmupMs>
 *   ring_bench inproc <batch> <count>              (fds 3, 4: both regions read-write; CPU ns per message
 *                                                  with producer and consumer in one thread, best of 5)
 *   ring_bench ping <iterations> <warmup> <spinUs>     (fds 3,4: ring ab producer side; 5,6: ring ba consumer side)
 *   ring_bench pong <iterations> <warmup> <spinUs>     (fds 3,4: ring ab consumer side; 5,6: ring ba producer side)
 * Each prints one JSON line.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/futex.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "tilenet_layout.h"

#define SPIN_US 200

static void die(const char *what) {
  fprintf(stderr, "ring_bench: %s: %s\n", what, errno ? strerror(errno) : "invalid");
  exit(1);
}

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static uint8_t *map_fd(int fd, int writable) {
  struct stat st;
  if (fstat(fd, &st) != 0) die("fstat");
  void *p = mmap(NULL, (size_t)st.st_size, PROT_READ | (writable ? PROT_WRITE : 0), MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) die("mmap");
  return p;
}

static uint32_t hdr(const uint8_t *region, uint32_t off) { return *(const uint32_t *)(region + off); }

static void check_header(const uint8_t *region, uint32_t role) {
  errno = 0;
  if (hdr(region, TN_RING_HDR_MAGIC) != TN_RING_MAGIC) die("bad magic");
  if (hdr(region, TN_RING_HDR_VERSION) != TN_RING_VERSION) die("bad version");
  if (hdr(region, TN_RING_HDR_ROLE) != role) die("wrong region role");
  uint32_t depth = hdr(region, TN_RING_HDR_DEPTH);
  if (depth < TN_RING_MIN_DEPTH || (depth & (depth - 1)) != 0) die("bad depth");
  uint32_t seq_end = TN_RING_SEQ_OFFSET + depth * 4;
  uint32_t slots = (seq_end + TN_RING_CACHE_LINE - 1) / TN_RING_CACHE_LINE * TN_RING_CACHE_LINE;
  if (hdr(region, TN_RING_HDR_SEQ_OFFSET) != TN_RING_SEQ_OFFSET || hdr(region, TN_RING_HDR_SLOTS_OFFSET) != slots)
    die("offsets do not match the layout");
  if (hdr(region, TN_RING_HDR_SLOT_SIZE) != 64) die("the bench needs 64-byte slots");
}

typedef struct {
  uint8_t *prod;
  uint8_t *cons;
  int reliable;
  uint32_t depth, mask, slot_size, slots_off;
  int32_t next;    /* producer: next to claim; consumer: next to read */
  int32_t pending; /* producer: first unpublished */
  int32_t limit;   /* producer: first message it may not claim */
  int32_t released;
  int32_t release_every;
  int32_t last_woken_from; /* value the other side's sleeper was last woken from */
  int has_woken;
  uint32_t idle_polls;
} ring_t;

#define I32(region, off) ((int32_t *)((region) + (off)))
#define F64(region, off) ((double *)((region) + (off)))

static void ring_open(ring_t *r, int prod_fd, int cons_fd, int producer) {
  memset(r, 0, sizeof *r);
  r->prod = map_fd(prod_fd, producer);
  r->cons = map_fd(cons_fd, !producer);
  check_header(r->prod, TN_RING_ROLE_PRODUCER);
  check_header(r->cons, TN_RING_ROLE_CONSUMER);
  r->reliable = hdr(r->prod, TN_RING_HDR_KIND) == TN_RING_KIND_RELIABLE;
  r->depth = hdr(r->prod, TN_RING_HDR_DEPTH);
  r->mask = r->depth - 1;
  r->slot_size = hdr(r->prod, TN_RING_HDR_SLOT_SIZE);
  r->slots_off = hdr(r->prod, TN_RING_HDR_SLOTS_OFFSET);
  if (producer) {
    r->next = r->pending = __atomic_load_n(I32(r->prod, TN_RING_PROD_PUBLISHED), __ATOMIC_ACQUIRE);
    r->limit = __atomic_load_n(I32(r->cons, TN_RING_CONS_CONSUMED), __ATOMIC_ACQUIRE) + (int32_t)r->depth;
  } else {
    r->next = r->released = __atomic_load_n(I32(r->cons, TN_RING_CONS_CONSUMED), __ATOMIC_ACQUIRE);
    r->release_every = (int32_t)(r->depth >> 2);
  }
}

static void futex_wait(int32_t *word, int32_t expected, int64_t timeout_ns) {
  struct timespec ts = {(time_t)(timeout_ns / 1000000000), (long)(timeout_ns % 1000000000)};
  syscall(SYS_futex, word, FUTEX_WAIT, expected, &ts, NULL, 0);
}

static void futex_wake(int32_t *word) { syscall(SYS_futex, word, FUTEX_WAKE, 1, NULL, NULL, 0); }

/* ---- producer ---- */

static int32_t refresh_credits(ring_t *r) {
  r->limit = __atomic_load_n(I32(r->cons, TN_RING_CONS_CONSUMED), __ATOMIC_ACQUIRE) + (int32_t)r->depth;
  return r->limit - r->next;
}

static uint32_t claim_batch(ring_t *r, uint32_t max) {
  int32_t credits = r->limit - r->next;
  if (credits < (int32_t)max) credits = refresh_credits(r);
  uint32_t n = credits < (int32_t)max ? (credits > 0 ? (uint32_t)credits : 0) : max;
  r->next += (int32_t)n;
  return n;
}

static double *slot_words(ring_t *r, int32_t seq) {
  return (double *)(r->prod + r->slots_off + ((uint32_t)seq & r->mask) * r->slot_size);
}

/* One wake per value the sleeper waits on (see RingProducer.wakeConsumer). */
static void wake_once(ring_t *r, const int32_t *expect_word, int32_t current, int32_t *futex_word, double *wakes) {
  int32_t expect = __atomic_load_n(expect_word, __ATOMIC_RELAXED);
  if (expect == current || (r->has_woken && expect == r->last_woken_from)) return;
  r->has_woken = 1;
  r->last_woken_from = expect;
  *wakes += 1;
  futex_wake(futex_word);
}

static void publish(ring_t *r) {
  int32_t *seqs = I32(r->prod, TN_RING_SEQ_OFFSET);
  for (int32_t s = r->pending; s != r->next; s++) __atomic_store_n(&seqs[(uint32_t)s & r->mask], s, __ATOMIC_RELAXED);
  __atomic_store_n(I32(r->prod, TN_RING_PROD_PUBLISHED), r->next, __ATOMIC_SEQ_CST);
  *F64(r->prod, TN_RING_PROD_CNT_PUBLISHED) += (double)(r->next - r->pending);
  r->pending = r->next;
  if (__atomic_load_n(I32(r->cons, TN_RING_CONS_SLEEPING), __ATOMIC_SEQ_CST) != 0)
    wake_once(r, I32(r->cons, TN_RING_CONS_SLEEP_EXPECT), r->next, I32(r->prod, TN_RING_PROD_PUBLISHED),
              F64(r->prod, TN_RING_PROD_CNT_WAKES));
}

static void wait_for_credits(ring_t *r, int32_t n, int64_t spin_ns) {
  if (refresh_credits(r) >= n) return;
  int64_t start = now_ns();
  *F64(r->prod, TN_RING_PROD_CNT_BACKPRESSURE) += 1;
  __atomic_store_n(I32(r->prod, TN_RING_PROD_WAITING), 1, __ATOMIC_SEQ_CST);
  while (now_ns() - start < spin_ns)
    for (int i = 0; i < 64; i++)
      if (refresh_credits(r) >= n) goto done;
  for (;;) {
    int32_t consumed = __atomic_load_n(I32(r->cons, TN_RING_CONS_CONSUMED), __ATOMIC_SEQ_CST);
    r->limit = consumed + (int32_t)r->depth;
    if (r->limit - r->next >= n) break;
    __atomic_store_n(I32(r->prod, TN_RING_PROD_SLEEP_EXPECT), consumed, __ATOMIC_RELAXED);
    __atomic_store_n(I32(r->prod, TN_RING_PROD_SLEEPING), 1, __ATOMIC_SEQ_CST);
    if (__atomic_load_n(I32(r->cons, TN_RING_CONS_CONSUMED), __ATOMIC_SEQ_CST) == consumed) {
      *F64(r->prod, TN_RING_PROD_CNT_SLEEPS) += 1;
      futex_wait(I32(r->cons, TN_RING_CONS_CONSUMED), consumed, 1000000000);
    }
    __atomic_store_n(I32(r->prod, TN_RING_PROD_SLEEPING), 0, __ATOMIC_SEQ_CST);
  }
done:
  __atomic_store_n(I32(r->prod, TN_RING_PROD_WAITING), 0, __ATOMIC_SEQ_CST);
  *F64(r->prod, TN_RING_PROD_CNT_BACKPRESSURE_NS) += (double)(now_ns() - start);
}

/* Eight 64-bit words per message, as in bench/children/ring-payload.ts. */
static inline void write_payload(double *w, uint32_t seq) {
  double s = (double)seq * 16;
  for (int i = 0; i < 8; i++) w[i] = s + i;
}

/* Sum of the eight words mod 2^32 (JS: `sum | 0`; the sums are exact integers below 2^53), added
 * as the same tree as the JS fold. */
static inline uint32_t fold_payload(const double *w) {
  double s = ((w[0] + w[1]) + (w[2] + w[3])) + ((w[4] + w[5]) + (w[6] + w[7]));
  return (uint32_t)(int64_t)s;
}

/* ---- consumer ---- */

static void release_credits(ring_t *r) {
  __atomic_store_n(I32(r->cons, TN_RING_CONS_CONSUMED), r->next, __ATOMIC_SEQ_CST);
  r->released = r->next;
  if (r->reliable && __atomic_load_n(I32(r->prod, TN_RING_PROD_SLEEPING), __ATOMIC_SEQ_CST) != 0)
    wake_once(r, I32(r->prod, TN_RING_PROD_SLEEP_EXPECT), r->next, I32(r->cons, TN_RING_CONS_CONSUMED),
              F64(r->cons, TN_RING_CONS_CNT_WAKES));
}

static int producer_waits(ring_t *r) {
  return __atomic_load_n(I32(r->prod, TN_RING_PROD_WAITING), __ATOMIC_RELAXED) != 0;
}

static int slot_caught_up(ring_t *r) {
  const int32_t *seqs = I32(r->prod, TN_RING_SEQ_OFFSET);
  return __atomic_load_n(&seqs[(uint32_t)r->next & r->mask], __ATOMIC_ACQUIRE) - r->next >= 0;
}

/* Reliable-ring fast path: folds visible messages into *checksum (what the Node handler does). */
static uint32_t deliver_in_place(ring_t *r, uint32_t max, uint32_t *checksum) {
  const int32_t *seqs = I32(r->prod, TN_RING_SEQ_OFFSET);
  uint32_t i = 0, cs = *checksum;
  for (; i < max; i++) {
    int32_t seq = r->next + (int32_t)i;
    uint32_t slot = (uint32_t)seq & r->mask;
    if (__atomic_load_n(&seqs[slot], __ATOMIC_ACQUIRE) != seq) break;
    cs = cs * 31 + fold_payload((const double *)(r->prod + r->slots_off + slot * r->slot_size));
  }
  *checksum = cs;
  return i;
}

/* Mirrors RingConsumer.poll for reliable rings (the bench never overruns, so no resync). */
static uint32_t poll_fold(ring_t *r, uint32_t max, uint32_t *checksum) {
  uint32_t taken = deliver_in_place(r, max, checksum);
  if (taken == 0) {
    if (!slot_caught_up(r)) {
      if (r->next != r->released && producer_waits(r)) release_credits(r);
      else if ((++r->idle_polls & 63) == 0) (void)__atomic_load_n(I32(r->prod, TN_RING_PROD_PUBLISHED), __ATOMIC_SEQ_CST);
      return 0;
    }
    int32_t avail = __atomic_load_n(I32(r->prod, TN_RING_PROD_PUBLISHED), __ATOMIC_SEQ_CST) - r->next;
    if (avail > (int32_t)r->depth || avail < -(int32_t)r->depth) {
      fprintf(stderr, "ring_bench: overrun on a reliable ring\n");
      exit(1);
    }
    taken = deliver_in_place(r, max, checksum);
    if (taken == 0) return 0;
  }
  r->next += (int32_t)taken;
  *F64(r->cons, TN_RING_CONS_CNT_CONSUMED) += taken;
  if (r->next - r->released >= r->release_every) release_credits(r);
  return taken;
}

static int has_data(ring_t *r) {
  return slot_caught_up(r) ||
         __atomic_load_n(I32(r->prod, TN_RING_PROD_PUBLISHED), __ATOMIC_SEQ_CST) - r->next > 0;
}

/* One attempt: spin, then sleep once on `published` (callers loop). */
static void sleep_until_data(ring_t *r, int64_t spin_ns) {
  int64_t start = now_ns();
  if (has_data(r)) return;
  while (spin_ns > 0 && now_ns() - start < spin_ns)
    for (int i = 0; i < 64; i++) {
      if (slot_caught_up(r)) return;
      if (r->next != r->released && producer_waits(r)) release_credits(r);
    }
  if (r->next != r->released) release_credits(r);
  int32_t published = __atomic_load_n(I32(r->prod, TN_RING_PROD_PUBLISHED), __ATOMIC_SEQ_CST);
  if (slot_caught_up(r) || published - r->next > 0) return;
  __atomic_store_n(I32(r->cons, TN_RING_CONS_SLEEP_EXPECT), published, __ATOMIC_RELAXED);
  __atomic_store_n(I32(r->cons, TN_RING_CONS_SLEEPING), 1, __ATOMIC_SEQ_CST);
  if (__atomic_load_n(I32(r->prod, TN_RING_PROD_PUBLISHED), __ATOMIC_SEQ_CST) == published) {
    *F64(r->cons, TN_RING_CONS_CNT_SLEEPS) += 1;
    futex_wait(I32(r->prod, TN_RING_PROD_PUBLISHED), published, 1000000000);
  }
  __atomic_store_n(I32(r->cons, TN_RING_CONS_SLEEPING), 0, __ATOMIC_SEQ_CST);
}

/* ---- modes ---- */

/* Control region of a throughput run (bench/children/ring-timing.ts). */
#define CONTROL_DONE 0
#define CONTROL_TOTAL 8

static void produce(uint32_t batch, long duration_ms) {
  ring_t r;
  ring_open(&r, 3, 4, 1);
  uint8_t *control = map_fd(5, 1);
  int64_t until = now_ns() + duration_ms * 1000000;
  long sent = 0, next_clock = 0;
  for (;;) {
    if (sent >= next_clock) {
      if (now_ns() >= until) break;
      next_clock = sent + 4096;
    }
    uint32_t n = claim_batch(&r, batch);
    if (n == 0) {
      wait_for_credits(&r, 1, SPIN_US * 1000);
      continue;
    }
    for (uint32_t i = 0; i < n; i++) write_payload(slot_words(&r, r.pending + (int32_t)i), (uint32_t)(sent + i));
    publish(&r);
    sent += n;
  }
  *F64(control, CONTROL_TOTAL) = (double)sent;
  __atomic_store_n(I32(control, CONTROL_DONE), 1, __ATOMIC_SEQ_CST);
  printf("{\"published\":%.0f,\"backpressureCount\":%.0f}\n", *F64(r.prod, TN_RING_PROD_CNT_PUBLISHED),
         *F64(r.prod, TN_RING_PROD_CNT_BACKPRESSURE));
}

/* Same timing method as bench/children/ring-timing.ts. */
#define WINDOW_MS 10
#define RTT_BLOCK 16

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* 0 when there is nothing to take the median of (the parent then uses the overall mean). */
static double median_of(double *v, long n) {
  if (n == 0) return 0;
  qsort(v, (size_t)n, sizeof *v, cmp_double);
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void consume(uint32_t batch, long warmup_ms) {
  ring_t r;
  ring_open(&r, 3, 4, 0);
  uint8_t *control = map_fd(5, 0);
  uint32_t checksum = 0;
  static double rates[4096];
  long windows = 0, got = 0, next_clock = 0, timed_from = 0, mark = 0, last_got = 0;
  int64_t started = -1, t0 = 0, mark_at = 0, last = 0;
  for (;;) {
    uint32_t n = poll_fold(&r, batch, &checksum);
    if (n == 0) {
      if (__atomic_load_n(I32(control, CONTROL_DONE), __ATOMIC_SEQ_CST) == 1 &&
          (double)got == *F64(control, CONTROL_TOTAL))
        break;
      sleep_until_data(&r, SPIN_US * 1000);
      continue;
    }
    got += n;
    if (got < next_clock) continue;
    next_clock = got + 1024;
    int64_t now = now_ns();
    if (started < 0) started = now;
    if (t0 == 0) {
      if (now - started >= warmup_ms * 1000000) {
        t0 = mark_at = now;
        timed_from = mark = got;
      }
    } else if (now - mark_at >= WINDOW_MS * 1000000) {
      if (windows < 4096) rates[windows++] = (double)(got - mark) / (double)(now - mark_at) * 1e9;
      mark = got;
      mark_at = now;
    }
    last = now;
    last_got = got;
  }
  release_credits(&r);
  printf("{\"msgs\":%ld,\"ns\":%lld,\"medianRate\":%.1f,\"total\":%ld,\"checksum\":%d}\n", last_got - timed_from,
         (long long)(last - t0), median_of(rates, windows), got, (int32_t)checksum);
}

static void ping_pong(int ping, long iterations, long warmup, long spin_us) {
  ring_t out, in;
  if (ping) {
    ring_open(&out, 3, 4, 1);
    ring_open(&in, 5, 6, 0);
  } else {
    ring_open(&in, 3, 4, 0);
    ring_open(&out, 5, 6, 1);
  }
  uint32_t checksum = 0;
  double *blocks = calloc((size_t)(iterations / RTT_BLOCK + 1), sizeof(double));
  long n_blocks = 0;
  int64_t t0 = now_ns(), block_at = t0;
  for (long i = 0; i < warmup + iterations; i++) {
    if (i >= warmup && (i - warmup) % RTT_BLOCK == 0) {
      int64_t now = now_ns();
      if (i == warmup) t0 = now;
      else blocks[n_blocks++] = (double)(now - block_at) / RTT_BLOCK;
      block_at = now;
    }
    if (ping) {
      while (claim_batch(&out, 1) == 0) wait_for_credits(&out, 1, spin_us * 1000);
      write_payload(slot_words(&out, out.pending), (uint32_t)i);
      publish(&out);
    }
    while (poll_fold(&in, 1, &checksum) == 0)
      if (spin_us == 0) sleep_until_data(&in, 0);
    if (!ping) {
      while (claim_batch(&out, 1) == 0) wait_for_credits(&out, 1, spin_us * 1000);
      write_payload(slot_words(&out, out.pending), (uint32_t)i);
      publish(&out);
    }
  }
  int64_t ns = now_ns() - t0;
  printf("{\"iterations\":%ld,\"ns\":%lld,\"medianNs\":%.1f,\"checksum\":%d}\n", iterations, (long long)ns,
         median_of(blocks, n_blocks), (int32_t)checksum);
  free(blocks);
}

static double cpu_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* Producer and consumer in one thread: the CPU cost of the work per message, which a loaded
 * machine does not distort the way it distorts two processes waiting on each other. */
static void inproc(uint32_t batch, long count) {
  ring_t p, c;
  ring_open(&p, 3, 4, 1);
  ring_open(&c, 3, 4, 0);
  uint32_t checksum = 0;
  double best = 1e18;
  long seq = 0;
  for (int run = 0; run < 5; run++) {
    double t = cpu_ns();
    for (long sent = 0; sent < count;) {
      uint32_t n = claim_batch(&p, batch);
      for (uint32_t i = 0; i < n; i++) write_payload(slot_words(&p, p.pending + (int32_t)i), (uint32_t)(seq + i));
      publish(&p);
      poll_fold(&c, batch, &checksum);
      sent += n;
      seq += n;
    }
    double per = (cpu_ns() - t) / (double)count;
    if (per < best) best = per;
  }
  printf("{\"cpuNsPerMsg\":%.2f,\"total\":%ld,\"checksum\":%d}\n", best, seq, (int32_t)checksum);
}

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: ring_bench produce|consume|ping|pong <args...>\n");
    return 2;
  }
  const char *mode = argv[1];
  long a = atol(argv[2]), b = atol(argv[3]), c = argc > 4 ? atol(argv[4]) : 0;
  if (strcmp(mode, "produce") == 0) produce((uint32_t)a, b);
  else if (strcmp(mode, "consume") == 0) consume((uint32_t)a, b);
  else if (strcmp(mode, "inproc") == 0) inproc((uint32_t)a, b);
  else if (strcmp(mode, "ping") == 0) ping_pong(1, a, b, c);
  else if (strcmp(mode, "pong") == 0) ping_pong(0, a, b, c);
  else {
    fprintf(stderr, "ring_bench: unknown mode %s\n", mode);
    return 2;
  }
  fflush(stdout);
  return 0;
}
