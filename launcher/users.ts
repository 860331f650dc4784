// Resolves the configured tile user and group (names or numbers) from /etc/passwd and /etc/group.
import { readFileSync } from "node:fs";

function lookup(file: string, name: string, what: string): number {
  if (/^\d+$/.test(name)) return Number(name);
  for (const line of readFileSync(file, "utf8").split("\n")) {
    const f = line.split(":");
    if (f[0] === name && f[2] !== undefined) return Number(f[2]);
  }
  throw new Error(`${what} "${name}" not found in ${file}`);
}

export function resolveIds(user: string, group: string): { uid: number; gid: number } {
  const uid = lookup("/etc/passwd", user, "user");
  const gid = lookup("/etc/group", group, "group");
  if (uid === 0 || gid === 0) throw new Error("tiles must not run as root (instance.user/group resolve to 0)");
  return { uid, gid };
}
