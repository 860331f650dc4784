// Named network namespaces the way iproute2 keeps them: an empty file under /run/netns (a shared
// mount point) with the namespace bind-mounted on it, so that it lives on without a process.
import { closeSync, constants, existsSync, mkdirSync, openSync, readdirSync, unlinkSync } from "node:fs";
import { native } from "../native";
import { Validator } from "./validate";

export const NETNS_RUN_DIR = "/run/netns";

/** A namespace given by name (under /run/netns) or by path (anything with a '/'). */
export function netnsPathOf(nameOrPath: string, operation = "netnsPathOf"): string {
  if (typeof nameOrPath === "string" && nameOrPath.includes("/")) return nameOrPath;
  return `${NETNS_RUN_DIR}/${new Validator(operation).netnsName("netns", nameOrPath)}`;
}

export function netnsExists(name: string): boolean {
  return existsSync(netnsPathOf(name, "netnsExists"));
}

/** Names under /run/netns, sorted. */
export function listNetns(): string[] {
  if (!existsSync(NETNS_RUN_DIR)) return [];
  return readdirSync(NETNS_RUN_DIR).sort();
}

/** Synchronous createNetns (for callers that cannot wait, such as clean-up paths). */
export function createNetnsSync(name: string): string {
  const path = `${NETNS_RUN_DIR}/${new Validator("createNetns").netnsName("name", name)}`;
  mkdirSync(NETNS_RUN_DIR, { recursive: true, mode: 0o755 });
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_CREAT | constants.O_EXCL, 0);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === "EEXIST")
      throw Object.assign(new Error(`createNetns: namespace '${name}' already exists`), { code: "EEXIST" });
    throw e;
  }
  closeSync(fd);
  try {
    native().netnsCreateAt(NETNS_RUN_DIR, path);
  } catch (e) {
    unlinkSync(path);
    throw e;
  }
  return path;
}

/** Creates the named namespace (like `ip netns add NAME`); resolves to its path. */
export async function createNetns(name: string): Promise<string> {
  return createNetnsSync(name);
}

/** Synchronous deleteNetns. */
export function deleteNetnsSync(nameOrPath: string): void {
  const path = netnsPathOf(nameOrPath, "deleteNetns");
  if (!existsSync(path)) throw Object.assign(new Error(`deleteNetns: no namespace at ${path}`), { code: "ENOENT" });
  native().netnsUnmount(path);
  unlinkSync(path);
}

/** Removes the named namespace's mount and file (like `ip netns del NAME`): the namespace itself
 *  goes away with its last user (process, socket or open fd). */
export async function deleteNetns(nameOrPath: string): Promise<void> {
  deleteNetnsSync(nameOrPath);
}
