// The large regions on 2 MiB huge pages: sizes rounded up, seals still applied and enforced on a
// hugetlb memfd, "on" refuses to start without pages, "auto" falls back and says so; and a live lab
// with netbase on a hugetlbfs mount (what the configure stage makes) reports it in `status`.
// Huge pages are reserved through /proc/sys/vm/nr_hugepages and the old value restored.
import { execFileSync, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { HUGE_PAGE_BYTES, roundUpToHugePage } from "../launcher/huge-pages";
import { type InstanceProcess, stopInstanceProcess } from "../launcher/lab-process";
import { RegionSet } from "../launcher/regions";
import { native } from "../shared/native";
import { warmUpEcho } from "./support/lab-peer";
import { CLI, startInstance } from "./support/launcher-harness";
import { describeAsRoot } from "./support/root";

const PEER = join(__dirname, "..", "dist", "test", "fixtures", "net-udp-peer.js");
const NR_HUGEPAGES = "/proc/sys/vm/nr_hugepages";
const F_SEAL_ALL_READ_ONLY = 0x1 | 0x2 | 0x4 | 0x10; // SEAL, SHRINK, GROW, FUTURE_WRITE

function reserveHugePages(n: number): number {
  writeFileSync(NR_HUGEPAGES, String(n));
  return Number(readFileSync(NR_HUGEPAGES, "utf8"));
}

describeAsRoot("regions on huge pages (root: reserves vm.nr_hugepages)", () => {
  let saved = "0";
  beforeAll(() => {
    saved = readFileSync(NR_HUGEPAGES, "utf8").trim();
  });
  afterAll(() => {
    writeFileSync(NR_HUGEPAGES, saved);
  });

  it("rounds a large region up to 2 MiB pages, and seals it read-only for everyone else", () => {
    expect(reserveHugePages(8)).toBeGreaterThanOrEqual(4);
    const set = new RegionSet("thp-seal", new Map(), "on");
    try {
      const r = set.create("umem", "umem", 3 * 2 ** 20);
      expect(r.size).toBe(roundUpToHugePage(3 * 2 ** 20));
      expect(r.size % HUGE_PAGE_BYTES).toBe(0);
      expect(set.hugePages.regions).toEqual(["umem"]);
      native().sealReadOnly(r.fd);
      expect(native().getSeals(r.fd) & F_SEAL_ALL_READ_ONLY).toBe(F_SEAL_ALL_READ_ONLY);
      expect(() => native().mapFd(r.fd, r.size, true)).toThrow(/EPERM/); // FUTURE_WRITE holds
      expect(() => native().mapFd(set.readOnlyFd("umem"), r.size, true)).toThrow(/EACCES/);
      new Uint8Array(r.buf)[r.size - 1] = 7; // the writer's own mapping keeps working
      expect(new Uint8Array(native().mapFd(set.readOnlyFd("umem"), r.size, false))[r.size - 1]).toBe(7);
      // A small region stays on normal pages (a 2 MiB page for it would waste the pool).
      expect(set.create("small", "ring-producer", 64 * 1024).size).toBe(64 * 1024);
    } finally {
      set.closeAll();
    }
  });

  it('"on" refuses with the key named when the pool is empty; "auto" falls back and says why', () => {
    reserveHugePages(0);
    const on = new RegionSet("thp-on", new Map(), "on");
    expect(() => on.create("umem", "umem", 8 * 2 ** 20)).toThrow(/\[memory\] huge_pages = "on".*umem/);
    on.closeAll();
    const auto = new RegionSet("thp-auto", new Map(), "auto");
    const r = auto.create("umem", "umem", 8 * 2 ** 20);
    expect(r.size).toBe(8 * 2 ** 20);
    expect(auto.hugePages.regions).toEqual([]);
    expect(auto.hugePages.fallbacks[0]).toMatch(/^umem \(8 MiB\): .*ENOMEM.*huge pages free/);
    auto.closeAll();
  });

  it("runs a lab with netbase on the hugetlbfs mount and UMEM on huge pages; status says so", async () => {
    // A run root of the test's own, so the mount is nobody else's /run/tilenet/.hugetlbfs.
    const runRoot = mkdtempSync(join(tmpdir(), "tilenet-thp-"));
    const mount = join(runRoot, ".hugetlbfs");
    mkdirSync(mount, { mode: 0o755 });
    execFileSync("mount", ["-t", "hugetlbfs", "-o", "mode=0755,pagesize=2M", "tilenet-test", mount]);
    let inst: InstanceProcess | undefined;
    try {
      expect(reserveHugePages(96)).toBeGreaterThanOrEqual(60); // netbase ~66 MiB, UMEM 8 MiB, rings
      const config = join(runRoot, "thp.toml");
      writeFileSync(config, '[memory]\nhuge_pages = "on"\n');
      const name = `tthp-${process.pid.toString(36)}`;
      const env = { TILENET_RUN_ROOT: runRoot };
      inst = await startInstance(name, ["--lab", "--config", config], 30_000, env);
      // Datagrams through the UMEM on huge pages: the peer fixture of the lab echo test.
      const lab = JSON.parse(
        spawnSync(process.execPath, [CLI, "status", "--instance", name, "--json"], {
          env: { ...process.env, ...env },
          encoding: "utf8",
        }).stdout,
      ) as { lab: { peerNetns: string; tileAddr: string } };
      await warmUpEcho(lab.lab.peerNetns, lab.lab.tileAddr.split("/")[0] ?? "", 7000);
      const peerArgs = { mode: "echo", host: lab.lab.tileAddr.split("/")[0], port: 7000, count: 200, size: 200 };
      const echo = spawnSync(
        "ip",
        [
          "netns",
          "exec",
          lab.lab.peerNetns,
          process.execPath,
          PEER,
          JSON.stringify({ ...peerArgs, intervalMs: 0, window: 16, timeoutMs: 10_000 }),
        ],
        { encoding: "utf8", timeout: 20_000 },
      );
      expect(echo.stdout).toMatch(/"done":true.*"received":200/);
      const status = spawnSync(process.execPath, [CLI, "status", "--instance", name, "--json"], {
        env: { ...process.env, ...env },
        encoding: "utf8",
      });
      expect(await stopInstanceProcess(inst)).toBe(0);
      const report = JSON.parse(status.stdout) as {
        hugePages: { mode: string; regions: string[]; fallbacks: string[] };
        tiles: { problems: string[] }[];
      };
      expect(report.hugePages.mode).toBe("on");
      expect(report.hugePages.regions).toContain("netbase");
      expect(report.hugePages.regions.some((r) => r.includes("umem"))).toBe(true);
      expect(report.tiles.flatMap((t) => t.problems)).toEqual([]);
      // Stopped: the netbase file is gone from the mount, so its pages are back in the pool.
      expect(execFileSync("ls", ["-A", mount], { encoding: "utf8" })).toBe("");
    } finally {
      // A failed expectation above leaves the instance running on the mount: stop it first.
      if (inst && inst.child.exitCode === null) await stopInstanceProcess(inst);
      execFileSync("umount", [mount]);
      rmSync(runRoot, { recursive: true, force: true });
    }
  }, 60_000);
});
