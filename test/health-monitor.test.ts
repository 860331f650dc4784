// `tilenet monitor`: refreshes with rates from real child tiles (non-TTY blocks and TTY redraw),
// Firedancer's heartbeat column (advancing / NONE / RESET) and stale flag, and stopping with the
// instance when the launcher (here a stand-in process holding the region fds) exits.
import { Writable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { heartbeatCell, regimeShares, runMonitor, type TileSample } from "../launcher/health/monitor";
import { FakeLauncher, sleepMs } from "./support/health-fake-launcher";

class Collect extends Writable {
  text = "";
  override _write(chunk: Buffer, _enc: BufferEncoding, done: () => void): void {
    this.text += chunk.toString();
    done();
  }
}

describe("monitor on a live instance", () => {
  const launcher = new FakeLauncher("mon");
  beforeAll(async () => {
    await Promise.all([
      launcher.startTile("net", "net", ["--every", "10", "--packets", "4", "--backpressure-every", "5"]),
      launcher.startTile("app0", "app", ["--every", "10", "--stop-heartbeat-after", "50"]),
    ]);
    launcher.writeManifest();
    await sleepMs(150); // app0 has stopped heartbeating by now
  });
  afterAll(() => launcher.close());

  it("prints one block per refresh on a non-TTY stream, with heartbeat, stale flag, % time and rates", async () => {
    const out = new Collect();
    await runMonitor({ runRoot: launcher.runRoot, intervalMs: 400, iterations: 2, out, tty: false });
    expect(out.text).not.toContain("\x1b[");
    const blocks = out.text.split(/\n(?=tilenet monitor: )/);
    expect(blocks).toHaveLength(2);
    for (const block of blocks) {
      const lines = block.trimEnd().split("\n");
      expect(lines[0]).toMatch(/^tilenet monitor: instance mon, \d{4}-\d\d-\d\dT/);
      expect(lines[1]).toMatch(
        /^TILE\s+KIND\s+PID\s+STATE\s+HEART\s+STALE\s+VCSW\/s\s+IVCSW\/s\s+BACKP\s+%HKEEP\s+%BUSY\s+%IDLE\s+%BACKP$/,
      );
      const net = lines.find((l) => l.startsWith("net "))?.split(/\s+/) ?? [];
      const app = lines.find((l) => l.startsWith("app0 "))?.split(/\s+/) ?? [];
      expect(net.slice(0, 6)).toEqual(["net", "net", String(launcher.tiles[0].pid), "running", "-", "-"]);
      // app0 heartbeat is not advancing and is older than 100 ms.
      expect(app[4]).toBe("NONE");
      expect(app[5]).toMatch(/^\d+\.\d\ds$/);
      // Context switch rates are numbers, backpressure count with its change, then four shares
      // that add up to 100%.
      expect(net[6]).toMatch(/^\d+(\.\d)?$/);
      // net waits for a "consumer" every 5th tick: episodes are counted and the time shows.
      const backp = /^(\d+)\(\+(\d+)\)$/.exec(net[8]);
      expect(backp, net[8]).not.toBeNull();
      expect(Number(backp?.[2])).toBeGreaterThan(0);
      expect(app[8]).toMatch(/^0\(\+0\)$/);
      const shares = net.slice(9, 13).map((s) => Number(s.replace("%", "")));
      expect(shares[3]).toBeGreaterThan(0); // backpressure
      expect(shares.every((s) => Number.isFinite(s))).toBe(true);
      expect(shares.reduce((a, b) => a + b, 0)).toBeCloseTo(100, 0);
      expect(shares[1]).toBeGreaterThan(0); // busy
      expect(shares[2]).toBeGreaterThan(shares[1]); // mostly idle (1 ms of work per 10 ms)
      // The tile's own metrics with rates: about 4 packets per ~10 ms, so clearly positive.
      const detail = lines.find((l) => l.startsWith("  net: ")) ?? "";
      const m = /rx_packets (\d+) \((\d+(?:\.\d)?)\/s\)/.exec(detail);
      expect(m, detail).not.toBeNull();
      expect(Number(m?.[2])).toBeGreaterThan(20);
      expect(detail).toContain("queue_depth 42");
      expect(detail).not.toContain("queue_depth 42 ("); // gauges have no rate
    }
  });

  it("redraws in place on a TTY", async () => {
    const out = new Collect();
    await runMonitor({ runRoot: launcher.runRoot, intervalMs: 200, iterations: 3, out, tty: true });
    const ESC = String.fromCharCode(27);
    const frames = out.text.split(new RegExp(`${ESC}\\[\\d+A\r${ESC}\\[J`));
    expect(frames).toHaveLength(3);
    for (const f of frames) expect(f.startsWith("tilenet monitor: instance mon")).toBe(true);
    // Each redraw moves up exactly the number of lines of the frame before it.
    const ups = [...out.text.matchAll(new RegExp(`${ESC}\\[(\\d+)A`, "g"))].map((m) => Number(m[1]));
    expect(ups).toEqual([frames[0].split("\n").length - 1, frames[1].split("\n").length - 1]);
  });
});

describe("monitor stops with its instance", () => {
  const launcher = new FakeLauncher("mon2");
  afterAll(() => launcher.close());

  it("reads the regions through the stand-in launcher's fds and exits when that process does", async () => {
    await launcher.startTile("net", "net", ["--every", "10"]);
    const holder = launcher.spawnHolder();
    launcher.launcherPid = holder.child.pid ?? 0;
    launcher.writeManifest(launcher.manifest(holder.fdOf));
    const out = new Collect();
    const done = runMonitor({ runRoot: launcher.runRoot, intervalMs: 150, out, tty: false });
    await sleepMs(400);
    holder.child.kill("SIGKILL");
    await done; // would hang (and time out) if the monitor did not notice
    expect(out.text).toMatch(/instance mon2 stopped \(launcher pid \d+ exited\)\n$/);
    // Before the stop it printed real rows read through /proc/<holder>/fd/3.
    expect(out.text).toMatch(/\nnet\s+net\s+\d+\s+running\s+-\s+-/);
  });
});

describe("monitor columns", () => {
  const sample = (seq: number, pid: number, regimes: number[]): TileSample => ({
    name: "t",
    kind: "k",
    pid,
    state: "running",
    atNs: 0,
    heartbeatNs: 1,
    heartbeatSeq: seq,
    names: ["housekeeping_ns", "busy_ns", "idle_ns", "backpressure_ns"],
    kinds: ["counter", "counter", "counter", "counter"],
    values: Float64Array.from(regimes),
  });

  it("shows the heartbeat advancing, stuck, or reset (sequence backwards or another pid)", () => {
    expect(heartbeatCell(sample(5, 10, []), sample(9, 10, []))).toBe("-");
    expect(heartbeatCell(sample(5, 10, []), sample(5, 10, []))).toBe("NONE");
    expect(heartbeatCell(sample(5, 10, []), sample(2, 10, []))).toBe("RESET");
    expect(heartbeatCell(sample(5, 10, []), sample(9, 11, []))).toBe("RESET");
  });

  it("splits the interval's time between housekeeping, busy, idle and backpressure", () => {
    const prev = sample(1, 1, [100, 1000, 2000, 0]);
    const cur = sample(2, 1, [200, 3000, 9000, 900]);
    expect(regimeShares(prev, cur)).toEqual(["1.0%", "20.0%", "70.0%", "9.0%"]);
    expect(regimeShares(prev, prev)).toEqual(["-", "-", "-", "-"]);
    expect(regimeShares(cur, prev)).toEqual(["-", "-", "-", "-"]); // counters went backwards: a reset
  });
});
