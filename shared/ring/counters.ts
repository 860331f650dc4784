// Reading a ring's counters from outside (monitor, status): both regions mapped read-only.
import {
  checkRingPair,
  RING_CONS_CNT_CONSUMED,
  RING_CONS_CNT_LOST,
  RING_CONS_CNT_OVERRUNS,
  RING_CONS_CNT_SLEEPS,
  RING_CONS_CNT_TORN,
  RING_CONS_CNT_WAKES,
  RING_CONS_CONSUMED,
  RING_PROD_CNT_BACKPRESSURE,
  RING_PROD_CNT_BACKPRESSURE_NS,
  RING_PROD_CNT_PUBLISHED,
  RING_PROD_CNT_SLEEPS,
  RING_PROD_CNT_WAKES,
  RING_PROD_PUBLISHED,
} from "./layout";

export interface RingCounters {
  /** Messages published (producer). */
  published: number;
  /** Times the producer of a reliable ring had to wait for credits, and the total wait. */
  backpressureCount: number;
  backpressureNs: number;
  producerSleeps: number;
  /** FUTEX_WAKE calls by the producer (for a sleeping consumer). */
  producerWakes: number;
  /** Messages delivered to the consumer's handlers. */
  consumed: number;
  overruns: number;
  lost: number;
  torn: number;
  consumerSleeps: number;
  /** FUTEX_WAKE calls by the consumer (for a producer sleeping on a full ring). */
  consumerWakes: number;
  /** Messages published but not yet read, by the positions in the regions (the consumer stores
   *  its position at most once per batch, so this can lag by up to a batch). */
  backlog: number;
}

/** A snapshot of a ring's counters (validates both headers first). */
export function readRingCounters(name: string, producerBuf: ArrayBuffer, consumerBuf: ArrayBuffer): RingCounters {
  checkRingPair(name, producerBuf, consumerBuf);
  const prod = new DataView(producerBuf);
  const cons = new DataView(consumerBuf);
  const p = (offset: number) => prod.getFloat64(offset, true);
  const c = (offset: number) => cons.getFloat64(offset, true);
  return {
    published: p(RING_PROD_CNT_PUBLISHED),
    backpressureCount: p(RING_PROD_CNT_BACKPRESSURE),
    backpressureNs: p(RING_PROD_CNT_BACKPRESSURE_NS),
    producerSleeps: p(RING_PROD_CNT_SLEEPS),
    producerWakes: p(RING_PROD_CNT_WAKES),
    consumed: c(RING_CONS_CNT_CONSUMED),
    overruns: c(RING_CONS_CNT_OVERRUNS),
    lost: c(RING_CONS_CNT_LOST),
    torn: c(RING_CONS_CNT_TORN),
    consumerSleeps: c(RING_CONS_CNT_SLEEPS),
    consumerWakes: c(RING_CONS_CNT_WAKES),
    backlog: (prod.getInt32(RING_PROD_PUBLISHED, true) - cons.getInt32(RING_CONS_CONSUMED, true)) | 0,
  };
}
