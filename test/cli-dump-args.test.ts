// `tilenet dump` refuses bad command lines with exit 2 (before touching any instance), never
// writes binary pcap to a terminal, says "not running" with exit 3, and documents itself in help.
import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { UsageError } from "../launcher/args";
import { parseDumpArgs, pickNetTile } from "../launcher/dump-cli";
import type { Manifest } from "../launcher/manifest";
import { DIRECTION_RX, DIRECTIONS_BOTH } from "../shared/capture/layout";
import { CLI, cli } from "./support/launcher-harness";

const hasScript = spawnSync("script", ["--version"]).status === 0;

describe("tilenet dump command line", () => {
  it.each([
    [["--count", "0"], /--count must be an integer from 1/],
    [["--count", "many"], /--count must be an integer/],
    [["--port", "70000"], /--port must be an integer from 1 to 65535/],
    [["--host", "198.18.0"], /--host must be an IPv4 address/],
    [["--host", "0.0.0.0"], /--host must be an IPv4 address/],
    [["--direction", "up"], /--direction must be rx, tx or both/],
    [["--seconds", "-1"], /--seconds/],
    [["--bogus"], /unknown option --bogus/],
    [["extra"], /takes no argument/],
  ])("exits 2 on %j", (argv, message) => {
    const r = cli(["dump", "--instance", "nosuch-dump", ...argv, "-w", "/dev/null"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
  });

  it("exits 2 when -w has no value", () => {
    const r = cli(["dump", "--instance", "nosuch-dump", "-w"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--write needs a value/);
  });

  it("refuses to write pcap to a terminal unless -w names a file", () => {
    expect(() => parseDumpArgs([], true)).toThrow(UsageError);
    expect(() => parseDumpArgs(["-w", "-"], true)).toThrow(/stdout is a terminal/);
    expect(parseDumpArgs(["-w", "out.pcap"], true).write).toBe("out.pcap");
  });

  it.skipIf(!hasScript)("exits 2 on a real terminal without -w (util-linux script gives it a pty)", () => {
    const r = spawnSync("script", ["-qec", `${process.execPath} ${CLI} dump --instance nosuch-dump`, "/dev/null"], {
      encoding: "utf8",
      timeout: 20_000,
    });
    expect(r.status).toBe(2);
    expect(r.stdout).toMatch(/stdout is a terminal/);
  });

  it("parses the filter: port, host (host order) and direction; -w is --write", () => {
    const o = parseDumpArgs(["--port", "7000", "--host", "198.18.0.1", "--direction", "rx", "-w", "-"], false);
    expect(o.filter).toEqual({ port: 7000, ipv4: 0xc6120001, directions: DIRECTION_RX });
    expect(o.write).toBe("-");
    expect(parseDumpArgs(["--count", "5"], false)).toMatchObject({
      count: 5,
      seconds: 0,
      filter: { port: 0, ipv4: 0, directions: DIRECTIONS_BOTH },
    });
  });

  it("exits 3 when the instance is not running, and has help", () => {
    expect(cli(["dump", "--instance", "nosuch-dump", "-w", "/dev/null"]).code).toBe(3);
    const help = cli(["help", "dump"]);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/--count N/);
    expect(help.stdout).toMatch(/socket provider has no capture/);
  });

  it("picks the only net tile, and refuses the socket provider's (no capture) with exit 1", () => {
    const tile = (name: string, kind: string) => ({ name, kind, pid: 1, metricsRegion: `metrics.${name}` });
    const manifest = (tiles: ReturnType<typeof tile>[]) => ({ instance: "i", tiles }) as unknown as Manifest;
    expect(pickNetTile(manifest([tile("netlink", "netlink"), tile("net", "net")])).name).toBe("net");
    expect(() => pickNetTile(manifest([tile("net", "net")]), "net-1")).toThrow(UsageError);
    expect(() => pickNetTile(manifest([tile("net", "net"), tile("net-1", "net")]))).toThrow(/name one with --tile/);
    const socket = () => pickNetTile(manifest([tile("net", "net-socket")]));
    expect(socket).toThrow(/socket provider's net tile: it has no capture/);
    try {
      socket();
    } catch (e) {
      expect((e as { exitCode: number }).exitCode).toBe(1);
    }
  });
});
