// `tilenet dump`: pcap of what a net tile receives and sends (AF_XDP takes the frames before
// tcpdump could see them). Attaches to the tile's capture regions (shared/capture/layout.ts)
// through the launcher's descriptors, as root, and writes classic pcap to a file or a pipe.
// One dump per net tile at a time: a second one fails (the reader pid in the control region).
import { createWriteStream, type WriteStream } from "node:fs";
import {
  type CaptureFilter,
  captureRegionNames,
  DIRECTION_RX,
  DIRECTION_TX,
  DIRECTIONS_BOTH,
} from "../shared/capture/layout";
import { pcapGlobalHeader, pcapRecord } from "../shared/capture/pcap";
import { CaptureAttachError, type CapturedFrame, CaptureReader } from "../shared/capture/reader";
import { native } from "../shared/native";
import { ipToString, parseIp } from "../shared/netmodel";
import { type ArgSpec, intOption, parseArgs, UsageError } from "./args";
import { asPermissionError, CliError, ExitCode } from "./errors";
import { isPidAlive, loadManifest, regionPath } from "./health/instances";
import type { Manifest, TileEntry } from "./manifest";
import { err } from "./output";

export const DUMP_SPEC: ArgSpec = {
  flags: {},
  options: {
    instance: ["NAME", "the instance (default: the only one running)"],
    tile: ["T", "the net tile (default: the only one)"],
    write: ["FILE", "pcap to FILE, or - for stdout (also -w)"],
    count: ["N", "stop after N frames"],
    seconds: ["S", "stop after S seconds"],
    port: ["P", "only UDP frames from or to port P"],
    host: ["A", "only frames from or to IPv4 address A"],
    direction: ["DIR", "rx, tx or both (default both)"],
  },
};

export interface DumpOptions {
  instance?: string;
  tile?: string;
  /** A path, or "-" for stdout. */
  write: string;
  /** 0: no limit. */
  count: number;
  seconds: number;
  filter: CaptureFilter;
}

/** The command line (`-w` is `--write`); stdoutIsTty: a terminal gets no binary without -w. */
export function parseDumpArgs(argv: readonly string[], stdoutIsTty: boolean): DumpOptions {
  const args = parseArgs(["dump", ...argv.map((a) => (a === "-w" ? "--write" : a))], DUMP_SPEC);
  if (args.positionals.length > 0) throw new UsageError(`dump takes no argument "${args.positionals[0]}"`);
  const write = args.options.get("write") ?? "-";
  if (write === "-" && stdoutIsTty)
    throw new UsageError("stdout is a terminal: write the pcap with -w FILE, or pipe it (-w - | tshark -r -)");
  const hostText = args.options.get("host");
  const ipv4 = hostText === undefined ? 0 : parseIp(hostText);
  if (ipv4 === undefined || (hostText !== undefined && ipv4 === 0))
    throw new UsageError(`--host must be an IPv4 address like 198.18.0.1 (got "${hostText}")`);
  const dir = args.options.get("direction") ?? "both";
  const directions = { rx: DIRECTION_RX, tx: DIRECTION_TX, both: DIRECTIONS_BOTH }[dir];
  if (directions === undefined) throw new UsageError(`--direction must be rx, tx or both (got "${dir}")`);
  return {
    instance: args.options.get("instance"),
    tile: args.options.get("tile"),
    write,
    count: intOption(args, "count", 0, 1, 1e9),
    seconds: intOption(args, "seconds", 0, 1, 86400 * 365),
    filter: { port: intOption(args, "port", 0, 1, 65535), ipv4: ipv4 >>> 0, directions },
  };
}

/** The net tile to capture on; the socket provider's has no capture (its frames are the kernel's). */
export function pickNetTile(manifest: Manifest, name?: string): TileEntry {
  const nets = manifest.tiles.filter((t) => t.kind === "net" || t.kind === "net-socket");
  const tile = name === undefined ? nets[0] : nets.find((t) => t.name === name);
  if (name !== undefined && !tile)
    throw new UsageError(
      `no net tile named ${name} in ${manifest.instance} (net tiles: ${nets.map((t) => t.name).join(", ") || "none"})`,
    );
  if (!tile)
    throw new CliError(
      `instance ${manifest.instance} runs no net tile: nothing to capture`,
      ExitCode.unhealthy,
      "failed",
    );
  if (name === undefined && nets.length > 1)
    throw new UsageError(`${nets.length} net tiles run (${nets.map((t) => t.name).join(", ")}): name one with --tile`);
  if (tile.kind === "net-socket")
    throw new CliError(
      `${tile.name} is the socket provider's net tile: it has no capture (its datagrams go through kernel UDP sockets: use tcpdump on the interface)`,
      ExitCode.unhealthy,
      "failed",
    );
  return tile;
}

/** Maps a capture region through the launcher's descriptor (control writable, ring read-only). */
function mapRegion(manifest: Manifest, name: string, writable: boolean): ArrayBuffer {
  const region = manifest.regions.find((r) => r.name === name);
  if (!region)
    throw new CliError(
      `${manifest.instance} has no region ${name} (started by an older tilenet?)`,
      ExitCode.unhealthy,
      "failed",
    );
  const path = regionPath(manifest, region);
  const addon = native();
  let fd: number;
  try {
    fd = addon.openPath(path, writable);
  } catch (e) {
    throw asPermissionError(e, `opening ${path} (tilenet dump runs as root)`) ?? e;
  }
  try {
    return addon.mapFd(fd, 0, writable);
  } finally {
    addon.closeFd(fd);
  }
}

export function openCaptureReader(manifest: Manifest, tile: TileEntry): CaptureReader {
  const names = captureRegionNames(tile.name);
  return new CaptureReader(mapRegion(manifest, names.control, true), mapRegion(manifest, names.ring, false));
}

/** Where the pcap goes: a file or stdout; `gone` once its reader left (EPIPE) or it failed. */
class PcapSink {
  gone = false;
  failure: Error | undefined;
  private constructor(private readonly stream: NodeJS.WritableStream & { writableLength?: number }) {
    stream.on("error", (e: Error) => {
      this.gone = true;
      // A reader leaving a pipe is how `| head` ends a capture, not a failure.
      if ((e as NodeJS.ErrnoException).code !== "EPIPE") this.failure = e;
    });
  }

  static async open(target: string): Promise<PcapSink> {
    if (target === "-") return new PcapSink(process.stdout);
    const file: WriteStream = createWriteStream(target, { flags: "w", mode: 0o600 });
    await new Promise<void>((resolve, reject) => {
      file.once("open", () => resolve());
      file.once("error", (e) =>
        reject(new CliError(`cannot write ${target}: ${e.message}`, ExitCode.unhealthy, "failed")),
      );
    });
    return new PcapSink(file);
  }

  /** Waits while the reader is slower (the net tile drops meanwhile, counted), or until stop. */
  async write(bytes: Buffer, stop: AbortSignal): Promise<void> {
    if (this.gone) return;
    if (this.stream.write(bytes) || stop.aborted) return;
    await new Promise<void>((resolve) => {
      const done = () => {
        this.stream.off("drain", done);
        this.stream.off("error", done);
        stop.removeEventListener("abort", done);
        resolve();
      };
      this.stream.once("drain", done);
      this.stream.once("error", done);
      stop.addEventListener("abort", done);
    });
  }

  async close(): Promise<void> {
    if (this.stream === process.stdout) return; // drained by the CLI before it exits
    await new Promise<void>((resolve) => this.stream.end(() => resolve()));
  }
}

/** Frames handed over per read of the ring (one write to the sink per read). */
const READ_BATCH = 256;
/** Sleep after an empty read, doubling while nothing comes (an idle dump costs little CPU) up to
 *  the longest, at which the 1024-slot ring still holds about 60k frames/s. */
const IDLE_SLEEP_MIN_MS = 1;
const IDLE_SLEEP_MAX_MS = 16;

/** Copies frames from the ring to the sink until count, seconds, a signal or the reader's leave. */
async function pump(reader: CaptureReader, sink: PcapSink, o: DumpOptions, stop: AbortSignal): Promise<number> {
  const deadline = o.seconds > 0 ? Date.now() + o.seconds * 1000 : Number.POSITIVE_INFINITY;
  let written = 0;
  let idleMs = IDLE_SLEEP_MIN_MS;
  const records: Buffer[] = [];
  const toRecord = (f: CapturedFrame) => records.push(pcapRecord(f.tsSec, f.tsNsec, f.origLen, f.bytes));
  await sink.write(pcapGlobalHeader(reader.snapBytes), stop);
  while (!stop.aborted && !sink.gone && Date.now() < deadline) {
    const want = o.count > 0 ? Math.min(READ_BATCH, o.count - written) : READ_BATCH;
    reader.poll(want, toRecord);
    if (records.length === 0) {
      await new Promise((r) => setTimeout(r, idleMs));
      idleMs = Math.min(IDLE_SLEEP_MAX_MS, idleMs * 2);
      continue;
    }
    idleMs = IDLE_SLEEP_MIN_MS;
    written += records.length;
    const last = o.count > 0 && written >= o.count;
    if (last) reader.detach(); // stop the copying before the final write
    await sink.write(Buffer.concat(records.splice(0)), stop);
    if (last) break;
  }
  return written;
}

function describeFilter(f: CaptureFilter): string {
  const parts: string[] = [];
  if (f.port !== 0) parts.push(`port ${f.port}`);
  if (f.ipv4 !== 0) parts.push(`host ${ipToString(f.ipv4)}`);
  if (f.directions !== DIRECTIONS_BOTH) parts.push(f.directions === DIRECTION_RX ? "rx only" : "tx only");
  return parts.length > 0 ? ` (${parts.join(", ")})` : "";
}

/** Runs a dump; the summary goes to stderr (stdout may be the pcap). */
export async function runDump(o: DumpOptions): Promise<number> {
  const manifest = loadManifest(o.instance);
  const tile = pickNetTile(manifest, o.tile);
  const reader = openCaptureReader(manifest, tile);
  const sink = await PcapSink.open(o.write);
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  const signals: NodeJS.Signals[] = ["SIGINT", "SIGTERM", "SIGHUP"];
  for (const s of signals) process.on(s, onSignal);
  const detachAtExit = () => reader.detach(); // a crash must not leave the net tile copying
  process.on("exit", detachAtExit);
  const before = reader.counters();
  let written = 0;
  try {
    try {
      reader.attach(o.filter, process.pid, isPidAlive);
    } catch (e) {
      if (e instanceof CaptureAttachError) throw new CliError(e.message, ExitCode.unhealthy, "failed");
      throw e;
    }
    // What tcpdump says too: scripts wait for this line before sending.
    err(
      `capturing on ${tile.name} of ${manifest.instance}${describeFilter(o.filter)}, snap ${reader.snapBytes} bytes\n`,
    );
    written = await pump(reader, sink, o, stop.signal);
  } finally {
    reader.detach();
    for (const s of signals) process.off(s, onSignal);
    process.off("exit", detachAtExit);
    await sink.close();
  }
  const dropped = reader.counters().dropped - before.dropped;
  const invalid = reader.invalid > 0 ? `, ${reader.invalid} invalid slots skipped` : "";
  err(
    `${written} frames written from ${tile.name}; ${dropped} dropped by ${tile.name} (capture ring full)${invalid}\n`,
  );
  if (sink.failure) throw new CliError(`writing the pcap: ${sink.failure.message}`, ExitCode.unhealthy, "failed");
  return ExitCode.ok;
}
