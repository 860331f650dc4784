// `tilenet ip [-n NETNS] [-j] [-4|-6] link|addr|route|rule|neigh [show|add|del|replace ...]`: a
// subset of iproute2's grammar over the netstate library. With -j the output has `ip -j`'s shapes
// (shared/netstate/iproute-json.ts). Output is written synchronously, so that it is complete
// when the process exits, whatever reads the pipe.
import { writeSync } from "node:fs";
import { NetlinkError } from "../shared/netlink/client";
import { NetState, NetstateArgumentError } from "../shared/netstate";
import type { JsonObject } from "../shared/netstate/iproute-json";
import { ipAddr, ipLink, ipNeigh, ipRoute, ipRule } from "./ip-objects";

export const IP_USAGE = `usage: tilenet ip [-n NETNS] [-j] [-p] [-4|-6] OBJECT [COMMAND [ARGS]]
  OBJECT := link | addr | route | rule | neigh
  link  show [[dev] NAME] | add NAME [numtxqueues N] [numrxqueues N] [mtu N] [address MAC] type veth
        [peer name NAME [netns NS] [numtxqueues N] [numrxqueues N]] | add NAME link PARENT type macvlan
        [mode M] | del [dev] NAME | set [dev] NAME [up|down] [mtu N] [address MAC] [name NAME]
        [netns NS] [txqueuelen N]
  addr  show [dev NAME] | add|replace|del PREFIX dev NAME [peer P] [broadcast B] [label L] [scope S]
        [valid_lft N|forever] [preferred_lft N|forever] [nodad] [noprefixroute]
  route show [table T|all] [dev NAME] | get ADDR [from A] [oif NAME] | add|replace|del [TYPE] PREFIX|default
        [via GW] [dev NAME] [table T] [proto P] [scope S] [metric N] [src A] [onlink]
        [mtu|advmss|hoplimit|initcwnd|initrwnd|window N] [pref low|medium|high]
        [nexthop [via GW] [dev NAME] [weight W] [onlink]]...
  rule  show | add|del [not] [from P] [to P] [fwmark M[/MASK]] [iif NAME] [oif NAME] [pref N]
        [table T | blackhole | unreachable | prohibit]
  neigh show [dev NAME] [proxy] | add|replace|del ADDR [lladdr MAC] dev NAME [nud STATE] [router] [proxy]
`;

export class IpUsageError extends Error {}

/** Command-line tokens with iproute2's "keyword value" helpers. */
export class Tokens {
  private at = 0;

  constructor(
    private readonly words: string[],
    readonly command: string,
  ) {}

  done(): boolean {
    return this.at >= this.words.length;
  }

  peek(): string | undefined {
    return this.words[this.at];
  }

  next(what: string): string {
    const w = this.words[this.at++];
    if (w === undefined) throw new IpUsageError(`${this.command}: ${what} expected at the end of the line`);
    return w;
  }

  /** The value after a keyword. */
  value(keyword: string): string {
    return this.next(`a value after "${keyword}"`);
  }

  int(keyword: string, min: number, max: number): number {
    const text = this.value(keyword);
    const n = /^(0x[0-9a-fA-F]+|\d+)$/.test(text) ? Number(text) : Number.NaN;
    if (!(n >= min && n <= max))
      throw new IpUsageError(`${this.command}: "${keyword}" value "${text}" is not an integer from ${min} to ${max}`);
    return n;
  }

  unknown(word: string): never {
    throw new IpUsageError(`${this.command}: unknown argument "${word}"`);
  }
}

export interface IpOptions {
  netns?: string;
  json: boolean;
  pretty: boolean;
  family?: 4 | 6;
}

/** What one object's command produced: JSON entries (also rendered as text) or nothing. */
export type IpResult = { json: JsonObject[]; text: string } | undefined;

const OBJECTS: Record<string, (ns: NetState, t: Tokens, o: IpOptions) => Promise<IpResult>> = {
  link: ipLink,
  address: ipAddr,
  route: ipRoute,
  rule: ipRule,
  neighbor: ipNeigh,
  neighbour: ipNeigh,
};

function parseGlobal(argv: string[]): { options: IpOptions; rest: string[] } {
  const options: IpOptions = { json: false, pretty: false };
  let i = 0;
  for (; i < argv.length; i++) {
    const a = argv[i] as string;
    if (!a.startsWith("-")) break;
    if (a === "-j" || a === "-json") options.json = true;
    else if (a === "-p" || a === "-pretty") options.pretty = true;
    else if (a === "-4") options.family = 4;
    else if (a === "-6") options.family = 6;
    else if (a === "-n" || a === "-netns") {
      const ns = argv[++i];
      if (ns === undefined) throw new IpUsageError(`${a} needs a namespace name`);
      options.netns = ns;
    } else if (a === "-h" || a === "-help" || a === "--help") throw new IpUsageError("");
    else throw new IpUsageError(`unknown option "${a}"`);
  }
  return { options, rest: argv.slice(i) };
}

/** Resolves an abbreviated object name the way iproute2 does ("a", "addr", "ro", "n"...). */
function objectOf(word: string): string {
  if (word === "a" || word === "addr") return "address";
  if (word === "r") return "route";
  if (word === "n" || word === "neigh") return "neighbor";
  const match = Object.keys(OBJECTS).find((name) => name.startsWith(word));
  if (match === undefined) throw new IpUsageError(`object "${word}" is unknown (link, addr, route, rule, neigh)`);
  return match;
}

function writeAll(text: string): void {
  const bytes = Buffer.from(text);
  for (let at = 0; at < bytes.length; ) {
    try {
      at += writeSync(1, bytes, at);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EAGAIN") throw e;
    }
  }
}

/** `tilenet ip ...`; resolves to the exit code (0 ok, 1 refused by the kernel, 2 usage). */
export async function ipMain(argv: string[]): Promise<number> {
  try {
    const { options, rest } = parseGlobal(argv);
    const object = objectOf(rest[0] ?? "link");
    const run = OBJECTS[object] as (ns: NetState, t: Tokens, o: IpOptions) => Promise<IpResult>;
    const result = await NetState.in(options.netns, (ns) =>
      run(ns, new Tokens(rest.slice(1), `ip ${object}`), options),
    );
    if (result === undefined) return 0;
    if (options.json) writeAll(`${JSON.stringify(result.json, null, options.pretty ? 4 : undefined)}\n`);
    else writeAll(result.text);
    return 0;
  } catch (e) {
    if (e instanceof IpUsageError) {
      process.stderr.write(e.message ? `tilenet ${e.message}\n` : IP_USAGE);
      return e.message ? 2 : 0;
    }
    if (e instanceof NetstateArgumentError) {
      process.stderr.write(`tilenet ip: ${e.message}\n`);
      return 2;
    }
    if (e instanceof NetlinkError) {
      process.stderr.write(`tilenet ip: ${e.message}\n`);
      return 1;
    }
    throw e;
  }
}
