// `tilenet run --lab` end to end: every tile is fully sandboxed on every thread, status reports
// it, SIGTERM stops everything within 2 s and leaves nothing behind.
import { afterAll, expect, it } from "vitest";
import {
  forceCleanup,
  leftovers,
  ROOT_REASON,
  type RunningInstance,
  startInstance,
  status,
  uniqueInstance,
} from "./support/launcher-harness";
import { describeAsRoot } from "./support/root";

const ZERO_CAPS = "0000000000000000";

describeAsRoot(`tilenet run --lab (${ROOT_REASON})`, () => {
  let inst: RunningInstance | undefined;
  afterAll(async () => {
    await forceCleanup(inst);
  });

  it("starts sandboxed tiles, reports them, and stops cleanly on SIGTERM", async () => {
    const name = uniqueInstance("sb");
    inst = await startInstance(name);
    const { code, report } = status(name);
    expect(report.instance).toBe(name);
    expect(report.lab?.tileNetns).toBe(`tn-${name}-tile`);
    expect(report.lab?.peerNetns).toBe(`tn-${name}-peer`);
    expect(report.tiles.length).toBeGreaterThanOrEqual(1);
    // Every tile its own uid and gid, from the dynamic range, and non-dumpable from exec
    // (real gid = uid + 1 differs from the effective gid).
    const uids = report.tiles.map((t) => t.sandbox?.uid.effective);
    expect(new Set(uids).size, JSON.stringify(uids)).toBe(report.tiles.length);
    for (const t of report.tiles) {
      expect(t.sandbox?.uid.effective, t.name).toBeGreaterThanOrEqual(2_130_706_432);
      expect(t.sandbox?.gid.effective, t.name).toBe(t.sandbox?.uid.effective);
      expect(t.sandbox?.gid.real, t.name).toBe(t.sandbox?.uid.effective);
    }
    for (const t of report.tiles) {
      expect(t.state, t.name).toBe("running");
      expect(t.heartbeatAgeMs, t.name).not.toBeNull();
      expect(t.heartbeatAgeMs ?? 1e9, t.name).toBeLessThan(1000);
      const sb = t.sandbox;
      expect(sb, t.name).not.toBeNull();
      if (!sb) continue;
      expect(sb.seccomp, t.name).toBe(2);
      expect(sb.noNewPrivs, t.name).toBe(1);
      for (const cap of [sb.capEff, sb.capPrm, sb.capBnd, sb.capInh, sb.capAmb]) expect(cap, t.name).toBe(ZERO_CAPS);
      expect(sb.uid.real, t.name).not.toBe(0);
      expect(sb.uid.effective, t.name).not.toBe(0);
      expect(t.problems, t.name).toEqual([]);
      expect(sb.gid.real, t.name).not.toBe(0);
      expect(sb.threads, t.name).toBeGreaterThan(1);
      // Only its own regions and sockets, plus stdio and Node's own event-loop descriptors; the
      // published netbase is a file in this instance's run directory (launcher/regions.ts); a net
      // tile also holds its interface's queue-miss counters (a BPF array it maps read-only).
      const netbaseFile = `${process.env.TILENET_RUN_ROOT || "/run/tilenet"}/${name}/netbase`;
      for (const fd of sb.fds) {
        if (fd.target === netbaseFile) continue;
        expect(fd.target, `${t.name} fd ${fd.fd}`).toMatch(
          t.kind === "net"
            ? /^(\/memfd:tilenet:|socket:\[|anon_inode:\[(eventpoll|eventfd)\]|pipe:\[|\/dev\/null$|anon_inode:\[?xdp|anon_inode:bpf-map$)/
            : /^(\/memfd:tilenet:|socket:\[|anon_inode:\[(eventpoll|eventfd)\]|pipe:\[|\/dev\/null$|anon_inode:\[?xdp)/,
        );
      }
      // Every memfd it holds belongs to this instance.
      for (const fd of sb.fds.filter((f) => f.target.startsWith("/memfd:")))
        expect(fd.target, `${t.name} fd ${fd.fd}`).toContain(`/memfd:tilenet:${name}:`);
    }
    expect(code).toBe(0);

    const pids = report.tiles.map((t) => t.pid);
    const t0 = Date.now();
    inst.child.kill("SIGTERM");
    const exit = await inst.exit;
    expect(exit.code).toBe(0);
    expect(Date.now() - t0).toBeLessThan(2500);
    expect(leftovers(name, pids)).toEqual([]);
  });
});
