// monitor(): the kernel's change notifications (links, addresses, routes, neighbors, rules; IPv4
// and IPv6) as an async iterator of typed events. The event socket subscribes before the optional
// initial dump, so no change falls between the two (a change seen in both is harmless: events are
// states, "new" replaces). When the socket overruns (ENOBUFS), a `resync` event says events were
// lost, followed by a fresh snapshot when snapshots were asked for.
import { closeSync } from "node:fs";
import { inNetns, native } from "../native";
import { type Address, AddressDecoder } from "../netlink/addr-msg";
import { BATCH_FOREIGN_SENDER, BATCH_OVERRUN, BATCH_TRUNCATED } from "../netlink/io";
import { type Link, LinkDecoder } from "../netlink/link-msg";
import { type Neighbor, NeighborDecoder } from "../netlink/neigh-msg";
import { type Route, RouteDecoder } from "../netlink/route-msg";
import { type Rule, RuleDecoder } from "../netlink/rule-msg";
import { HOST_LITTLE_ENDIAN, MessageCursor } from "../netlink/wire";
import { netnsPathOf } from "./netns";
import { NetState } from "./session";
import { Validator } from "./validate";

export type ChangeOp = "new" | "del";
export type NetstateEvent =
  | { kind: "link"; op: ChangeOp; link: Link }
  | { kind: "address"; op: ChangeOp; address: Address }
  | { kind: "route"; op: ChangeOp; route: Route }
  | { kind: "neighbor"; op: ChangeOp; neighbor: Neighbor }
  | { kind: "rule"; op: ChangeOp; rule: Rule }
  /** The kernel dropped notifications (socket overrun): state must be read again. */
  | { kind: "resync"; reason: "overrun" | "truncated" }
  | { kind: "snapshot"; links: Link[]; addresses: Address[]; routes: Route[]; neighbors: Neighbor[]; rules: Rule[] };

export type MonitorObject = "link" | "address" | "route" | "neighbor" | "rule";

/** Legacy RTMGRP_* bits per object (IPv4 and IPv6 where the kernel splits them). */
const GROUPS: Record<MonitorObject, number> = {
  link: 0x1,
  address: 0x10 | 0x100,
  route: 0x40 | 0x400,
  neighbor: 0x4,
  rule: 0x80 | 0x40000,
};

export interface MonitorOptions {
  netns?: string;
  /** Default: every object. */
  objects?: MonitorObject[];
  /** Start with a `snapshot` event (and send one after every resync). Default false. */
  snapshot?: boolean;
  /** Socket receive buffer. Default 4 MiB. */
  rcvbufBytes?: number;
  /** Ends the iteration. */
  signal?: AbortSignal;
  /** Idle poll interval when no notification is queued. Default 2 ms. */
  idleMs?: number;
}

const BATCH_BYTES = 1 << 20;

/** Change events of one namespace until options.signal aborts (or the consumer stops). */
export async function* monitor(options: MonitorOptions = {}): AsyncGenerator<NetstateEvent> {
  const v = new Validator("monitor");
  const objects = options.objects ?? (Object.keys(GROUPS) as MonitorObject[]);
  let groups = 0;
  for (const o of objects) groups |= GROUPS[v.oneOf("objects[]", o, Object.keys(GROUPS) as MonitorObject[])];
  const rcvbuf = v.optionalInt("rcvbufBytes", options.rcvbufBytes, 1024, 1 << 30) ?? 4 << 20;
  const idleMs = v.optionalInt("idleMs", options.idleMs, 0, 1000) ?? 2;
  const path = options.netns === undefined ? undefined : netnsPathOf(options.netns, "monitor");
  const addon = native();
  // Subscribe first: whatever changes during the dump is also queued on this socket.
  const fd = inNetns(path, () => addon.netlinkOpen(groups, rcvbuf));
  try {
    if (options.snapshot === true) yield await snapshot(path, objects);
    const buf = new Uint8Array(BATCH_BYTES);
    const cursor = new MessageCursor(buf);
    const decode = eventDecoder(cursor);
    while (options.signal?.aborted !== true) {
      const used = addon.netlinkRecvBatch(fd, buf, 0, 256);
      if (used === 0) {
        await new Promise((r) => setTimeout(r, idleMs));
        continue;
      }
      for (let at = 0; at < used; ) {
        const length = new DataView(buf.buffer, at, 4).getUint32(0, HOST_LITTLE_ENDIAN);
        at += 4;
        if (length === BATCH_OVERRUN || length === BATCH_TRUNCATED) {
          yield { kind: "resync", reason: length === BATCH_OVERRUN ? "overrun" : "truncated" };
          if (options.snapshot === true) yield await snapshot(path, objects);
          continue;
        }
        if (length === BATCH_FOREIGN_SENDER) continue;
        cursor.resetRange(at, at + length);
        while (cursor.next()) {
          const event = decode();
          if (event !== undefined) yield event;
        }
        at += (length + 3) & ~3;
      }
    }
  } finally {
    closeSync(fd);
  }
}

async function snapshot(path: string | undefined, objects: MonitorObject[]): Promise<NetstateEvent> {
  return NetState.in(path, async (ns) => ({
    kind: "snapshot" as const,
    links: objects.includes("link") ? await ns.listLinks() : [],
    addresses: objects.includes("address") ? await ns.listAddresses() : [],
    routes: objects.includes("route") ? await ns.listRoutes() : [],
    neighbors: objects.includes("neighbor") ? await ns.listNeighbors() : [],
    rules: objects.includes("rule") ? await ns.listRules() : [],
  }));
}

/** Decodes the cursor's current message as an event (undefined: not one, or malformed). */
export function eventDecoder(cursor: MessageCursor): () => NetstateEvent | undefined {
  const links = new LinkDecoder(cursor);
  const addresses = new AddressDecoder(cursor);
  const routes = new RouteDecoder(cursor);
  const neighbors = new NeighborDecoder(cursor);
  const rules = new RuleDecoder(cursor);
  return () => {
    const type = cursor.type;
    const op: ChangeOp = (type & 1) === 0 ? "new" : "del";
    switch (type & ~1) {
      case 16: {
        const link = links.link();
        return link && { kind: "link", op, link };
      }
      case 20: {
        const address = addresses.address();
        return address && { kind: "address", op, address };
      }
      case 24: {
        const route = routes.route();
        return route && { kind: "route", op, route };
      }
      case 28: {
        const neighbor = neighbors.neighbor();
        return neighbor && { kind: "neighbor", op, neighbor };
      }
      case 32: {
        const rule = rules.rule();
        return rule && { kind: "rule", op, rule };
      }
      default:
        return undefined;
    }
  };
}
