// UDP echo server in C for `npm run bench -- echo`: the kernel-socket reference. recvmmsg a
// batch, sendmmsg it back to each sender. Bounded in seconds. Prints {"ready":true} once bound
// and {"done":true,"echoed":N} at the end.
//
//   echo_server <port> <seconds>
#define _GNU_SOURCE
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define BATCH 64
#define MAX_SIZE 2048

int main(int argc, char** argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: %s port seconds\n", argv[0]);
    return 2;
  }
  int port = atoi(argv[1]);
  int seconds = atoi(argv[2]);
  if (port < 1 || port > 65535 || seconds < 1 || seconds > 3600) {
    fprintf(stderr, "echo_server: argument out of range\n");
    return 2;
  }
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  int buf = 4 << 20;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
  setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
  struct timeval tv = {0, 100000};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  struct sockaddr_in addr;
  memset(&addr, 0, sizeof(addr));
  addr.sin_family = AF_INET;
  addr.sin_port = htons((uint16_t)port);
  if (fd < 0 || bind(fd, (struct sockaddr*)&addr, sizeof(addr)) != 0) {
    perror("echo_server: socket/bind");
    return 1;
  }
  printf("{\"ready\":true}\n");
  fflush(stdout);
  static uint8_t bufs[BATCH][MAX_SIZE];
  struct sockaddr_in peers[BATCH];
  struct iovec iov[BATCH];
  struct mmsghdr msgs[BATCH];
  memset(msgs, 0, sizeof(msgs));
  time_t end = time(NULL) + seconds;
  unsigned long long echoed = 0;
  while (time(NULL) < end) {
    for (int i = 0; i < BATCH; i++) {
      iov[i].iov_base = bufs[i];
      iov[i].iov_len = MAX_SIZE;
      msgs[i].msg_hdr.msg_iov = &iov[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
      msgs[i].msg_hdr.msg_name = &peers[i];
      msgs[i].msg_hdr.msg_namelen = sizeof(peers[i]);
    }
    int n = recvmmsg(fd, msgs, BATCH, MSG_WAITFORONE, NULL);
    if (n <= 0) continue;
    for (int i = 0; i < n; i++) iov[i].iov_len = msgs[i].msg_len;
    int done = 0;
    while (done < n) {
      int s = sendmmsg(fd, msgs + done, (unsigned)(n - done), 0);
      if (s <= 0) break;
      done += s;
    }
    echoed += (unsigned long long)done;
  }
  printf("{\"done\":true,\"echoed\":%llu}\n", echoed);
  return 0;
}
