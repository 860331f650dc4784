// IP and hardware addresses as text and as the bytes netlink carries (network order). Parsing is
// strict (returns undefined on anything inet_pton would refuse); formatting follows inet_ntop
// (RFC 5952 for IPv6, as iproute2 prints), so that output compares equal to `ip -j`.

/** "198.18.0.1" -> 4 bytes, undefined when not a dotted quad of decimal octets. */
export function parseIpv4(text: string): Uint8Array | undefined {
  const parts = text.split(".");
  if (parts.length !== 4) return undefined;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const p = parts[i] as string;
    if (!/^\d{1,3}$/.test(p)) return undefined;
    const n = Number(p);
    if (n > 255) return undefined;
    out[i] = n;
  }
  return out;
}

/** "2001:2::1" (also with an embedded dotted quad) -> 16 bytes, undefined when invalid. */
export function parseIpv6(text: string): Uint8Array | undefined {
  if (text.length > 45 || text.length < 2) return undefined;
  const halves = text.split("::");
  if (halves.length > 2) return undefined;
  const head = groupsOf(halves[0] as string, halves.length === 1);
  const tail = halves.length === 2 ? groupsOf(halves[1] as string, true) : [];
  if (head === undefined || tail === undefined) return undefined;
  const total = head.length + tail.length;
  if (halves.length === 1 ? total !== 8 : total > 7) return undefined;
  const words = [...head, ...new Array<number>(8 - total).fill(0), ...tail];
  const out = new Uint8Array(16);
  for (let i = 0; i < 8; i++) {
    out[2 * i] = (words[i] as number) >> 8;
    out[2 * i + 1] = (words[i] as number) & 0xff;
  }
  return out;
}

/** 16-bit groups of one side of "::"; the last group may be a dotted quad when allowed. */
function groupsOf(side: string, quadAllowedAtEnd: boolean): number[] | undefined {
  if (side === "") return [];
  const parts = side.split(":");
  const words: number[] = [];
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i] as string;
    if (i === parts.length - 1 && quadAllowedAtEnd && p.includes(".")) {
      const quad = parseIpv4(p);
      if (quad === undefined) return undefined;
      words.push(((quad[0] as number) << 8) | (quad[1] as number), ((quad[2] as number) << 8) | (quad[3] as number));
      continue;
    }
    if (!/^[0-9a-fA-F]{1,4}$/.test(p)) return undefined;
    words.push(Number.parseInt(p, 16));
  }
  return words;
}

/** IPv4 or IPv6 text -> bytes (4 or 16), undefined when neither. */
export function parseIp(text: string): Uint8Array | undefined {
  return text.includes(":") ? parseIpv6(text) : parseIpv4(text);
}

export function formatIpv4(b: Uint8Array, at = 0): string {
  return `${b[at]}.${b[at + 1]}.${b[at + 2]}.${b[at + 3]}`;
}

/** inet_ntop(AF_INET6): longest run (>= 2) of zero groups becomes "::", first run on ties;
 *  ::ffff:a.b.c.d and ::a.b.c.d (deprecated compatible form) keep the dotted quad. */
export function formatIpv6(b: Uint8Array, at = 0): string {
  const words: number[] = [];
  for (let i = 0; i < 8; i++) words.push(((b[at + 2 * i] as number) << 8) | (b[at + 2 * i + 1] as number));
  if (words.slice(0, 5).every((w) => w === 0)) {
    const w5 = words[5] as number;
    if (w5 === 0xffff) return `::ffff:${formatIpv4(b, at + 12)}`;
    if (w5 === 0 && (words[6] as number) !== 0) return `::${formatIpv4(b, at + 12)}`;
  }
  let bestStart = -1;
  let bestLength = 0;
  for (let i = 0; i < 8; ) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = words.map((w) => w.toString(16));
  if (bestLength < 2) return hex.join(":");
  return `${hex.slice(0, bestStart).join(":")}::${hex.slice(bestStart + bestLength).join(":")}`;
}

/** 4 or 16 bytes -> text; other lengths as colon-separated hex (what ip prints for odd sizes). */
export function formatIp(b: Uint8Array): string {
  if (b.byteLength === 4) return formatIpv4(b);
  if (b.byteLength === 16) return formatIpv6(b);
  return formatMac(b);
}

/** "02:00:00:00:00:01" -> bytes (any length 1-32), undefined when invalid. */
export function parseMac(text: string): Uint8Array | undefined {
  const parts = text.split(":");
  if (parts.length < 1 || parts.length > 32) return undefined;
  const out = new Uint8Array(parts.length);
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i] as string;
    if (!/^[0-9a-fA-F]{1,2}$/.test(p)) return undefined;
    out[i] = Number.parseInt(p, 16);
  }
  return out;
}

/** Bytes as lower-case colon-separated hex pairs, as iproute2 prints link addresses. */
export function formatMac(b: Uint8Array): string {
  let s = "";
  for (let i = 0; i < b.byteLength; i++) s += (i ? ":" : "") + (b[i] as number).toString(16).padStart(2, "0");
  return s;
}

/** "198.18.0.1/24" or "2001:2::1/64" (no prefix: a host prefix) -> bytes and prefix length. */
export function parsePrefix(text: string): { bytes: Uint8Array; prefixLen: number } | undefined {
  const slash = text.indexOf("/");
  const bytes = parseIp(slash < 0 ? text : text.slice(0, slash));
  if (bytes === undefined) return undefined;
  const max = bytes.byteLength * 8;
  if (slash < 0) return { bytes, prefixLen: max };
  const len = text.slice(slash + 1);
  if (!/^\d{1,3}$/.test(len) || Number(len) > max) return undefined;
  return { bytes, prefixLen: Number(len) };
}
