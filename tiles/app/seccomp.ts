// The app tile's own system calls, beyond the Node baseline (shared/seccomp/node-baseline.ts).
// Every entry carries the reason an app needs it; nothing here has a path or a socket.
import type { SeccompPolicy } from "../../shared/seccomp/policy";

/** getrandom(2) flags: GRND_NONBLOCK = 1 (GRND_RANDOM = 2 and GRND_INSECURE = 4 stay forbidden). */
export const GRND_NONBLOCK = 1;

export function appSeccompPolicy(): SeccompPolicy {
  return {
    name: "app",
    allow: [
      // crypto.randomBytes / getRandomValues / randomUUID draw from OpenSSL's DRBG, seeded at
      // start-up (before the filter) and reseeded from the kernel with getrandom(buf, n, 0) when
      // its reseed interval (1 hour for the primary DRBG) or request count runs out: without this
      // an app using randomness dies of SIGSYS hours after it started. glibc and V8 ask with
      // GRND_NONBLOCK. Only the urandom pool: no GRND_RANDOM, no GRND_INSECURE.
      { syscall: "getrandom", args: [{ index: 2, op: "in", values: [0, GRND_NONBLOCK] }] },
    ],
  };
}
