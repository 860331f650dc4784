// tilenet-keeper: the small privileged helper the launcher prepares before it drops its own
// privileges (issue 15). It is the parent of every tile and the only process of an instance that
// stays root after set-up. It does three things and nothing else:
//   - spawns tile k: runs the argv the launcher registered as slot k (the exec helper, which drops
//     everything and execs Node) with the descriptors sent along (SCM_RIGHTS) as fds 0..n-1;
//   - signals the process of slot k (SIGTERM, SIGKILL), and the tile a PID namespace's waiter runs
//     when the launcher names it and it really is that waiter's child;
//   - tears the instance down: kills its children and runs the registered teardown argv, when the
//     launcher asks or when the launcher's socket closes (the launcher died).
// Registration (slots, teardown) is accepted only until SEAL, which the launcher sends before it
// drops: afterwards a compromised launcher can restart a registered tile, and nothing else.
// (A root harness that never drops, a test or the benchmark, may register and spawn in turns.)
//
//   tilenet-keeper SOCKET_FD
//
// Requests on SOCKET_FD (a unix stream socket): a 16-byte header {u32 op, u32 slot, i32 arg,
// u32 payload_len} in host byte order, then payload_len bytes; descriptors ride on the header.
// Replies are lines: "sealed", "spawned SLOT PID", "exited SLOT PID CODE SIGNAL" (code -1 when
// killed by SIGNAL, SIGNAL 0 when it exited), "refused OP REASON", "torn-down STATUS".
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef SYS_close_range
#define SYS_close_range 436
#endif

enum { OP_REGISTER_SLOT = 1, OP_REGISTER_TEARDOWN = 2, OP_SEAL = 3, OP_SPAWN = 4, OP_SIGNAL = 5, OP_TEARDOWN = 6 };

#define MAX_SLOTS 64
#define MAX_FDS 64
#define MAX_PAYLOAD 65536
#define MAX_ARGS 256

struct request {
  uint32_t op, slot;
  int32_t arg;
  uint32_t payload_len;
};

struct slot {
  char** argv;  // NULL: not registered
  pid_t pid;    // 0: not running
};

static struct slot slots[MAX_SLOTS];
static char** teardown_argv;
static int sealed;
static int sock = -1;

static void fail(const char* what) {
  fprintf(stderr, "tilenet-keeper: %s: %s\n", what, strerror(errno));
  exit(126);
}

static void reply(const char* fmt, ...) {
  char line[256];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(line, sizeof line - 1, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  if (n > (int)sizeof line - 2) n = (int)sizeof line - 2;
  line[n++] = '\n';
  // The launcher may be gone: a failed reply changes nothing here (EOF ends the loop).
  ssize_t w = send(sock, line, (size_t)n, MSG_NOSIGNAL);
  (void)w;
}

static int read_full(int fd, void* buf, size_t len) {
  size_t done = 0;
  while (done < len) {
    ssize_t r = read(fd, (char*)buf + done, len - done);
    if (r == 0) return -1;
    if (r < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    done += (size_t)r;
  }
  return 0;
}

// NUL-separated strings, each terminated, the first an absolute path: a fresh argv, or NULL.
static char** parse_argv(const char* payload, uint32_t len) {
  if (len == 0 || payload[len - 1] != '\0' || payload[0] != '/') return NULL;
  size_t count = 0;
  for (uint32_t i = 0; i < len; i++) count += payload[i] == '\0';
  if (count > MAX_ARGS) return NULL;
  char** argv = calloc(count + 1, sizeof(char*));
  char* copy = malloc(len);
  if (!argv || !copy) fail("malloc");
  memcpy(copy, payload, len);
  size_t k = 0;
  for (char* p = copy; p < copy + len; p += strlen(p) + 1) argv[k++] = p;
  return argv;
}

// Receives one header and its descriptors; returns the number of fds, -1 on EOF or a bad header.
static int receive_request(struct request* rq, int* fds) {
  char control[CMSG_SPACE(sizeof(int) * MAX_FDS)];
  struct iovec iov = {rq, sizeof *rq};
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control, .msg_controllen = sizeof control};
  ssize_t r;
  do r = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
  while (r < 0 && errno == EINTR);
  if (r <= 0) return -1;
  int nfds = 0;
  for (struct cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    int n = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
    for (int i = 0; i < n && nfds < MAX_FDS; i++) memcpy(&fds[nfds++], CMSG_DATA(c) + i * sizeof(int), sizeof(int));
  }
  // Descriptors cut off (MSG_CTRUNC) or a header split across reads: the stream is not ours.
  if ((msg.msg_flags & MSG_CTRUNC) || (r < (ssize_t)sizeof *rq && read_full(sock, (char*)rq + r, sizeof *rq - r)))
    return -1;
  return nfds;
}

static void close_all(int* fds, int n) {
  for (int i = 0; i < n; i++) close(fds[i]);
}

// In the child: fds[i] becomes descriptor i, every other descriptor is closed, signals are as a
// fresh process has them, then the slot's argv runs.
static void exec_slot(char** argv, int* fds, int nfds, const sigset_t* original) {
  // Move everything above the target range first, so dup2 never overwrites a source.
  for (int i = 0; i < nfds; i++) {
    int high = fcntl(fds[i], F_DUPFD_CLOEXEC, MAX_FDS + 16);
    if (high < 0) _exit(126);
    fds[i] = high;
  }
  for (int i = 0; i < nfds; i++)
    if (dup2(fds[i], i) < 0) _exit(126);
  syscall(SYS_close_range, (unsigned)nfds, UINT_MAX, 0);
  for (int s = 1; s < NSIG; s++) signal(s, SIG_DFL);
  sigprocmask(SIG_SETMASK, original, NULL);
  execv(argv[0], argv);
  _exit(127);
}

static void spawn_slot(const struct request* rq, int* fds, int nfds, const sigset_t* original) {
  struct slot* s = &slots[rq->slot];
  if (!s->argv) {
    reply("refused spawn slot %u is not registered", rq->slot);
  } else if (s->pid > 0) {
    reply("refused spawn slot %u is running (pid %d)", rq->slot, (int)s->pid);
  } else if (nfds < 3) {
    reply("refused spawn slot %u needs at least 3 descriptors, got %d", rq->slot, nfds);
  } else {
    pid_t pid = fork();
    if (pid < 0) {
      reply("refused spawn fork: %s", strerror(errno));
    } else if (pid == 0) {
      exec_slot(s->argv, fds, nfds, original);
    } else {
      s->pid = pid;
      reply("spawned %u %d", rq->slot, (int)pid);
    }
  }
  close_all(fds, nfds);
}

// The parent pid field of /proc/PID/stat (after the last ')', the state, then ppid).
static pid_t parent_of(pid_t pid) {
  char path[64], buf[512];
  snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return -1;
  buf[n] = '\0';
  char* close_paren = strrchr(buf, ')');
  int ppid;
  char state;
  if (!close_paren || sscanf(close_paren + 1, " %c %d", &state, &ppid) != 2) return -1;
  return (pid_t)ppid;
}

static void signal_slot(const struct request* rq, const char* payload) {
  struct slot* s = &slots[rq->slot];
  if (rq->arg != SIGTERM && rq->arg != SIGKILL) {
    reply("refused signal %d is not SIGTERM or SIGKILL", rq->arg);
    return;
  }
  if (s->pid <= 0) return;  // already reaped: its "exited" line is on its way
  kill(s->pid, rq->arg);
  // A PID namespace's tile is the waiter's child: only then is the named pid signalled.
  if (rq->payload_len == sizeof(int32_t)) {
    int32_t tile;
    memcpy(&tile, payload, sizeof tile);
    if (tile > 1 && parent_of(tile) == s->pid) kill(tile, rq->arg);
  }
}

static void reap(void) {
  int status;
  pid_t pid;
  while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
    for (unsigned i = 0; i < MAX_SLOTS; i++) {
      if (slots[i].pid != pid) continue;
      slots[i].pid = 0;
      if (WIFSIGNALED(status)) reply("exited %u %d -1 %d", i, (int)pid, WTERMSIG(status));
      else reply("exited %u %d %d 0", i, (int)pid, WEXITSTATUS(status));
    }
  }
}

// Kills every child, then runs the teardown argv (stdout to /dev/null: the launcher's stdout
// carries its JSON log) and returns its wait status.
static int tear_down(const sigset_t* original) {
  for (unsigned i = 0; i < MAX_SLOTS; i++)
    if (slots[i].pid > 0) kill(slots[i].pid, SIGKILL);
  while (waitpid(-1, NULL, 0) > 0 || errno == EINTR) {
  }
  for (unsigned i = 0; i < MAX_SLOTS; i++) slots[i].pid = 0;
  if (!teardown_argv) return 0;
  pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    int devnull = open("/dev/null", O_RDWR);
    int fds[3] = {devnull, devnull, 2};
    exec_slot(teardown_argv, fds, 3, original);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return status;
}

static void register_argv(const struct request* rq, const char* payload) {
  char** argv = parse_argv(payload, rq->payload_len);
  if (sealed) reply("refused register sealed");
  else if (!argv) reply("refused register the argv is not NUL-terminated strings starting with an absolute path");
  else if (rq->op == OP_REGISTER_TEARDOWN) teardown_argv = argv;
  else if (slots[rq->slot].argv) reply("refused register slot %u is taken", rq->slot);
  else slots[rq->slot].argv = argv;
}

// One request; returns 0 to go on, 1 when the launcher asked for the teardown.
static int handle(const struct request* rq, int* fds, int nfds, const sigset_t* original) {
  static char payload[MAX_PAYLOAD];
  if (rq->payload_len > MAX_PAYLOAD || rq->slot >= MAX_SLOTS) {
    close_all(fds, nfds);
    reply("refused %u bad header", rq->op);
    return rq->payload_len > MAX_PAYLOAD ? -1 : 0;  // an oversized payload desynchronises the stream
  }
  if (read_full(sock, payload, rq->payload_len) != 0) return -1;
  if (rq->op != OP_SPAWN) close_all(fds, nfds);
  switch (rq->op) {
    case OP_REGISTER_SLOT:
    case OP_REGISTER_TEARDOWN: register_argv(rq, payload); return 0;
    case OP_SEAL: sealed = 1; reply("sealed"); return 0;
    case OP_SPAWN: spawn_slot(rq, fds, nfds, original); return 0;
    case OP_SIGNAL: signal_slot(rq, payload); return 0;
    case OP_TEARDOWN: return 1;
    default: reply("refused %u unknown operation", rq->op); return 0;
  }
}

// Of root's capabilities the keeper and everything it runs (the exec helper, the teardown) keep
// only these: the exec helper switches uids and groups (SETUID, SETGID), empties the tile's
// bounding set (SETPCAP), makes namespaces, joins [net] netns and keeps the netlink tile's
// NET_ADMIN (SYS_ADMIN, NET_ADMIN); the keeper signals tiles of other uids (KILL); the teardown
// unmounts namespaces (SYS_ADMIN) and takes the run directory back (CHOWN). Root's exec computes
// a program's capabilities from the bounding set, so dropping there bounds every child too.
static const int KEPT_CAPS[] = {CAP_CHOWN, CAP_KILL, CAP_SETGID, CAP_SETUID, CAP_SETPCAP, CAP_NET_ADMIN, CAP_SYS_ADMIN};

static void keep_needed_caps(void) {
  if (geteuid() != 0) return;  // an unprivileged keeper (tests) holds nothing to drop
  uint64_t keep = 0;
  for (size_t i = 0; i < sizeof KEPT_CAPS / sizeof KEPT_CAPS[0]; i++) keep |= 1ULL << KEPT_CAPS[i];
  for (int cap = 0; cap < 64; cap++) {
    if (keep & (1ULL << cap)) continue;
    if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 && errno != EINVAL) fail("prctl(PR_CAPBSET_DROP)");
  }
  struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct data[2];
  if (syscall(SYS_capget, &hdr, data) != 0) fail("capget");
  for (int i = 0; i < 2; i++) {
    uint32_t mask = (uint32_t)(keep >> (32 * i));
    data[i].effective &= mask;
    data[i].permitted &= mask;
    data[i].inheritable &= mask;
  }
  if (syscall(SYS_capset, &hdr, data) != 0) fail("capset");
}

int main(int argc, char** argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: tilenet-keeper SOCKET_FD\n");
    return 2;
  }
  sock = atoi(argv[1]);
  if (sock < 3 || fcntl(sock, F_GETFD) < 0) {
    fprintf(stderr, "tilenet-keeper: %s is not an open descriptor\n", argv[1]);
    return 2;
  }
  // Ctrl-C and systemd's stop reach the launcher; the keeper stays for the teardown.
  signal(SIGINT, SIG_IGN);
  signal(SIGTERM, SIG_IGN);
  signal(SIGHUP, SIG_IGN);
  signal(SIGPIPE, SIG_IGN);
  if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) fail("prctl(PR_SET_DUMPABLE)");
  keep_needed_caps();
  sigset_t chld, original;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  if (sigprocmask(SIG_BLOCK, &chld, &original) != 0) fail("sigprocmask");
  int sfd = signalfd(-1, &chld, SFD_CLOEXEC);
  if (sfd < 0) fail("signalfd");
  for (;;) {
    struct pollfd p[2] = {{sock, POLLIN, 0}, {sfd, POLLIN, 0}};
    if (poll(p, 2, -1) < 0) {
      if (errno == EINTR) continue;
      fail("poll");
    }
    if (p[1].revents & POLLIN) {
      struct signalfd_siginfo info;
      ssize_t r = read(sfd, &info, sizeof info);
      (void)r;
      reap();
    }
    if (!(p[0].revents & (POLLIN | POLLHUP | POLLERR))) continue;
    struct request rq;
    int fds[MAX_FDS];
    int nfds = receive_request(&rq, fds);
    int verdict = nfds < 0 ? -1 : handle(&rq, fds, nfds, &original);
    if (verdict == 0) continue;
    int status = tear_down(&original);
    // Asked (verdict 1): the launcher waits for this line before it exits.
    if (verdict == 1) reply("torn-down %d", WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
    return 0;
  }
}
