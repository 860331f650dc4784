// A namespace with a multi-queue veth for `tilenet configure` tests: unique names, deleted even
// when a test fails halfway, and a config file naming the interface inside the namespace.
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createNetnsSync, deleteNetnsSync, NetState, netnsExists } from "../../shared/netstate";

export interface ConfigureWorld {
  ns: string;
  nsPath: string;
  dev: string;
  configFile: string;
  /** Removes the namespace (and so the veth) and the config file. */
  destroy(): void;
}

/** `queues` rx and tx queues on the veth end the config names (its peer has one of each). */
export async function multiQueueVethWorld(tag: string, queues: number): Promise<ConfigureWorld> {
  const ns = `tn-${tag}-${process.pid}-${randomBytes(3).toString("hex")}`;
  const dir = mkdtempSync(join(tmpdir(), "tilenet-configure-"));
  const destroy = (): void => {
    if (netnsExists(ns)) deleteNetnsSync(ns);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    createNetnsSync(ns);
    const dev = "cfg0";
    await NetState.in(ns, (s) => s.addVeth({ name: dev, numTxQueues: queues, numRxQueues: queues }, { name: "cfg1" }));
    const configFile = join(dir, "tilenet.toml");
    writeFileSync(configFile, `[net]\ninterface = "${dev}"\nnetns = "/run/netns/${ns}"\n`);
    return { ns, nsPath: `/run/netns/${ns}`, dev, configFile, destroy };
  } catch (e) {
    destroy();
    throw e;
  }
}
