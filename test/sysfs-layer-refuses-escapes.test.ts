// The safe sysfs layer (launcher/sysfs/) on a lookalike tree: declared attributes read and write
// through handles resolved beneath the root, and every way out of the tree is refused: a
// symlink planted to a directory outside, a relative symlink climbing out with '..', an absolute
// symlink, a symlinked attribute file, and names the kernel would never give an interface.
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ProcRoot, SysfsError, SysfsRoot } from "../launcher/sysfs";
import { addFakeInterface, type FakeTree, makeFakeTree } from "./support/fake-sysfs";

let tree: FakeTree;
let root: SysfsRoot;

beforeEach(() => {
  tree = makeFakeTree();
  addFakeInterface(tree, "eth0", 1500);
  root = SysfsRoot.open(tree.root, false);
});
afterEach(() => {
  root.close();
  tree.remove();
});

describe("declared attributes in a lookalike tree", () => {
  it("reads an integer through the class/net symlink that stays inside the root", () => {
    const dev = root.netDevice("eth0");
    expect(dev.read("mtu")).toBe(1500);
    expect(dev.read("ifindex")).toBe(7);
    dev.close();
  });

  it("writes a declared writable attribute, and only that", () => {
    const dev = root.netDevice("eth0");
    dev.write("napiDeferHardIrqs", 2);
    expect(readFileSync(join(tree.root, "devices/virtual/net/eth0/napi_defer_hard_irqs"), "utf8")).toBe("2");
    expect(dev.read("napiDeferHardIrqs")).toBe(2);
    expect(() => dev.write("mtu", 9000)).toThrow(/mtu: is declared read-only/);
    expect(() => dev.write("napiDeferHardIrqs", -1)).toThrow(/outside 0\.\./);
    // A key that is not declared is refused even when the file exists.
    expect(() => (dev as unknown as { read(k: string): unknown }).read("uevent")).toThrow(/is not declared/);
    dev.close();
  });

  it("refuses text that is not of the attribute's kind, naming the path", () => {
    tree.file("devices/virtual/net/eth0/mtu", "lots\n");
    const dev = root.netDevice("eth0");
    expect(() => dev.read("mtu")).toThrow(/eth0\/mtu: "lots" is not an integer/);
    dev.close();
  });

  it("reads and writes the 2 MiB huge page pool and a sysctl of a lookalike /proc", () => {
    tree.file("kernel/mm/hugepages/hugepages-2048kB/nr_hugepages", "0\n");
    const pool = root.hugepages2MiB();
    pool.write("nrHugepages", 64);
    expect(pool.read("nrHugepages")).toBe(64);
    pool.close();
    tree.file("sys/net/core/rmem_max", "212992\n");
    const proc = ProcRoot.open(tree.root, false);
    const sysctls = proc.sysctls();
    expect(sysctls.read("net.core.rmem_max")).toBe(212992);
    sysctls.close();
    proc.close();
  });
});

describe("ways out of the tree are refused", () => {
  it("a class/net symlink to a directory outside the root (absolute target)", () => {
    tree.file("../outside/evil/mtu", "1500\n");
    tree.link("class/net/evil0", join(tree.outside, "evil"));
    expect(() => root.netDevice("evil0")).toThrow(/class\/net\/evil0: resolve: EXDEV/);
  });

  it("a class/net symlink climbing out with '..'", () => {
    tree.file("../outside/up/mtu", "1500\n");
    tree.link("class/net/up0", "../../../outside/up");
    expect(() => root.netDevice("up0")).toThrow(/class\/net\/up0: resolve: EXDEV/);
  });

  it("an attribute file that is a symlink, even to a file inside the root", () => {
    writeFileSync(join(tree.outside, "secret"), "42\n");
    tree.link("devices/virtual/net/eth0/gro_flush_timeout", join(tree.outside, "secret"));
    tree.file("devices/virtual/net/eth0/real", "5\n");
    rmSync(join(tree.root, "devices/virtual/net/eth0/napi_defer_hard_irqs"));
    tree.link("devices/virtual/net/eth0/napi_defer_hard_irqs", "real");
    const dev = root.netDevice("eth0");
    expect(() => dev.read("groFlushTimeoutNs")).toThrow(/gro_flush_timeout: read: ELOOP/);
    expect(() => dev.write("groFlushTimeoutNs", 1)).toThrow(/gro_flush_timeout: write "1": ELOOP/);
    expect(readFileSync(join(tree.outside, "secret"), "utf8")).toBe("42\n");
    expect(() => dev.write("napiDeferHardIrqs", 1)).toThrow(/napi_defer_hard_irqs: write "1": ELOOP/);
    expect(readFileSync(join(tree.root, "devices/virtual/net/eth0/real"), "utf8")).toBe("5\n");
    dev.close();
  });

  it.each([
    ["..", /is \. or \.\./],
    ["../../etc", /contains '\/'/],
    ["eth0/../../x", /contains '\/'/],
    ["a:b", /contains '\/', ':'/],
    ["with space", /white space/],
    ["", /is empty/],
    ["sixteen-bytes-xx", /longer than 15 bytes/],
  ])("an interface name the kernel would refuse: %j", (name, reason) => {
    expect(() => root.netDevice(name)).toThrow(SysfsError);
    expect(() => root.netDevice(name)).toThrow(reason);
  });

  it("a PCI address that is not one", () => {
    expect(() => root.pciDevice("../../../../etc")).toThrow(/is not of the form 0000:00:00.0/);
  });

  it("a root that is not sysfs when sysfs is expected", () => {
    expect(() => SysfsRoot.open(tree.root)).toThrow(/is not the filesystem expected there/);
  });
});
