// The built-in DNS app through the lab, checked by a real client: `dig` (Debian's bind9-dnsutils)
// in the peer namespace asks for every record type and every error case over IPv4. Then a bounded
// flood of malformed queries mixed with valid ones: each malformed one is answered FORMERR or
// dropped, the drops are counted by the tile, and every valid query keeps its answer.
import { spawn, spawnSync } from "node:child_process";
import { copyFileSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EXAMPLE_ZONE_PATH } from "./support/dns-zone";
import {
  forceCleanup,
  isRoot,
  ROOT_REASON,
  type RunningInstance,
  startInstance,
  status,
  uniqueInstance,
} from "./support/launcher-harness";

const hasDig = spawnSync("dig", ["-v"], { encoding: "utf8" }).status === 0;
// As root (CI) a missing dig is a failure, not a skip: `npm test` installs it.
const SKIP = !isRoot ? ROOT_REASON : "";
if (isRoot && !hasDig) throw new Error("lab-dns-dig needs dig (Debian bind9-dnsutils; `npm test` installs it)");
if (SKIP) console.log(`lab-dns-dig: skipped (${SKIP})`);
const FLOOD_PEER = join(__dirname, "..", "dist", "test", "fixtures", "dns-flood-peer.js");
const SERVER = "198.18.0.1";

interface Dig {
  status: string;
  flags: string[];
  answer: string[];
  authority: string[];
  edns: string;
  raw: string;
}

describe.skipIf(SKIP !== "")("builtin:dns in the lab, asked by dig", () => {
  let inst: RunningInstance | undefined;
  let name = "";
  let peerNs = "";

  function dig(...args: string[]): Dig {
    const r = spawnSync(
      "ip",
      ["netns", "exec", peerNs, "dig", `@${SERVER}`, "+tries=5", "+time=1", "+norecurse", "+nostats", ...args],
      { encoding: "utf8", timeout: 20_000 },
    );
    const raw = r.stdout;
    const section = (title: string) => {
      const m = new RegExp(`;; ${title} SECTION:\\n([\\s\\S]*?)(\\n\\n|$)`).exec(raw);
      return (m?.[1] ?? "")
        .split("\n")
        .filter((l) => l !== "")
        .map((l) => l.replace(/\s+/g, " "));
    };
    return {
      status: /status: (\w+)/.exec(raw)?.[1] ?? `(no answer: ${r.stderr}${raw})`,
      flags: (/;; flags: ([a-z ]+);/.exec(raw)?.[1] ?? "").split(" "),
      answer: section("ANSWER"),
      authority: section("AUTHORITY"),
      edns: /; EDNS: (.*)/.exec(raw)?.[1] ?? "",
      raw,
    };
  }

  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), "tilenet-dns-"));
    const zone = join(dir, "example.test.zone");
    copyFileSync(EXAMPLE_ZONE_PATH, zone);
    const config = join(dir, "dns.toml");
    writeFileSync(
      config,
      `[[app]]\nname = "dns"\nmodule = "builtin:dns"\nports = [53]\n` +
        `files = { zone = "${zone}" }\nsettings = { origin = "example.test.", stats_interval_s = 1 }\n`,
    );
    name = uniqueInstance("dn");
    inst = await startInstance(name, ["--lab", "--config", config]);
    peerNs = status(name).report.lab?.peerNetns ?? "";
  });
  afterAll(async () => {
    if (inst && inst.child.exitCode === null) {
      inst.child.kill("SIGTERM");
      await inst.exit;
    }
    await forceCleanup(inst);
  });

  it("answers every record type authoritatively, with EDNS(0)", () => {
    const www = dig("www.example.test", "A");
    expect(www.status, www.raw).toBe("NOERROR");
    expect(www.flags).toContain("aa");
    expect(www.answer).toEqual(["www.example.test. 3600 IN A 198.18.0.10", "www.example.test. 3600 IN A 198.18.0.11"]);
    expect(www.edns).toBe("version: 0, flags:; udp: 1232");
    expect(dig("www.example.test", "AAAA").answer).toEqual(["www.example.test. 3600 IN AAAA 2001:2::10"]);
    expect(dig("example.test", "NS").answer).toEqual([
      "example.test. 3600 IN NS ns1.example.test.",
      "example.test. 3600 IN NS ns2.example.test.",
    ]);
    expect(dig("example.test", "MX").answer).toEqual([
      "example.test. 3600 IN MX 10 mail.example.test.",
      "example.test. 3600 IN MX 20 mail2.example.test.",
    ]);
    expect(dig("example.test", "SOA").answer).toEqual([
      "example.test. 3600 IN SOA ns1.example.test. hostmaster.example.test. 2026120401 7200 3600 1209600 300",
    ]);
    expect(dig("txt.example.test", "TXT").answer).toEqual([
      'txt.example.test. 3600 IN TXT "hello world" "a \\"quoted\\" part" "semicolon;inside"',
    ]);
    expect(dig("_dns._udp.example.test", "SRV").answer).toEqual([
      "_dns._udp.example.test. 3600 IN SRV 0 5 53 ns1.example.test.",
    ]);
    expect(dig("alias2.example.test", "A").answer).toEqual([
      "alias2.example.test. 3600 IN CNAME alias.example.test.",
      "alias.example.test. 3600 IN CNAME www.example.test.",
      "www.example.test. 3600 IN A 198.18.0.10",
      "www.example.test. 3600 IN A 198.18.0.11",
    ]);
    expect(dig("alias.example.test", "CNAME").answer).toEqual(["alias.example.test. 3600 IN CNAME www.example.test."]);
  }, 60_000);

  it("NXDOMAIN, NODATA, REFUSED, NOTIMP, BADVERS, and case kept", () => {
    const soa = "example.test. 300 IN SOA ns1.example.test. hostmaster.example.test. 2026120401 7200 3600 1209600 300";
    const nx = dig("nope.example.test", "A");
    expect([nx.status, nx.answer, nx.authority]).toEqual(["NXDOMAIN", [], [soa]]);
    const nodata = dig("www.example.test", "MX");
    expect([nodata.status, nodata.answer, nodata.authority]).toEqual(["NOERROR", [], [soa]]);
    const ent = dig("a.b.example.test", "A");
    expect([ent.status, ent.authority]).toEqual(["NOERROR", [soa]]);
    const refused = dig("www.example.org", "A");
    expect(refused.status).toBe("REFUSED");
    expect(refused.flags).not.toContain("aa");
    expect(dig("+opcode=status", "example.test", "SOA").status).toBe("NOTIMP");
    expect(dig("+edns=1", "+noednsnegotiation", "www.example.test", "A").status).toBe("BADVERS");
    const mixed = dig("WwW.eXaMpLe.TeSt", "A");
    expect(mixed.answer).toEqual([
      "WwW.eXaMpLe.TeSt. 3600 IN A 198.18.0.10",
      "WwW.eXaMpLe.TeSt. 3600 IN A 198.18.0.11",
    ]);
  }, 60_000);

  it("truncates with TC=1: 512 bytes without EDNS, the client's +bufsize with it", () => {
    const noEdns = dig("+noedns", "+ignore", "big.example.test", "TXT");
    expect(noEdns.flags).toContain("tc");
    expect(noEdns.answer).toEqual([]);
    const small = dig("+bufsize=600", "+ignore", "big.example.test", "TXT");
    expect(small.flags).toContain("tc");
    const fits = dig("+bufsize=1232", "big.example.test", "TXT");
    expect(fits.flags).not.toContain("tc");
    expect(fits.answer).toHaveLength(8);
  }, 60_000);

  it("a flood of malformed queries: FORMERR or dropped and counted, valid queries keep their answers", async () => {
    const before = status(name).report.tiles.find((t) => t.name === "dns")?.metrics ?? {};
    const malformed = 20_000;
    const out = await new Promise<string>((resolve) => {
      const child = spawn(
        "ip",
        [
          "netns",
          "exec",
          peerNs,
          process.execPath,
          FLOOD_PEER,
          JSON.stringify({ host: SERVER, port: 53, malformed, validEvery: 10, seed: 18, timeoutMs: 30_000 }),
        ],
        { stdio: ["ignore", "pipe", "inherit"] },
      );
      let text = "";
      child.stdout.on("data", (c: Buffer) => {
        text += c.toString();
      });
      const timer = setTimeout(() => child.kill("SIGKILL"), 45_000);
      child.once("exit", () => {
        clearTimeout(timer);
        resolve(text);
      });
    });
    const r = JSON.parse(out) as Record<string, number | string[]>;
    expect(r.wrongCount, JSON.stringify(r)).toBe(0);
    expect(r.sent).toBe(malformed + (r.valid as number));
    expect(r.formerrAnswered).toBe(r.formerr);
    expect(r.validAnswered).toBe(r.valid);
    await new Promise((res) => setTimeout(res, 1500)); // metrics and the stats log catch up
    const after = status(name).report.tiles.find((t) => t.name === "dns");
    expect(after?.state).toBe("running");
    const m = after?.metrics ?? {};
    const delta = (k: string) => (m[k] ?? 0) - (before[k] ?? 0);
    // The reference query (resent until answered) reached the app as often as it was sent.
    expect(delta("rx_packets")).toBe((r.sent as number) + (r.reference as number));
    expect(delta("tx_packets")).toBe((r.formerr as number) + (r.valid as number) + (r.reference as number));
    expect(delta("rx_packets") - delta("tx_packets")).toBe((r.short as number) + (r.response as number));
    expect(delta("handler_exceptions")).toBe(0);
    const counters = (inst?.logs ?? []).filter((l) => l.includes("dns counters")).pop() ?? "";
    expect(counters).toMatch(/\\"formerr\\":\d+/);
  }, 90_000);
});
