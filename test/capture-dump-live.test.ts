// `tilenet dump` on a running lab: with no dump attached the net tile copies nothing (its capture
// counters stay zero); `dump --count N -w FILE` while the peer sends echo requests writes a pcap
// that Debian's tshark reads back with both directions of every datagram (addresses, ports,
// payloads); piped (`-w - | tshark -r -`) it is complete too; a second dump at once is refused;
// SIGINT and a pipe reader leaving end it cleanly, detached; the socket provider is refused.
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { runLabPeer, warmUpEcho } from "./support/lab-peer";
import {
  CLI,
  forceCleanup,
  ROOT_REASON,
  type RunningInstance,
  type StatusJson,
  startInstance,
  status,
  uniqueInstance,
} from "./support/launcher-harness";
import { describeAsRoot } from "./support/root";

const hasTshark = spawnSync("tshark", ["--version"]).status === 0;

/** The peer fixture's echo mode: count requests, one per intervalMs; resolves with its last line. */
async function echoFromPeer(ns: string, host: string, count: number): Promise<Record<string, unknown>> {
  const args = { mode: "echo", host, port: 7000, count, size: 24, intervalMs: 5, window: 1, timeoutMs: 10_000 };
  return (await runLabPeer(ns, args)).lines.at(-1) ?? {};
}

interface Dump {
  child: ChildProcess;
  stderr: () => string;
  exit: Promise<number | null>;
}

/** Starts `sh -c CMD` (a dump, maybe piped) and resolves once the dump says it is capturing. */
async function startDump(command: string): Promise<Dump> {
  const child = spawn("sh", ["-c", command], { stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  child.stderr?.on("data", (c: Buffer) => {
    stderr += c.toString();
  });
  const exit = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
  const timer = setTimeout(() => child.kill("SIGKILL"), 20_000); // bounded whatever happens
  void exit.then(() => clearTimeout(timer));
  const started = Date.now();
  while (!/capturing on/.test(stderr) && child.exitCode === null && Date.now() - started < 10_000)
    await new Promise((r) => setTimeout(r, 20));
  return { child, stderr: () => stderr, exit };
}

function netMetrics(report: StatusJson): Record<string, number> {
  const net = report.tiles.find((t) => t.kind === "net");
  if (!net) throw new Error("no net tile in status");
  return net.metrics;
}

/** Rows of tshark fields: ip.src, ip.dst, udp.srcport, udp.dstport, udp.payload (hex). */
function tsharkRows(args: string[], input?: Buffer): string[][] {
  const fields = ["ip.src", "ip.dst", "udp.srcport", "udp.dstport", "udp.payload"].flatMap((f) => ["-e", f]);
  const r = spawnSync("tshark", [...args, "-T", "fields", ...fields, "-E", "separator=,"], { input, timeout: 30_000 });
  if (r.status !== 0) throw new Error(`tshark failed: ${r.stderr.toString()}`);
  return r.stdout
    .toString()
    .trim()
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => l.split(","));
}

describeAsRoot(`tilenet dump on a lab (${ROOT_REASON}; reads the pcap with Debian's tshark)`, () => {
  let inst: RunningInstance | undefined;
  let name = "";
  let tileIp = "";
  let peerIp = "";
  let peerNs = "";
  const dir = mkdtempSync(join(tmpdir(), "tilenet-dump-"));
  beforeAll(async () => {
    name = uniqueInstance("pc");
    inst = await startInstance(name);
    const lab = status(name).report.lab;
    if (!lab) throw new Error("no lab in status");
    tileIp = lab.tileAddr.split("/")[0] ?? "";
    peerIp = lab.peerAddr.split("/")[0] ?? "";
    peerNs = lab.peerNetns;
    await warmUpEcho(peerNs, tileIp, 7000);
  });
  afterAll(async () => {
    if (inst && inst.child.exitCode === null) {
      inst.child.kill("SIGTERM");
      await inst.exit;
    }
    await forceCleanup(inst);
    rmSync(dir, { recursive: true, force: true });
  });

  it("copies nothing while no dump is attached: the capture counters stay at zero", async () => {
    const done = await echoFromPeer(peerNs, tileIp, 50);
    expect(done.received).toBe(50);
    const m = netMetrics(status(name).report);
    expect(m.rx_delivered).toBeGreaterThanOrEqual(50);
    expect(m.capture_frames).toBe(0);
    expect(m.capture_drops).toBe(0);
  });

  it.skipIf(!hasTshark)("dump --count 2N -w FILE holds both directions of N echoes, as tshark reads them", async () => {
    const n = 20;
    const file = join(dir, "echo.pcap");
    const dump = await startDump(
      `exec ${process.execPath} ${CLI} dump --instance ${name} --port 7000 --count ${2 * n} -w ${file}`,
    );
    expect(dump.stderr()).toMatch(/capturing on net .*port 7000/);
    const done = await echoFromPeer(peerNs, tileIp, n);
    expect(done.received).toBe(n);
    expect(await dump.exit).toBe(0);
    expect(dump.stderr()).toMatch(new RegExp(`${2 * n} frames written from net; 0 dropped`));
    const rows = tsharkRows(["-r", file]);
    expect(rows).toHaveLength(2 * n);
    const requests = rows.filter((r) => r[0] === peerIp && r[1] === tileIp && r[3] === "7000");
    const echoes = rows.filter((r) => r[0] === tileIp && r[1] === peerIp && r[2] === "7000");
    expect(requests).toHaveLength(n);
    expect(echoes).toHaveLength(n);
    // The peer's payload: "TN", u16 0, u32 seq, then a pattern; each echo carries its request's bytes.
    const seqs = (rs: string[][]) =>
      rs.map((r) => Number.parseInt((r[4] ?? "").slice(8, 16), 16)).sort((a, b) => a - b);
    expect(seqs(requests)).toEqual([...Array(n).keys()]);
    expect(echoes.map((r) => r[4]).sort()).toEqual(requests.map((r) => r[4]).sort());
    expect(requests.every((r) => (r[4] ?? "").startsWith("544e0000") && r[4]?.length === 48)).toBe(true);
    const m = netMetrics(status(name).report);
    expect(m.capture_frames).toBe(2 * n);
  });

  it.skipIf(!hasTshark)(
    "is complete through a pipe (-w - | tshark -r -), and a second dump at once is refused",
    async () => {
      const out = join(dir, "piped.txt");
      const piped = await startDump(
        `${process.execPath} ${CLI} dump --instance ${name} --direction rx --count 5 -w - | tshark -r - -T fields -e udp.dstport > ${out}`,
      );
      expect(piped.stderr()).toMatch(/capturing on net/);
      const second = spawnSync(process.execPath, [CLI, "dump", "--instance", name, "-w", join(dir, "x.pcap")], {
        encoding: "utf8",
        timeout: 10_000,
      });
      expect(second.status).toBe(1);
      expect(second.stderr).toMatch(/another dump \(pid \d+\) is attached/);
      const done = await echoFromPeer(peerNs, tileIp, 5);
      expect(done.received).toBe(5);
      expect(await piped.exit).toBe(0);
      const ports = spawnSync("cat", [out], { encoding: "utf8" }).stdout.trim().split("\n");
      expect(ports).toEqual(["7000", "7000", "7000", "7000", "7000"]);
      // Detached again: traffic after the dump is not copied.
      const before = netMetrics(status(name).report).capture_frames;
      await echoFromPeer(peerNs, tileIp, 10);
      expect(netMetrics(status(name).report).capture_frames).toBe(before);
    },
  );

  it("detaches on SIGINT (exit 0): the net tile stops copying", async () => {
    const dump = await startDump(
      `exec ${process.execPath} ${CLI} dump --instance ${name} --seconds 30 -w ${join(dir, "int.pcap")}`,
    );
    expect(dump.stderr()).toMatch(/capturing on net of/);
    await echoFromPeer(peerNs, tileIp, 5);
    dump.child.kill("SIGINT");
    expect(await dump.exit).toBe(0);
    expect(dump.stderr()).toMatch(/10 frames written/);
    const before = netMetrics(status(name).report).capture_frames;
    await echoFromPeer(peerNs, tileIp, 10);
    expect(netMetrics(status(name).report).capture_frames).toBe(before);
  });

  it("ends cleanly (exit 0, detached) when the pipe's reader leaves early", async () => {
    const dump = await startDump(
      `{ ${process.execPath} ${CLI} dump --instance ${name} --seconds 20 -w -; echo "dump exit $?" >&2; } | head -c 100 > /dev/null`,
    );
    expect(dump.stderr()).toMatch(/capturing on net/);
    await echoFromPeer(peerNs, tileIp, 20);
    expect(await dump.exit).toBe(0);
    expect(dump.stderr()).toMatch(/frames written from net/);
    expect(dump.stderr()).toMatch(/dump exit 0/);
    const before = netMetrics(status(name).report).capture_frames;
    await echoFromPeer(peerNs, tileIp, 10);
    expect(netMetrics(status(name).report).capture_frames).toBe(before);
  });
});

describeAsRoot(`tilenet dump on the socket provider (${ROOT_REASON})`, () => {
  it("says the socket provider's net tile has no capture, exit 1", async () => {
    const dir = mkdtempSync(join(tmpdir(), "tilenet-dump-socket-"));
    const config = join(dir, "c.toml");
    writeFileSync(
      config,
      `[net]\nprovider = "socket"\n[[app]]\nname = "echo"\nmodule = "builtin:echo"\nports = [7000]\n`,
    );
    const name = uniqueInstance("ps");
    let inst: RunningInstance | undefined;
    try {
      inst = await startInstance(name, ["--lab", "--config", config]);
      const r = spawnSync(process.execPath, [CLI, "dump", "--instance", name, "-w", join(dir, "x.pcap")], {
        encoding: "utf8",
        timeout: 10_000,
      });
      expect(r.status).toBe(1);
      expect(r.stderr).toMatch(/socket provider's net tile: it has no capture/);
    } finally {
      if (inst && inst.child.exitCode === null) {
        inst.child.kill("SIGTERM");
        await inst.exit;
      }
      await forceCleanup(inst);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
