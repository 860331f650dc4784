import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { native } from "../shared/native";

describe("shared memory regions", () => {
  it("shares writes between mappings and enforces read-only mappings after sealing", () => {
    const addon = native();
    const fd = addon.memfdCreate("tilenet-test", 8192);
    const rw = new Int32Array(addon.mapFd(fd, 0, true));
    rw[0] = 1234;
    addon.sealReadOnly(fd);
    expect(() => addon.mapFd(fd, 0, true)).toThrow(/mmap\(fd \d+, 8192 bytes, read-write\): EPERM/);
    const ro = new Int32Array(addon.mapFd(fd, 0, false));
    expect(ro[0]).toBe(1234);
    rw[1] = 99; // the writer's earlier mapping keeps working
    expect(ro[1]).toBe(99);
    addon.closeFd(fd);
  });

  it("names the operation and errno on failure", () => {
    const addon = native();
    expect(() => addon.mapFd(987654, 4096, false)).toThrow(/mmap\(fd 987654.*EBADF/);
    try {
      addon.openPath("/nonexistent/x", false);
    } catch (e) {
      expect((e as NodeJS.ErrnoException).code).toBe("ENOENT");
    }
  });

  it("times out a futex wait and reports a changed value", () => {
    const addon = native();
    const fd = addon.memfdCreate("tilenet-futex", 4096);
    const view = new Int32Array(addon.mapFd(fd, 0, true));
    const t0 = Date.now();
    expect(addon.futexWait(view, 0, 0, 30)).toBe(1);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(25);
    expect(addon.futexWait(view, 0, 7, 30)).toBe(2);
    addon.closeFd(fd);
  });

  it("kills only the process that writes to a read-only mapping (SIGSEGV)", () => {
    const script = `
      const a = require(${JSON.stringify(require.resolve("../build/Release/tilenet.node"))});
      const fd = a.memfdCreate("ro", 4096);
      a.sealReadOnly(fd);
      const ro = new Int32Array(a.mapFd(fd, 0, false));
      ro[0] = 1;
      console.log("survived");`;
    const r = spawnSync(process.execPath, ["-e", script], { encoding: "utf8" });
    expect(r.signal).toBe("SIGSEGV");
    expect(r.stdout).not.toContain("survived");
  });
});
