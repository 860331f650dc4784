// The app tile's own system calls, beyond the Node baseline (shared/seccomp/node-baseline.ts).
// Every entry carries the reason an app needs it; nothing here has a path or a socket.
import type { SeccompPolicy } from "../../shared/seccomp/policy";

/** getrandom(2) flags: GRND_NONBLOCK = 1 (GRND_RANDOM = 2 and GRND_INSECURE = 4 stay forbidden). */
export const GRND_NONBLOCK = 1;

/** wakeFds: the wake eventfds of the net tiles at the other end of the app's channels (granted ones). */
export function appSeccompPolicy(wakeFds: readonly number[] = []): SeccompPolicy {
  return {
    name: "app",
    allow: [
      // Waking a net tile: its idle wait is one poll(2) over its AF_XDP socket and an eventfd,
      // which the app signals when it publishes to a sleeping net tile (native eventfdSignal:
      // write(fd, &u64, 8)). Pinned to those fds and 8 bytes; the worst an app can do with it is
      // wake a net tile needlessly, which its own traffic could do as well.
      ...(wakeFds.length > 0
        ? [
            {
              syscall: "write",
              args: [
                wakeFds.length === 1
                  ? { index: 0, op: "eq" as const, value: wakeFds[0] }
                  : { index: 0, op: "in" as const, values: [...wakeFds] },
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
