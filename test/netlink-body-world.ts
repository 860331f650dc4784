// The netlink tile's body in this process, against a fresh namespace: its own event and request
// sockets (opened inside the namespace, as the launcher does), an in-memory netbase and metrics
// region, logs kept in memory. For churn tests and the churn benchmark: drive the body while
// `ip -batch` changes the kernel, then measure how long netbase takes to equal the kernel again.
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import { initMetricsRegion, metricsRegionSize } from "../shared/metrics/region";
import { MetricsWriter } from "../shared/metrics/writer";
import { initNetbase, type NetbaseCapacities, netbaseRegionSize } from "../shared/netbase/layout";
import { NetbaseWriter } from "../shared/netbase/writer";
import { createCounters, EventReader, NetlinkClient } from "../shared/netlink";
import { RTMGRP_TILENET } from "../shared/netlink/constants";
import { NetlinkTileBody } from "../tiles/netlink/body";
import { netlinkMetrics } from "../tiles/netlink/definition";
import type { ResyncOptions } from "../tiles/netlink/resync";
import { SolicitHandler, solicitConfig } from "../tiles/netlink/solicit-handler";
import { addon, createNetns, deleteNetns, ifindexIn, ipn, openNetlinkIn } from "./netlink-netns";

export interface BodyWorldOptions {
  caps?: Partial<NetbaseCapacities>;
  /** Event socket receive buffer (the tile's [netlink] rcvbuf_bytes). */
  rcvbufBytes: number;
  resync?: ResyncOptions;
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
  private readonly fds: number[] = [];
  private readonly checker: NetlinkClient;

  constructor(tag: string, options: BodyWorldOptions) {
    this.ns = createNetns(tag);
    try {
      ipn(this.ns, "link", "add", this.dev, "type", "veth", "peer", "name", "nbw1");
      ipn(this.ns, "link", "set", this.dev, "up");
      ipn(this.ns, "link", "set", "nbw1", "up");
      ipn(this.ns, "addr", "add", "198.18.255.254/16", "dev", this.dev);
      this.ifindex = ifindexIn(this.ns, this.dev);
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
      this.body.start(performance.now());
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
      if (now >= nextHousekeeping) {
        this.body.housekeeping(now);
        nextHousekeeping = now + 10;
      }
      if (handled === 0) await new Promise((r) => setTimeout(r, 1));
    }
  }

  /** Drives the body until netbase equals the kernel (checked with a fresh dump whenever the body
   *  is idle and no resync is pending), at most boundMs. */
  async converge(boundMs: number): Promise<Convergence> {
    const start = performance.now();
    let left: string[] = [];
    while (performance.now() - start < boundMs) {
      const now = performance.now();
      if (this.body.poll(now) > 0 || this.body.resync.pending) {
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
    const fd = openNetlinkIn(this.ns, groups, rcvbuf);
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
