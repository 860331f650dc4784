// A tile is not dumpable from its first instruction: it runs an execute-only copy of Node, and
// the kernel makes an image the executing uid may not read non-dumpable at exec. The attack is a
// process of the same uid opening the victim's /proc/PID/mem (what ptrace-based memory reading
// needs): refused for a tile started from the copy, allowed for the same victim started from the
// readable binary (the control, so the attack is real).
import { chmodSync, lstatSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { executeOnlyNode, nodeBinaryId } from "../launcher/node-binary";
import { describeAsRoot } from "./support/root";
import { runAttacker, startVictim, stopVictim, type Victim } from "./support/sandbox-attack";
import { requireBuilt } from "./support/seccomp-helpers";

const NOBODY = 65534;

/** What a same-uid process gets when it opens the victim's memory: "opened" or the errno code. */
function openMemAs(uid: number, pid: number): string {
  return runAttacker(
    uid,
    `try { require("node:fs").openSync("/proc/${pid}/mem", "r"); console.log("opened"); } catch (e) { console.log(e.code); }`,
  );
}

describeAsRoot("a tile run from the execute-only Node copy (needs root: uid switch, root-owned cache)", () => {
  let dir: string;
  let copy: string;
  beforeAll(() => {
    requireBuilt();
    dir = mkdtempSync(join(tmpdir(), "tn-node-cache-"));
    chmodSync(dir, 0o711); // mkdtemp's 0700 would keep the tile uid from reaching the copy
    copy = executeOnlyNode(process.execPath, join(dir, "cache"));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("keeps a root-owned execute-only copy in a 0711 directory, reused while the binary is the same", () => {
    const st = lstatSync(copy);
    expect(st.isFile()).toBe(true);
    expect(st.uid).toBe(0);
    expect(st.mode & 0o7777).toBe(0o111);
    expect(st.size).toBe(statSync(process.execPath).size);
    expect(statSync(join(dir, "cache")).mode & 0o7777).toBe(0o711);
    expect(copy).toBe(join(dir, "cache", `node-${nodeBinaryId(process.execPath)}`));
    expect(executeOnlyNode(process.execPath, join(dir, "cache"))).toBe(copy);
    expect(lstatSync(copy).ino).toBe(st.ino); // reused, not copied again
  });

  it("is non-dumpable from exec: a same-uid process cannot open its memory; from the readable binary it can", async () => {
    let victim: Victim | undefined;
    let control: Victim | undefined;
    try {
      victim = await startVictim(copy, NOBODY);
      control = await startVictim(process.execPath, NOBODY);
      // The victims only printed their pid: nothing in them called prctl(PR_SET_DUMPABLE).
      expect(statSync(`/proc/${victim.hostPid}/mem`).uid, "non-dumpable: /proc/PID files are root's").toBe(0);
      expect(statSync(`/proc/${control.hostPid}/mem`).uid).toBe(NOBODY);
      expect(openMemAs(NOBODY, victim.hostPid)).toBe("EACCES");
      expect(openMemAs(NOBODY, control.hostPid), "control: the attack works on a dumpable tile").toBe("opened");
    } finally {
      await stopVictim(victim);
      await stopVictim(control);
    }
  }, 30_000);
  // The parent-death signal survives this exec (it is not a secure one): launcher-supervision's
  // "a launcher killed with SIGKILL takes its tiles with it" runs tiles from the copy.
});
