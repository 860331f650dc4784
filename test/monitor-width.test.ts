// `tilenet monitor` fits any terminal: on a 50-column TTY no line is wider than 50 (the counters
// wrap, nothing is cut: every counter still shows), a legend explains the columns, and each
// redraw moves up exactly the lines it drew.
import { Writable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runMonitor, wrapLines } from "../launcher/health/monitor";
import { FakeLauncher, sleepMs } from "./support/health-fake-launcher";

class Terminal extends Writable {
  text = "";
  constructor(readonly columns: number) {
    super();
  }
  override _write(chunk: Buffer, _enc: BufferEncoding, done: () => void): void {
    this.text += chunk.toString();
    done();
  }
}

const ESC = String.fromCharCode(27);

describe("monitor on a narrow terminal", () => {
  const launcher = new FakeLauncher("monw");
  beforeAll(async () => {
    await launcher.startTile("net", "net", ["--every", "10", "--packets", "4"]);
    launcher.writeManifest();
    await sleepMs(100);
  });
  afterAll(() => launcher.close());

  it("wraps every line to the width, keeps every counter, shows the legend and redraws exactly", async () => {
    const tty = new Terminal(50);
    await runMonitor({ runRoot: launcher.runRoot, intervalMs: 200, iterations: 2, out: tty, tty: true });
    const frames = tty.text.split(new RegExp(`${ESC}\\[\\d+A\r${ESC}\\[J`));
    expect(frames).toHaveLength(2);
    for (const frame of frames) {
      const lines = frame.trimEnd().split("\n");
      expect(lines.filter((l) => l.length > 50)).toEqual([]);
      expect(frame).toContain("legend: HEART");
    }
    const ups = [...tty.text.matchAll(new RegExp(`${ESC}\\[(\\d+)A`, "g"))].map((m) => Number(m[1]));
    expect(ups).toEqual([frames[0].split("\n").length - 1]);
    const wide = new Terminal(1000);
    await runMonitor({ runRoot: launcher.runRoot, intervalMs: 200, iterations: 1, out: wide, tty: false });
    const counters = [...wide.text.matchAll(/([a-z_]+) \d+ \(/g)].map((m) => m[1]);
    expect(counters).toContain("rx_packets");
    const flat = frames[1].replace(/\n\s+/g, " ");
    for (const c of counters) expect(flat).toContain(`${c} `);
  });

  it("breaks long lines after a comma where it can, indenting the continuation", () => {
    const line = `  net: ${Array.from({ length: 8 }, (_, i) => `counter_${i} ${i * 1000} (${i}.0/s)`).join(", ")}`;
    const out = wrapLines([line], 40);
    expect(out.length).toBeGreaterThan(3);
    expect(out.every((l) => l.length <= 40)).toBe(true);
    expect(out.slice(1).every((l) => l.startsWith("      "))).toBe(true);
    expect(out.join(" ").replace(/\s+/g, " ")).toBe(line.replace(/\s+/g, " "));
  });
});
