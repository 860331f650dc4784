// A strict decoder of whole DNS messages, for the tests and the fuzz oracle: every section, every
// name (compression pointers must point backwards, at most 255 bytes), every length checked.
// The responder never uses it: it reads queries with parseQuery (message.ts).

export interface DecodedRecord {
  name: string;
  type: number;
  class: number;
  ttl: number;
  /** Record data as bytes, and as text for the types the tests read (names decompressed). */
  data: Uint8Array;
  text: string;
}

export interface DecodedMessage {
  id: number;
  flags: number;
  opcode: number;
  rcode: number;
  question: { name: string; type: number; class: number }[];
  answer: DecodedRecord[];
  authority: DecodedRecord[];
  additional: DecodedRecord[];
}

const NAME_TYPES = new Set([2, 5, 12]);

/** Decodes msg or throws an Error saying what is malformed. */
export function decodeMessage(msg: Uint8Array): DecodedMessage {
  if (msg.length < 12) throw new Error(`${msg.length} bytes: shorter than a header`);
  const u16 = (at: number): number => {
    if (at + 2 > msg.length) throw new Error(`read past the end at ${at}`);
    return ((msg[at] as number) << 8) | (msg[at + 1] as number);
  };
  const flags = u16(2);
  const out: DecodedMessage = {
    id: u16(0),
    flags,
    opcode: (flags >> 11) & 0xf,
    rcode: flags & 0xf,
    question: [],
    answer: [],
    authority: [],
    additional: [],
  };
  let at = 12;
  for (let i = 0; i < u16(4); i++) {
    const n = readName(msg, at);
    out.question.push({ name: n.name, type: u16(n.end), class: u16(n.end + 2) });
    at = n.end + 4;
  }
  const sections = [out.answer, out.authority, out.additional];
  sections.forEach((list, s) => {
    for (let i = 0; i < u16(6 + 2 * s); i++) {
      const n = readName(msg, at);
      const type = u16(n.end);
      const rdlength = u16(n.end + 8);
      const start = n.end + 10;
      if (start + rdlength > msg.length) throw new Error(`record data past the end at ${start}`);
      const data = msg.slice(start, start + rdlength);
      list.push({
        name: n.name,
        type,
        class: u16(n.end + 2),
        ttl: ((u16(n.end + 4) << 16) | u16(n.end + 6)) >>> 0,
        data,
        text: rdataText(msg, type, start, rdlength),
      });
      at = start + rdlength;
    }
  });
  if (at !== msg.length) throw new Error(`${msg.length - at} bytes after the last record`);
  return out;
}

function rdataText(msg: Uint8Array, type: number, start: number, length: number): string {
  const d = msg.subarray(start, start + length);
  if (type === 1 && length === 4) return [...d].join(".");
  if (NAME_TYPES.has(type)) return readName(msg, start).name;
  if (type === 15) return `${((d[0] ?? 0) << 8) | (d[1] ?? 0)} ${readName(msg, start + 2).name}`;
  if (type === 16) {
    const parts: string[] = [];
    for (let i = 0; i < d.length; i += (d[i] ?? 0) + 1)
      parts.push(String.fromCharCode(...d.subarray(i + 1, i + 1 + (d[i] ?? 0))));
    return parts.join("|");
  }
  return "";
}

/** Reads a (possibly compressed) name; returns it in presentation form and where it ends. */
export function readName(msg: Uint8Array, from: number): { name: string; end: number } {
  const labels: string[] = [];
  let at = from;
  let end = -1;
  let bytes = 1;
  for (;;) {
    if (at >= msg.length) throw new Error(`name past the end at ${at}`);
    const len = msg[at] as number;
    if (len === 0) break;
    if ((len & 0xc0) === 0xc0) {
      if (at + 1 >= msg.length) throw new Error("pointer past the end");
      const target = ((len & 0x3f) << 8) | (msg[at + 1] as number);
      if (target >= at) throw new Error(`pointer at ${at} to ${target} does not point backwards`);
      if (end < 0) end = at + 2;
      at = target;
      continue;
    }
    if (len > 63) throw new Error(`label type ${len >> 6} at ${at}`);
    if (at + 1 + len > msg.length) throw new Error(`label past the end at ${at}`);
    bytes += len + 1;
    if (bytes > 255) throw new Error("name longer than 255 bytes");
    labels.push(String.fromCharCode(...msg.subarray(at + 1, at + 1 + len)));
    at += 1 + len;
  }
  return { name: `${labels.join(".")}.`, end: end < 0 ? at + 1 : end };
}

/** A query for the tests: name, type, and optionally an OPT record with a UDP size. */
export function encodeQuery(
  id: number,
  name: string,
  type: number,
  opts: { udpSize?: number; rd?: boolean; ednsVersion?: number; opcode?: number } = {},
): Uint8Array {
  const bytes: number[] = [id >> 8, id & 0xff, ((opts.opcode ?? 0) << 3) | (opts.rd ? 1 : 0), 0, 0, 1, 0, 0, 0, 0, 0];
  bytes.push(opts.udpSize === undefined ? 0 : 1);
  for (const label of name.split(".").filter((l) => l !== "")) {
    bytes.push(label.length);
    for (const ch of label) bytes.push(ch.charCodeAt(0));
  }
  bytes.push(0, type >> 8, type & 0xff, 0, 1);
  if (opts.udpSize !== undefined)
    bytes.push(0, 0, 41, opts.udpSize >> 8, opts.udpSize & 0xff, 0, opts.ednsVersion ?? 0, 0, 0, 0, 0);
  return Uint8Array.from(bytes);
}
