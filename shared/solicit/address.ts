// Which IPv4 addresses can never be a next hop worth resolving, whatever the interface: decided
// from the address alone (host-order u32). Interface-dependent checks (local address, subnet
// broadcast, on-link) need the kernel's state and live in the solicit handler's environment.
import { isIp6Loopback, isIp6Multicast, isIp6Unspecified, isIp6V4Mapped } from "../ip6";

export const AddressClass = {
  /** Could be a neighbor (the interface-dependent checks still apply). */
  unicast: 0,
  /** 0.0.0.0 */
  zero_address: 1,
  /** 0.0.0.0/8 other than 0.0.0.0: "this network" (RFC 791/1122), never a destination. */
  this_network: 2,
  /** 127.0.0.0/8 */
  loopback: 3,
  /** 224.0.0.0/4: multicast MACs are computed, never resolved. */
  multicast: 4,
  /** 255.255.255.255 */
  limited_broadcast: 5,
  /** 240.0.0.0/4 other than 255.255.255.255 (class E, reserved). */
  reserved_address: 6,
} as const;
export type AddressClassValue = (typeof AddressClass)[keyof typeof AddressClass];

export function classifyAddress(ip: number): AddressClassValue {
  ip >>>= 0;
  if (ip === 0) return AddressClass.zero_address;
  const top = ip >>> 24;
  if (top === 0) return AddressClass.this_network;
  if (top === 127) return AddressClass.loopback;
  if (top >= 224 && top < 240) return AddressClass.multicast;
  if (ip === 0xffffffff) return AddressClass.limited_broadcast;
  if (top >= 240) return AddressClass.reserved_address;
  return AddressClass.unicast;
}

/** Which IPv6 addresses can never be a next hop worth resolving (decided from the words alone). */
export const Address6Class = {
  unicast: 0,
  /** :: */
  unspecified: 1,
  /** ::1 */
  loopback: 2,
  /** ff00::/8: multicast MACs are computed (33:33:...), never solicited. */
  multicast: 3,
  /** ::ffff:0:0/96: an IPv4 address; its neighbor is resolved with ARP, as IPv4. */
  v4_mapped: 4,
} as const;
export type Address6ClassValue = (typeof Address6Class)[keyof typeof Address6Class];

export function classifyAddress6(a0: number, a1: number, a2: number, a3: number): Address6ClassValue {
  if (isIp6Unspecified(a0, a1, a2, a3)) return Address6Class.unspecified;
  if (isIp6Loopback(a0, a1, a2, a3)) return Address6Class.loopback;
  if (isIp6Multicast(a0)) return Address6Class.multicast;
  if (isIp6V4Mapped(a0 | 0, a1 | 0, a2)) return Address6Class.v4_mapped;
  return Address6Class.unicast;
}
