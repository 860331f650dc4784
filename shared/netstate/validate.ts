// Validation of every user argument before a request is built: each failure names the argument.
import { parseIp, parseMac, parsePrefix } from "../netlink/address-text";
import type { MessageCursor } from "../netlink/wire";
import { NetstateArgumentError } from "./errors";

const utf8 = new TextEncoder();

export class Validator {
  constructor(readonly operation: string) {}

  fail(argument: string, problem: string): never {
    throw new NetstateArgumentError(this.operation, argument, problem);
  }

  /** An interface name as the kernel accepts it (dev_valid_name). */
  ifname(argument: string, value: unknown): string {
    if (typeof value !== "string") return this.fail(argument, `must be a string, got ${typeof value}`);
    const bytes = utf8.encode(value).byteLength;
    if (bytes === 0 || bytes > 15) return this.fail(argument, `'${value}' must be 1-15 bytes long`);
    if (value === "." || value === ".." || /[/:\s]/.test(value))
      return this.fail(argument, `'${value}' is not a valid interface name (no '/', ':' or spaces)`);
    return value;
  }

  /** A link given by name or ifindex. */
  linkRef(argument: string, value: unknown): string | number {
    if (typeof value === "number") return this.int(argument, value, 1, 0x7fffffff);
    return this.ifname(argument, value);
  }

  int(argument: string, value: unknown, min: number, max: number): number {
    if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max)
      return this.fail(argument, `must be an integer from ${min} to ${max}, got ${String(value)}`);
    return value;
  }

  optionalInt(argument: string, value: unknown, min: number, max: number): number | undefined {
    return value === undefined ? undefined : this.int(argument, value, min, max);
  }

  bool(argument: string, value: unknown): boolean {
    if (typeof value !== "boolean") return this.fail(argument, `must be true or false, got ${String(value)}`);
    return value;
  }

  mac(argument: string, value: unknown): Uint8Array {
    const bytes = typeof value === "string" ? parseMac(value) : undefined;
    if (bytes === undefined)
      return this.fail(argument, `'${String(value)}' is not a hardware address like 02:00:00:00:00:01`);
    return bytes;
  }

  ip(argument: string, value: unknown, family?: 4 | 6): Uint8Array {
    const bytes = typeof value === "string" ? parseIp(value) : undefined;
    if (bytes === undefined) return this.fail(argument, `'${String(value)}' is not an IPv4 or IPv6 address`);
    if (family !== undefined && bytes.byteLength !== (family === 4 ? 4 : 16))
      return this.fail(argument, `'${String(value)}' is not an IPv${family} address`);
    return bytes;
  }

  prefix(argument: string, value: unknown): { bytes: Uint8Array; prefixLen: number } {
    const p = typeof value === "string" ? parsePrefix(value) : undefined;
    if (p === undefined) return this.fail(argument, `'${String(value)}' is not an address/prefix like 198.18.0.1/24`);
    return p;
  }

  /** A named network namespace (a file name under /run/netns), as iproute2 accepts it. */
  netnsName(argument: string, value: unknown): string {
    if (typeof value !== "string") return this.fail(argument, `must be a string, got ${typeof value}`);
    if (value === "" || value === "." || value === ".." || value.includes("/") || value.includes("\0"))
      return this.fail(argument, `'${value}' is not a valid namespace name`);
    if (utf8.encode(value).byteLength > 255) return this.fail(argument, "is longer than 255 bytes");
    return value;
  }

  oneOf<T extends string>(argument: string, value: unknown, allowed: readonly T[]): T {
    if (typeof value !== "string" || !(allowed as readonly string[]).includes(value))
      return this.fail(argument, `must be one of ${allowed.join(", ")}, got ${String(value)}`);
    return value as T;
  }
}

/** A reply decoder made once per query (on the client's one cursor) instead of once per message. */
export function decodeWith<D extends object, K extends keyof D>(
  Decoder: new (cursor: MessageCursor) => D,
  method: K,
): (c: MessageCursor) => D[K] extends () => infer R ? R : never {
  let decoder: D | undefined;
  let cursor: MessageCursor | undefined;
  return (c) => {
    if (decoder === undefined || cursor !== c) {
      decoder = new Decoder(c);
      cursor = c;
    }
    return (decoder[method] as () => never).call(decoder);
  };
}
