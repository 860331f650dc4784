// Creating a ring's two memfd regions (launcher side) and mapping them in a tile.
import { native } from "../native";
import { RingConsumer, type RingConsumerOptions } from "./consumer";
import { initRingRegions, type RingInitOptions, type RingSpec, ringRegionSizes } from "./layout";
import { RingProducer } from "./producer";

export interface RingFds {
  /** memfd of the producer region (read-write descriptor). */
  producerFd: number;
  /** memfd of the consumer region (read-write descriptor). */
  consumerFd: number;
  producerBytes: number;
  consumerBytes: number;
}

/** Launcher side: two memfds sized for spec, with headers and initial state written. */
export function createRingFds(name: string, spec: RingSpec, opts: RingInitOptions = {}): RingFds {
  const addon = native();
  const sizes = ringRegionSizes(spec);
  const producerFd = addon.memfdCreate(`tilenet-ring-${name}-p`, sizes.producerBytes);
  const consumerFd = addon.memfdCreate(`tilenet-ring-${name}-c`, sizes.consumerBytes);
  // The mappings are dropped when these ArrayBuffers are collected.
  initRingRegions(addon.mapFd(producerFd, 0, true), addon.mapFd(consumerFd, 0, true), spec, opts);
  return { producerFd, consumerFd, ...sizes };
}

/** A read-only descriptor of the same region (what the launcher hands to the side that only reads it). */
export function readOnlyFd(fd: number): number {
  return native().openPath(`/proc/self/fd/${fd}`, false);
}

/** In a producer: maps its region read-write and the consumer's read-only, and validates them. */
export function openRingProducer(
  name: string,
  producerFd: number,
  consumerFd: number,
  expected?: RingSpec,
): RingProducer {
  const addon = native();
  return new RingProducer(name, addon.mapFd(producerFd, 0, true), addon.mapFd(consumerFd, 0, false), expected);
}

/** In a consumer: maps the producer's region read-only and its own read-write, and validates them. */
export function openRingConsumer(
  name: string,
  producerFd: number,
  consumerFd: number,
  expected?: RingSpec,
  opts?: RingConsumerOptions,
): RingConsumer {
  const addon = native();
  return new RingConsumer(name, addon.mapFd(producerFd, 0, false), addon.mapFd(consumerFd, 0, true), expected, opts);
}
