// A solicit producer at full speed, for the solicit benchmark and the live fuzz: attaches to an
// instance's solicit ring through the launcher's descriptors (root only) and publishes messages
// for a bounded time, never waiting (the ring is unreliable). Prints one JSON line.
//   solicit-producer <launcherPid> <producerFd> <consumerFd> <seconds> <seed> <mode> <ifindex> <subnetBase>
// mode: valid (on-link hosts), mixed (valid, off-link, garbage), garbage (random words).
import { native } from "../../shared/native";
import { RingProducer } from "../../shared/ring/producer";
import { encodeSolicit, SOLICIT_BYTES } from "../../shared/solicit/message";

const [pid, prodFd, consFd, seconds, seed, mode, ifindex, subnetBase] = process.argv.slice(2);
const addon = native();
const open = (fd: string | undefined, writable: boolean): ArrayBuffer => {
  const own = addon.openPath(`/proc/${pid}/fd/${fd}`, writable);
  const buf = addon.mapFd(own, 0, writable);
  addon.closeFd(own);
  return buf;
};
const producer = new RingProducer("solicit", open(prodFd, true), open(consFd, false));
const ifx = Number(ifindex) | 0;
const base = Number(subnetBase) >>> 0;
let state = Number(seed) | 0 || 0x1234567;
const rand = (): number => {
  state ^= state << 13;
  state ^= state >>> 17;
  state ^= state << 5;
  return state >>> 0;
};

// A pool of pre-generated messages, so the timed loop measures the ring and not the random
// number generator: each publish copies one message's words from the pool.
const WORDS = SOLICIT_BYTES / 4;
const POOL = 1 << 16;
const pool = new Int32Array(POOL * WORDS);
const poolView = new DataView(pool.buffer);
for (let m = 0; m < POOL; m++) {
  const off = m * SOLICIT_BYTES;
  const r = rand();
  const kind = mode === "valid" ? 0 : mode === "garbage" ? 9 : r % 10;
  if (kind < 5) {
    encodeSolicit(poolView, off, base | (2 + (rand() % 250)) | 0, ifx); // on-link hosts
  } else if (kind < 7) {
    encodeSolicit(poolView, off, rand() | 0, kind === 5 ? ifx : rand() & 0xff); // off-link / wrong ifindex
  } else {
    for (let w = 0; w < WORDS; w++) poolView.setUint32(off + w * 4, rand(), true); // garbage
  }
}
const slots = producer.i32;
let next = 0;
const write = (off: number): void => {
  const at = off >> 2;
  const from = (next & (POOL - 1)) * WORDS;
  next++;
  for (let w = 0; w < WORDS; w++) slots[at + w] = pool[from + w];
};

const deadline = performance.now() + Number(seconds) * 1000;
let published = 0;
const t0 = performance.now();
for (let round = 0; ; round++) {
  const n = producer.claimBatch(64);
  for (let i = 0; i < n; i++) write(producer.slotOffset(i));
  producer.publish();
  published += n;
  if ((round & 1023) === 0 && performance.now() >= deadline) break;
}
const elapsed = (performance.now() - t0) / 1000;
process.stdout.write(`${JSON.stringify({ published, seconds: elapsed })}\n`);
