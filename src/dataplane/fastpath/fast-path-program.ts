/**
 * The fast path's code, emitted into the steering program (steering-program.ts) right after it
 * has parsed an unfragmented IPv4 TCP/UDP/SCTP packet and before it looks for a virtual service:
 * Katran's design, for connections the director has already scheduled and seen ESTABLISHED. The
 * same code serves XDP and TC ingress (bpf/hook-abi.ts); at TC a TCP GSO/GRO aggregate is taken
 * whole when its segments fit the egress MTU, its partial checksum moved by the address change
 * (emitGsoLength, emitGsoL4Checksum), and a rewrite keeps a CHECKSUM_COMPLETE sum right
 * (emitCsumComplete). Elsewhere "XDP" below reads "the hook".
 *
 *   TCP with SYN, FIN or RST, SCTP whose first chunk is not DATA, SACK, HEARTBEAT or HEARTBEAT ACK
 *                                           -> steering continues (slow path: the state machine)
 *   lookup (proto, saddr, daddr, ports) in tslvs_flows
 *     miss                                  -> steering continues (AF_XDP, as without a fast path)
 *     hit, but: other ingress interface or not addressed to its MAC, VLAN-tagged, TTL <= 1,
 *       longer than the egress MTU (GRO/GSO aggregate), or the L4 checksum field equals the
 *       pseudo-header sum (CHECKSUM_PARTIAL from a local sender: an incremental update would be
 *       wrong)                              -> steering continues
 *     hit                                   -> rewrite in place (addresses/ports as the value says:
 *       NAT one end, FULLNAT both; TTL - 1, IPv4 header and L4 checksums patched with the value's
 *       RFC 1624 deltas, UDP checksum 0 kept 0 and a computed 0 sent as 0xFFFF, MACs), count
 *       packet, bytes (IP total length) and the time into the value, bpf_redirect(egress ifindex)
 *     tunnel hit (LVS-TUN), but the inner packet has no DF -> steering continues
 *     tunnel hit                            -> trim link padding, grow the head by 20 bytes, move
 *       the Ethernet header, inner TTL - 1 (checksum patched), write the outer IPv4 header (TOS
 *       with ECN encapsulation, DF, id 0, TTL = inner TTL, protocol 4, addresses and checksum base
 *       from the value), count, redirect. If the driver gives no headroom, the packet is reparsed
 *       and continues, untouched, into the steering code. A GUE real server (`nocsum`) gets 12
 *       more bytes, UDP (ports from the value, checksum 0) and GUE, protocol 17; a GRE one
 *       (`nocsum`) 4, GRE without options, protocol 47. Checksummed GUE/GRE flows are never
 *       offloaded (flow-offload.ts): the slow path sends them.
 *
 * Every check happens before the first byte is written, so whatever falls through reaches the slow
 * path untouched. Layout of the map: flow-layout.ts.
 */

import { type BpfAsm, Helper, R0, R1, R2, R3, R4, R5, R10, type Reg } from "../bpf/asm.js";
import { emitIncrement } from "../bpf/emit-increment.js";
import { type HookAbi, SKB_GSO_SIZE, SKB_LEN } from "../bpf/hook-abi.js";
import {
  FastPathCounter,
  FK_DADDR,
  FK_PROTO,
  FK_SADDR,
  FK_SPORT,
  FLOW_REWRITE_DST,
  FLOW_REWRITE_SRC,
  FLOW_TUNNEL,
  FLOW_TUNNEL_GRE,
  FLOW_TUNNEL_GUE,
  FV_BYTES,
  FV_DADDR,
  FV_DPORT,
  FV_DST_MAC,
  FV_IN_IFINDEX,
  FV_IN_MAC,
  FV_IP_DELTA,
  FV_L4_DELTA,
  FV_LAST_SEEN,
  FV_MAX_LEN,
  FV_OUT_IFINDEX,
  FV_OUTER_CSUM,
  FV_PACKETS,
  FV_REWRITE,
  FV_SADDR,
  FV_SPORT,
  FV_SRC_MAC,
} from "./flow-layout.js";

export interface FastPathMapFds {
  /** HASH: flow key -> flow value (flow-layout.ts). */
  flows: number;
  /** HASH: IPv6 flow key -> IPv6 flow value (flow-layout-ipv6.ts). */
  flows6: number;
  /** PERCPU_ARRAY of u64, indexed by FastPathCounter. */
  stats: number;
}

/** Registers and labels of the host program at the insertion point. */
export interface FastPathContext {
  ctx: Reg;
  /** IPv4 header; at least 20 bytes checked. */
  iph: Reg;
  /** L4 header; at least 4 bytes checked. */
  l4: Reg;
  /** IP protocol; must be unchanged on every path that falls through. */
  proto: Reg;
  /** Where the host program continues when the fast path does not take the packet. */
  fallThrough: string;
  /** The hook the host program runs at (its context layout and verdicts). */
  abi: HookAbi;
}

const ETH_P_IP_LE = 0x0008;
export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;
export const TCP_FIN_SYN_RST = 0x07;
export const IPPROTO_SCTP = 132;
/** The SCTP chunk types the fast path takes (RFC 9260 §3.2): DATA, and SACK .. HEARTBEAT ACK. */
const SCTP_CID_DATA = 0;
const SCTP_CID_SACK = 3;
const SCTP_CID_HEARTBEAT_ACK = 5;

// Stack slots below those the steering program uses (it uses -80 .. -1).
const FKEY = -96;
export const SPILL_VALUE = -104;
const STAT_KEY = -108;
export const SPILL_LEN = -120;
/** TC only: the one's-complement negation of the L4 words a NAT rewrite changes (ports, checksum). */
export const OLD_L4_SUM = -128;
/** TC only: the same for the IP addresses (a GSO packet's partial checksum covers only those). */
export const OLD_ADDR_SUM = -132;
/** TC only: 1 when the packet is a GSO/GRO aggregate (its L4 checksum is CHECKSUM_PARTIAL). */
export const GSO_FLAG = -136;

export const ETH_HLEN = 14;
const IPIP_HLEN = 20;
const IPPROTO_IPIP = 4;
const IPPROTO_GRE = 47;
/** UDP + GUE headers, and GRE's without options, after the outer IPv4 header. */
const GUE_HLEN = 12;
const GRE_HLEN = 4;
/** GUE's first word (version 0, hlen 0, proto 4, flags 0) as a little-endian u32 immediate. */
const GUE_WORD_LE = 0x0400;
/** GRE's first word (no flags, version 0, protocol 0x0800) as a little-endian u32 immediate. */
const GRE_WORD_LE = 0x00080000;
/** The DF bit in the first byte of the flags/fragment-offset field. */
const IP_DF_BYTE = 0x40;
/** bpf_skb_adjust_room mode: the room goes between the Ethernet and the IP header. */
const BPF_ADJ_ROOM_MAC = 1;

/**
 * SCTP's gate before the flow lookup (DR and TUN flows only: decision 1120): the common header and
 * the first chunk's header must be in the frame (else `slow`), and the first chunk must be one that
 * leaves an ESTABLISHED association as it is — DATA, SACK, HEARTBEAT or HEARTBEAT ACK — (else
 * `control`: the state machine's); falls through for those. Uses r1, r3, r4.
 */
export function emitSctpChunkGate(a: BpfAsm, c: FastPathContext, control: string): void {
  a.ldx("u32", R3, c.ctx, c.abi.dataEnd)
    .mov64Reg(R4, c.l4)
    .add64Imm(R4, 16)
    .jmpReg("jgt", R4, R3, c.fallThrough)
    .ldx("u8", R1, c.l4, 12)
    .jmpImm("jeq", R1, SCTP_CID_DATA, `${control}_sctp_ok`)
    .jmpImm("jlt", R1, SCTP_CID_SACK, control)
    .jmpImm("jgt", R1, SCTP_CID_HEARTBEAT_ACK, control)
    .label(`${control}_sctp_ok`);
}

/** Emits `counter += 1` in the per-CPU stats map. Clobbers r0-r5. */
export function count(a: BpfAsm, fds: FastPathMapFds, id: number, skip: string): void {
  a.st("u32", R10, STAT_KEY, id);
  emitIncrement(a, fds.stats, STAT_KEY, skip);
}

/** reg = one's-complement fold of reg (a sum below 2^32) to 16 bits. Uses `tmp`. */
export function fold(a: BpfAsm, reg: Reg, tmp: Reg): void {
  for (let i = 0; i < 2; i++) {
    a.mov64Reg(tmp, reg).alu64Imm("rsh", tmp, 16).alu64Imm("and", reg, 0xffff).alu64Reg("add", reg, tmp);
  }
}

/**
 * Patches the 16-bit checksum at base+off with the unfolded delta in `delta` (RFC 1624 eqn 3:
 * HC' = ~(~HC + delta)). `udp`: a 0 field (no checksum) stays 0 and a result of 0 is sent as 0xFFFF.
 * Uses r1 and r2.
 */
export function patchChecksum(
  a: BpfAsm,
  base: Reg,
  off: number,
  delta: Reg,
  udp: boolean,
  label: string,
): void {
  a.ldx("u16", R1, base, off);
  if (udp) a.jmpImm("jeq", R1, 0, `${label}_done`);
  a.be(R1, 16).alu64Imm("xor", R1, 0xffff).alu64Reg("add", R1, delta);
  fold(a, R1, R2);
  a.alu64Imm("xor", R1, 0xffff);
  if (udp) a.jmpImm("jne", R1, 0, `${label}_nz`).mov64Imm(R1, 0xffff).label(`${label}_nz`);
  a.be(R1, 16).stx("u16", base, off, R1);
  if (udp) a.label(`${label}_done`);
}

/** Copies a 6-byte MAC from the value (r0 + from) to the frame (base + to) with u16 moves. Uses r1. */
export function copyMac(a: BpfAsm, base: Reg, to: number, from: number): void {
  for (let i = 0; i < 6; i += 2) a.ldx("u16", R1, R0, from + i).stx("u16", base, to + i, R1);
}

/** r1 = the 16-bit word at l4 + the L4 checksum's offset (TCP 16, UDP 6), as it lies in memory. */
function loadL4Checksum(a: BpfAsm, c: FastPathContext, label: string): void {
  a.jmpImm("jeq", c.proto, IPPROTO_TCP, `${label}_tcp`)
    .ldx("u16", R1, c.l4, 6)
    .ja(`${label}_done`)
    .label(`${label}_tcp`)
    .ldx("u16", R1, c.l4, 16)
    .label(`${label}_done`);
}

/**
 * TC only, before a NAT/FULLNAT rewrite (r0 = value): keeps the negated sum of the L4 words the
 * rewrite changes (both ports, the checksum) for emitCsumComplete. Words are summed as they lie in
 * memory, as the kernel's csum_partial does. Uses r1-r3.
 */
function emitOldL4Sum(a: BpfAsm, c: FastPathContext): void {
  a.ldx("u8", R2, R0, FV_REWRITE)
    .jmpImm("jeq", R2, 0, "fp_old_done")
    .ldx("u16", R3, c.l4, 0)
    .alu64Imm("xor", R3, 0xffff)
    .ldx("u16", R1, c.l4, 2)
    .alu64Imm("xor", R1, 0xffff)
    .alu64Reg("add", R3, R1);
  loadL4Checksum(a, c, "fp_old_ck");
  a.alu64Imm("xor", R1, 0xffff).alu64Reg("add", R3, R1).stx("u32", R10, OLD_L4_SUM, R3).mov64Imm(R3, 0);
  for (let w = 0; w < 4; w++)
    a.ldx("u16", R1, c.iph, 12 + 2 * w)
      .alu64Imm("xor", R1, 0xffff)
      .alu64Reg("add", R3, R1);
  a.stx("u32", R10, OLD_ADDR_SUM, R3).label("fp_old_done");
}

/**
 * TC only, with r5 = the IP total length: a GSO/GRO aggregate (gso_size != 0) leaves as segments of
 * gso_size payload bytes, so the egress MTU bounds those, not the aggregate. Only TCP aggregates are
 * taken (UDP ones go to the slow path). Sets GSO_FLAG; falls through to the plain length check for
 * a single packet, jumps past it ("fp_len_fits") for an aggregate. Uses r1, r2.
 */
function emitGsoLength(a: BpfAsm, c: FastPathContext): void {
  a.st("u32", R10, GSO_FLAG, 0)
    .ldx("u32", R1, c.ctx, SKB_GSO_SIZE)
    .jmpImm("jeq", R1, 0, "fp_single")
    .jmpImm("jne", c.proto, IPPROTO_TCP, "fp_too_long")
    .ldx("u8", R2, c.iph, 0)
    .alu64Imm("and", R2, 0x0f)
    .alu64Imm("lsh", R2, 2)
    .alu64Reg("add", R1, R2)
    .ldx("u8", R2, c.l4, 12)
    .alu64Imm("rsh", R2, 4)
    .alu64Imm("lsh", R2, 2)
    .alu64Reg("add", R1, R2)
    .ldx("u16", R2, R0, FV_MAX_LEN)
    .jmpReg("jgt", R1, R2, "fp_too_long")
    .st("u32", R10, GSO_FLAG, 1)
    .ja("fp_len_fits")
    .label("fp_single");
}

/**
 * TC only: the L4 checksum of a GSO aggregate after a NAT/FULLNAT rewrite. It is CHECKSUM_PARTIAL:
 * the field holds the pseudo-header's folded sum (not inverted), which segmentation completes per
 * segment; so only the addresses' change is added to it, with no inversion (the kernel's
 * inet_proto_csum_replace4 for a partial checksum). Words in memory order, as in emitOldL4Sum.
 */
function emitGsoL4Checksum(a: BpfAsm, c: FastPathContext): void {
  // Only TCP aggregates get here (emitGsoLength); the check is the verifier's proof of the header.
  a.label("fp_l4_gso").jmpImm("jne", c.proto, IPPROTO_TCP, "fp_count").ldx("u32", R3, R10, OLD_ADDR_SUM);
  for (let w = 0; w < 4; w++) a.ldx("u16", R1, c.iph, 12 + 2 * w).alu64Reg("add", R3, R1);
  a.ldx("u16", R1, c.l4, 16).alu64Reg("add", R3, R1);
  fold(a, R3, R1);
  a.stx("u16", c.l4, 16, R3);
}

/**
 * TC only, after a NAT/FULLNAT rewrite (r0 = value, r5 = IP length): a receiving driver may have
 * summed the whole packet (CHECKSUM_COMPLETE), and the kernel checks later checksums against that
 * sum, so it must follow what the rewrite changed. The IP header's own sum does not change (its
 * checksum absorbs the new addresses and TTL); the L4 words do, by new - old. bpf_csum_update adds
 * that to skb->csum, and does nothing to a packet without a complete sum. Clobbers r1-r5, keeps r0, r5.
 */
function emitCsumComplete(a: BpfAsm, c: FastPathContext): void {
  a.ldx("u32", R3, R10, OLD_L4_SUM)
    .ldx("u16", R1, c.l4, 0)
    .alu64Reg("add", R3, R1)
    .ldx("u16", R1, c.l4, 2)
    .alu64Reg("add", R3, R1);
  loadL4Checksum(a, c, "fp_new_ck");
  a.alu64Reg("add", R3, R1)
    .stx("u64", R10, SPILL_VALUE, R0)
    .stx("u64", R10, SPILL_LEN, R5)
    .mov64Reg(R1, c.ctx)
    .mov64Reg(R2, R3)
    .call(Helper.csumUpdate)
    .ldx("u64", R0, R10, SPILL_VALUE)
    .ldx("u64", R5, R10, SPILL_LEN);
}

/**
 * Emits the fast path at the current position of `a`. Falls through (jumps) to `c.fallThrough`
 * with ctx/iph/l4/proto unchanged when the packet is not for the fast path.
 */
export function emitFastPath(a: BpfAsm, fds: FastPathMapFds, c: FastPathContext): void {
  const { ctx, iph, l4, proto, abi } = c;
  const slow = c.fallThrough;
  a.jmpImm("jeq", proto, IPPROTO_TCP, "fp_tcp")
    .jmpImm("jeq", proto, IPPROTO_SCTP, "fp_sctp")
    .jmpImm("jne", proto, IPPROTO_UDP, slow)
    // UDP: the 8-byte header.
    .ldx("u32", R3, ctx, abi.dataEnd)
    .mov64Reg(R4, l4)
    .add64Imm(R4, 8)
    .jmpReg("jgt", R4, R3, slow)
    .ja("fp_key")
    // TCP: the 20-byte header; SYN, FIN and RST belong to the state machine.
    .label("fp_tcp")
    .ldx("u32", R3, ctx, abi.dataEnd)
    .mov64Reg(R4, l4)
    .add64Imm(R4, 20)
    .jmpReg("jgt", R4, R3, slow)
    .ldx("u8", R1, l4, 13)
    .jmpImm("jset", R1, TCP_FIN_SYN_RST, "fp_control")
    .ja("fp_key")
    // SCTP: only the chunks that leave an ESTABLISHED association as it is.
    .label("fp_sctp");
  emitSctpChunkGate(a, c, "fp_control");
  a
    // key: saddr, daddr (as in the packet), both ports in one u32, protocol, 3 zero bytes.
    .label("fp_key")
    .ldx("u32", R1, iph, 12)
    .stx("u32", R10, FKEY + FK_SADDR, R1)
    .ldx("u32", R1, iph, 16)
    .stx("u32", R10, FKEY + FK_DADDR, R1)
    .ldx("u32", R1, l4, 0)
    .stx("u32", R10, FKEY + FK_SPORT, R1)
    .st("u32", R10, FKEY + FK_PROTO, 0)
    .stx("u8", R10, FKEY + FK_PROTO, proto)
    .mov64Reg(R2, R10)
    .add64Imm(R2, FKEY)
    .ldMapFd(R1, fds.flows)
    .call(Helper.mapLookupElem)
    .jmpImm("jeq", R0, 0, "fp_miss")

    // Hit (r0 = value). Only on the interface it was installed for, addressed to its MAC.
    .ldx("u32", R1, ctx, abi.ifindex)
    .ldx("u32", R2, R0, FV_IN_IFINDEX)
    .jmpReg("jne", R1, R2, "fp_other_host")
    .ldx("u32", R2, ctx, abi.data)
    .ldx("u32", R3, ctx, abi.dataEnd)
    .mov64Reg(R4, R2)
    .add64Imm(R4, 14)
    .jmpReg("jgt", R4, R3, slow)
    .ldx("u16", R1, R2, 12)
    .jmpImm("jne", R1, ETH_P_IP_LE, slow) // VLAN-tagged: the slow path
    .ldx("u32", R1, R2, 0)
    .ldx("u32", R4, R0, FV_IN_MAC)
    .jmpReg("jne", R1, R4, "fp_other_host")
    .ldx("u16", R1, R2, 4)
    .ldx("u16", R4, R0, FV_IN_MAC + 4)
    .jmpReg("jne", R1, R4, "fp_other_host")
    .ldx("u8", R1, iph, 8)
    .jmpImm("jle", R1, 1, "fp_ttl")
    // r5 = IP total length; no more than the egress MTU, and inside the frame.
    .ldx("u16", R5, iph, 2)
    .be(R5, 16)
    .alu64Imm("and", R5, 0xffff);
  if (abi.hook === "tc") emitGsoLength(a, c);
  a.ldx("u16", R1, R0, FV_MAX_LEN).jmpReg("jgt", R5, R1, "fp_too_long").label("fp_len_fits");
  if (abi.hook === "xdp") {
    a.mov64Reg(R4, iph).alu64Reg("add", R4, R5).jmpReg("jgt", R4, R3, slow);
  } else {
    // An skb may hold its payload outside the linear part: the whole frame must be there.
    a.ldx("u32", R4, ctx, SKB_LEN).mov64Reg(R1, R5).add64Imm(R1, ETH_HLEN).jmpReg("jgt", R1, R4, slow);
  }
  a
    // r4 = L4 length = total - IHL * 4; at least the L4 header.
    .ldx("u8", R1, iph, 0)
    .alu64Imm("and", R1, 0x0f)
    .alu64Imm("lsh", R1, 2)
    .mov64Reg(R4, R5)
    .alu64Reg("sub", R4, R1)
    .jmpImm("jslt", R4, 8, slow)
    .jmpImm("jeq", proto, IPPROTO_SCTP, "fp_sctp_len")
    .jmpImm("jne", proto, IPPROTO_TCP, "fp_len_ok")
    .jmpImm("jslt", R4, 20, slow)
    .label("fp_len_ok")
    // Partial checksum: the field holds exactly the folded pseudo-header sum.
    .alu64Reg("add", R4, proto);
  for (let w = 0; w < 4; w++)
    a.ldx("u16", R1, iph, 12 + 2 * w)
      .be(R1, 16)
      .alu64Reg("add", R4, R1);
  fold(a, R4, R1);
  a.jmpImm("jeq", proto, IPPROTO_TCP, "fp_ck_tcp")
    .ldx("u16", R1, l4, 6)
    .ja("fp_ck_cmp")
    .label("fp_ck_tcp")
    .ldx("u16", R1, l4, 16)
    .label("fp_ck_cmp")
    .be(R1, 16);
  if (abi.hook === "xdp") {
    a.jmpReg("jeq", R1, R4, "fp_partial");
  } else {
    // A GSO aggregate's checksum is always partial (the segmentation completes it); anything else
    // with a partial-looking checksum goes to the slow path, as at XDP.
    a.ldx("u32", R2, R10, GSO_FLAG)
      .jmpImm("jeq", R2, 0, "fp_not_gso")
      .jmpReg("jne", R1, R4, "fp_too_long")
      .ja("fp_ck_ok")
      .label("fp_not_gso")
      .jmpReg("jeq", R1, R4, "fp_partial")
      .label("fp_ck_ok");
  }
  a.ja("fp_checked")
    // SCTP: at least the common header and a chunk header; no pseudo-header, no checksum to patch,
    // so never a flow that rewrites addresses or ports (its CRC32c would have to be computed anew).
    .label("fp_sctp_len")
    .jmpImm("jslt", R4, 16, slow)
    .ldx("u8", R2, R0, FV_REWRITE)
    .jmpImm("jset", R2, FLOW_REWRITE_SRC | FLOW_REWRITE_DST, "fp_control")
    .label("fp_checked");
  a.ldx("u8", R2, R0, FV_REWRITE).jmpImm("jset", R2, FLOW_TUNNEL, "fp_tunnel");

  // ---- from here on the packet is the fast path's: rewrite ----
  a.ldx("u32", R2, ctx, abi.data)
    .ldx("u32", R3, ctx, abi.dataEnd)
    .mov64Reg(R4, R2)
    .add64Imm(R4, 14)
    .jmpReg("jgt", R4, R3, slow);
  copyMac(a, R2, 0, FV_DST_MAC);
  copyMac(a, R2, 6, FV_SRC_MAC);
  if (abi.hook === "tc") emitOldL4Sum(a, c);
  a.ldx("u8", R2, R0, FV_REWRITE)
    .jmpImm("jset", R2, FLOW_REWRITE_SRC, "fp_src")
    .label("fp_after_src")
    .jmpImm("jset", R2, FLOW_REWRITE_DST, "fp_dst")
    .label("fp_after_dst")
    // TTL - 1 (checked > 1 above); its checksum change is part of the IP delta.
    .ldx("u8", R1, iph, 8)
    .add64Imm(R1, -1)
    .stx("u8", iph, 8, R1)
    .ldx("u32", R3, R0, FV_IP_DELTA);
  patchChecksum(a, iph, 10, R3, false, "fp_ipck");
  // DR changes nothing the L4 checksum covers.
  a.ldx("u8", R2, R0, FV_REWRITE)
    .jmpImm("jeq", R2, 0, "fp_count")
    .jmpImm("jeq", proto, IPPROTO_SCTP, "fp_count");
  if (abi.hook === "tc") a.ldx("u32", R1, R10, GSO_FLAG).jmpImm("jne", R1, 0, "fp_l4_gso");
  a.ldx("u32", R3, R0, FV_L4_DELTA).jmpImm("jeq", proto, IPPROTO_UDP, "fp_l4_udp");
  patchChecksum(a, l4, 16, R3, false, "fp_tcpck");
  a.ja("fp_l4_done").label("fp_l4_udp");
  patchChecksum(a, l4, 6, R3, true, "fp_udpck");
  a.label("fp_l4_done");
  if (abi.hook === "tc") {
    emitCsumComplete(a, c);
    a.ja("fp_count");
    emitGsoL4Checksum(a, c);
  }

  // Count into the value, stamp the time, redirect.
  a.label("fp_count")
    .mov64Imm(R1, 1)
    .atomicAdd("u64", R0, FV_PACKETS, R1)
    .atomicAdd("u64", R0, FV_BYTES, R5)
    .stx("u64", R10, SPILL_VALUE, R0)
    // CLOCK_MONOTONIC at the last tick: a memory read, where the precise clock reads the TSC; idle
    // timers of seconds do not need more than the tick's resolution.
    .call(Helper.ktimeGetCoarseNs)
    .ldx("u64", R1, R10, SPILL_VALUE)
    .stx("u64", R1, FV_LAST_SEEN, R0);
  count(a, fds, FastPathCounter.FORWARDED, "fp_counted");
  a.ldx("u64", R1, R10, SPILL_VALUE)
    .ldx("u32", R1, R1, FV_OUT_IFINDEX)
    .mov64Imm(R2, 0)
    .call(Helper.redirect)
    .exit();

  // Address and port rewrites (out of line; r2 = rewrite flags, kept).
  a.label("fp_src")
    .ldx("u32", R1, R0, FV_SADDR)
    .stx("u32", iph, 12, R1)
    .ldx("u16", R1, R0, FV_SPORT)
    .stx("u16", l4, 0, R1)
    .ja("fp_after_src")
    .label("fp_dst")
    .ldx("u32", R1, R0, FV_DADDR)
    .stx("u32", iph, 16, R1)
    .ldx("u16", R1, R0, FV_DPORT)
    .stx("u16", l4, 2, R1)
    .ja("fp_after_dst");

  emitTunnel(a, c);

  // Not taken: count why, then the slow path.
  const outcomes: [string, number][] = [
    ["fp_no_df", FastPathCounter.SLOW_TUNNEL_NO_DF],
    ["fp_no_headroom", FastPathCounter.SLOW_NO_HEADROOM],
    ["fp_control", FastPathCounter.SLOW_CONTROL],
    ["fp_miss", FastPathCounter.MISS],
    ["fp_other_host", FastPathCounter.SLOW_OTHER_HOST],
    ["fp_ttl", FastPathCounter.SLOW_TTL],
    ["fp_too_long", FastPathCounter.SLOW_TOO_LONG],
    ["fp_partial", FastPathCounter.SLOW_PARTIAL_CHECKSUM],
  ];
  emitSlowOutcomes(a, fds, outcomes, slow);
}

/** For each (label, counter): at the label, count it, then continue at `slow` (the slow path). */
export function emitSlowOutcomes(
  a: BpfAsm,
  fds: FastPathMapFds,
  outcomes: [string, number][],
  slow: string,
): void {
  for (const [label, id] of outcomes) {
    a.label(label);
    count(a, fds, id, `${label}_counted`);
    a.ja(slow);
  }
}

/**
 * LVS-TUN, entered at "fp_tunnel" with r0 = the flow value and r5 = the inner IP total length,
 * every check of the common path passed. Its own checks first (DF), then the frame changes size:
 * the helpers that do it invalidate every packet pointer, so `iph` and `l4` serve as scratch here
 * and are rebuilt ("fp_reparse") when the frame has to go on into the steering code after all.
 */
function emitTunnel(a: BpfAsm, c: FastPathContext): void {
  const { abi } = c;
  a.label("fp_tunnel");
  // A GSO aggregate would need a GSO-aware encapsulation: the slow path (which cannot take it).
  if (abi.hook === "tc") a.ldx("u32", R1, R10, GSO_FLAG).jmpImm("jne", R1, 0, "fp_too_long");
  a
    // Without DF the outer header needs an identification from the director's counter: slow path.
    .ldx("u8", R1, c.iph, 6)
    .jmpImm("jset", R1, IP_DF_BYTE, "fp_tun_df")
    .ja("fp_no_df")
    .label("fp_tun_df")
    .stx("u64", R10, SPILL_VALUE, R0)
    .stx("u64", R10, SPILL_LEN, R5)
    // The real server's tunnel type: GUE and GRE put their header after the outer one.
    .ldx("u8", R2, R0, FV_REWRITE)
    .jmpImm("jset", R2, FLOW_TUNNEL_GUE, "fp_gue")
    .jmpImm("jset", R2, FLOW_TUNNEL_GRE, "fp_gre");
  emitEncapsulation(a, c, "fp_ipip", 0, IPPROTO_IPIP);
  emitEncapsulation(a, c, "fp_gue", GUE_HLEN, IPPROTO_UDP);
  emitEncapsulation(a, c, "fp_gre", GRE_HLEN, IPPROTO_GRE);
  emitReparse(a, c);
}

/**
 * One encapsulation, entered at `name` with the flow value and the inner length spilled, every check
 * passed: trims link padding, opens 20 + `extra` bytes in front of the IP header, writes the outer
 * IPv4 header (protocol `protocol`) and, for GUE and GRE, their header after it. `extra` is 0 for
 * IPIP. The frame-size helpers invalidate every packet pointer, so `iph` and `l4` serve as scratch
 * here and are rebuilt ("fp_reparse") when the frame has to go on into the steering code after all.
 */
function emitEncapsulation(
  a: BpfAsm,
  c: FastPathContext,
  name: string,
  extra: number,
  protocol: number,
): void {
  const { ctx, abi } = c;
  const outer = c.iph;
  const inner = c.l4;
  const hlen = IPIP_HLEN + extra;
  a.label(name);
  if (abi.hook === "xdp") {
    // Link padding after the IP packet is not carried (the slow path sends header + IP packet only).
    a.mov64Reg(R1, ctx)
      .call(Helper.xdpGetBuffLen)
      .ldx("u64", R2, R10, SPILL_LEN)
      .add64Imm(R2, ETH_HLEN)
      .alu64Reg("sub", R2, R0)
      .jmpImm("jeq", R2, 0, `${name}_head`)
      .mov64Reg(R1, ctx)
      .call(Helper.xdpAdjustTail)
      .jmpImm("jne", R0, 0, "fp_reparse")
      .label(`${name}_head`)
      .mov64Reg(R1, ctx)
      .mov64Imm(R2, -hlen)
      .call(Helper.xdpAdjustHead)
      .jmpImm("jne", R0, 0, "fp_reparse");
  } else {
    // The same at TC ingress: trim the padding, then open the room between Ethernet and IP.
    a.ldx("u32", R1, ctx, SKB_LEN)
      .ldx("u64", R2, R10, SPILL_LEN)
      .add64Imm(R2, ETH_HLEN)
      .jmpReg("jeq", R1, R2, `${name}_head`)
      .mov64Reg(R1, ctx)
      .mov64Imm(R3, 0)
      .call(Helper.skbChangeTail)
      .jmpImm("jne", R0, 0, "fp_reparse")
      .label(`${name}_head`)
      .mov64Reg(R1, ctx)
      .mov64Imm(R2, hlen)
      .mov64Imm(R3, BPF_ADJ_ROOM_MAC)
      .mov64Imm(R4, 0)
      .call(Helper.skbAdjustRoom)
      .jmpImm("jne", R0, 0, "fp_reparse");
  }
  a.ldx("u32", R2, ctx, abi.data)
    .ldx("u32", R3, ctx, abi.dataEnd)
    .mov64Reg(R4, R2)
    .add64Imm(R4, ETH_HLEN + hlen + 20)
    .jmpReg("jgt", R4, R3, `${name}_undo`)
    .mov64Reg(outer, R2)
    .add64Imm(outer, ETH_HLEN)
    .mov64Reg(inner, outer)
    .add64Imm(inner, hlen)
    .ldx("u64", R0, R10, SPILL_VALUE);
  // Ethernet: the new MACs, EtherType IPv4 (the old header's bytes now lie under the outer header).
  copyMac(a, R2, 0, FV_DST_MAC);
  copyMac(a, R2, 6, FV_SRC_MAC);
  a.st("u16", R2, 12, ETH_P_IP_LE)
    // Inner TTL - 1 (checked > 1), its header checksum patched by the value's delta.
    .ldx("u8", R1, inner, 8)
    .add64Imm(R1, -1)
    .stx("u8", inner, 8, R1)
    .ldx("u32", R3, R0, FV_IP_DELTA);
  patchChecksum(a, inner, 10, R3, false, `${name}_inck`);
  // Outer header; r3 sums the words that vary per packet onto the value's checksum base.
  a.st("u8", outer, 0, 0x45)
    .ldx("u8", R1, inner, 1)
    // ECN encapsulation (RFC 6040 normal mode): CE (3) becomes ECT(0) (2), the rest is copied.
    .mov64Reg(R2, R1)
    .alu64Imm("and", R2, 3)
    .jmpImm("jne", R2, 3, `${name}_tos`)
    .alu64Imm("xor", R1, 1)
    .label(`${name}_tos`)
    .stx("u8", outer, 1, R1)
    .mov64Reg(R3, R1)
    .ldx("u64", R1, R10, SPILL_LEN)
    .add64Imm(R1, hlen)
    .alu64Reg("add", R3, R1)
    .be(R1, 16)
    .stx("u16", outer, 2, R1)
    .st("u16", outer, 4, 0)
    .st("u16", outer, 6, IP_DF_BYTE)
    .ldx("u8", R1, inner, 8)
    .stx("u8", outer, 8, R1)
    .alu64Imm("lsh", R1, 8)
    .alu64Reg("add", R3, R1)
    .st("u8", outer, 9, protocol)
    .ldx("u32", R1, R0, FV_SADDR)
    .stx("u32", outer, 12, R1)
    .ldx("u32", R1, R0, FV_DADDR)
    .stx("u32", outer, 16, R1)
    .ldx("u16", R1, R0, FV_OUTER_CSUM)
    .alu64Reg("add", R3, R1);
  fold(a, R3, R1);
  a.alu64Imm("xor", R3, 0xffff).be(R3, 16).stx("u16", outer, 10, R3);
  if (protocol === IPPROTO_UDP) {
    // UDP (ports from the value, length, checksum 0: `nocsum`), then GUE: version 0, no options,
    // proto 4 (IPv4 inside), flags 0 (ipvs_gue_encap).
    a.ldx("u16", R1, R0, FV_SPORT)
      .stx("u16", outer, IPIP_HLEN, R1)
      .ldx("u16", R1, R0, FV_DPORT)
      .stx("u16", outer, IPIP_HLEN + 2, R1)
      .ldx("u64", R1, R10, SPILL_LEN)
      .add64Imm(R1, GUE_HLEN)
      .be(R1, 16)
      .stx("u16", outer, IPIP_HLEN + 4, R1)
      .st("u16", outer, IPIP_HLEN + 6, 0)
      .st("u32", outer, IPIP_HLEN + 8, GUE_WORD_LE);
  } else if (protocol === IPPROTO_GRE) {
    // GRE without checksum, key or sequence; protocol 0x0800 (ipvs_gre_encap).
    a.st("u32", outer, IPIP_HLEN, GRE_WORD_LE);
  }
  a
    // The director counts the inner packet, as the slow path does.
    .ldx("u64", R5, R10, SPILL_LEN)
    .ja("fp_count");

  // Grown but too short to hold what was there (cannot happen: the frame only grew): undo.
  a.label(`${name}_undo`).mov64Reg(R1, ctx);
  if (abi.hook === "xdp") a.mov64Imm(R2, hlen).call(Helper.xdpAdjustHead);
  else a.mov64Imm(R2, -hlen).mov64Imm(R3, BPF_ADJ_ROOM_MAC).mov64Imm(R4, 0).call(Helper.skbAdjustRoom);
  a.ja("fp_reparse");
}

/** After a failed or undone resize, the frame as it arrived: the steering code continues with it. */
function emitReparse(a: BpfAsm, c: FastPathContext): void {
  const { ctx, abi } = c;
  // The frame is as it arrived (less any link padding): find the IP and L4 headers again.
  a.label("fp_reparse")
    .ldx("u32", R2, ctx, abi.data)
    .ldx("u32", R3, ctx, abi.dataEnd)
    .mov64Reg(c.iph, R2)
    .add64Imm(c.iph, ETH_HLEN)
    .mov64Reg(R4, c.iph)
    .add64Imm(R4, 20)
    .jmpReg("jgt", R4, R3, "fp_lost")
    .ldx("u8", R1, c.iph, 0)
    .alu64Imm("and", R1, 0x0f)
    .alu64Imm("lsh", R1, 2)
    .mov64Reg(c.l4, c.iph)
    .alu64Reg("add", c.l4, R1)
    .mov64Reg(R4, c.l4)
    .add64Imm(R4, 4)
    .jmpReg("jgt", R4, R3, "fp_lost")
    .ja("fp_no_headroom")
    // Unreachable (the frame's length did not change): hand it to the host rather than guess.
    .label("fp_lost")
    .mov64Imm(R0, c.abi.pass)
    .exit();
}
