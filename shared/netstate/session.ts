// NetState: one network namespace's links, addresses and ethtool settings, through the project's
// own rtnetlink and generic netlink codec (no `ip`, no `ethtool`, no daemon). Methods return
// promises; each exchange with the kernel is short and bounded by timeoutMs.
import { closeSync, openSync } from "node:fs";
import { type DriverInfo, inNetns, native } from "../native";
import {
  type Address,
  AddressDecoder,
  type AddressSpec,
  addressDumpRequest,
  addressRequest,
  type IpFamily,
} from "../netlink/addr-msg";
import { NetlinkClient } from "../netlink/client";
import { NETLINK_GENERIC, RTM_NEWADDR, RTM_NEWLINK } from "../netlink/constants";
import {
  CHANNEL_FIELDS,
  type Channels,
  countsSetRequest,
  ETHTOOL_GENL_NAME,
  ETHTOOL_MSG_CHANNELS_GET,
  ETHTOOL_MSG_CHANNELS_SET,
  ETHTOOL_MSG_FEATURES_GET,
  ETHTOOL_MSG_RINGS_GET,
  ETHTOOL_MSG_RINGS_SET,
  ethtoolRequest,
  type Feature,
  familyIdRequest,
  featuresSetRequest,
  GENL_ID_CTRL,
  GenlDecoder,
  RING_FIELDS,
  type Rings,
} from "../netlink/ethtool-msg";
import {
  type Link,
  type LinkChange,
  LinkDecoder,
  linkAddRequest,
  linkDeleteRequest,
  linkDumpRequest,
  linkGetRequest,
  linkSetRequest,
  type NewLinkAttrs,
} from "../netlink/link-msg";
import type { Neighbor } from "../netlink/neigh-msg";
import type { Route } from "../netlink/route-msg";
import type { Rule } from "../netlink/rule-msg";
import { netnsPathOf } from "./netns";
import {
  changeNeighbor,
  changeRoute,
  changeRule,
  getRoute,
  listNeighbors,
  listRoutes,
  listRules,
  type NeighborInput,
  type RouteFilter,
  type RouteInput,
  type RtnlContext,
  type RuleInput,
} from "./routing";
import { decodeWith, Validator } from "./validate";

export interface NetStateOptions {
  /** Namespace name (under /run/netns) or path; default: the caller's namespace. */
  netns?: string;
  /** Bound on each exchange with the kernel. Default 5000. */
  timeoutMs?: number;
}

/** One end of a veth pair being created. */
export interface VethEnd {
  name: string;
  /** Namespace (name or path) to create this end in; default: the session's. */
  netns?: string;
  mtu?: number;
  address?: string;
  numTxQueues?: number;
  numRxQueues?: number;
}

export interface LinkSettings {
  up?: boolean;
  mtu?: number;
  address?: string;
  name?: string;
  txqlen?: number;
  /** Moves the link to this namespace (name or path). */
  netns?: string;
}

export const MACVLAN_MODES = { private: 1, vepa: 2, bridge: 4, passthru: 8, source: 16 } as const;

/** The tx checksum features `ethtool -K DEV tx off` turns off (its "tx-checksum-*" pattern). */
export const TX_CHECKSUM_PREFIX = "tx-checksum-";

export class NetState {
  private genlFamily: number | undefined;
  private closed = false;

  private constructor(
    private readonly rtnl: NetlinkClient,
    private readonly genl: NetlinkClient,
    /** The namespace path this session works in, undefined for the caller's. */
    readonly netnsPath: string | undefined,
  ) {}

  /** Opens netlink sockets in the namespace (entered only while the sockets are made). */
  static async open(options: NetStateOptions = {}): Promise<NetState> {
    const path = options.netns === undefined ? undefined : netnsPathOf(options.netns, "NetState.open");
    const timeoutMs = new Validator("NetState.open").optionalInt("timeoutMs", options.timeoutMs, 1, 600_000);
    const addon = native();
    const [routeFd, genericFd] = inNetns(path, () => {
      const r = addon.netlinkOpen(0, 0);
      try {
        return [r, addon.netlinkOpen(0, 0, NETLINK_GENERIC)];
      } catch (e) {
        closeSync(r);
        throw e;
      }
    });
    const rtnl = new NetlinkClient(routeFd, { timeoutMs });
    const genl = new NetlinkClient(genericFd, { timeoutMs, bufferBytes: 64 * 1024 });
    return new NetState(rtnl, genl, path);
  }

  /** Runs fn with a session in the namespace and closes it afterwards. */
  static async in<T>(netns: string | undefined, fn: (ns: NetState) => Promise<T>): Promise<T> {
    const ns = await NetState.open({ netns });
    try {
      return await fn(ns);
    } finally {
      ns.close();
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    closeSync(this.rtnl.fd);
    closeSync(this.genl.fd);
  }

  // ---- links ----

  async listLinks(options: { stats?: boolean } = {}): Promise<Link[]> {
    return this.rtnl.query(
      "list links",
      (seq) => linkDumpRequest(seq, options.stats === true),
      RTM_NEWLINK,
      decodeWith(LinkDecoder, "link"),
    );
  }

  /** One link by name or ifindex; rejects with NetlinkError ENODEV when there is none. */
  async getLink(link: string | number, options: { stats?: boolean } = {}): Promise<Link> {
    const ref = new Validator("getLink").linkRef("link", link);
    return this.fetchLink("getLink", ref, options.stats === true);
  }

  /** A veth pair; either end may be created in another namespace, with several queues. */
  async addVeth(end: VethEnd, peer: VethEnd): Promise<void> {
    const v = new Validator("addVeth");
    const fds: number[] = [];
    try {
      const self = this.newLinkAttrs(v, "name", end, fds);
      const other = this.newLinkAttrs(v, "peer", peer, fds);
      this.transact(`addVeth ${self.name}/${other.name}`, (seq) =>
        linkAddRequest(seq, self, { kind: "veth", peer: other }),
      );
    } finally {
      for (const fd of fds) closeSync(fd);
    }
  }

  /** A macvlan on top of parent (name or ifindex in this namespace). */
  async addMacvlan(options: {
    name: string;
    parent: string | number;
    mode?: keyof typeof MACVLAN_MODES;
    mtu?: number;
    address?: string;
  }): Promise<void> {
    const v = new Validator("addMacvlan");
    const mode =
      MACVLAN_MODES[
        v.oneOf("mode", options.mode ?? "bridge", Object.keys(MACVLAN_MODES) as (keyof typeof MACVLAN_MODES)[])
      ];
    const attrs = this.newLinkAttrs(v, "name", { name: options.name, mtu: options.mtu, address: options.address }, []);
    const parent = await this.ifindexOf(v, "parent", options.parent);
    this.transact(`addMacvlan ${attrs.name}`, (seq) => linkAddRequest(seq, attrs, { kind: "macvlan", parent, mode }));
  }

  /** A persistent tun or tap device (`ip tuntap add NAME mode tun|tap [multi_queue]`): the kernel
   *  creates these only through /dev/net/tun, not rtnetlink. Delete it with deleteLink. */
  async addTuntap(options: { name: string; mode: "tun" | "tap"; multiQueue?: boolean }): Promise<void> {
    const v = new Validator("addTuntap");
    if (typeof options !== "object" || options === null) v.fail("options", "must be an object");
    const name = v.ifname("name", options.name);
    const tap = v.oneOf("mode", options.mode, ["tun", "tap"] as const) === "tap";
    const multiQueue = options.multiQueue === undefined ? false : v.bool("multiQueue", options.multiQueue);
    inNetns(this.netnsPath, () => native().tunCreate(name, tap, multiQueue));
  }

  async deleteLink(link: string | number): Promise<void> {
    const ifindex = await this.ifindexOf(new Validator("deleteLink"), "link", link);
    this.transact(`deleteLink ${link}`, (seq) => linkDeleteRequest(seq, ifindex));
  }

  /** Up/down, MTU, hardware address, name, txqlen, namespace: one request. */
  async setLink(link: string | number, settings: LinkSettings): Promise<void> {
    const v = new Validator("setLink");
    const ifindex = await this.ifindexOf(v, "link", link);
    const change: LinkChange = {
      up: settings.up === undefined ? undefined : v.bool("up", settings.up),
      mtu: v.optionalInt("mtu", settings.mtu, 1, 0x7fffffff),
      address: settings.address === undefined ? undefined : v.mac("address", settings.address),
      name: settings.name === undefined ? undefined : v.ifname("name", settings.name),
      txqlen: v.optionalInt("txqlen", settings.txqlen, 0, 0x7fffffff),
    };
    const fd = settings.netns === undefined ? undefined : openSync(netnsPathOf(settings.netns, "setLink"), "r");
    try {
      change.netnsFd = fd;
      this.transact(`setLink ${link}`, (seq) => linkSetRequest(seq, ifindex, change));
    } finally {
      if (fd !== undefined) closeSync(fd);
    }
  }

  // ---- addresses ----

  async listAddresses(filter: { family?: IpFamily; link?: string | number } = {}): Promise<Address[]> {
    const v = new Validator("listAddresses");
    if (filter.family !== undefined && filter.family !== 4 && filter.family !== 6) v.fail("family", "must be 4 or 6");
    const ifindex = filter.link === undefined ? undefined : await this.ifindexOf(v, "link", filter.link);
    const all = this.rtnl.query(
      "list addresses",
      (seq) => addressDumpRequest(seq, filter.family),
      RTM_NEWADDR,
      decodeWith(AddressDecoder, "address"),
    );
    return ifindex === undefined ? all : all.filter((a) => a.ifindex === ifindex);
  }

  /** Adds "198.18.0.1/24" or "2001:2::1/64" to a link (EEXIST if present; replace: true overwrites). */
  async addAddress(link: string | number, prefix: string, options: AddressOptions = {}): Promise<void> {
    const spec = await this.addressSpec("addAddress", link, prefix, options);
    const op = options.replace === true ? "replace" : "add";
    this.transact(`addAddress ${prefix} on ${link}`, (seq) => addressRequest(seq, op, spec));
  }

  async deleteAddress(link: string | number, prefix: string): Promise<void> {
    const spec = await this.addressSpec("deleteAddress", link, prefix, {});
    this.transact(`deleteAddress ${prefix} on ${link}`, (seq) => addressRequest(seq, "delete", spec));
  }

  // ---- routes, rules, neighbors ----

  /** Routes of every table (or the filter's), IPv4 and IPv6; cached clones only when asked. */
  async listRoutes(filter: RouteFilter = {}): Promise<Route[]> {
    return listRoutes(this.ctx, new Validator("listRoutes"), filter);
  }

  /** The kernel's route for a destination (RTM_GETROUTE), as `ip route get` shows it. */
  async getRoute(
    dst: string,
    options: { src?: string; dev?: string | number; iif?: string | number; fibMatch?: boolean } = {},
  ): Promise<Route> {
    return getRoute(this.ctx, new Validator("getRoute"), dst, options);
  }

  /** Adds a route (EEXIST when one with the same key exists). */
  async addRoute(route: RouteInput): Promise<void> {
    return changeRoute(this.ctx, new Validator("addRoute"), "add", route);
  }

  /** Adds or overwrites a route (`ip route replace`). */
  async replaceRoute(route: RouteInput): Promise<void> {
    return changeRoute(this.ctx, new Validator("replaceRoute"), "replace", route);
  }

  /** Deletes the route matching the given fields (unset fields match anything, as in `ip route del`). */
  async deleteRoute(route: RouteInput): Promise<void> {
    return changeRoute(this.ctx, new Validator("deleteRoute"), "delete", route);
  }

  async listRules(family?: IpFamily): Promise<Rule[]> {
    return listRules(this.ctx, new Validator("listRules"), family);
  }

  async addRule(rule: RuleInput): Promise<void> {
    return changeRule(this.ctx, new Validator("addRule"), "add", rule);
  }

  async deleteRule(rule: RuleInput): Promise<void> {
    return changeRule(this.ctx, new Validator("deleteRule"), "delete", rule);
  }

  /** Neighbor entries (proxy entries only with proxy: true, as `ip neigh show proxy`). */
  async listNeighbors(filter: { family?: IpFamily; dev?: string | number; proxy?: boolean } = {}): Promise<Neighbor[]> {
    return listNeighbors(this.ctx, new Validator("listNeighbors"), filter);
  }

  async addNeighbor(neighbor: NeighborInput): Promise<void> {
    return changeNeighbor(this.ctx, new Validator("addNeighbor"), "add", neighbor);
  }

  async replaceNeighbor(neighbor: NeighborInput): Promise<void> {
    return changeNeighbor(this.ctx, new Validator("replaceNeighbor"), "replace", neighbor);
  }

  async deleteNeighbor(neighbor: Pick<NeighborInput, "dst" | "dev" | "proxy">): Promise<void> {
    return changeNeighbor(this.ctx, new Validator("deleteNeighbor"), "delete", neighbor);
  }

  /** Asks the kernel to resolve dst on dev now (RTM_NEWNEIGH with NTF_USE), as a packet would. */
  async resolveNeighbor(neighbor: Pick<NeighborInput, "dst" | "dev">): Promise<void> {
    return changeNeighbor(this.ctx, new Validator("resolveNeighbor"), "use", neighbor);
  }

  // ---- ethtool (generic netlink) ----

  /** Every feature (offload) of a device, as `ethtool -k` lists them. */
  async getFeatures(dev: string): Promise<Feature[]> {
    const name = new Validator("getFeatures").ifname("dev", dev);
    const family = this.ethtoolFamily();
    const [features] = this.genl.query(
      `ethtool features of ${name}`,
      (seq) => ethtoolRequest(family, ETHTOOL_MSG_FEATURES_GET, seq, name).finish(),
      family,
      decodeWith(GenlDecoder, "features"),
    );
    if (features === undefined) throw new Error(`getFeatures ${name}: the kernel's reply could not be decoded`);
    return features;
  }

  /** Sets features by name (like `ethtool -K DEV NAME on|off`); unknown names are refused. */
  async setFeatures(dev: string, wanted: Record<string, boolean>): Promise<void> {
    const v = new Validator("setFeatures");
    const name = v.ifname("dev", dev);
    const known = new Set((await this.getFeatures(name)).map((f) => f.name));
    const bits = new Map<string, boolean>();
    for (const [feature, on] of Object.entries(wanted)) {
      if (!known.has(feature)) v.fail(`wanted.${feature}`, `is not a feature of ${name}`);
      bits.set(feature, v.bool(`wanted.${feature}`, on));
    }
    const family = this.ethtoolFamily();
    this.genlTransact(`setFeatures ${name}`, (seq) => featuresSetRequest(family, seq, name, bits));
  }

  /** `ethtool -K DEV tx off`: every changeable tx-checksum-* feature off. Returns their names. */
  async disableTxChecksumOffload(dev: string): Promise<string[]> {
    const features = await this.getFeatures(dev);
    const names = features.filter((f) => f.name.startsWith(TX_CHECKSUM_PREFIX) && f.changeable).map((f) => f.name);
    await this.setFeatures(dev, Object.fromEntries(names.map((n) => [n, false])));
    return names;
  }

  /** Driver name, version, firmware and bus (`ethtool -i`; the one ioctl, netlink has no such message). */
  async getDriverInfo(dev: string): Promise<DriverInfo> {
    const name = new Validator("getDriverInfo").ifname("dev", dev);
    return inNetns(this.netnsPath, () => native().ethtoolDriverInfo(name));
  }

  async getChannels(dev: string): Promise<Channels> {
    return this.getCounts("getChannels", dev, ETHTOOL_MSG_CHANNELS_GET, CHANNEL_FIELDS);
  }

  async setChannels(
    dev: string,
    channels: Pick<Channels, "rxCount" | "txCount" | "otherCount" | "combinedCount">,
  ): Promise<void> {
    await this.setCounts("setChannels", dev, ETHTOOL_MSG_CHANNELS_SET, CHANNEL_FIELDS, channels);
  }

  async getRings(dev: string): Promise<Rings> {
    return this.getCounts("getRings", dev, ETHTOOL_MSG_RINGS_GET, RING_FIELDS);
  }

  async setRings(dev: string, rings: Pick<Rings, "rx" | "rxMini" | "rxJumbo" | "tx">): Promise<void> {
    await this.setCounts("setRings", dev, ETHTOOL_MSG_RINGS_SET, RING_FIELDS, rings);
  }

  // ---- internals ----

  private readonly ctx: RtnlContext = {
    query: (what, build, replyType, decode) => this.rtnl.query(what, build, replyType, decode),
    transact: (what, build) => this.transact(what, build),
    ifindexOf: (v, argument, link) => this.ifindexOf(v, argument, link),
  };

  private fetchLink(operation: string, ref: string | number, stats: boolean): Link {
    const [link] = this.rtnl.query(
      `${operation} ${ref}`,
      (seq) => linkGetRequest(seq, ref, stats),
      RTM_NEWLINK,
      decodeWith(LinkDecoder, "link"),
    );
    if (link === undefined) throw new Error(`${operation} ${ref}: the kernel's reply could not be decoded`);
    // A single get carries statistics whatever IFLA_EXT_MASK says.
    if (!stats) delete link.stats;
    return link;
  }

  private async ifindexOf(v: Validator, argument: string, link: unknown): Promise<number> {
    const ref = v.linkRef(argument, link);
    return typeof ref === "number" ? ref : this.fetchLink(v.operation, ref, false).ifindex;
  }

  /** Validated attributes of a link to create; opens (and records in fds) its namespace fd. */
  private newLinkAttrs(v: Validator, argument: string, end: VethEnd, fds: number[]): NewLinkAttrs {
    if (typeof end !== "object" || end === null) return v.fail(argument, "must be an object");
    const prefix = argument === "name" ? "" : `${argument}.`;
    const attrs: NewLinkAttrs = {
      name: v.ifname(argument === "name" ? "name" : `${argument}.name`, end.name),
      mtu: v.optionalInt(`${prefix}mtu`, end.mtu, 1, 0x7fffffff),
      address: end.address === undefined ? undefined : v.mac(`${prefix}address`, end.address),
      numTxQueues: v.optionalInt(`${prefix}numTxQueues`, end.numTxQueues, 1, 4096),
      numRxQueues: v.optionalInt(`${prefix}numRxQueues`, end.numRxQueues, 1, 4096),
    };
    if (end.netns !== undefined) {
      const fd = openSync(netnsPathOf(end.netns, v.operation), "r");
      fds.push(fd);
      attrs.netnsFd = fd;
    }
    return attrs;
  }

  private async addressSpec(
    operation: string,
    link: unknown,
    prefix: unknown,
    options: AddressOptions,
  ): Promise<AddressSpec> {
    const v = new Validator(operation);
    const p = v.prefix("prefix", prefix);
    const family = p.bytes.byteLength === 4 ? 4 : 6;
    return {
      ifindex: await this.ifindexOf(v, "link", link),
      local: p.bytes,
      prefixLen: p.prefixLen,
      peer: options.peer === undefined ? undefined : v.ip("peer", options.peer, family),
      broadcast: options.broadcast === undefined ? undefined : v.ip("broadcast", options.broadcast, 4),
      label: options.label === undefined ? undefined : v.ifname("label", options.label),
      scope: v.optionalInt("scope", options.scope, 0, 255),
      flags: v.optionalInt("flags", options.flags, 0, 0xffffffff),
      validLifetime: v.optionalInt("validLifetime", options.validLifetime, 0, 0xffffffff),
      preferredLifetime: v.optionalInt("preferredLifetime", options.preferredLifetime, 0, 0xffffffff),
    };
  }

  private transact(what: string, build: (seq: number) => Uint8Array): void {
    const seq = this.rtnl.nextSeq();
    this.rtnl.transact(build(seq), seq, what);
  }

  private genlTransact(what: string, build: (seq: number) => Uint8Array): void {
    const seq = this.genl.nextSeq();
    this.genl.transact(build(seq), seq, what);
  }

  /** The ethtool generic netlink family id, resolved once per session. */
  private ethtoolFamily(): number {
    if (this.genlFamily !== undefined) return this.genlFamily;
    const [id] = this.genl.query(
      "resolve generic netlink family ethtool",
      (seq) => familyIdRequest(seq, ETHTOOL_GENL_NAME),
      GENL_ID_CTRL,
      decodeWith(GenlDecoder, "familyId"),
    );
    if (id === undefined) throw new Error("resolve generic netlink family ethtool: no usable reply");
    this.genlFamily = id;
    return id;
  }

  private getCounts(operation: string, dev: string, cmd: number, fields: readonly string[]): Record<string, number> {
    const name = new Validator(operation).ifname("dev", dev);
    const family = this.ethtoolFamily();
    const [counts] = this.genl.query(
      `${operation} ${name}`,
      (seq) => ethtoolRequest(family, cmd, seq, name).finish(),
      family,
      (c) => new GenlDecoder(c).counts(fields),
    );
    if (counts === undefined) throw new Error(`${operation} ${name}: the kernel's reply could not be decoded`);
    return counts;
  }

  private async setCounts(
    operation: string,
    dev: string,
    cmd: number,
    fields: readonly string[],
    values: Record<string, number | undefined>,
  ): Promise<void> {
    const v = new Validator(operation);
    const name = v.ifname("dev", dev);
    for (const [key, value] of Object.entries(values)) {
      if (!fields.includes(key) || key.endsWith("Max"))
        v.fail(key, `is not a settable field (${fields.filter((f) => !f.endsWith("Max")).join(", ")})`);
      v.optionalInt(key, value, 0, 0xffffffff);
    }
    const family = this.ethtoolFamily();
    this.genlTransact(`${operation} ${name}`, (seq) => countsSetRequest(family, cmd, seq, name, fields, values));
  }
}

export interface AddressOptions {
  /** Overwrite an existing address instead of failing with EEXIST. */
  replace?: boolean;
  peer?: string;
  broadcast?: string;
  label?: string;
  scope?: number;
  flags?: number;
  validLifetime?: number;
  preferredLifetime?: number;
}
