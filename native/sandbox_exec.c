// tilenet-exec: the launcher (root) starts every tile through this helper. Capability state is
// per thread, so it cannot be cleaned from inside a running Node process; this single-threaded
// program drops everything and then execs Node, which starts all its threads unprivileged.
//
//   tilenet-exec --uid U --gid G [--real-gid R] --keep-fds 0,1,2,3 [--netns PATH]
//                [--unshare mount,ipc,uts,net,pid] [--pid-report-fd N] [--rlimit-core N] [--parent-pid P]
//                [--keep-cap net_admin] [--allow-root] -- /abs/program [args...]
//
// With --unshare pid the helper forks: the child is pid 1 of a new PID namespace and becomes the
// tile; the parent stays as a small waiter (same uid, no capability, its own seccomp filter) that
// writes the tile's host pid ("PID\n") to --pid-report-fd, forwards SIGTERM/SIGHUP/SIGUSR1/SIGUSR2,
// ignores the terminal's SIGINT/SIGQUIT (the tile is in a session of its own; the launcher orders
// the stop), and exits as the tile did (same code, or the same signal).
//
// Errors: "tilenet-exec: <what>: <detail>" on stderr and exit 126; exit 125 when --parent-pid is
// no longer the parent (the launcher died before PDEATHSIG was armed).
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <linux/audit.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <stddef.h>
#include <linux/securebits.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef SYS_close_range
#define SYS_close_range 436
#endif
#ifndef PR_CAP_AMBIENT
#define PR_CAP_AMBIENT 47
#define PR_CAP_AMBIENT_IS_SET 1
#define PR_CAP_AMBIENT_CLEAR_ALL 4
#endif

#define EXIT_FAILED 126
#define EXIT_PARENT_GONE 125
#define MAX_KEEP_FDS 256

struct options {
  long uid, gid;
  /** --real-gid: differs from gid, so the kernel makes the exec'd tile non-dumpable (see main). */
  long real_gid;
  int keep_fds[MAX_KEEP_FDS];
  int keep_count;
  const char* netns_path;
  int unshare_flags;
  long rlimit_core;
  long parent_pid;
  /** --pid-report-fd (with --unshare pid): where the waiter writes the tile's host pid; -1 = none. */
  long pid_report_fd;
  bool allow_root;
  /** --keep-cap net_admin: the one capability a tile may keep (the netlink tile's NTF_USE path). */
  bool keep_net_admin;
  char** program_argv;
};

// Where error messages go: stderr, or a private close-on-exec copy of it once the fds are closed.
static int err_fd = 2;

static void die(int code, const char* what, const char* fmt, ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  dprintf(err_fd, "tilenet-exec: %s: %s\n", what, msg);
  _exit(code);
}

static void die_errno(const char* what) { die(EXIT_FAILED, what, "%s", strerror(errno)); }

static void usage_error(const char* what, const char* fmt, ...) {
  char msg[900];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  die(EXIT_FAILED, what,
      "%s (usage: tilenet-exec --uid U --gid G --keep-fds 0,1,2 [--netns PATH] [--unshare mount,ipc,uts,net,pid] "
      "[--pid-report-fd N] [--rlimit-core N] [--parent-pid P] [--keep-cap net_admin] [--allow-root] "
      "-- /abs/program [args...])",
      msg);
}

// A decimal integer in [min, max], or an argument error naming the option.
static long parse_number(const char* option, const char* text, long min, long max) {
  if (text == NULL) usage_error(option, "missing value");
  if (*text == '\0') usage_error(option, "empty value");
  for (const char* p = text; *p; p++) {
    if (*p < '0' || *p > '9') usage_error(option, "'%s' is not a non-negative decimal integer", text);
  }
  errno = 0;
  char* end;
  long value = strtol(text, &end, 10);
  if (errno != 0 || value < min || value > max) usage_error(option, "'%s' is out of range %ld..%ld", text, min, max);
  return value;
}

static int compare_ints(const void* a, const void* b) {
  int x = *(const int*)a, y = *(const int*)b;
  return (x > y) - (x < y);
}

static void parse_keep_fds(struct options* o, const char* text) {
  if (text == NULL || *text == '\0') usage_error("--keep-fds", "missing value");
  char buf[4096];
  if (strlen(text) >= sizeof buf) usage_error("--keep-fds", "list too long");
  strcpy(buf, text);
  char* save = NULL;
  for (char* item = strtok_r(buf, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
    if (o->keep_count == MAX_KEEP_FDS) usage_error("--keep-fds", "more than %d fds", MAX_KEEP_FDS);
    o->keep_fds[o->keep_count++] = (int)parse_number("--keep-fds", item, 0, 65535);
  }
  if (o->keep_count == 0) usage_error("--keep-fds", "'%s' names no fd", text);
  qsort(o->keep_fds, (size_t)o->keep_count, sizeof(int), compare_ints);
  for (int i = 1; i < o->keep_count; i++) {
    if (o->keep_fds[i] == o->keep_fds[i - 1]) usage_error("--keep-fds", "fd %d is listed twice", o->keep_fds[i]);
  }
}

static void parse_unshare(struct options* o, const char* text) {
  if (text == NULL || *text == '\0') usage_error("--unshare", "missing value");
  char buf[256];
  if (strlen(text) >= sizeof buf) usage_error("--unshare", "list too long");
  strcpy(buf, text);
  char* save = NULL;
  for (char* item = strtok_r(buf, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
    int flag;
    if (strcmp(item, "mount") == 0) flag = CLONE_NEWNS;
    else if (strcmp(item, "ipc") == 0) flag = CLONE_NEWIPC;
    else if (strcmp(item, "uts") == 0) flag = CLONE_NEWUTS;
    else if (strcmp(item, "net") == 0) flag = CLONE_NEWNET;
    else if (strcmp(item, "pid") == 0) flag = CLONE_NEWPID;
    else usage_error("--unshare", "unknown namespace '%s' (mount, ipc, uts, net, pid)", item);
    if (o->unshare_flags & flag) usage_error("--unshare", "namespace '%s' is listed twice", item);
    o->unshare_flags |= flag;
  }
}

static void parse_args(struct options* o, int argc, char** argv) {
  memset(o, 0, sizeof *o);
  o->uid = o->gid = o->real_gid = o->rlimit_core = o->parent_pid = o->pid_report_fd = -1;
  bool have_keep = false, have_unshare = false, have_allow_root = false;
  int i = 1;
  for (; i < argc; i++) {
    const char* a = argv[i];
    if (strcmp(a, "--") == 0) break;
    if (strcmp(a, "--keep-cap") == 0) {
      const char* cap = i + 1 < argc ? argv[i + 1] : "";
      if (o->keep_net_admin) usage_error(a, "given twice");
      if (strcmp(cap, "net_admin") != 0) usage_error(a, "'%s' cannot be kept (only net_admin)", cap);
      o->keep_net_admin = true;
      i++;
      continue;
    }
    if (strcmp(a, "--allow-root") == 0) {
      if (have_allow_root) usage_error(a, "given twice");
      have_allow_root = o->allow_root = true;
      continue;
    }
    const char* v = i + 1 < argc ? argv[i + 1] : NULL;
    if (strcmp(a, "--uid") == 0) {
      if (o->uid >= 0) usage_error(a, "given twice");
      o->uid = parse_number(a, v, 0, 4294967294L);
    } else if (strcmp(a, "--gid") == 0) {
      if (o->gid >= 0) usage_error(a, "given twice");
      o->gid = parse_number(a, v, 0, 4294967294L);
    } else if (strcmp(a, "--real-gid") == 0) {
      if (o->real_gid >= 0) usage_error(a, "given twice");
      o->real_gid = parse_number(a, v, 1, 4294967294L);
    } else if (strcmp(a, "--keep-fds") == 0) {
      if (have_keep) usage_error(a, "given twice");
      have_keep = true;
      parse_keep_fds(o, v);
    } else if (strcmp(a, "--netns") == 0) {
      if (o->netns_path) usage_error(a, "given twice");
      if (v == NULL || v[0] != '/') usage_error(a, "'%s' is not an absolute path", v ? v : "");
      o->netns_path = v;
    } else if (strcmp(a, "--unshare") == 0) {
      if (have_unshare) usage_error(a, "given twice");
      have_unshare = true;
      parse_unshare(o, v);
    } else if (strcmp(a, "--rlimit-core") == 0) {
      if (o->rlimit_core >= 0) usage_error(a, "given twice");
      o->rlimit_core = parse_number(a, v, 0, LONG_MAX);
    } else if (strcmp(a, "--pid-report-fd") == 0) {
      if (o->pid_report_fd >= 0) usage_error(a, "given twice");
      o->pid_report_fd = parse_number(a, v, 0, 65535);
    } else if (strcmp(a, "--parent-pid") == 0) {
      if (o->parent_pid >= 0) usage_error(a, "given twice");
      o->parent_pid = parse_number(a, v, 1, INT_MAX);
    } else {
      usage_error("arguments", "unknown option '%s'", a);
    }
    i++;  // the option's value
  }
  if (o->uid < 0) usage_error("--uid", "required");
  if (o->gid < 0) usage_error("--gid", "required");
  if (!have_keep) usage_error("--keep-fds", "required");
  if (i >= argc) usage_error("arguments", "missing '--' before the program");
  if (i + 1 >= argc) usage_error("arguments", "no program after '--'");
  if (argv[i + 1][0] != '/') usage_error("program", "'%s' is not an absolute path", argv[i + 1]);
  if (o->netns_path && (o->unshare_flags & CLONE_NEWNET))
    usage_error("--netns", "cannot be combined with --unshare net");
  if (o->pid_report_fd >= 0 && !(o->unshare_flags & CLONE_NEWPID))
    usage_error("--pid-report-fd", "needs --unshare pid");
  for (int k = 0; k < o->keep_count; k++)
    if (o->keep_fds[k] == o->pid_report_fd) usage_error("--pid-report-fd", "fd %ld is also kept", o->pid_report_fd);
  if (o->real_gid >= 0 && o->real_gid == o->gid) usage_error("--real-gid", "must differ from --gid");
  if ((o->uid == 0 || o->gid == 0) && !o->allow_root)
    usage_error(o->uid == 0 ? "--uid" : "--gid", "refusing to run a tile as root (0)");
  o->program_argv = &argv[i + 1];
}

// The waiter's copy of --pid-report-fd (close-on-exec, above the kept fds); -1 = none.
static int report_fd = -1;

// Closes every fd except the kept ones and the private copies (stderr, the pid report pipe);
// kept fds must be open and lose FD_CLOEXEC so they survive the exec.
static void close_other_fds(const struct options* o) {
  for (int i = 0; i < o->keep_count; i++) {
    int fd = o->keep_fds[i];
    int flags = fcntl(fd, F_GETFD);
    if (flags < 0) die(EXIT_FAILED, "--keep-fds", "fd %d is not open", fd);
    if ((flags & FD_CLOEXEC) && fcntl(fd, F_SETFD, flags & ~FD_CLOEXEC) < 0) die_errno("fcntl(F_SETFD)");
  }
  // Keep a close-on-exec copy of stderr above the kept fds so late errors can still be reported.
  int max_kept = o->keep_fds[o->keep_count - 1];
  int survivors[MAX_KEEP_FDS + 2];
  int count = 0;
  for (int i = 0; i < o->keep_count; i++) survivors[count++] = o->keep_fds[i];
  int copy = fcntl(2, F_DUPFD_CLOEXEC, max_kept + 1);
  if (copy >= 0) err_fd = survivors[count++] = copy;
  if (o->pid_report_fd >= 0) {
    report_fd = fcntl((int)o->pid_report_fd, F_DUPFD_CLOEXEC, max_kept + 1);
    if (report_fd < 0) die(EXIT_FAILED, "--pid-report-fd", "fd %ld is not open", o->pid_report_fd);
    survivors[count++] = report_fd;
  }
  qsort(survivors, (size_t)count, sizeof(int), compare_ints);
  unsigned int next = 0;
  for (int i = 0; i < count; i++) {
    unsigned int fd = (unsigned int)survivors[i];
    if (fd > next && syscall(SYS_close_range, next, fd - 1, 0) != 0) die_errno("close_range");
    next = fd + 1;
  }
  if (syscall(SYS_close_range, next, UINT_MAX, 0) != 0) die_errno("close_range");
}

static void enter_namespaces(const struct options* o) {
  if (o->netns_path) {
    int fd = open(o->netns_path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) die(EXIT_FAILED, "open(--netns)", "%s: %s", o->netns_path, strerror(errno));
    if (setns(fd, CLONE_NEWNET) != 0) die(EXIT_FAILED, "setns(--netns)", "%s: %s", o->netns_path, strerror(errno));
    close(fd);
  }
  if (o->unshare_flags) {
    if (unshare(o->unshare_flags) != 0) die_errno("unshare");
    // Mount events must not propagate between the tile's mount namespace and the host's.
    if ((o->unshare_flags & CLONE_NEWNS) && mount("none", "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0)
      die_errno("mount(/, MS_REC | MS_PRIVATE)");
  }
}

static int last_cap(void) {
  FILE* f = fopen("/proc/sys/kernel/cap_last_cap", "re");
  if (!f) die_errno("open(/proc/sys/kernel/cap_last_cap)");
  int cap = -1;
  if (fscanf(f, "%d", &cap) != 1 || cap < 0 || cap > 63) die(EXIT_FAILED, "cap_last_cap", "unreadable value");
  fclose(f);
  return cap;
}

static void drop_privileges(const struct options* o) {
  int cap_max = last_cap();
  // The only capability a tile may keep, as a bit in the first capability word.
  const __u32 kept = o->keep_net_admin ? (1u << CAP_NET_ADMIN) : 0;
  // KEEP_CAPS (only when one capability is kept) lets the permitted set survive the uid change;
  // execve clears it again.
  if (prctl(PR_SET_KEEPCAPS, kept ? 1 : 0, 0, 0, 0) != 0) die_errno("prctl(PR_SET_KEEPCAPS)");
  // Locked securebits: uid 0 never regains capabilities through exec, keep-caps and ambient
  // raising stay off for good (ambient raising stays possible only to keep the one capability).
  unsigned long securebits = SECBIT_NOROOT | SECBIT_NOROOT_LOCKED | SECBIT_NO_SETUID_FIXUP_LOCKED;
  if (kept)
    securebits |= SECBIT_KEEP_CAPS;
  else
    securebits |= SECBIT_KEEP_CAPS_LOCKED | SECBIT_NO_CAP_AMBIENT_RAISE | SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED;
  if (prctl(PR_SET_SECUREBITS, securebits, 0, 0, 0) != 0) die_errno("prctl(PR_SET_SECUREBITS)");
  for (int cap = 0; cap <= cap_max; cap++) {
    if (kept && cap == CAP_NET_ADMIN) continue;
    if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0) die(EXIT_FAILED, "prctl(PR_CAPBSET_DROP)", "cap %d: %s", cap, strerror(errno));
  }
  if (setgroups(0, NULL) != 0) die_errno("setgroups(0)");
  // A real gid unlike the effective one at execve makes the kernel set the new image non-dumpable
  // (fs.suid_dumpable): nobody without CAP_SYS_PTRACE can attach to the tile or read its memory
  // from its first instruction. File access uses the effective gid; the real one grants nothing.
  gid_t real_gid = o->real_gid >= 0 ? (gid_t)o->real_gid : (gid_t)o->gid;
  if (setresgid(real_gid, (gid_t)o->gid, (gid_t)o->gid) != 0)
    die(EXIT_FAILED, "setresgid", "%ld: %s", o->gid, strerror(errno));
  if (setresuid((uid_t)o->uid, (uid_t)o->uid, (uid_t)o->uid) != 0)
    die(EXIT_FAILED, "setresuid", "%ld: %s", o->uid, strerror(errno));
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0) die_errno("prctl(PR_CAP_AMBIENT_CLEAR_ALL)");
  struct __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];
  memset(data, 0, sizeof data);
  data[0].effective = data[0].permitted = data[0].inheritable = kept;
  if (syscall(SYS_capset, &header, data) != 0) die_errno("capset");
  // An ambient capability is what survives execve for a non-root program without file caps.
  if (kept && prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_NET_ADMIN, 0, 0) != 0)
    die_errno("prctl(PR_CAP_AMBIENT_RAISE, CAP_NET_ADMIN)");
  if (kept && prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) != 0) die_errno("prctl(PR_SET_KEEPCAPS, 0)");

  // Read everything back: a silent failure here would start a privileged tile.
  memset(data, 0xff, sizeof data);
  if (syscall(SYS_capget, &header, data) != 0) die_errno("capget");
  for (int i = 0; i < _LINUX_CAPABILITY_U32S_3; i++) {
    __u32 want = i == 0 ? kept : 0;
    if (data[i].effective != want || data[i].permitted != want || data[i].inheritable != want)
      die(EXIT_FAILED, "verify", "capabilities differ from what is kept: eff %08x prm %08x inh %08x (word %d)",
          data[i].effective, data[i].permitted, data[i].inheritable, i);
  }
  for (int cap = 0; cap <= cap_max; cap++) {
    int want = kept && cap == CAP_NET_ADMIN;
    if (prctl(PR_CAPBSET_READ, cap, 0, 0, 0) != want)
      die(EXIT_FAILED, "verify", "cap %d is %sin the bounding set", cap, want ? "not " : "still ");
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, cap, 0, 0) != want)
      die(EXIT_FAILED, "verify", "cap %d is %sin the ambient set", cap, want ? "not " : "still ");
  }
  uid_t ru, eu, su;
  gid_t rg, eg, sg;
  if (getresuid(&ru, &eu, &su) != 0 || getresgid(&rg, &eg, &sg) != 0) die_errno("getresuid");
  if (ru != (uid_t)o->uid || eu != ru || su != ru || rg != real_gid || eg != (gid_t)o->gid || sg != eg)
    die(EXIT_FAILED, "verify", "uid/gid did not change as asked");
  if (getgroups(0, NULL) != 0) die(EXIT_FAILED, "verify", "supplementary groups remain");
}

// io_uring executes its operations in kernel workers that seccomp never sees, so no tile may have
// a ring. libuv (Node >= 22) makes one at start-up for batched epoll_ctl even with
// UV_USE_IO_URING=0 (measured: io_uring_setup at loop init, io_uring_enter afterwards), and
// aborts if a ring it made starts failing. This filter, installed before exec, makes the setup
// fail with ENOSYS from Node's first instruction, so libuv never gets a ring and uses plain
// epoll. Numbers 425..427 are the same for x86_64, x32 (with bit 30) and i386.
static void refuse_io_uring(void) {
  struct sock_filter filter[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
      BPF_STMT(BPF_ALU | BPF_AND | BPF_K, ~0x40000000u),
      BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 425 /* io_uring_setup */, 0, 2),
      BPF_JUMP(BPF_JMP | BPF_JGT | BPF_K, 427 /* io_uring_register */, 1, 0),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  struct sock_fprog prog = {(unsigned short)(sizeof filter / sizeof filter[0]), filter};
  if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0) die_errno("seccomp(io_uring -> ENOSYS)");
}

#if defined(__x86_64__)
#define WAITER_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define WAITER_ARCH AUDIT_ARCH_AARCH64
#else
#error "tilenet-exec: no seccomp architecture for this target"
#endif
#define LOAD_NR BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr))
#define ALLOW(nr) BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (nr), 0, 1), BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)
// nr allowed only when its first argument (an int: the low word) is `value`; otherwise killed.
#define ALLOW_ARG0(nr, value)                                                    \
  BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (nr), 0, 4),                               \
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[0])), \
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (__u32)(value), 0, 1),                 \
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW), BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS)

// The waiter's whole job after set-up: wait for the tile, signal only it, re-raise its death
// signal on itself, report errors on the private stderr copy. Anything else kills it (and, by
// the tile's parent-death signal, the tile).
static void waiter_filter(pid_t child) {
  struct sock_filter filter[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, WAITER_ARCH, 1, 0),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
      LOAD_NR,
      BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, 0x40000000u, 0, 1),  // x32
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
      ALLOW(__NR_wait4),
      ALLOW(__NR_rt_sigreturn),
      ALLOW(__NR_rt_sigaction),
      ALLOW(__NR_rt_sigprocmask),
      ALLOW(__NR_restart_syscall),
      ALLOW(__NR_getpid),
      ALLOW(__NR_gettid),
      ALLOW(__NR_exit_group),
      ALLOW(__NR_exit),
      ALLOW_ARG0(__NR_kill, child),
      LOAD_NR,
      ALLOW_ARG0(__NR_tgkill, getpid()),
      LOAD_NR,
      ALLOW_ARG0(__NR_write, err_fd),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
  };
  struct sock_fprog prog = {(unsigned short)(sizeof filter / sizeof filter[0]), filter};
  if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0) die_errno("seccomp(waiter)");
}

// The tile's host pid, for the waiter's signal handler.
static volatile pid_t tile_pid = -1;
// The tile's end of a pipe the waiter holds open: POLLHUP means the waiter is gone.
static int waiter_alive_fd = -1;
static const int FORWARDED[] = {SIGTERM, SIGHUP, SIGUSR1, SIGUSR2};

static void forward_signal(int sig) {
  int saved = errno;
  kill(tile_pid, sig);
  errno = saved;
}

// Exits as the tile did: its exit code, or its signal re-raised with the default action, so the
// launcher sees "killed by SIGSYS" for the tile's seccomp death.
static void mirror_status(int status) {
  if (WIFEXITED(status)) _exit(WEXITSTATUS(status));
  int sig = WIFSIGNALED(status) ? WTERMSIG(status) : SIGKILL;
  signal(sig, SIG_DFL);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, sig);
  sigprocmask(SIG_UNBLOCK, &set, NULL);
  raise(sig);
  _exit(128 + sig);
}

static void run_waiter(const struct options* o, pid_t child, const sigset_t* forwarded) {
  tile_pid = child;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = forward_signal;
  sigfillset(&sa.sa_mask);
  for (size_t i = 0; i < sizeof FORWARDED / sizeof FORWARDED[0]; i++)
    if (sigaction(FORWARDED[i], &sa, NULL) != 0) die_errno("sigaction");
  // A terminal's Ctrl-C / Ctrl-\ reaches the launcher's process group (this waiter included): the
  // launcher then stops the tiles in order with SIGTERM, so the waiter does not pass them on.
  signal(SIGINT, SIG_IGN);
  signal(SIGQUIT, SIG_IGN);
  struct options waiter = *o;
  waiter.keep_net_admin = false;
  drop_privileges(&waiter);
  if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) die_errno("prctl(PR_SET_DUMPABLE)");
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) die_errno("prctl(PR_SET_NO_NEW_PRIVS)");
  if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0) die_errno("prctl(PR_SET_PDEATHSIG)");
  if (o->parent_pid > 0 && getppid() != (pid_t)o->parent_pid) {
    kill(child, SIGKILL);
    die(EXIT_PARENT_GONE, "parent", "launcher pid %ld is gone (parent is now %d)", o->parent_pid, (int)getppid());
  }
  if (report_fd >= 0) {
    if (dprintf(report_fd, "%d\n", (int)child) < 0) die_errno("write(--pid-report-fd)");
    close(report_fd);
  }
  waiter_filter(child);
  sigprocmask(SIG_UNBLOCK, forwarded, NULL);
  int status = 0;
  for (;;) {
    pid_t r = wait4(child, &status, 0, NULL);
    if (r == child) break;
    if (r < 0 && errno != EINTR) die_errno("wait4");
  }
  mirror_status(status);
}

// unshare(CLONE_NEWPID) applies to children: fork once. Returns in the child (pid 1 of the new
// namespace, in a session of its own), which goes on to become the tile; the parent waits.
static void split_pid_namespace(const struct options* o) {
  int alive[2];
  if (pipe2(alive, O_CLOEXEC) != 0) die_errno("pipe2");
  sigset_t forwarded, old;
  sigemptyset(&forwarded);
  for (size_t i = 0; i < sizeof FORWARDED / sizeof FORWARDED[0]; i++) sigaddset(&forwarded, FORWARDED[i]);
  // Held until the waiter's handlers are in place, so an early SIGTERM is forwarded, not fatal.
  if (sigprocmask(SIG_BLOCK, &forwarded, &old) != 0) die_errno("sigprocmask");
  pid_t child = fork();
  if (child < 0) die_errno("fork");
  if (child > 0) {
    close(alive[0]);
    run_waiter(o, child, &forwarded);
  }
  close(alive[1]);
  if (report_fd >= 0) close(report_fd);
  report_fd = -1;
  waiter_alive_fd = alive[0];
  if (sigprocmask(SIG_SETMASK, &old, NULL) != 0) die_errno("sigprocmask");
  if (setsid() < 0) die_errno("setsid");
}

// After PDEATHSIG is armed: the tile must not outlive its parent (the launcher, or the waiter).
static void check_parent(const struct options* o) {
  if (waiter_alive_fd >= 0) {
    struct pollfd p = {waiter_alive_fd, POLLIN, 0};
    if (poll(&p, 1, 0) < 0) die_errno("poll(waiter)");
    if (p.revents & (POLLHUP | POLLERR)) die(EXIT_PARENT_GONE, "parent", "the pid namespace's waiter is gone");
    close(waiter_alive_fd);
    return;
  }
  if (o->parent_pid > 0 && getppid() != (pid_t)o->parent_pid)
    die(EXIT_PARENT_GONE, "parent", "launcher pid %ld is gone (parent is now %d)", o->parent_pid, (int)getppid());
}

int main(int argc, char** argv) {
  struct options o;
  parse_args(&o, argc, argv);
  close_other_fds(&o);
  enter_namespaces(&o);
  if (o.rlimit_core >= 0) {
    struct rlimit limit = {(rlim_t)o.rlimit_core, (rlim_t)o.rlimit_core};
    if (setrlimit(RLIMIT_CORE, &limit) != 0) die_errno("setrlimit(RLIMIT_CORE)");
  }
  if (o.unshare_flags & CLONE_NEWPID) split_pid_namespace(&o);
  drop_privileges(&o);
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) die_errno("prctl(PR_SET_NO_NEW_PRIVS)");
  refuse_io_uring();
  // After the uid change: changing credentials clears the parent-death signal.
  if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0) die_errno("prctl(PR_SET_PDEATHSIG)");
  check_parent(&o);
  execv(o.program_argv[0], o.program_argv);
  die(EXIT_FAILED, "execv", "%s: %s", o.program_argv[0], strerror(errno));
  return EXIT_FAILED;
}
