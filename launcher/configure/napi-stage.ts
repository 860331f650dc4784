// The busy-poll stage: with [net] busy_poll_prefer = true, the interface's napi_defer_hard_irqs
// and gro_flush_timeout, without which preferred busy polling gets no quiet interval: the device's
// interrupts come back at once and take the NAPI context from the poller.
import { type NapiAttr, readNapiAttr, writeNapiAttr } from "../napi-settings";
import type { ConfigureContext, Plan, Setting, Stage, Value } from "./stage";

/** The kernel documentation's example (Documentation/networking/napi.rst): two deferred
 *  interrupts, then 200 us before the device's interrupt is re-armed. Lower limits: more is kept. */
const WANTS: Record<string, { attr: NapiAttr; want: number; why: string }> = {
  "napi.defer_hard_irqs": {
    attr: "napiDeferHardIrqs",
    want: 2,
    why: "busy_poll_prefer: interrupts deferred while the net tile busy-polls",
  },
  "napi.gro_flush_timeout": {
    attr: "groFlushTimeoutNs",
    want: 200_000,
    why: "busy_poll_prefer: the timer (ns) that re-arms the device's interrupt between busy polls",
  },
};

function napiSetting(ctx: ConfigureContext, key: string): Setting | undefined {
  const spec = WANTS[key];
  if (!spec) return undefined;
  return {
    key,
    read: async () => readNapiAttr(ctx.ifname, ctx.netns, spec.attr),
    write: async (v: Value) => writeNapiAttr(ctx.ifname, ctx.netns, spec.attr, Number(v)),
  };
}

export const busyPollStage: Stage = {
  name: "busy-poll",
  summary: "napi_defer_hard_irqs and gro_flush_timeout for [net] busy_poll_prefer (sysfs)",
  async plan(ctx): Promise<Plan> {
    if (!ctx.config.net.busyPoll?.prefer) return { skipped: "[net] busy_poll_prefer is not set", wants: [], notes: [] };
    const wants = Object.entries(WANTS).map(([key, spec]) => {
      const setting = napiSetting(ctx, key);
      if (!setting) throw new Error(`busy-poll stage: no setting ${key}`);
      return { setting, want: spec.want, atLeast: true, why: spec.why };
    });
    return { wants, notes: [] };
  },
  setting: napiSetting,
};
