// Test helpers for the netlink tests: uniquely named network namespaces (deleted by the caller in
// afterAll/finally), made and deleted with the project's own library (shared/netstate and its
// rtnetlink codec), sockets opened inside them, and iproute2 commands inside them: `ip` stays
// here only as the independent oracle and world builder that tests compare our decoding against
// (a dump that matches iproute2's, churn made by another program).
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { NativeAddon } from "../../shared/native";
import { NetlinkClient } from "../../shared/netlink/client";
import { linkSetRequest } from "../../shared/netlink/link-msg";
import { createNetnsSync, deleteNetnsSync, netnsExists } from "../../shared/netstate";

export { isRoot } from "./root";

let loaded: NativeAddon | undefined;

/** This checkout's addon. native() searches beside process.argv[1] first, which under vitest is
 *  the worker script in node_modules; with node_modules symlinked to another checkout, that
 *  checkout's addon would be tested instead of this one. */
export function addon(): NativeAddon {
  if (!loaded) {
    const mod = { exports: {} as NativeAddon };
    process.dlopen(mod, join(__dirname, "..", "..", "build", "Release", "tilenet.node"));
    loaded = mod.exports;
  }
  return loaded;
}

/** Runs fn with the calling thread inside the namespace ns. */
export function inNamespace<T>(ns: string, fn: () => T): T {
  const saved = addon().netnsEnter(netnsPath(ns));
  try {
    return fn();
  } finally {
    addon().netnsRestore(saved);
  }
}

/** tn-<tag>-<pid>-<random>: never collides with another test process or engineer. */
export function uniqueNetnsName(tag: string): string {
  return `tn-${tag}-${process.pid}-${randomBytes(3).toString("hex")}`;
}

export function netnsPath(name: string): string {
  return `/run/netns/${name}`;
}

/** Runs `ip args...`; throws with ip's stderr on failure. */
export function ip(...args: string[]): string {
  return execFileSync("ip", args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}

/** Runs `ip -n ns args...`. */
export function ipn(ns: string, ...args: string[]): string {
  return ip("-n", ns, ...args);
}

/** `ip -n ns -j args...` parsed. */
export function ipJson<T>(ns: string, ...args: string[]): T {
  const out = ipn(ns, "-j", ...args).trim();
  return JSON.parse(out.length === 0 ? "[]" : out) as T;
}

/** Runs many `ip` commands at once (`ip -n ns -batch file`). */
export function ipBatch(ns: string, lines: string[]): void {
  const file = join(tmpdir(), `tn-netlink-batch-${process.pid}-${randomBytes(4).toString("hex")}`);
  writeFileSync(file, `${lines.join("\n")}\n`);
  try {
    ipn(ns, "-batch", file);
  } finally {
    rmSync(file, { force: true });
  }
}

const LOOPBACK_IFINDEX = 1; // lo is always the first link of a namespace

/** A fresh namespace with lo up (the library: createNetnsSync, then RTM_NEWLINK inside it). */
export function createNetns(tag: string): string {
  const name = uniqueNetnsName(tag);
  createNetnsSync(name);
  try {
    const fd = openNetlinkIn(name, 0, 64 * 1024);
    try {
      const client = new NetlinkClient(fd, { io: addon() });
      const seq = client.nextSeq();
      client.transact(linkSetRequest(seq, LOOPBACK_IFINDEX, { up: true }), seq, `lo up in ${name}`);
    } finally {
      addon().closeFd(fd);
    }
  } catch (e) {
    deleteNetnsSync(name);
    throw e;
  }
  return name;
}

/** Deletes namespaces (and so everything in them), ignoring ones already gone. */
export function deleteNetns(...names: (string | undefined)[]): void {
  for (const name of names) {
    if (!name || !netnsExists(name)) continue;
    deleteNetnsSync(name);
  }
}

/** A netlink socket created inside the namespace (as the launcher does before sandboxing). */
export function openNetlinkIn(ns: string, groups: number, rcvbufBytes: number): number {
  return inNamespace(ns, () => addon().netlinkOpen(groups, rcvbufBytes));
}

export function ifindexIn(ns: string, name: string): number {
  return inNamespace(ns, () => addon().ifNameToIndex(name));
}
