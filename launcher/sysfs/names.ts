// Names the sysfs layer accepts before they become one component of a path it resolves: anything
// else is refused here, with the argument and the reason, before the kernel sees it.

/** Thrown for a refused name, value or attribute; names what was refused and why. */
export class SysfsError extends Error {
  constructor(
    readonly what: string,
    readonly reason: string,
  ) {
    super(`${what}: ${reason}`);
  }
}

const IFNAMSIZ = 16;

/** The kernel's dev_valid_name(): 1 to 15 bytes, not "." or "..", no '/', ':' or white space. */
export function checkInterfaceName(name: string): string {
  if (typeof name !== "string" || name.length === 0) throw new SysfsError("interface name", "is empty");
  if (Buffer.byteLength(name) >= IFNAMSIZ)
    throw new SysfsError(`interface name ${JSON.stringify(name)}`, `is longer than ${IFNAMSIZ - 1} bytes`);
  if (name === "." || name === "..") throw new SysfsError(`interface name ${JSON.stringify(name)}`, "is . or ..");
  // isspace() in the kernel: space, \t \n \v \f \r; and NUL would cut the path short.
  if (/[/:\s\0]/.test(name))
    throw new SysfsError(`interface name ${JSON.stringify(name)}`, "contains '/', ':', white space or NUL");
  return name;
}

/** A PCI function address as sysfs names it: domain:bus:device.function, lower-case hex. */
export function checkPciAddress(address: string): string {
  if (!/^[0-9a-f]{4}:[0-9a-f]{2}:[0-1][0-9a-f]\.[0-7]$/.test(address))
    throw new SysfsError(`PCI address ${JSON.stringify(address)}`, "is not of the form 0000:00:00.0");
  return address;
}

/** A non-negative integer that becomes a path component (an IRQ number). */
export function checkIndex(what: string, n: number, max: number): number {
  if (!Number.isSafeInteger(n) || n < 0 || n > max) throw new SysfsError(what, `must be an integer from 0 to ${max}`);
  return n;
}
