// Shared-memory layout of a single-producer single-consumer ring, declared once.
//
// A ring is two regions, so that each side writes only its own memory (the other side maps it
// read-only):
//   producer region: header | position line | wait line | counters line | seq array | slots
//   consumer region: header | position line | sleep line | counters line
// Every field written by one side sits on cache lines (64 B) that the other side never writes.
// Sequence numbers are 32-bit and wrap; positions are compared with (a - b) | 0.
//
// Slot protocol (message number n lives in slot n & (depth - 1)):
//   seq[slot] == n            message n is complete in the slot
//   seq[slot] == n - 1        the producer is rewriting the slot with message n ("in progress";
//                             n - 1 is never a valid complete value for this slot since depth >= 2)
//   seq[slot] == n - depth    the slot still holds the previous message (initial state too)
// The producer's `published` word (next message number to be published) is the publication point
// and the futex word consumers sleep on; the consumer's `consumed` word (next message number it
// will read) is the credit return of reliable rings and the futex word a producer sleeps on when
// the ring is full.

/** A ring's shape. slotSize is the payload bytes per slot (a multiple of 8). */
export interface RingSpec {
  kind: "reliable" | "unreliable";
  depth: number;
  slotSize: number;
}

export interface RingRegionSizes {
  producerBytes: number;
  consumerBytes: number;
}

export interface RingInitOptions {
  /** Number of the first message (u32 or i32; default 0). Tests start near 2^32 to cross the wrap. */
  initSeq?: number;
}

export const RING_MAGIC = 0x544e5247; // "TNRG"
export const RING_VERSION = 1;
export const RING_CACHE_LINE = 64;

export const RING_ROLE_PRODUCER = 1;
export const RING_ROLE_CONSUMER = 2;
export const RING_KIND_RELIABLE = 1;
export const RING_KIND_UNRELIABLE = 2;

export const RING_MIN_DEPTH = 2;
export const RING_MAX_DEPTH = 1 << 24;
export const RING_MIN_SLOT_SIZE = 8;
export const RING_MAX_SLOT_SIZE = 1 << 20;
/** Regions are indexed by 32-bit signed offsets in JS views. */
export const RING_MAX_REGION_BYTES = 0x7fffffff;

// Header line (both regions; u32 fields, byte offsets). Written once by the launcher.
export const RING_HDR_MAGIC = 0;
export const RING_HDR_VERSION = 4;
export const RING_HDR_ROLE = 8;
export const RING_HDR_KIND = 12;
export const RING_HDR_DEPTH = 16;
export const RING_HDR_SLOT_SIZE = 20;
export const RING_HDR_SEQ_OFFSET = 24;
export const RING_HDR_SLOTS_OFFSET = 28;
export const RING_HDR_PRODUCER_BYTES = 32;
export const RING_HDR_CONSUMER_BYTES = 36;
export const RING_HDR_INIT_SEQ = 40;
export const RING_HEADER_BYTES = 64;

// Everything below is written by one side only. Words the other side reads often sit on lines
// the writer rarely writes, and words the writer updates often on lines the other side rarely
// reads, so neither side's fast path pulls a line the other is busy writing.

// Producer position line (producer region; i32): written on every publish, read by the consumer
// only on its slow paths (the fast path reads the per-slot seq).
export const RING_PROD_PUBLISHED = 64;
export const RING_PROD_CLAIMED = 68;
// Producer wait line: written only when a reliable ring is full; read by the consumer when it
// returns credits. WAITING: the producer waits for credits (spinning or asleep); SLEEPING: it
// sleeps on the futex, having seen `consumed` == SLEEP_EXPECT.
export const RING_PROD_WAITING = 128;
export const RING_PROD_SLEEPING = 132;
export const RING_PROD_SLEEP_EXPECT = 136;
// Producer counters line (f64, exact up to 2^53).
export const RING_PROD_CNT_PUBLISHED = 192;
export const RING_PROD_CNT_BACKPRESSURE = 200;
export const RING_PROD_CNT_BACKPRESSURE_NS = 208;
export const RING_PROD_CNT_WAKES = 216;
export const RING_PROD_CNT_SLEEPS = 224;
/** Start of the per-slot sequence array (i32 per slot) in the producer region. */
export const RING_SEQ_OFFSET = 256;

// Consumer position line (consumer region; i32): the credits of a reliable ring, stored at most
// once per batch; read by the producer only when its cached credits run out.
export const RING_CONS_CONSUMED = 64;
// Consumer sleep line: written only when the consumer goes to sleep; read by the producer after
// every publish. SLEEPING: asleep on the futex, having seen `published` == SLEEP_EXPECT.
export const RING_CONS_SLEEPING = 128;
export const RING_CONS_SLEEP_EXPECT = 132;
// Consumer counters line (f64).
export const RING_CONS_CNT_CONSUMED = 192;
export const RING_CONS_CNT_OVERRUNS = 200;
export const RING_CONS_CNT_LOST = 208;
export const RING_CONS_CNT_TORN = 216;
export const RING_CONS_CNT_SLEEPS = 224;
export const RING_CONS_CNT_WAKES = 232;
export const RING_CONSUMER_BYTES = 256;

function alignLine(n: number): number {
  return Math.ceil(n / RING_CACHE_LINE) * RING_CACHE_LINE;
}

/** Offset of the first slot in the producer region (after the seq array, line aligned). */
export function ringSlotsOffset(depth: number): number {
  return alignLine(RING_SEQ_OFFSET + depth * 4);
}

function isPowerOfTwo(n: number): boolean {
  return Number.isInteger(n) && n > 0 && (n & (n - 1)) === 0;
}

function hex(n: number): string {
  return `0x${(n >>> 0).toString(16).padStart(8, "0")}`;
}

/** Checks a spec's shape; throws "ring <name>: ..." on a bad one. */
export function checkRingSpec(spec: RingSpec, name = "?"): void {
  if (spec.kind !== "reliable" && spec.kind !== "unreliable")
    throw new Error(`ring ${name}: unknown kind ${String(spec.kind)} (expected reliable or unreliable)`);
  if (!isPowerOfTwo(spec.depth) || spec.depth < RING_MIN_DEPTH || spec.depth > RING_MAX_DEPTH)
    throw new Error(
      `ring ${name}: depth ${spec.depth} is not a power of two in [${RING_MIN_DEPTH}, ${RING_MAX_DEPTH}]`,
    );
  if (
    !Number.isInteger(spec.slotSize) ||
    spec.slotSize % 8 !== 0 ||
    spec.slotSize < RING_MIN_SLOT_SIZE ||
    spec.slotSize > RING_MAX_SLOT_SIZE
  )
    throw new Error(
      `ring ${name}: slot size ${spec.slotSize} is not a multiple of 8 in [${RING_MIN_SLOT_SIZE}, ${RING_MAX_SLOT_SIZE}]`,
    );
  const bytes = ringSlotsOffset(spec.depth) + spec.depth * spec.slotSize;
  if (bytes > RING_MAX_REGION_BYTES)
    throw new Error(`ring ${name}: producer region of ${bytes} bytes exceeds ${RING_MAX_REGION_BYTES}`);
}

/** Bytes of each region for a spec. */
export function ringRegionSizes(spec: RingSpec): RingRegionSizes {
  checkRingSpec(spec);
  return {
    producerBytes: ringSlotsOffset(spec.depth) + spec.depth * spec.slotSize,
    consumerBytes: RING_CONSUMER_BYTES,
  };
}

function writeHeader(view: DataView, role: number, spec: RingSpec, sizes: RingRegionSizes, initSeq: number): void {
  view.setUint32(RING_HDR_MAGIC, RING_MAGIC, true);
  view.setUint32(RING_HDR_VERSION, RING_VERSION, true);
  view.setUint32(RING_HDR_ROLE, role, true);
  view.setUint32(RING_HDR_KIND, spec.kind === "reliable" ? RING_KIND_RELIABLE : RING_KIND_UNRELIABLE, true);
  view.setUint32(RING_HDR_DEPTH, spec.depth, true);
  view.setUint32(RING_HDR_SLOT_SIZE, spec.slotSize, true);
  view.setUint32(RING_HDR_SEQ_OFFSET, RING_SEQ_OFFSET, true);
  view.setUint32(RING_HDR_SLOTS_OFFSET, ringSlotsOffset(spec.depth), true);
  view.setUint32(RING_HDR_PRODUCER_BYTES, sizes.producerBytes, true);
  view.setUint32(RING_HDR_CONSUMER_BYTES, sizes.consumerBytes, true);
  view.setUint32(RING_HDR_INIT_SEQ, initSeq >>> 0, true);
}

/**
 * Launcher side: zeroes both regions and writes their headers and initial state (positions at
 * initSeq, every slot's seq saying "previous message", so nothing reads as published).
 */
export function initRingRegions(
  producerBuf: ArrayBuffer,
  consumerBuf: ArrayBuffer,
  spec: RingSpec,
  opts: RingInitOptions = {},
): void {
  const sizes = ringRegionSizes(spec);
  if (producerBuf.byteLength < sizes.producerBytes)
    throw new Error(`ring init: producer region of ${producerBuf.byteLength} bytes, needs ${sizes.producerBytes}`);
  if (consumerBuf.byteLength < sizes.consumerBytes)
    throw new Error(`ring init: consumer region of ${consumerBuf.byteLength} bytes, needs ${sizes.consumerBytes}`);
  const initSeq = (opts.initSeq ?? 0) | 0;
  new Uint8Array(producerBuf, 0, sizes.producerBytes).fill(0);
  new Uint8Array(consumerBuf, 0, sizes.consumerBytes).fill(0);
  writeHeader(new DataView(producerBuf), RING_ROLE_PRODUCER, spec, sizes, initSeq);
  writeHeader(new DataView(consumerBuf), RING_ROLE_CONSUMER, spec, sizes, initSeq);
  const prod = new Int32Array(producerBuf);
  const cons = new Int32Array(consumerBuf);
  prod[RING_PROD_PUBLISHED >> 2] = initSeq;
  prod[RING_PROD_CLAIMED >> 2] = initSeq;
  cons[RING_CONS_CONSUMED >> 2] = initSeq;
  const mask = spec.depth - 1;
  for (let slot = 0; slot < spec.depth; slot++) {
    // The first message that will use this slot, minus depth: "holds the previous message".
    const first = (initSeq + ((slot - initSeq) & mask)) | 0;
    prod[(RING_SEQ_OFFSET >> 2) + slot] = (first - spec.depth) | 0;
  }
}

/** A validated header: the spec plus what the region says about itself. */
export interface RingHeader extends RingSpec {
  role: "producer" | "consumer";
  initSeq: number;
  seqOffset: number;
  slotsOffset: number;
  producerBytes: number;
  consumerBytes: number;
}

/**
 * Reads and validates the header of either region of a ring. Throws a clear Error
 * ("ring <name>: bad magic 0x... (expected 0x...)", version, role, depth, slot size, offsets,
 * region too small).
 */
export function readRingHeader(buf: ArrayBuffer, name = "?", expectRole?: "producer" | "consumer"): RingHeader {
  if (buf.byteLength < RING_HEADER_BYTES)
    throw new Error(
      `ring ${name}: region too small: ${buf.byteLength} bytes (a ring header needs ${RING_HEADER_BYTES})`,
    );
  const view = new DataView(buf);
  const magic = view.getUint32(RING_HDR_MAGIC, true);
  if (magic !== RING_MAGIC) throw new Error(`ring ${name}: bad magic ${hex(magic)} (expected ${hex(RING_MAGIC)})`);
  const version = view.getUint32(RING_HDR_VERSION, true);
  if (version !== RING_VERSION)
    throw new Error(`ring ${name}: unsupported layout version ${version} (expected ${RING_VERSION})`);
  const roleCode = view.getUint32(RING_HDR_ROLE, true);
  if (roleCode !== RING_ROLE_PRODUCER && roleCode !== RING_ROLE_CONSUMER)
    throw new Error(`ring ${name}: bad region role ${roleCode}`);
  const role = roleCode === RING_ROLE_PRODUCER ? "producer" : "consumer";
  if (expectRole !== undefined && role !== expectRole)
    throw new Error(`ring ${name}: expected the ${expectRole} region, got the ${role} region`);
  const kindCode = view.getUint32(RING_HDR_KIND, true);
  if (kindCode !== RING_KIND_RELIABLE && kindCode !== RING_KIND_UNRELIABLE)
    throw new Error(`ring ${name}: bad kind ${kindCode}`);
  const header: RingHeader = {
    kind: kindCode === RING_KIND_RELIABLE ? "reliable" : "unreliable",
    depth: view.getUint32(RING_HDR_DEPTH, true),
    slotSize: view.getUint32(RING_HDR_SLOT_SIZE, true),
    role,
    initSeq: view.getInt32(RING_HDR_INIT_SEQ, true),
    seqOffset: view.getUint32(RING_HDR_SEQ_OFFSET, true),
    slotsOffset: view.getUint32(RING_HDR_SLOTS_OFFSET, true),
    producerBytes: view.getUint32(RING_HDR_PRODUCER_BYTES, true),
    consumerBytes: view.getUint32(RING_HDR_CONSUMER_BYTES, true),
  };
  checkRingSpec(header, name);
  const sizes = ringRegionSizes(header);
  if (header.seqOffset !== RING_SEQ_OFFSET || header.slotsOffset !== ringSlotsOffset(header.depth))
    throw new Error(
      `ring ${name}: header offsets seq=${header.seqOffset} slots=${header.slotsOffset} do not match the layout ` +
        `(seq=${RING_SEQ_OFFSET} slots=${ringSlotsOffset(header.depth)})`,
    );
  if (header.producerBytes !== sizes.producerBytes || header.consumerBytes !== sizes.consumerBytes)
    throw new Error(
      `ring ${name}: header sizes producer=${header.producerBytes} consumer=${header.consumerBytes} do not match ` +
        `the layout (producer=${sizes.producerBytes} consumer=${sizes.consumerBytes})`,
    );
  const need = role === "producer" ? sizes.producerBytes : sizes.consumerBytes;
  if (buf.byteLength < need)
    throw new Error(`ring ${name}: region too small: ${role} region of ${buf.byteLength} bytes, needs ${need}`);
  return header;
}

/**
 * Validates both regions of a ring, that they describe the same ring, and (when given) that it
 * is the ring the caller expects. Returns the producer region's header.
 */
export function checkRingPair(
  name: string,
  producerBuf: ArrayBuffer,
  consumerBuf: ArrayBuffer,
  expected?: RingSpec,
): RingHeader {
  const prod = readRingHeader(producerBuf, name, "producer");
  const cons = readRingHeader(consumerBuf, name, "consumer");
  for (const field of ["kind", "depth", "slotSize", "initSeq"] as const) {
    if (prod[field] !== cons[field])
      throw new Error(
        `ring ${name}: producer and consumer regions disagree on ${field} (${prod[field]} vs ${cons[field]})`,
      );
  }
  if (expected !== undefined) {
    if (prod.kind !== expected.kind) throw new Error(`ring ${name}: kind ${prod.kind} (expected ${expected.kind})`);
    if (prod.depth !== expected.depth)
      throw new Error(`ring ${name}: depth ${prod.depth} does not match expected ${expected.depth}`);
    if (prod.slotSize !== expected.slotSize)
      throw new Error(`ring ${name}: slot size ${prod.slotSize} does not match expected ${expected.slotSize}`);
  }
  return prod;
}
