// Test topologies for the data plane: fresh namespaces with unique names (tn-<tag>-<pid>-<rand>),
// veth links, addresses from 198.18.0.0/15 only, checksum offload off on every veth end (a
// kernel sender's UDP checksum would otherwise reach AF_XDP unfinished), and a teardown that
// deletes everything made, even after a failure halfway through.
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { ipv4 } from "./dataplane-helpers";

export const isRoot = process.getuid?.() === 0;

export function ip(args: string[]): string {
  try {
    return execFileSync("ip", args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new Error(`ip ${args.join(" ")}: ${(err.stderr ?? err.message).trim()}`);
  }
}

function checksumOffloadOff(ns: string, dev: string): void {
  execFileSync("ip", ["netns", "exec", ns, "ethtool", "-K", dev, "tx", "off"], { stdio: "ignore" });
}

function macOf(ns: string, dev: string): string {
  const [link] = JSON.parse(ip(["-n", ns, "-j", "link", "show", dev])) as Array<{ address: string }>;
  return link.address;
}

export interface Topology {
  /** Every namespace made, for teardown. */
  namespaces: string[];
  /** Namespace, interface and address of the tile side. */
  tile: { ns: string; path: string; dev: string; ip: string; ip32: number; mac: string };
  /** The UDP client's namespace and address. */
  client: { ns: string; ip: string; ip32: number };
  /** Three-namespace topology only: the router between them. */
  router?: { ns: string; tileSideIps: string[]; tileSideMac: string };
}

function uniqueName(tag: string, role: string): string {
  return `tn-${tag}${role}-${process.pid}-${randomBytes(3).toString("hex")}`;
}

function makeNamespaces(tag: string, roles: string[]): string[] {
  const made: string[] = [];
  try {
    for (const role of roles) {
      const ns = uniqueName(tag, role);
      ip(["netns", "add", ns]);
      made.push(ns);
      ip(["-n", ns, "link", "set", "lo", "up"]);
    }
    return made;
  } catch (e) {
    destroyNamespaces(made);
    throw e;
  }
}

function link(nsA: string, devA: string, nsB: string, devB: string): void {
  ip(["-n", nsA, "link", "add", devA, "type", "veth", "peer", "name", devB, "netns", nsB]);
  checksumOffloadOff(nsA, devA);
  checksumOffloadOff(nsB, devB);
  ip(["-n", nsA, "link", "set", devA, "up"]);
  ip(["-n", nsB, "link", "set", devB, "up"]);
}

/** Client and tile joined by one veth: 198.18.<subnet>.2 (client) and .1 (tile), /24. */
export function twoNamespaces(tag: string, subnet: number): Topology {
  const namespaces = makeNamespaces(tag, ["c", "t"]);
  const [clientNs, tileNs] = namespaces as [string, string];
  try {
    link(tileNs, "t0", clientNs, "c0");
    const tileIp = `198.18.${subnet}.1`;
    const clientIp = `198.18.${subnet}.2`;
    ip(["-n", tileNs, "addr", "add", `${tileIp}/24`, "dev", "t0"]);
    ip(["-n", clientNs, "addr", "add", `${clientIp}/24`, "dev", "c0"]);
    return {
      namespaces,
      tile: {
        ns: tileNs,
        path: `/run/netns/${tileNs}`,
        dev: "t0",
        ip: tileIp,
        ip32: ipv4(tileIp),
        mac: macOf(tileNs, "t0"),
      },
      client: { ns: clientNs, ip: clientIp, ip32: ipv4(clientIp) },
    };
  } catch (e) {
    destroyNamespaces(namespaces);
    throw e;
  }
}

/**
 * client (198.19.<a>.2/24) -- router (198.19.<a>.1 | 198.19.<b>.1 and .254) -- tile (198.19.<b>.2/24).
 * The tile's default route is via 198.19.<b>.1; the router forwards; the client routes via it.
 */
export function threeNamespaces(tag: string, a: number, b: number): Topology {
  const namespaces = makeNamespaces(tag, ["c", "r", "t"]);
  const [clientNs, routerNs, tileNs] = namespaces as [string, string, string];
  try {
    link(clientNs, "c0", routerNs, "rc");
    link(routerNs, "rt", tileNs, "t0");
    const clientIp = `198.19.${a}.2`;
    const tileIp = `198.19.${b}.2`;
    ip(["-n", clientNs, "addr", "add", `${clientIp}/24`, "dev", "c0"]);
    ip(["-n", routerNs, "addr", "add", `198.19.${a}.1/24`, "dev", "rc"]);
    ip(["-n", routerNs, "addr", "add", `198.19.${b}.1/24`, "dev", "rt"]);
    ip(["-n", routerNs, "addr", "add", `198.19.${b}.254/24`, "dev", "rt"]);
    ip(["-n", tileNs, "addr", "add", `${tileIp}/24`, "dev", "t0"]);
    ip(["-n", clientNs, "route", "add", "default", "via", `198.19.${a}.1`]);
    ip(["-n", tileNs, "route", "add", "default", "via", `198.19.${b}.1`]);
    execFileSync("ip", ["netns", "exec", routerNs, "sysctl", "-qw", "net.ipv4.ip_forward=1"], { stdio: "ignore" });
    return {
      namespaces,
      tile: {
        ns: tileNs,
        path: `/run/netns/${tileNs}`,
        dev: "t0",
        ip: tileIp,
        ip32: ipv4(tileIp),
        mac: macOf(tileNs, "t0"),
      },
      client: { ns: clientNs, ip: clientIp, ip32: ipv4(clientIp) },
      router: { ns: routerNs, tileSideIps: [`198.19.${b}.1`, `198.19.${b}.254`], tileSideMac: macOf(routerNs, "rt") },
    };
  } catch (e) {
    destroyNamespaces(namespaces);
    throw e;
  }
}

export function destroyNamespaces(names: readonly string[]): void {
  for (const ns of names) {
    try {
      ip(["netns", "del", ns]);
    } catch {
      // already gone
    }
  }
}

/** Neighbor entry of ip on dev in ns: its MAC and states (undefined when absent). */
export function neighborOf(ns: string, dev: string, addr: string): { lladdr?: string; state?: string[] } | undefined {
  const list = JSON.parse(ip(["-n", ns, "-j", "neigh", "show", addr, "dev", dev]) || "[]") as Array<{
    lladdr?: string;
    state?: string[];
  }>;
  return list[0];
}

/** A child whose stdout is JSON lines (the peer fixture). */
export class JsonChild {
  readonly lines: Array<Record<string, unknown>> = [];
  readonly exited: Promise<number | null>;
  stderr = "";
  private readonly child: ChildProcess;

  constructor(cmd: string, args: string[]) {
    this.child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"] });
    let buf = "";
    this.child.stdout?.on("data", (d: Buffer) => {
      buf += d.toString();
      for (let nl = buf.indexOf("\n"); nl >= 0; nl = buf.indexOf("\n")) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        try {
          this.lines.push(JSON.parse(line) as Record<string, unknown>);
        } catch {
          this.stderr += `(stdout) ${line}\n`;
        }
      }
    });
    this.child.stderr?.on("data", (d: Buffer) => {
      this.stderr += d.toString();
    });
    this.exited = new Promise((resolve) => this.child.on("exit", (code) => resolve(code)));
  }

  find(pred: (l: Record<string, unknown>) => boolean): Record<string, unknown> | undefined {
    return this.lines.find(pred);
  }

  kill(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill("SIGKILL");
  }
}

/** `ip netns exec ns node <script> <json>`. */
export function nodeInNs(ns: string, script: string, args: object): JsonChild {
  return new JsonChild("ip", ["netns", "exec", ns, process.execPath, script, JSON.stringify(args)]);
}
