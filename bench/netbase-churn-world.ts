// The netlink tile's body in this process, against a fresh namespace (root only): its own event and request
// sockets (opened inside the namespace, as the launcher does), an in-memory netbase and metrics
// region, logs kept in memory. For churn tests and the churn benchmark: drive the body while
// `ip -batch` changes the kernel, then measure how long netbase takes to equal the kernel again.
import { execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import { initMetricsRegion, metricsRegionSize } from "../shared/metrics/region";
import { MetricsWriter } from "../shared/metrics/writer";
import { inNetns, native } from "../shared/native";
import { initNetbase, type NetbaseCapacities, netbaseRegionSize } from "../shared/netbase/layout";
import { NetbaseWriter } from "../shared/netbase/writer";
import { createCounters, EventReader, NetlinkClient } from "../shared/netlink";
import { RTMGRP_TILENET } from "../shared/netlink/constants";
import { NetlinkTileBody } from "../tiles/netlink/body";
import { netlinkMetrics } from "../tiles/netlink/definition";
import type { ResyncOptions } from "../tiles/netlink/resync";
import { SolicitHandler, solicitConfig } from "../tiles/netlink/solicit-handler";

const addon = native;

function ipn(ns: string, ...args: string[]): void {
  execFileSync("ip", ["-n", ns, ...args], { stdio: ["ignore", "ignore", "pipe"] });
}

function createNetns(tag: string): string {
  const name = `tn-${tag}-${process.pid}-${randomBytes(3).toString("hex")}`;
  execFileSync("ip", ["netns", "add", name]);
  ipn(name, "link", "set", "lo", "up");
  return name;
}

function deleteNetns(name: string): void {
  try {
    execFileSync("ip", ["netns", "del", name], { stdio: "ignore" });
  } catch {
    // already gone
  }
}

export interface BodyWorldOptions {
  caps?: Partial<NetbaseCapacities>;
  /** Event socket receive buffer (the tile's [netlink] rcvbuf_bytes). */
  rcvbufBytes: number;
  resync?: ResyncOptions;
  /** `ip -batch` lines applied before the body starts (its first sync then dumps them). */
  preload?: string[];
}

export interface Convergence {
  /** ms from the end of the churn to the first moment netbase was equal to the kernel. */
  convergedMs: number;
  /** Differences left when it did not converge within the bound (empty when it did). */
  left: string[];
}

export class BodyWorld {
  readonly ns: string;
  readonly dev = "nbw0";
  readonly ifindex: number;
  readonly writer: NetbaseWriter;
  readonly metrics: MetricsWriter;
  readonly body: NetlinkTileBody;
  readonly logs: string[] = [];
  /** Wall-clock ms a resync was pending (netbase known to differ from the kernel), summed. */
  pendingMs = 0;
  private pendingSince: number | undefined;
  /** ms the body's first sync took. */
  startMs = 0;
  private readonly fds: number[] = [];
  private readonly checker: NetlinkClient;

  constructor(tag: string, options: BodyWorldOptions) {
    this.ns = createNetns(tag);
    try {
      ipn(this.ns, "link", "add", this.dev, "type", "veth", "peer", "name", "nbw1");
      ipn(this.ns, "link", "set", this.dev, "up");
      ipn(this.ns, "link", "set", "nbw1", "up");
      ipn(this.ns, "addr", "add", "198.18.255.254/16", "dev", this.dev);
      if (options.preload) {
        const file = join(tmpdir(), `tn-nbw-pre-${process.pid}-${randomBytes(4).toString("hex")}`);
        writeFileSync(file, `${options.preload.map((l) => l.replaceAll("$DEV", this.dev)).join("\n")}\n`);
        try {
          execFileSync("ip", ["-n", this.ns, "-batch", file]);
        } finally {
          rmSync(file, { force: true });
        }
      }
      this.ifindex = inNetns(`/run/netns/${this.ns}`, () => addon().ifNameToIndex(this.dev));
      const eventsFd = this.open(RTMGRP_TILENET, options.rcvbufBytes);
      const requestsFd = this.open(0, 1 << 20);
      this.checker = new NetlinkClient(this.open(0, 1 << 20));
      const caps = options.caps ?? { routes: 200_000, neighbors: 65_536 };
      const nb = new ArrayBuffer(netbaseRegionSize(caps));
      initNetbase(nb, caps);
      this.writer = new NetbaseWriter(nb);
      const mb = new ArrayBuffer(metricsRegionSize(netlinkMetrics));
      initMetricsRegion(mb, "netlink", "netlink", netlinkMetrics);
      this.metrics = new MetricsWriter(mb);
      const counters = createCounters();
      const log = pino({ level: "info" }, { write: (line: string) => this.logs.push(line) });
      this.body = new NetlinkTileBody({
        writer: this.writer,
        client: new NetlinkClient(requestsFd, { counters }),
        events: new EventReader(eventsFd, { counters }),
        counters,
        handler: new SolicitHandler({
          config: solicitConfig({ netIfindexes: [this.ifindex] }),
          env: noEnv,
          probe: () => 0,
        }),
        rings: [],
        metrics: this.metrics,
        log,
        verifyIntervalMs: 0,
        waitForEvents: (ms) => addon().pollIn(eventsFd, ms),
        resync: options.resync,
      });
      const t0 = performance.now();
      this.body.firstSync(t0);
      this.startMs = performance.now() - t0;
    } catch (e) {
      this.close();
      throw e;
    }
  }

  metric(name: string): number {
    return this.metrics.get(this.metrics.index(name));
  }

  /** Runs `ip -force -batch` on these lines in a child while the body runs; resolves at its exit.
   *  The body is paused pauseMs between 5 ms slices of work (a busy tile: events pile up). */
  async churn(lines: string[], pauseMs = 0): Promise<void> {
    const file = join(tmpdir(), `tn-nbw-${process.pid}-${randomBytes(4).toString("hex")}`);
    writeFileSync(file, `${lines.join("\n")}\n`);
    const child = spawn("ip", ["-n", this.ns, "-force", "-batch", file], { stdio: "ignore" });
    let exited = false;
    child.on("exit", () => {
      exited = true;
    });
    try {
      while (!exited) {
        await this.runFor(5);
        if (pauseMs > 0) await new Promise((r) => setTimeout(r, pauseMs));
      }
    } finally {
      rmSync(file, { force: true });
    }
  }

  /** Runs the body's loop (polls, housekeeping every 10 ms) for about ms milliseconds. */
  async runFor(ms: number): Promise<void> {
    const end = performance.now() + ms;
    let nextHousekeeping = 0;
    while (performance.now() < end) {
      const now = performance.now();
      const handled = this.body.poll(now);
      this.trackPending(performance.now());
      if (now >= nextHousekeeping) {
        this.body.housekeeping(now);
        nextHousekeeping = now + 10;
      }
      if (handled === 0) await new Promise((r) => setTimeout(r, 1));
    }
  }

  /** Wall time a resync stays pending (netbase known to differ), from the poll that saw it start
   *  to the first poll that saw it done, sleeps included. */
  private trackPending(nowMs: number): void {
    const pending = this.body.resync.pending;
    if (pending && this.pendingSince === undefined) this.pendingSince = nowMs;
    if (!pending && this.pendingSince !== undefined) {
      this.pendingMs += nowMs - this.pendingSince;
      this.pendingSince = undefined;
    }
  }

  /** Drives the body until netbase equals the kernel (checked with a fresh dump whenever the body
   *  is idle and no resync is pending), at most boundMs. */
  async converge(boundMs: number): Promise<Convergence> {
    const start = performance.now();
    let left: string[] = [];
    while (performance.now() - start < boundMs) {
      const now = performance.now();
      const busy = this.body.poll(now) > 0;
      this.trackPending(performance.now());
      if (busy || this.body.resync.pending) {
        await this.runFor(1);
        continue;
      }
      left = this.differences();
      if (left.length === 0) return { convergedMs: now - start, left };
      await this.runFor(5);
    }
    return { convergedMs: Number.POSITIVE_INFINITY, left };
  }

  /** Differences between netbase and a fresh dump of the namespace. */
  differences(): string[] {
    return this.writer.diff(this.checker.fullSnapshot());
  }

  close(): void {
    for (const fd of this.fds) addon().closeFd(fd);
    deleteNetns(this.ns);
  }

  private open(groups: number, rcvbuf: number): number {
    const fd = inNetns(`/run/netns/${this.ns}`, () => addon().netlinkOpen(groups, rcvbuf));
    this.fds.push(fd);
    return fd;
  }
}

const noEnv = {
  isLocalAddress: () => false,
  isSubnetBroadcast: () => false,
  onLink: () => false,
  neighborState: () => 0,
};

export const dotted = (a: number): string => `${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}`;
export const macOf = (i: number, v: number): string =>
  `02:${[v, i >> 24, i >> 16, i >> 8, i].map((b) => (b & 255).toString(16).padStart(2, "0")).join(":")}`;

/** xorshift32: the same seed gives the same churn. */
export function seededRandom(seed: number): () => number {
  let s = seed | 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 0x100000000;
  };
}

/** What the churn believes the kernel holds, so that every generated operation is valid (an
 *  `ip -batch` stops at its first failure). */
export interface ChurnModel {
  routes: Set<string>;
  neighs: Set<string>;
}

/** One burst of mixed route and neighbor adds, deletes and replaces (ip -batch lines). */
export function randomBurst(next: () => number, count: number, dev: string, model: ChurnModel): string[] {
  const lines: string[] = [];
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)] as T;
  for (let i = 0; i < count; i++) {
    if (next() < 0.6) {
      const len = pick([16, 20, 24, 24, 25, 28, 30, 32, 32, 32]);
      const dst = (0xc6130000 + Math.floor(next() * 0x10000)) & (~0 << (32 - len));
      const key = `${dotted(dst >>> 0)}/${len} dev ${dev} metric ${pick([0, 0, 10])}`;
      const via = next() < 0.5 ? ` via ${dotted(0xc6120000 + 1 + Math.floor(next() * 200))}` : "";
      const op = model.routes.has(key) ? pick(["del", "replace"]) : pick(["add", "replace"]);
      if (op === "del") model.routes.delete(key);
      else model.routes.add(key);
      lines.push(`route ${op} ${key}${op === "del" ? "" : via}`);
    } else {
      const key = dotted(0xc6120100 + Math.floor(next() * 4000));
      const op = model.neighs.has(key) ? pick(["del", "replace", "replace"]) : pick(["add", "replace"]);
      if (op === "del") model.neighs.delete(key);
      else model.neighs.add(key);
      const mac = ` lladdr ${macOf(i, Math.floor(next() * 4))} nud ${pick(["permanent", "reachable", "stale"])}`;
      lines.push(`neigh ${op} ${key}${op === "del" ? "" : mac} dev ${dev}`);
    }
  }
  return lines;
}
