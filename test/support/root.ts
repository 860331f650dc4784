// The one guard of integration tests that need root (namespaces, XDP, uid switches): elsewhere
// they skip, and say why on stderr so a skipped run is never mistaken for a passed one.
import { describe } from "vitest";

export const isRoot = process.getuid?.() === 0;

/** The usual reason: what the launcher-level tests do that needs root. */
export const ROOT_REASON = "needs root: creates network namespaces, XDP and per-tile uids";

/** describe() that runs only as root; `title` says what it proves and why it needs root. */
export function describeAsRoot(title: string, body: () => void): void {
  if (!isRoot) process.stderr.write(`skipped (not root): ${title}\n`);
  describe.skipIf(!isRoot)(title, body);
}
