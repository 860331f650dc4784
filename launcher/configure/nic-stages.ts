// The stages that talk to the interface through ethtool netlink (the netstate library): queue
// counts, offloads, and the driver report.
import { ConfigError } from "../config";
import type { ConfigureContext, Plan, Setting, Stage, Value } from "./stage";

/** The driver's name and bus, or "" for devices that answer no ETHTOOL_GDRVINFO (lo). */
export async function driverOf(ctx: ConfigureContext): Promise<{ driver: string; version: string; busInfo: string }> {
  try {
    return await ctx.net.getDriverInfo(ctx.ifname);
  } catch (e) {
    if ((e as { code?: string }).code !== "ENOTSUP" && (e as { code?: string }).code !== "EOPNOTSUPP") throw e;
    return { driver: "", version: "", busInfo: "" };
  }
}

const CHANNEL_KEYS = {
  "channels.rx": "rxCount",
  "channels.tx": "txCount",
  "channels.combined": "combinedCount",
} as const;
type ChannelKey = keyof typeof CHANNEL_KEYS;

function channelSetting(ctx: ConfigureContext, key: ChannelKey): Setting {
  const field = CHANNEL_KEYS[key];
  return {
    key,
    read: async () => (await ctx.net.getChannels(ctx.ifname))[field] ?? 0,
    write: async (v: Value) => ctx.net.setChannels(ctx.ifname, { [field]: Number(v) }),
  };
}

/** As many queues as net tiles on the interface ([net] queue + queues): every packet reaches a
 *  queue an AF_XDP socket is bound to, none is spread by RSS to a queue nobody reads. With
 *  queues = "all" the tiles follow the interface, so there is nothing to set. */
export const channelsStage: Stage = {
  name: "channels",
  summary: "queue count of the interface = number of net tiles (ethtool -L)",
  async plan(ctx): Promise<Plan> {
    if (!ctx.config.net.enabled) return { skipped: "[net] enabled = false: no net tile", wants: [], notes: [] };
    const { queue, queues } = ctx.config.net;
    if (queues === "all")
      return { skipped: '[net] queues = "all": one net tile per existing queue', wants: [], notes: [] };
    if (queue !== 0)
      throw new ConfigError(
        "net.queue",
        `0 (configure channels leaves queues 0..${queues - 1}, one per net tile)`,
        queue,
      );
    const netTiles = queues;
    const ch = await ctx.net.getChannels(ctx.ifname);
    const why = `${netTiles} net tile(s): traffic on other queues would not reach AF_XDP`;
    // Drivers with combined channels (most NICs) are set through those; veth has rx and tx only.
    const keys: ChannelKey[] = (ch.combinedMax ?? 0) > 0 ? ["channels.combined"] : ["channels.rx", "channels.tx"];
    if ((ch.combinedMax ?? 0) === 0 && ((ch.rxMax ?? 0) === 0 || (ch.txMax ?? 0) === 0))
      return { skipped: "the driver reports no settable channel counts", wants: [], notes: [] };
    return { wants: keys.map((k) => ({ setting: channelSetting(ctx, k), want: netTiles, why })), notes: [] };
  },
  setting: (ctx, key) => (key in CHANNEL_KEYS ? channelSetting(ctx, key as ChannelKey) : undefined),
};

/** Receive coalescing hands XDP merged super-frames (drivers refuse XDP with LRO or hardware GRO
 *  on); on veth a locally sent UDP checksum is left to "hardware" and reaches AF_XDP unfinished. */
const OFF_EVERYWHERE: Record<string, string> = {
  "generic-receive-offload": "GRO merges frames before XDP sees them",
  "large-receive-offload": "LRO merges frames: drivers refuse XDP with it",
  "rx-gro-hw": "hardware GRO merges frames: drivers refuse XDP with it",
};
const TX_CHECKSUM_PREFIX = "tx-checksum-";

function featureSetting(ctx: ConfigureContext, key: string): Setting | undefined {
  if (!key.startsWith("feature.")) return undefined;
  const name = key.slice("feature.".length);
  return {
    key,
    read: async () => (await ctx.net.getFeatures(ctx.ifname)).find((f) => f.name === name)?.active ?? false,
    write: async (v: Value) => ctx.net.setFeatures(ctx.ifname, { [name]: v === true }),
  };
}

export const offloadsStage: Stage = {
  name: "offloads",
  summary: "offloads AF_XDP needs off: GRO, LRO, hardware GRO; tx checksum on veth (ethtool -K)",
  async plan(ctx): Promise<Plan> {
    const features = await ctx.net.getFeatures(ctx.ifname);
    const driver = (await driverOf(ctx)).driver;
    const plan: Plan = { wants: [], notes: [] };
    // What this end receives was checksummed (or not) by the peer's kernel: only the peer's own
    // setting fixes that, and the config does not name the peer.
    if (driver === "veth")
      plan.notes.push(
        "veth: turn tx checksum offload off on the peer end too (ethtool -K PEER tx off); only this end is configured",
      );
    for (const f of features) {
      const veth = driver === "veth" && f.name.startsWith(TX_CHECKSUM_PREFIX);
      const why =
        OFF_EVERYWHERE[f.name] ?? (veth ? "veth leaves local UDP checksums unfinished for AF_XDP" : undefined);
      if (why === undefined) continue;
      if (!f.changeable) {
        if (f.active) plan.notes.push(`${f.name} is on and the driver does not let it change`);
        continue;
      }
      const setting = featureSetting(ctx, `feature.${f.name}`);
      if (setting) plan.wants.push({ setting, want: false, why });
    }
    return plan;
  },
  setting: featureSetting,
};

/** Drivers that keep the NIC bound to the kernel while AF_XDP owns some queues. */
const BIFURCATED = new Set(["mlx5_core", "mlx4_en"]);
/** Drivers with native XDP and AF_XDP zero-copy in mainline (a guide, not a probe). */
const ZERO_COPY = new Set(["mlx5_core", "i40e", "ice", "ixgbe", "igc", "igb", "stmmac", "bnxt_en", "virtio_net"]);

export const driverStage: Stage = {
  name: "driver",
  summary: "report the driver, whether it is bifurcated, its XDP support (check only; never unbinds)",
  async plan(ctx): Promise<Plan> {
    const info = await driverOf(ctx);
    if (info.driver === "")
      return { skipped: `${ctx.ifname} reports no driver (ETHTOOL_GDRVINFO)`, wants: [], notes: [] };
    const notes = [`driver ${info.driver}${info.version ? ` ${info.version}` : ""}, bus ${info.busInfo || "none"}`];
    notes.push(
      BIFURCATED.has(info.driver)
        ? "bifurcated: the NIC stays bound to its kernel driver, AF_XDP takes a queue"
        : "not bifurcated: AF_XDP shares the kernel driver's queues (no unbinding needed or done)",
    );
    if (info.driver === "veth") notes.push("XDP: native mode (copy); zero-copy: no");
    else if (ZERO_COPY.has(info.driver))
      notes.push("XDP: native mode; zero-copy: supported by this driver in mainline");
    else notes.push("XDP: not known for this driver; the net tile falls back to skb mode when native is refused");
    notes.push("XDP capabilities are not read from the kernel (the netdev netlink family is not in the library yet)");
    return { wants: [], notes };
  },
  setting: () => undefined,
};
