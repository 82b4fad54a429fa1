/**
 * Where a generated packet program runs, and what that changes in its bytecode: the context's
 * field offsets and the verdict codes. The steering program and the fast path are emitted for either
 * hook from one generator (docs/decisions/0850-tc-ingress-fast-path.md):
 *
 *  - "xdp": the program gets a `struct xdp_md` (data, data_end, ingress_ifindex, rx_queue_index
 *    at 0, 4, 12, 16) and answers XDP_PASS / XDP_DROP / XDP_REDIRECT;
 *  - "tc": it runs at TC ingress through a tcx link and gets a `struct __sk_buff` (len at 0,
 *    ifindex at 40, data and data_end at 76 and 80) and answers TCX_NEXT (let the next program or
 *    the host have it) / TC_ACT_SHOT / TC_ACT_REDIRECT. The frame may be non-linear there: the
 *    program pulls its headers into the linear part first.
 */
export interface HookAbi {
  readonly hook: "xdp" | "tc";
  /** Context offsets (u32 loads) of the frame's start and end pointers. */
  readonly data: number;
  readonly dataEnd: number;
  /** Context offset of the receiving interface's index. */
  readonly ifindex: number;
  /** Hand the frame to the host, untouched. */
  readonly pass: number;
  /** Discard the frame. */
  readonly drop: number;
}

export const XDP_ABI: HookAbi = { hook: "xdp", data: 0, dataEnd: 4, ifindex: 12, pass: 2, drop: 1 };

/** `xdp_md.rx_queue_index`: the RX queue, the key of an XSKMAP (XDP only). */
export const XDP_RX_QUEUE_INDEX = 16;

/** `__sk_buff.len`: the whole frame's length, linear part and fragments (TC only). */
export const SKB_LEN = 0;
/** `__sk_buff.gso_segs` and `gso_size`: non-zero for a GSO/GRO aggregate (TC only). */
export const SKB_GSO_SEGS = 164;
export const SKB_GSO_SIZE = 176;

export const TC_ABI: HookAbi = { hook: "tc", data: 76, dataEnd: 80, ifindex: 40, pass: -1, drop: 2 };

/** What a TC program returns after a successful bpf_redirect. */
export const TC_ACT_REDIRECT = 7;
/** bpf_redirect flag: deliver into the target's receive path instead of transmitting on it. */
export const BPF_F_INGRESS = 1;
/** How many header bytes a TC program pulls into the linear part before parsing. */
export const TC_PULL_BYTES = 128;
