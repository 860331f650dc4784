import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ConfigError, defaultConfig, loadConfigFile, validateConfig } from "../launcher/config";

function errorOf(doc: unknown): ConfigError {
  try {
    validateConfig(doc);
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
  throw new Error("config was accepted");
}

/** The config is refused with this message (from the key on: "key: expected ..."). */
function rejects(doc: unknown, message: string): void {
  expect(errorOf(doc).message).toContain(message);
}

describe("config validation names the key and what was expected", () => {
  it("accepts an empty document as the defaults", () => {
    expect(validateConfig({})).toEqual(defaultConfig());
  });

  it.each([
    [{ netbase: { routes: "many" } }, "netbase.routes", "an integer from 16 to 4000000"],
    [{ netbase: { neighbors: 1000 } }, "netbase.neighbors", "a power of two"],
    [{ net: { xdp_mode: "turbo" } }, "net.xdp_mode", "one of auto, drv, skb"],
    [{ net: { provider: "dpdk" } }, "net.provider", "one of auto, xdp, socket"],
    [{ net: { provider: 1 } }, "net.provider", "a string"],
    [{ net: { provider: "Socket" } }, "net.provider", "one of auto, xdp, socket"],
    [{ memory: { huge_pages: "always" } }, "memory.huge_pages", "one of auto, on, off"],
    [{ memory: { huge_pages: true } }, "memory.huge_pages", "a string"],
    [{ net: { interface: "a-very-long-interface-name" } }, "net.interface", "an interface name"],
    [{ net: { dst_ip: "300.1.1.1" } }, "net.dst_ip", "a dotted-quad IPv4 address"],
    [{ solicit: { rate_per_s: -1 } }, "solicit.rate_per_s", "a number from"],
    [{ solicit: { burts: 3 } }, "solicit.burts", "no such key"],
    [{ instance: { name: "Bad Name" } }, "instance.name", "1-24 characters"],
    [{ metrics: { listen: "0.0.0.0:9000" } }, "metrics.listen", "loopback only"],
    [{ app: [{ name: "echo", ports: [70000] }] }, "app[0].ports[0]", "a UDP port from 1 to 65535"],
    [{ app: [{ name: "echo", ports: [] }] }, "app[0].ports", "1 to 16 UDP ports"],
    [
      {
        app: [
          { name: "a", ports: [7] },
          { name: "b", ports: [7] },
        ],
      },
      "app[1].ports",
      "port 7 belongs to a",
    ],
    [{ sandbox: { unshare: ["user"] } }, "sandbox.unshare[0]", 'one of "mount"'],
    [{ rings: 5 }, "rings", "a table"],
    [{ tiles: { idle: "busy" } }, "tiles.idle", "one of adaptive, spin"],
    [{ tiles: { spin: true } }, "tiles.spin", "no such key"],
    [{ net: { idle: "sleepy" } }, "net.idle", "one of adaptive, spin"],
    [{ net: { cpu: -1 } }, "net.cpu", "an integer from 0 to 1023"],
    [{ app: [{ name: "echo", ports: [7], cpu: 1.5 }] }, "app[0].cpu", "an integer from 0 to 1023"],
  ])("%j -> %s", (doc, key, expected) => {
    const e = errorOf(doc);
    expect(e.key).toBe(key);
    expect(e.message).toContain(expected);
    expect(e.message).toContain(key);
  });

  it("[net] provider: auto by default, xdp and socket accepted as written", () => {
    expect(validateConfig({}).net.provider).toBe("auto");
    for (const provider of ["auto", "xdp", "socket"])
      expect(validateConfig({ net: { provider } }).net.provider).toBe(provider);
  });

  it("[net] interfaces, queues and [[app]] replicas: read as written, refused with the key and what was expected", () => {
    expect(validateConfig({ net: { interface: "eth0" } }).net.interfaces).toEqual(["eth0"]);
    expect(validateConfig({ net: { interfaces: ["a", "b"] } }).net.interfaces).toEqual(["a", "b"]);
    expect(validateConfig({}).net.queues).toBe(1);
    expect(validateConfig({ net: { queues: 4 } }).net.queues).toBe(4);
    expect(validateConfig({ net: { queues: "all" } }).net.queues).toBe("all");
    const echo = { name: "echo", ports: [7] };
    expect(validateConfig({ app: [{ ...echo, replicas: 3 }] }).apps[0]?.replicas).toBe(3);
    expect(validateConfig({ app: [echo] }).apps[0]?.replicas).toBe(1);
    rejects({ net: { interface: "a", interfaces: ["b"] } }, "net.interfaces: expected either interface");
    rejects({ net: { interfaces: ["a", "a"] } }, "net.interfaces: expected distinct interface names");
    rejects({ net: { interfaces: [] } }, "net.interfaces: expected 1 to 8 interface names");
    rejects({ net: { interfaces: ["bad name"] } }, "net.interfaces[0]: expected an interface name");
    rejects({ net: { queues: 0 } }, 'net.queues: expected "all" or a count from 1 to 1024');
    rejects({ net: { queues: "some" } }, 'net.queues: expected "all" or a count');
    rejects({ net: { queue: 2, queues: "all" } }, 'net.queue: expected queue = 0 with queues = "all"');
    rejects({ app: [{ ...echo, replicas: 0 }] }, "app[0].replicas: expected an integer from 1 to 64");
    rejects({ app: [{ name: "net", ports: [7] }] }, "app[0].name: expected a name other than net, netlink, launcher");
  });

  it("idle modes: [tiles] idle is the default of the net and app tiles, each may override it and be pinned", () => {
    const c = validateConfig({
      tiles: { idle: "spin" },
      net: { cpu: 1 },
      app: [{ name: "echo", ports: [7], idle: "adaptive", cpu: 0 }],
    });
    expect(c.tiles.idle).toBe("spin");
    expect(c.net.placement).toEqual({ cpu: 1 });
    expect(c.apps[0]?.placement).toEqual({ idle: "adaptive", cpu: 0 });
    expect(defaultConfig().tiles.idle).toBe("adaptive");
  });

  it("reports TOML syntax errors and unreadable files as config errors", () => {
    const dir = mkdtempSync(join(tmpdir(), "tilenet-config-"));
    const bad = join(dir, "bad.toml");
    writeFileSync(bad, "[net\ninterface = 'x'\n");
    expect(() => loadConfigFile(bad)).toThrow(ConfigError);
    expect(() => loadConfigFile(join(dir, "missing.toml"))).toThrow(/readable TOML file/);
  });

  it("reads a full file", () => {
    const dir = mkdtempSync(join(tmpdir(), "tilenet-config-"));
    const file = join(dir, "ok.toml");
    writeFileSync(
      file,
      `[instance]\nname = "edge1"\n[net]\ninterface = "eth1"\nxdp_mode = "skb"\n[[app]]\nname = "echo"\nports = [7000, 7001]\n[metrics]\nlisten = "127.0.0.1:9464"\n`,
    );
    const c = loadConfigFile(file);
    expect(c.instance.name).toBe("edge1");
    expect(c.net.xdpMode).toBe("skb");
    expect(c.apps[0]?.ports).toEqual([7000, 7001]);
    expect(c.metrics.listen).toEqual({ host: "127.0.0.1", port: 9464 });
  });
});
