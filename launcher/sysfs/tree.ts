// Typed handles into /sys and /proc. A handle is a directory descriptor resolved once, with
// openat2, beneath the tree's root descriptor: RESOLVE_BENEATH refuses ".." and symlinks that
// leave the root (sysfs is a maze of symlinks: class/net/<if> is one, and must stay inside /sys),
// RESOLVE_NO_MAGICLINKS refuses /proc-style links. Attributes are then opened beneath the
// handle with RESOLVE_NO_SYMLINKS and O_NOFOLLOW: an attribute file is never a link. Only the
// attributes declared in attributes.ts can be read or written; callers never pass a path.
import { closeSync, constants, openSync, readdirSync, readSync, statfsSync, writeSync } from "node:fs";
import { native } from "../../shared/native";
import {
  type AttrSpec,
  type AttrValue,
  HUGEPAGES_ATTRS,
  IRQ_ATTRS,
  NET_DEVICE_ATTRS,
  PCI_DEVICE_ATTRS,
  parseValue,
  renderValue,
  SYSCTL_ATTRS,
} from "./attributes";
import { checkIndex, checkInterfaceName, checkPciAddress, SysfsError } from "./names";

// linux/openat2.h
export const RESOLVE_NO_MAGICLINKS = 0x02;
export const RESOLVE_NO_SYMLINKS = 0x04;
export const RESOLVE_BENEATH = 0x08;
const O_PATH = 0o10000000;
const SYSFS_MAGIC = 0x62656572;
const PROC_SUPER_MAGIC = 0x9fa0;
const MAX_ATTR_BYTES = 4096;

type AttrTable = Record<string, AttrSpec>;

/** A directory of /sys or /proc with its declared attributes. */
export class SysDir<A extends AttrTable> {
  private fd: number;
  constructor(
    /** For messages: the path it was resolved as, e.g. /sys/class/net/eth0. */
    readonly where: string,
    fd: number,
    private readonly attrs: A,
  ) {
    this.fd = fd;
  }

  read<K extends keyof A & string>(key: K): AttrValue<A[K]> {
    const spec = this.spec(key);
    const what = `${this.where}/${spec.file}`;
    const fd = this.openAttr(what, "read", spec, constants.O_RDONLY);
    try {
      const buf = Buffer.alloc(MAX_ATTR_BYTES);
      const n = readSync(fd, buf, 0, buf.length, 0);
      return parseValue(what, spec.type, buf.toString("utf8", 0, n).replace(/\n$/, "")) as AttrValue<A[K]>;
    } catch (e) {
      throw wrap(what, "read", e);
    } finally {
      closeSync(fd);
    }
  }

  /** Writes a declared, writable attribute; the value is checked against its kind first. */
  write<K extends keyof A & string>(key: K, value: AttrValue<A[K]>): void {
    const spec = this.spec(key);
    const what = `${this.where}/${spec.file}`;
    if (!spec.writable) throw new SysfsError(what, "is declared read-only");
    const text = renderValue(what, spec.type, value);
    // O_TRUNC as a shell's `echo N >` does: sysfs and procfs ignore it, a regular file needs it.
    const fd = this.openAttr(what, `write ${JSON.stringify(text)}`, spec, constants.O_WRONLY | constants.O_TRUNC);
    try {
      writeSync(fd, text);
    } catch (e) {
      throw wrap(what, `write ${JSON.stringify(text)}`, e);
    } finally {
      closeSync(fd);
    }
  }

  /** True when the attribute file exists (drivers differ in what they expose). */
  has(key: keyof A & string): boolean {
    const spec = this.spec(key);
    try {
      closeSync(this.openAttr(`${this.where}/${spec.file}`, "look up", spec, O_PATH));
      return true;
    } catch (e) {
      if ((e as { code?: string }).code === "ENOENT") return false;
      throw e;
    }
  }

  /** Numeric entries of a declared subdirectory (msi_irqs of a PCI device: its IRQ numbers). */
  listNumbers(sub: "msi_irqs"): number[] {
    const what = `${this.where}/${sub}`;
    const fd = this.openAttr(
      what,
      "open",
      { file: sub, type: { kind: "string" }, writable: false },
      constants.O_DIRECTORY,
    );
    try {
      // Our own descriptor, read through /proc/self/fd: Node has no fdopendir.
      return readdirSync(`/proc/self/fd/${fd}`)
        .filter((n) => /^\d{1,7}$/.test(n))
        .map(Number)
        .sort((a, b) => a - b);
    } finally {
      closeSync(fd);
    }
  }

  close(): void {
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }

  private spec(key: string): AttrSpec {
    const spec = Object.hasOwn(this.attrs, key) ? this.attrs[key] : undefined;
    if (!spec) throw new SysfsError(`${this.where}: attribute ${JSON.stringify(key)}`, "is not declared");
    return spec;
  }

  private openAttr(what: string, doing: string, spec: AttrSpec, flags: number): number {
    if (this.fd < 0) throw new SysfsError(this.where, "handle is closed");
    const resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_SYMLINKS;
    try {
      return native().openat2(this.fd, spec.file, flags | constants.O_NOFOLLOW, resolve);
    } catch (e) {
      throw wrap(what, doing, e);
    }
  }
}

function wrap(what: string, doing: string, e: unknown): Error {
  if (e instanceof SysfsError) return e;
  const code = (e as NodeJS.ErrnoException).code ?? "error";
  return Object.assign(new SysfsError(what, `${doing}: ${code} (${(e as Error).message})`), { code });
}

export type NetDevice = SysDir<typeof NET_DEVICE_ATTRS>;
export type PciDevice = SysDir<typeof PCI_DEVICE_ATTRS>;
export type Hugepages = SysDir<typeof HUGEPAGES_ATTRS>;
export type IrqDir = SysDir<typeof IRQ_ATTRS>;
export type Sysctls = SysDir<typeof SYSCTL_ATTRS>;

/** A root directory (/sys, /proc, or a lookalike tree in tests) held open as a descriptor. */
class Root {
  protected fd: number;
  protected constructor(
    readonly path: string,
    magic: number | undefined,
  ) {
    // The root itself is a path the code fixes (never operator input); a lookalike is for tests.
    if (magic !== undefined && statfsSync(path).type !== magic)
      throw new SysfsError(path, `is not the filesystem expected there (magic ${magic.toString(16)})`);
    this.fd = openSync(path, constants.O_RDONLY | constants.O_DIRECTORY);
  }

  protected dir<A extends AttrTable>(relative: string, attrs: A): SysDir<A> {
    const where = `${this.path}/${relative}`;
    try {
      const resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
      const fd = native().openat2(this.fd, relative, constants.O_RDONLY | constants.O_DIRECTORY, resolve);
      return new SysDir(where, fd, attrs);
    } catch (e) {
      throw wrap(where, "resolve", e);
    }
  }

  close(): void {
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }
}

/** /sys (or a lookalike tree: `SysfsRoot.open(dir, false)`). */
export class SysfsRoot extends Root {
  static open(path = "/sys", checkMagic = true): SysfsRoot {
    return new SysfsRoot(path, checkMagic ? SYSFS_MAGIC : undefined);
  }

  /** class/net/<name>: an interface of the namespace sysfs was mounted in. */
  netDevice(name: string): NetDevice {
    return this.dir(`class/net/${checkInterfaceName(name)}`, NET_DEVICE_ATTRS);
  }

  /** bus/pci/devices/<address> (the bus address ethtool reports). */
  pciDevice(address: string): PciDevice {
    return this.dir(`bus/pci/devices/${checkPciAddress(address)}`, PCI_DEVICE_ATTRS);
  }

  /** kernel/mm/hugepages/hugepages-2048kB: the 2 MiB pool. */
  hugepages2MiB(): Hugepages {
    return this.dir("kernel/mm/hugepages/hugepages-2048kB", HUGEPAGES_ATTRS);
  }
}

/** /proc (or a lookalike tree). */
export class ProcRoot extends Root {
  static open(path = "/proc", checkMagic = true): ProcRoot {
    return new ProcRoot(path, checkMagic ? PROC_SUPER_MAGIC : undefined);
  }

  irq(n: number): IrqDir {
    return this.dir(`irq/${checkIndex("IRQ number", n, 1 << 20)}`, IRQ_ATTRS);
  }

  /** sys: the sysctls declared in SYSCTL_ATTRS. */
  sysctls(): Sysctls {
    return this.dir("sys", SYSCTL_ATTRS);
  }
}
