// The XDP program, generated as raw bytecode at run time: UDP over IPv4 or IPv6 to one of our
// ports (and optionally to our IPv4 / IPv6 address) goes to the AF_XDP socket of the receiving
// queue; everything else, including ARP, ICMP, ICMPv6 (NDP), VLAN-tagged frames and fragments of
// either family, goes to the kernel (XDP_PASS).
//
// IPv6 extension headers: none is followed. Only a fixed header whose next header is UDP (17) is
// redirected; hop-by-hop, routing, destination options, fragments (the kernel reassembles) and
// anything else pass to the kernel. Why: following them correctly is more than skipping them:
// RFC 8200 4.2 makes unknown options with action bits 01/10/11 a discard (and an ICMPv6 Parameter
// Problem), a routing header with segments left must be forwarded, not delivered, and the
// hop-by-hop header may carry a jumbogram payload length; the kernel does all of it, and UDP
// services meet extension headers rarely enough that the kernel path (which answers them as it
// answers any port without a socket) costs nothing measurable. The net tile's parser accepts
// the same set (next header 17 only), so the two agree by construction.
// Packet bytes are loaded little-endian, so network-order constants are byte-swapped here once
// instead of swapping every loaded field at run time.
import { BPF_FUNC_map_lookup_elem, BPF_FUNC_redirect_map, XdpAction, XdpMd } from "./abi";
import { BpfAssembler } from "./bpf-asm";

export interface XdpProgramSpec {
  /** UDP destination ports to redirect, 1 to 16 distinct values in 1..65535. */
  ports: readonly number[];
  /** Only redirect IPv4 datagrams to this IPv4 address (host-order u32); any address when omitted. */
  dstIp?: number;
  /** Only redirect IPv6 datagrams to this IPv6 address (four words, shared/ip6.ts); any when omitted.
   *  Independent of dstIp: each filters its own family. */
  dstIp6?: readonly number[] | Uint32Array;
  /** fd of the XSKMAP (BPF_MAP_TYPE_XSKMAP) indexed by RX queue. */
  xskMapFd: number;
  /** fd of the per-queue miss counters (BPF_MAP_TYPE_ARRAY of u64, queue-misses.ts). When given,
   *  a datagram for an owned port on a queue with no socket is dropped and counted there instead
   *  of going to the kernel. */
  missMapFd?: number;
}

export const XDP_MAX_PORTS = 16;

const ETH_HLEN = 14;
const ETH_TYPE_OFF = 12;
const IP_MIN_HLEN = 20;
const UDP_HLEN = 8;
const IPPROTO_UDP = 17;
const IPV6_HLEN = 40;
/** Next header field (IPv6) and destination address offsets from the start of the IPv6 header. */
const IPV6_NEXT_OFF = 6;
const IPV6_DST_OFF = 24;

function bswap16(v: number): number {
  return ((v & 0xff) << 8) | ((v >>> 8) & 0xff);
}

function bswap32(v: number): number {
  return (((v & 0xff) << 24) | ((v & 0xff00) << 8) | ((v >>> 8) & 0xff00) | ((v >>> 24) & 0xff)) >>> 0;
}

export function validateXdpProgramSpec(spec: XdpProgramSpec): void {
  const { ports, dstIp, xskMapFd } = spec;
  if (ports.length < 1 || ports.length > XDP_MAX_PORTS)
    throw new RangeError(`xdp program: ${ports.length} ports, need 1..${XDP_MAX_PORTS}`);
  for (const p of ports) {
    if (!Number.isInteger(p) || p < 1 || p > 65535) throw new RangeError(`xdp program: bad UDP port ${p}`);
  }
  if (new Set(ports).size !== ports.length) throw new RangeError(`xdp program: duplicate ports in ${ports.join(",")}`);
  if (dstIp !== undefined && (!Number.isInteger(dstIp) || dstIp < 0 || dstIp > 0xffffffff))
    throw new RangeError(`xdp program: bad IPv4 address ${dstIp}`);
  const { dstIp6 } = spec;
  if (
    dstIp6 !== undefined &&
    (dstIp6.length !== 4 || ![...dstIp6].every((w) => Number.isInteger(w) && w >= 0 && w <= 0xffffffff))
  )
    throw new RangeError(`xdp program: bad IPv6 address words ${[...dstIp6].join(",")}`);
  if (!Number.isInteger(xskMapFd) || xskMapFd < 0) throw new RangeError(`xdp program: bad XSKMAP fd ${xskMapFd}`);
  const { missMapFd } = spec;
  if (missMapFd !== undefined && (!Number.isInteger(missMapFd) || missMapFd < 0))
    throw new RangeError(`xdp program: bad miss map fd ${missMapFd}`);
}

/**
 * Registers: r6 = ctx, r2 = data, r3 = data_end, r4/r5 scratch, r7 = UDP header, r8 = queue.
 * Every packet access is preceded by a `data + n > data_end` check the verifier can follow.
 */
export function generateXdpProgram(spec: XdpProgramSpec): Uint8Array {
  validateXdpProgramSpec(spec);
  const a = new BpfAssembler();
  a.mov64Reg(6, 1);
  a.ldx("u32", 2, 6, XdpMd.data);
  a.ldx("u32", 3, 6, XdpMd.dataEnd);

  // Ethernet header present? EtherType IPv4 or IPv6 (802.1Q and everything else to the kernel).
  a.mov64Reg(4, 2).alu64Imm("add", 4, ETH_HLEN).jmpReg("jgt", 4, 3, "pass");
  a.ldx("u16", 4, 2, ETH_TYPE_OFF).jmpImm("jeq", 4, bswap16(0x86dd), "ipv6");
  a.jmpImm("jne", 4, bswap16(0x0800), "pass");
  // Minimal IPv4 header present?
  a.mov64Reg(4, 2)
    .alu64Imm("add", 4, ETH_HLEN + IP_MIN_HLEN)
    .jmpReg("jgt", 4, 3, "pass");
  // Version 4, IHL >= 5.
  a.ldx("u8", 5, 2, ETH_HLEN);
  a.mov64Reg(4, 5).alu64Imm("rsh", 4, 4).jmpImm("jne", 4, 4, "pass");
  a.alu64Imm("and", 5, 0x0f).jmpImm("jlt", 5, 5, "pass");
  // Fragments (MF set or a nonzero offset) to the kernel, which reassembles them.
  a.ldx("u16", 4, 2, ETH_HLEN + 6)
    .alu64Imm("and", 4, bswap16(0x3fff))
    .jmpImm("jne", 4, 0, "pass");
  a.ldx("u8", 4, 2, ETH_HLEN + 9).jmpImm("jne", 4, IPPROTO_UDP, "pass");
  if (spec.dstIp !== undefined) {
    a.ldx("u32", 4, 2, ETH_HLEN + 16).jmp32Imm("jne", 4, bswap32(spec.dstIp), "pass");
  }
  // UDP header at data + 14 + IHL * 4 (options honoured); it must fit in the packet.
  a.alu64Imm("lsh", 5, 2);
  a.mov64Reg(7, 2).alu64Reg("add", 7, 5).alu64Imm("add", 7, ETH_HLEN);
  a.mov64Reg(4, 7).alu64Imm("add", 4, UDP_HLEN).jmpReg("jgt", 4, 3, "pass");
  a.ldx("u16", 4, 7, 2);
  for (const port of spec.ports) a.jmpImm("jeq", 4, bswap16(port), "redirect");
  a.ja("pass");
  emitIpv6(a, spec);
  a.label("pass").mov64Imm(0, XdpAction.pass).exit();

  if (spec.missMapFd === undefined) {
    // bpf_redirect_map(xskmap, rx_queue_index, XDP_PASS): the flags' low bits are the action
    // when the queue has no socket, so an unbound queue still reaches the kernel.
    a.label("redirect");
    a.ldx("u32", 2, 6, XdpMd.rxQueueIndex);
    a.ldMapFd(1, spec.xskMapFd);
    a.mov64Imm(3, XdpAction.pass);
    a.call(BPF_FUNC_redirect_map);
    a.exit();
  } else {
    emitRedirectOrCountMiss(a, spec.xskMapFd, spec.missMapFd);
  }
  return a.assemble();
}

/** IPv6 (r2 = data, r3 = data_end): fixed header + UDP header present, version 6, next header
 *  UDP (no extension header followed), optional destination filter, then the ports. Falls
 *  through to "pass". */
function emitIpv6(a: BpfAssembler, spec: XdpProgramSpec): void {
  a.label("ipv6");
  a.mov64Reg(4, 2)
    .alu64Imm("add", 4, ETH_HLEN + IPV6_HLEN + UDP_HLEN)
    .jmpReg("jgt", 4, 3, "pass");
  a.ldx("u8", 4, 2, ETH_HLEN).alu64Imm("rsh", 4, 4).jmpImm("jne", 4, 6, "pass");
  a.ldx("u8", 4, 2, ETH_HLEN + IPV6_NEXT_OFF).jmpImm("jne", 4, IPPROTO_UDP, "pass");
  const dst6 = spec.dstIp6;
  if (dst6 !== undefined) {
    for (let i = 0; i < 4; i++)
      a.ldx("u32", 4, 2, ETH_HLEN + IPV6_DST_OFF + 4 * i).jmp32Imm("jne", 4, bswap32(dst6[i] ?? 0), "pass");
  }
  a.ldx("u16", 4, 2, ETH_HLEN + IPV6_HLEN + 2);
  for (const port of spec.ports) a.jmpImm("jeq", 4, bswap16(port), "redirect");
}

/**
 * bpf_redirect_map(xskmap, rx_queue_index, XDP_DROP); when that did not redirect (no socket on
 * the queue), lock-add 1 to misses[rx_queue_index] and drop. The queue index lives in r8
 * (callee-saved) across both calls; the lookup key is a u32 on the stack, as the verifier wants.
 * A queue beyond the map's entries finds no counter and is dropped uncounted.
 */
function emitRedirectOrCountMiss(a: BpfAssembler, xskMapFd: number, missMapFd: number): void {
  a.label("redirect");
  a.ldx("u32", 8, 6, XdpMd.rxQueueIndex);
  a.ldMapFd(1, xskMapFd);
  a.mov64Reg(2, 8);
  a.mov64Imm(3, XdpAction.drop);
  a.call(BPF_FUNC_redirect_map);
  a.jmpImm("jne", 0, XdpAction.redirect, "miss");
  a.exit();
  a.label("miss");
  a.stx("u32", 10, -4, 8);
  a.mov64Reg(2, 10).alu64Imm("add", 2, -4);
  a.ldMapFd(1, missMapFd);
  a.call(BPF_FUNC_map_lookup_elem);
  a.jmpImm("jeq", 0, 0, "drop");
  a.mov64Imm(1, 1);
  a.atomicAdd("u64", 0, 0, 1);
  a.label("drop").mov64Imm(0, XdpAction.drop).exit();
}
