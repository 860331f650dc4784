// Domain names as the responder keeps them: the wire form (length-prefixed labels, as written in
// the zone, case kept) and a lookup key (the wire form lower-cased, as a latin1 string) for every
// suffix, so comparing and compressing names never allocates while answering.

/** RFC 1035 limits: a name is at most 255 bytes on the wire, a label at most 63. */
export const MAX_NAME_BYTES = 255;
export const MAX_LABEL_BYTES = 63;

export class DnsName {
  /** Wire form, ending with the root label (0). */
  readonly wire: Uint8Array;
  /** keys[i]: lookup key of the suffix starting at label i; keys[labelCount] is the root's (""). */
  readonly keys: string[];
  /** Byte offset in `wire` of each label, then of the root label. */
  readonly labelOffsets: number[];

  constructor(wire: Uint8Array) {
    this.wire = wire;
    this.labelOffsets = [];
    for (let at = 0; ; at += 1 + wire[at]) {
      this.labelOffsets.push(at);
      if (wire[at] === 0) break;
    }
    const full = keyOf(wire, 0, wire.length - 1);
    this.keys = this.labelOffsets.map((at) => full.slice(at));
  }

  get labelCount(): number {
    return this.labelOffsets.length - 1;
  }

  /** Lookup key of the whole name. */
  get key(): string {
    return this.keys[0] ?? "";
  }

  /** True when this name equals `ancestor` or lies below it. */
  isAtOrBelow(ancestor: DnsName): boolean {
    return keyIsAtOrBelow(this.key, ancestor.key);
  }

  /** The name without its first label (the root stays the root). */
  parent(): DnsName {
    const at = this.labelOffsets[1];
    return at === undefined ? this : new DnsName(this.wire.subarray(at));
  }

  /** Presentation form, e.g. "www.example.test." (special bytes escaped as \DDD). */
  toString(): string {
    if (this.labelCount === 0) return ".";
    let s = "";
    for (let i = 0; i < this.labelCount; i++) {
      const at = this.labelOffsets[i] ?? 0;
      for (let j = at + 1; j <= at + (this.wire[at] ?? 0); j++) s += presentByte(this.wire[j] ?? 0);
      s += ".";
    }
    return s;
  }
}

/** True when the name with lookup key `key` equals the one of `ancestorKey` or lies below it. */
export function keyIsAtOrBelow(key: string, ancestorKey: string): boolean {
  let at = 0;
  while (key.length - at > ancestorKey.length) at += key.charCodeAt(at) + 1;
  return key.length - at === ancestorKey.length && key.startsWith(ancestorKey, at);
}

/**
 * The lookup key of wire bytes [start, end) (labels without the root byte): each byte as one
 * latin1 character, ASCII upper case folded to lower (DNS compares names ASCII-case-insensitively).
 */
export function keyOf(bytes: Uint8Array, start: number, end: number): string {
  let s = "";
  for (let i = start; i < end; i++) {
    const b = bytes[i] ?? 0;
    s += String.fromCharCode(b >= 65 && b <= 90 ? b + 32 : b);
  }
  return s;
}

function presentByte(b: number): string {
  if (b === 0x2e || b === 0x5c || b === 0x22 || b === 0x3b || b === 0x28 || b === 0x29 || b === 0x40 || b === 0x24)
    return `\\${String.fromCharCode(b)}`;
  if (b <= 0x20 || b >= 0x7f) return `\\${String(b).padStart(3, "0")}`;
  return String.fromCharCode(b);
}

/**
 * Parses a presentation-form name (RFC 1035 5.1: `\.` and `\DDD` escapes). A name not ending in
 * "." is relative and gets `origin` appended; "@" is the origin itself. Throws with a plain
 * message (the zone parser adds the line number).
 */
export function parseName(text: string, origin: DnsName | undefined): DnsName {
  if (text === "@") {
    if (!origin) throw new Error("@ used before an origin is known ($ORIGIN or settings.origin)");
    return origin;
  }
  if (text === ".") return new DnsName(Uint8Array.of(0));
  const labels: number[][] = [];
  let label: number[] = [];
  let absolute = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x2e) {
      if (label.length === 0) throw new Error(`empty label in name ${JSON.stringify(text)}`);
      labels.push(label);
      label = [];
      if (i === text.length - 1) absolute = true;
    } else if (c === 0x5c) {
      const { byte, next } = readEscape(text, i);
      label.push(byte);
      i = next - 1;
    } else if (c > 0xff) {
      throw new Error(`name ${JSON.stringify(text)} has a character outside latin1 (use punycode or \\DDD)`);
    } else label.push(c);
  }
  if (!absolute) labels.push(label);
  const wire: number[] = [];
  for (const l of labels) {
    if (l.length > MAX_LABEL_BYTES) throw new Error(`label longer than ${MAX_LABEL_BYTES} bytes in ${text}`);
    wire.push(l.length, ...l);
  }
  if (!absolute) {
    if (!origin) throw new Error(`relative name ${JSON.stringify(text)} before an origin is known`);
    wire.push(...origin.wire.subarray(0, origin.wire.length - 1));
  }
  wire.push(0);
  if (wire.length > MAX_NAME_BYTES) throw new Error(`name longer than ${MAX_NAME_BYTES} bytes: ${text}`);
  return new DnsName(Uint8Array.from(wire));
}

/** Reads `\X` or `\DDD` at text[at] (the backslash). */
export function readEscape(text: string, at: number): { byte: number; next: number } {
  const d = /^\\(\d{3})/.exec(text.slice(at, at + 4));
  if (d) {
    const byte = Number(d[1]);
    if (byte > 255) throw new Error(`escape \\${d[1]} is above 255`);
    return { byte, next: at + 4 };
  }
  if (at + 1 >= text.length) throw new Error("a backslash at the end of a word");
  const c = text.charCodeAt(at + 1);
  if (c > 0xff) throw new Error("an escaped character outside latin1");
  return { byte: c, next: at + 2 };
}
