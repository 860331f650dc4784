// Dumps taken while another process keeps adding and deleting addresses: the kernel flags parts
// NLM_F_DUMP_INTR and the client restarts them; a plain dump can still (rarely) skip or repeat
// an entry without the flag, but a confirmed dump (the same entries twice in a row) never does:
// each of the 3,000 addresses that never change is there exactly once.
import { spawn } from "node:child_process";
import { rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { NetlinkClient, NetlinkDumpUnstableError } from "../shared/netlink/client";
import { addon, createNetns, deleteNetns, ipBatch, ipn, isRoot, openNetlinkIn } from "./support/netlink-netns";

const STABLE = 3000;

describe.skipIf(!isRoot)("dump restarts under concurrent changes (needs root: network namespaces)", () => {
  let ns: string | undefined;
  let fd = -1;
  const churnFile = join(tmpdir(), `tn-netlink-churn-${process.pid}.batch`);

  beforeAll(() => {
    ns = createNetns("nlchurn");
    ipn(ns, "link", "add", "va", "type", "veth", "peer", "name", "vb");
    ipn(ns, "link", "set", "va", "up");
    const stable: string[] = [];
    for (let i = 0; i < STABLE; i++) stable.push(`addr add 198.19.${i >> 8}.${i & 255}/32 dev va`);
    ipBatch(ns, stable);
    const churn: string[] = [];
    for (let round = 0; round < 3; round++) {
      // Host scope puts them at the head of the device's address list, shifting every stable
      // address's position: a dump resumed by position would skip or repeat entries.
      for (let i = 0; i < 200; i++) churn.push(`addr add 198.18.${100 + (i >> 8)}.${i & 255}/32 dev va scope host`);
      for (let i = 0; i < 200; i++) churn.push(`addr del 198.18.${100 + (i >> 8)}.${i & 255}/32 dev va`);
    }
    writeFileSync(churnFile, `${churn.join("\n")}\n`);
    fd = openNetlinkIn(ns, 0, 1 << 20);
  });

  afterAll(() => {
    if (fd >= 0) addon().closeFd(fd);
    rmSync(churnFile, { force: true });
    deleteNetns(ns);
  });

  it("restarts interrupted dumps, and confirmed dumps are always consistent", async () => {
    const client = new NetlinkClient(fd, { io: addon(), maxDumpRetries: 20, timeoutMs: 10_000 });
    // Bursts of churn with pauses, so that confirmation (two dumps with the same entries) can settle.
    const child = spawn(
      "sh",
      ["-c", `for i in 1 2 3 4 5 6 7 8; do ip -n "$0" -batch "$1" || exit 1; sleep 0.1; done`, ns ?? "", churnFile],
      { stdio: "ignore" },
    );
    let exited = false;
    child.on("exit", () => {
      exited = true;
    });
    const consistent = (addrs: { address: number }[]) => {
      const stable = addrs.filter((a) => a.address >>> 16 === 0xc613).map((a) => a.address);
      return stable.length === STABLE && new Set(stable).size === STABLE;
    };
    let raw = 0;
    let rawDamaged = 0;
    let confirmed = 0;
    let unsettled = 0;
    try {
      const deadline = Date.now() + 15_000;
      while (!exited && Date.now() < deadline) {
        try {
          raw++;
          if (!consistent(client.dump("addrs"))) rawDamaged++;
          const addrs = client.dumpConfirmed("addrs");
          expect(consistent(addrs)).toBe(true);
          confirmed++;
        } catch (e) {
          // Restarts or confirmations exhausted while churning: a clear, specific error.
          if (!(e instanceof NetlinkDumpUnstableError)) throw e;
          unsettled++;
        }
        await new Promise((resolve) => setImmediate(resolve));
      }
    } finally {
      child.kill();
    }
    console.log(
      `[netlink] under address churn: ${raw} plain dumps (${client.counters.dump_retries} restarts on ` +
        `NLM_F_DUMP_INTR, ${rawDamaged} still inconsistent), ${confirmed} confirmed dumps all consistent ` +
        `(${client.counters.dump_unconfirmed} re-dumps, ${unsettled} gave up while churning)`,
    );
    expect(client.counters.dump_retries).toBeGreaterThan(0);
    expect(confirmed).toBeGreaterThan(0);
  });
});
