// The app tile's own system calls, beyond the Node baseline (shared/seccomp/node-baseline.ts).
// Every entry carries the reason an app needs it; nothing here has a path or a socket.
import type { SeccompPolicy } from "../../shared/seccomp/policy";

/** getrandom(2) flags: GRND_NONBLOCK = 1 (GRND_RANDOM = 2 and GRND_INSECURE = 4 stay forbidden). */
export const GRND_NONBLOCK = 1;

/** wakeFd: the net tile's wake eventfd, when granted. */
export function appSeccompPolicy(wakeFd?: number): SeccompPolicy {
  return {
    name: "app",
    allow: [
      // Waking the net tile: its idle wait is one poll(2) over its AF_XDP socket and an eventfd,
      // which the app signals when it publishes to a sleeping net tile (native eventfdSignal:
      // write(fd, &u64, 8)). Pinned to that fd and 8 bytes; the worst an app can do with it is
      // wake the net tile needlessly, which its own traffic could do as well.
      ...(wakeFd !== undefined
        ? [
            {
              syscall: "write",
              args: [
                { index: 0, op: "eq" as const, value: wakeFd },
                { index: 2, op: "eq" as const, value: 8 },
              ],
            },
          ]
        : []),
      // crypto.randomBytes / getRandomValues / randomUUID draw from OpenSSL's DRBG, seeded at
      // start-up (before the filter) and reseeded from the kernel with getrandom(buf, n, 0) when
      // its reseed interval (1 hour for the primary DRBG) or request count runs out: without this
      // an app using randomness dies of SIGSYS hours after it started. glibc and V8 ask with
      // GRND_NONBLOCK. Only the urandom pool: no GRND_RANDOM, no GRND_INSECURE.
      { syscall: "getrandom", args: [{ index: 2, op: "in", values: [0, GRND_NONBLOCK] }] },
    ],
  };
}
