// Test topologies for the data plane: fresh namespaces with unique names (tn-<tag>-<pid>-<rand>),
// veth links, addresses from 198.18.0.0/15 only, checksum offload off on every veth end (a
// kernel sender's UDP checksum would otherwise reach AF_XDP unfinished), and a teardown that
// deletes everything made, even after a failure halfway through. Built through the netstate
// library (no `ip`, no `ethtool`); iproute2 stays the oracle where a test reads state back.
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { inNetns } from "../../shared/native";
import { createNetnsSync, deleteNetnsSync, NetState, netnsExists } from "../../shared/netstate";
import { ipv4 } from "./dataplane-helpers";

export { isRoot } from "./root";

export function ip(args: string[]): string {
  try {
    return execFileSync("ip", args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new Error(`ip ${args.join(" ")}: ${(err.stderr ?? err.message).trim()}`);
  }
}

async function macOf(ns: string, dev: string): Promise<string> {
  const link = await NetState.in(ns, (s) => s.getLink(dev));
  if (link.address === undefined) throw new Error(`${dev} in ${ns} has no hardware address`);
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

async function makeNamespaces(tag: string, roles: string[]): Promise<string[]> {
  const made: string[] = [];
  try {
    for (const role of roles) {
      const ns = uniqueName(tag, role);
      createNetnsSync(ns);
      made.push(ns);
      await NetState.in(ns, (s) => s.setLink("lo", { up: true }));
    }
    return made;
  } catch (e) {
    destroyNamespaces(made);
    throw e;
  }
}

/** A veth pair between two namespaces (`queues` receive and transmit queues per end), tx
 *  checksum offload off on both ends, both up. */
async function link(nsA: string, devA: string, nsB: string, devB: string, queues = 1): Promise<void> {
  const q = { numRxQueues: queues, numTxQueues: queues };
  await NetState.in(nsA, (s) => s.addVeth({ name: devA, ...q }, { name: devB, netns: nsB, ...q }));
  for (const [ns, dev] of [
    [nsA, devA],
    [nsB, devB],
  ] as const) {
    await NetState.in(ns, async (s) => {
      await s.disableTxChecksumOffload(dev);
      await s.setLink(dev, { up: true });
    });
  }
}

async function addAddress(ns: string, dev: string, prefix: string): Promise<void> {
  await NetState.in(ns, (s) => s.addAddress(dev, prefix));
}

async function defaultRoute(ns: string, gateway: string): Promise<void> {
  await NetState.in(ns, (s) => s.addRoute({ dst: "default", family: 4, gateway }));
}

/** Client and tile joined by one veth: 198.18.<subnet>.2 (client) and .1 (tile), /24. */
export async function twoNamespaces(tag: string, subnet: number): Promise<Topology> {
  const namespaces = await makeNamespaces(tag, ["c", "t"]);
  const [clientNs, tileNs] = namespaces as [string, string];
  try {
    await link(tileNs, "t0", clientNs, "c0");
    const tileIp = `198.18.${subnet}.1`;
    const clientIp = `198.18.${subnet}.2`;
    await addAddress(tileNs, "t0", `${tileIp}/24`);
    await addAddress(clientNs, "c0", `${clientIp}/24`);
    return {
      namespaces,
      tile: {
        ns: tileNs,
        path: `/run/netns/${tileNs}`,
        dev: "t0",
        ip: tileIp,
        ip32: ipv4(tileIp),
        mac: await macOf(tileNs, "t0"),
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
export async function threeNamespaces(tag: string, a: number, b: number): Promise<Topology> {
  const namespaces = await makeNamespaces(tag, ["c", "r", "t"]);
  const [clientNs, routerNs, tileNs] = namespaces as [string, string, string];
  try {
    await link(clientNs, "c0", routerNs, "rc");
    await link(routerNs, "rt", tileNs, "t0");
    const clientIp = `198.19.${a}.2`;
    const tileIp = `198.19.${b}.2`;
    await addAddress(clientNs, "c0", `${clientIp}/24`);
    await addAddress(routerNs, "rc", `198.19.${a}.1/24`);
    await addAddress(routerNs, "rt", `198.19.${b}.1/24`);
    await addAddress(routerNs, "rt", `198.19.${b}.254/24`);
    await addAddress(tileNs, "t0", `${tileIp}/24`);
    await defaultRoute(clientNs, `198.19.${a}.1`);
    await defaultRoute(tileNs, `198.19.${b}.1`);
    // /proc/sys/net belongs to the namespace of the thread that opens it.
    inNetns(`/run/netns/${routerNs}`, () => writeFileSync("/proc/sys/net/ipv4/ip_forward", "1"));
    return {
      namespaces,
      tile: {
        ns: tileNs,
        path: `/run/netns/${tileNs}`,
        dev: "t0",
        ip: tileIp,
        ip32: ipv4(tileIp),
        mac: await macOf(tileNs, "t0"),
      },
      client: { ns: clientNs, ip: clientIp, ip32: ipv4(clientIp) },
      router: {
        ns: routerNs,
        tileSideIps: [`198.19.${b}.1`, `198.19.${b}.254`],
        tileSideMac: await macOf(routerNs, "rt"),
      },
    };
  } catch (e) {
    destroyNamespaces(namespaces);
    throw e;
  }
}

/** A tile namespace with two interfaces, each a `queues`-queue veth to a client namespace of its
 *  own: t0 198.18.<a>.1/24 <-> c0 198.18.<a>.2 (client 1), t1 198.18.<b>.1/24 <-> c0 198.18.<b>.2
 *  (client 2). */
export async function twoInterfaces(
  tag: string,
  a: number,
  b: number,
  queues: number,
): Promise<{
  namespaces: string[];
  tileNs: string;
  clients: { ns: string; tileIp: string; ip: string; dev: string }[];
}> {
  const namespaces = await makeNamespaces(tag, ["t", "1", "2"]);
  const [tileNs, c1, c2] = namespaces as [string, string, string];
  try {
    const clients = [
      { ns: c1, dev: "t0", tileIp: `198.18.${a}.1`, ip: `198.18.${a}.2` },
      { ns: c2, dev: "t1", tileIp: `198.18.${b}.1`, ip: `198.18.${b}.2` },
    ];
    for (const c of clients) {
      await link(tileNs, c.dev, c.ns, "c0", queues);
      await addAddress(tileNs, c.dev, `${c.tileIp}/24`);
      await addAddress(c.ns, "c0", `${c.ip}/24`);
    }
    return { namespaces, tileNs, clients };
  } catch (e) {
    destroyNamespaces(namespaces);
    throw e;
  }
}

export function destroyNamespaces(names: readonly string[]): void {
  for (const ns of names) {
    try {
      if (netnsExists(ns)) deleteNetnsSync(ns);
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
