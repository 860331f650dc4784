// Kernel ABI numbers for XDP and AF_XDP, declared once (uapi linux/bpf.h, if_link.h, if_xdp.h).

/** XDP program return codes (enum xdp_action). */
export const XdpAction = { aborted: 0, drop: 1, pass: 2, tx: 3, redirect: 4 } as const;

/** BPF_MAP_TYPE_XSKMAP: array of AF_XDP sockets indexed by RX queue. */
export const BPF_MAP_TYPE_XSKMAP = 17;

/** BPF_MAP_TYPE_ARRAY: fixed array of values indexed by a u32 (the per-queue miss counters). */
export const BPF_MAP_TYPE_ARRAY = 2;

/** BPF_F_MMAPABLE: an array map whose values user space can mmap (the counters read without syscalls). */
export const BPF_F_MMAPABLE = 1024;

/** XDP_FLAGS_* for BPF_LINK_CREATE. */
export const XDP_FLAGS_SKB_MODE = 2;
export const XDP_FLAGS_DRV_MODE = 4;

/** Helper ids (enum bpf_func_id). */
export const BPF_FUNC_map_lookup_elem = 1;
export const BPF_FUNC_redirect_map = 51;

/** struct xdp_md field offsets (the program's context). */
export const XdpMd = {
  data: 0,
  dataEnd: 4,
  dataMeta: 8,
  ingressIfindex: 12,
  rxQueueIndex: 16,
  egressIfindex: 20,
} as const;

/** Ring flag set by the kernel when it needs a syscall to make progress (fill/RX: recvfrom, TX: sendto). */
export const XDP_RING_NEED_WAKEUP = 1;

/** sizeof(struct xdp_desc) {u64 addr; u32 len; u32 options} and of a fill/completion entry (u64). */
export const XDP_DESC_BYTES = 16;
export const XDP_ADDR_BYTES = 8;

/** Headroom the kernel leaves before packet data in a received UMEM frame (copy mode and most drivers). */
export const XDP_PACKET_HEADROOM = 256;
