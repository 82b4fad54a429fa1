/**
 * The fast path for IPv6 (NAT, FULLNAT and DR; LVS-TUN over IPv6 stays on the slow path), emitted
 * into the steering program where it has parsed an IPv6 TCP/UDP packet, beside the IPv4 fast path
 * (fast-path-program.ts), whose structure it follows and whose "fp_count" tail (count, stamp,
 * redirect) it shares:
 *
 *   extension headers, TCP with SYN, FIN or RST -> steering continues (slow path)
 *   tunnel hit (LVS-TUN to an IPv6 real server) -> the packet, its hop limit decremented, goes
 *     inside an outer IPv6 header (RFC 2473: next header 41, hop limit and traffic class from the
 *     inner packet with ECN encapsulation, flow label 0), as xmit-tunnel.ts sends it
 *   lookup (saddr, daddr, ports, proto) in tslvs_flows6
 *     miss, other interface or MAC, VLAN, hop limit <= 1, longer than the egress MTU, a partial
 *     checksum on a single packet                 -> steering continues
 *     hit -> MACs, addresses and ports as the value says, hop limit - 1, the TCP/UDP checksum
 *       patched with the value's delta (the pseudo-header's 128-bit addresses and the ports); at
 *       TC a GSO/GRO aggregate's partial checksum gets the address change only, and a
 *       CHECKSUM_COMPLETE sum follows every changed word (IPv6 has no header checksum to absorb
 *       the addresses or the hop limit), then count, stamp, redirect
 *
 * Every check happens before the first byte is written. Layout of the map: flow-layout-ipv6.ts.
 */
import { type BpfAsm, Helper, R0, R1, R2, R3, R4, R5, R10 } from "../bpf/asm.js";
import { SKB_GSO_SIZE, SKB_LEN } from "../bpf/hook-abi.js";
import {
  copyMac,
  ETH_HLEN,
  emitSctpChunkGate,
  emitSlowOutcomes,
  type FastPathContext,
  type FastPathMapFds,
  fold,
  GSO_FLAG,
  IPPROTO_SCTP,
  IPPROTO_TCP,
  IPPROTO_UDP,
  OLD_ADDR_SUM,
  OLD_L4_SUM,
  patchChecksum,
  SPILL_LEN,
  SPILL_VALUE,
  TCP_FIN_SYN_RST,
} from "./fast-path-program.js";
import {
  FastPathCounter,
  FLOW_REWRITE_DST,
  FLOW_REWRITE_SRC,
  FLOW_TUNNEL,
  FV_DPORT,
  FV_DST_MAC,
  FV_IN_IFINDEX,
  FV_IN_MAC,
  FV_L4_DELTA,
  FV_MAX_LEN,
  FV_REWRITE,
  FV_SPORT,
  FV_SRC_MAC,
} from "./flow-layout.js";
import { FK6_PROTO, FK6_SPORT, FV6_DADDR, FV6_SADDR } from "./flow-layout-ipv6.js";

const ETH_P_IPV6_LE = 0xdd86;
const IP6_HLEN = 40;
/** Offsets in the IPv6 header. */
const IP6_PAYLOAD_LEN = 4;
const IP6_NEXT = 6;
const IP6_HOP_LIMIT = 7;
const IP6_SADDR = 8;
const IP6_DADDR = 24;
const IPPROTO_IPV6 = 41;
/** bpf_skb_adjust_room mode: the room goes between the Ethernet and the IP header. */
const BPF_ADJ_ROOM_MAC = 1;

// Stack slots below the IPv4 fast path's (which end at -136); those it shares are not live at once.
const FKEY6 = -176;
/** TC only: the negated next-header/hop-limit word before the hop limit is decremented. */
const OLD_HL = -180;

/** TC only: the negated sums of the words the rewrite changes, for emitCsumComplete6. Uses r1-r3. */
function emitOldSums6(a: BpfAsm, c: FastPathContext): void {
  a.ldx("u16", R1, c.iph, IP6_NEXT).alu64Imm("xor", R1, 0xffff).stx("u32", R10, OLD_HL, R1);
  a.ldx("u8", R2, R0, FV_REWRITE).jmpImm("jeq", R2, 0, "fp6_old_done");
  a.ldx("u16", R3, c.l4, 0).alu64Imm("xor", R3, 0xffff).ldx("u16", R1, c.l4, 2).alu64Imm("xor", R1, 0xffff);
  a.alu64Reg("add", R3, R1)
    .jmpImm("jeq", c.proto, IPPROTO_TCP, "fp6_old_tcp")
    .ldx("u16", R1, c.l4, 6)
    .ja("fp6_old_ck")
    .label("fp6_old_tcp")
    .ldx("u16", R1, c.l4, 16)
    .label("fp6_old_ck")
    .alu64Imm("xor", R1, 0xffff)
    .alu64Reg("add", R3, R1)
    .stx("u32", R10, OLD_L4_SUM, R3)
    .mov64Imm(R3, 0);
  for (let w = 0; w < 16; w++)
    a.ldx("u16", R1, c.iph, IP6_SADDR + 2 * w)
      .alu64Imm("xor", R1, 0xffff)
      .alu64Reg("add", R3, R1);
  a.stx("u32", R10, OLD_ADDR_SUM, R3).label("fp6_old_done");
}

/**
 * TC only, after the rewrite (r0 = value, r5 = IP length): the receiving driver's complete sum
 * (CHECKSUM_COMPLETE) follows what changed — the hop-limit word always, and for NAT/FULLNAT the
 * addresses, ports and L4 checksum. bpf_csum_update does nothing to a packet without such a sum.
 * `rewrite`: whether the addresses/ports/checksum changed. Clobbers r1-r5, keeps r0, r5.
 */
function emitCsumComplete6(a: BpfAsm, c: FastPathContext, rewrite: boolean, label: string): void {
  a.ldx("u32", R3, R10, OLD_HL).ldx("u16", R1, c.iph, IP6_NEXT).alu64Reg("add", R3, R1);
  if (rewrite) {
    a.ldx("u32", R1, R10, OLD_L4_SUM)
      .alu64Reg("add", R3, R1)
      .ldx("u32", R1, R10, OLD_ADDR_SUM)
      .alu64Reg("add", R3, R1)
      .ldx("u16", R1, c.l4, 0)
      .alu64Reg("add", R3, R1)
      .ldx("u16", R1, c.l4, 2)
      .alu64Reg("add", R3, R1)
      .jmpImm("jeq", c.proto, IPPROTO_TCP, `${label}_tcp`)
      .ldx("u16", R1, c.l4, 6)
      .ja(`${label}_ck`)
      .label(`${label}_tcp`)
      .ldx("u16", R1, c.l4, 16)
      .label(`${label}_ck`)
      .alu64Reg("add", R3, R1);
    for (let w = 0; w < 16; w++) a.ldx("u16", R1, c.iph, IP6_SADDR + 2 * w).alu64Reg("add", R3, R1);
  }
  a.stx("u64", R10, SPILL_VALUE, R0)
    .stx("u64", R10, SPILL_LEN, R5)
    .mov64Reg(R1, c.ctx)
    .mov64Reg(R2, R3)
    .call(Helper.csumUpdate)
    .ldx("u64", R0, R10, SPILL_VALUE)
    .ldx("u64", R5, R10, SPILL_LEN);
}

/**
 * Emits the IPv6 fast path at the current position of `a` (after the IPv4 one, whose "fp_count"
 * it jumps to). Falls through to `c.fallThrough` with ctx/iph/l4/proto unchanged when the packet
 * is not for the fast path.
 */
export function emitFastPath6(a: BpfAsm, fds: FastPathMapFds, c: FastPathContext): void {
  const { ctx, iph, l4, proto, abi } = c;
  const slow = c.fallThrough;
  // Only packets whose TCP/UDP header follows the fixed header: extension headers, the slow path.
  a.ldx("u8", R1, iph, IP6_NEXT)
    .jmpReg("jne", R1, proto, slow)
    .jmpImm("jeq", proto, IPPROTO_TCP, "fp6_tcp")
    .jmpImm("jeq", proto, IPPROTO_SCTP, "fp6_sctp")
    .jmpImm("jne", proto, IPPROTO_UDP, slow)
    .ldx("u32", R3, ctx, abi.dataEnd)
    .mov64Reg(R4, l4)
    .add64Imm(R4, 8)
    .jmpReg("jgt", R4, R3, slow)
    .ja("fp6_key")
    .label("fp6_tcp")
    .ldx("u32", R3, ctx, abi.dataEnd)
    .mov64Reg(R4, l4)
    .add64Imm(R4, 20)
    .jmpReg("jgt", R4, R3, slow)
    .ldx("u8", R1, l4, 13)
    .jmpImm("jset", R1, TCP_FIN_SYN_RST, "fp6_control")
    .ja("fp6_key")
    // SCTP (DR and TUN flows only, decision 1120): only the chunks that leave ESTABLISHED alone.
    .label("fp6_sctp");
  emitSctpChunkGate(a, c, "fp6_control");
  a.label("fp6_key");
  // key: both addresses as in the packet, both ports in one u32, protocol, 3 zero bytes.
  for (let k = 0; k < 8; k++) a.ldx("u32", R1, iph, IP6_SADDR + 4 * k).stx("u32", R10, FKEY6 + 4 * k, R1);
  a.ldx("u32", R1, l4, 0)
    .stx("u32", R10, FKEY6 + FK6_SPORT, R1)
    .st("u32", R10, FKEY6 + FK6_PROTO, 0)
    .stx("u8", R10, FKEY6 + FK6_PROTO, proto)
    .mov64Reg(R2, R10)
    .add64Imm(R2, FKEY6)
    .ldMapFd(R1, fds.flows6)
    .call(Helper.mapLookupElem)
    .jmpImm("jeq", R0, 0, "fp6_miss")

    // Hit (r0 = value). Only on the interface it was installed for, addressed to its MAC.
    .ldx("u32", R1, ctx, abi.ifindex)
    .ldx("u32", R2, R0, FV_IN_IFINDEX)
    .jmpReg("jne", R1, R2, "fp6_other_host")
    .ldx("u32", R2, ctx, abi.data)
    .ldx("u32", R3, ctx, abi.dataEnd)
    .mov64Reg(R4, R2)
    .add64Imm(R4, ETH_HLEN)
    .jmpReg("jgt", R4, R3, slow)
    .ldx("u16", R1, R2, 12)
    .jmpImm("jne", R1, ETH_P_IPV6_LE, slow) // VLAN-tagged: the slow path
    .ldx("u32", R1, R2, 0)
    .ldx("u32", R4, R0, FV_IN_MAC)
    .jmpReg("jne", R1, R4, "fp6_other_host")
    .ldx("u16", R1, R2, 4)
    .ldx("u16", R4, R0, FV_IN_MAC + 4)
    .jmpReg("jne", R1, R4, "fp6_other_host")
    .ldx("u8", R1, iph, IP6_HOP_LIMIT)
    .jmpImm("jle", R1, 1, "fp6_ttl")
    // r5 = the IP packet's length (header + payload); no more than the egress MTU, and all there.
    .ldx("u16", R5, iph, IP6_PAYLOAD_LEN)
    .be(R5, 16)
    .alu64Imm("and", R5, 0xffff)
    .add64Imm(R5, IP6_HLEN);
  if (abi.hook === "tc") {
    // A TCP aggregate leaves as segments of gso_size payload bytes: those must fit the MTU.
    a.st("u32", R10, GSO_FLAG, 0)
      .ldx("u32", R1, ctx, SKB_GSO_SIZE)
      .jmpImm("jeq", R1, 0, "fp6_single")
      .jmpImm("jne", proto, IPPROTO_TCP, "fp6_too_long")
      .add64Imm(R1, IP6_HLEN)
      .ldx("u8", R2, l4, 12)
      .alu64Imm("rsh", R2, 4)
      .alu64Imm("lsh", R2, 2)
      .alu64Reg("add", R1, R2)
      .ldx("u16", R2, R0, FV_MAX_LEN)
      .jmpReg("jgt", R1, R2, "fp6_too_long")
      .st("u32", R10, GSO_FLAG, 1)
      .ja("fp6_len_fits")
      .label("fp6_single");
  }
  a.ldx("u16", R1, R0, FV_MAX_LEN).jmpReg("jgt", R5, R1, "fp6_too_long").label("fp6_len_fits");
  if (abi.hook === "xdp") {
    a.ldx("u32", R3, ctx, abi.dataEnd).mov64Reg(R4, iph).alu64Reg("add", R4, R5).jmpReg("jgt", R4, R3, slow);
  } else {
    a.ldx("u32", R4, ctx, SKB_LEN).mov64Reg(R1, R5).add64Imm(R1, ETH_HLEN).jmpReg("jgt", R1, R4, slow);
  }
  // r4 = the L4 length, at least the L4 header; then the pseudo-header's folded sum.
  a.mov64Reg(R4, R5)
    .add64Imm(R4, -IP6_HLEN)
    .jmpImm("jslt", R4, 8, slow)
    .jmpImm("jeq", proto, IPPROTO_SCTP, "fp6_sctp_len")
    .jmpImm("jne", proto, IPPROTO_TCP, "fp6_len_ok")
    .jmpImm("jslt", R4, 20, slow)
    .label("fp6_len_ok")
    .alu64Reg("add", R4, proto);
  for (let w = 0; w < 16; w++)
    a.ldx("u16", R1, iph, IP6_SADDR + 2 * w)
      .be(R1, 16)
      .alu64Reg("add", R4, R1);
  fold(a, R4, R1);
  a.jmpImm("jeq", proto, IPPROTO_TCP, "fp6_ck_tcp")
    .ldx("u16", R1, l4, 6)
    .ja("fp6_ck_cmp")
    .label("fp6_ck_tcp")
    .ldx("u16", R1, l4, 16)
    .label("fp6_ck_cmp")
    .be(R1, 16);
  if (abi.hook === "xdp") {
    a.jmpReg("jeq", R1, R4, "fp6_partial");
  } else {
    // An aggregate's checksum is partial (segmentation completes it); a single packet's must not be.
    a.ldx("u32", R2, R10, GSO_FLAG)
      .jmpImm("jeq", R2, 0, "fp6_not_gso")
      .jmpReg("jne", R1, R4, "fp6_too_long")
      .ja("fp6_ck_ok")
      .label("fp6_not_gso")
      .jmpReg("jeq", R1, R4, "fp6_partial")
      .label("fp6_ck_ok");
  }

  a.ja("fp6_checked")
    // SCTP: the common header and a chunk header; no checksum to patch, so never a flow that
    // rewrites addresses or ports (its CRC32c would have to be computed anew).
    .label("fp6_sctp_len")
    .jmpImm("jslt", R4, 16, slow)
    .ldx("u8", R2, R0, FV_REWRITE)
    .jmpImm("jset", R2, FLOW_REWRITE_SRC | FLOW_REWRITE_DST, "fp6_control")
    .label("fp6_checked");
  a.ldx("u8", R2, R0, FV_REWRITE).jmpImm("jset", R2, FLOW_TUNNEL, "fp6_tunnel");

  // ---- from here on the packet is the fast path's: rewrite ----
  a.ldx("u32", R2, ctx, abi.data)
    .ldx("u32", R3, ctx, abi.dataEnd)
    .mov64Reg(R4, R2)
    .add64Imm(R4, ETH_HLEN)
    .jmpReg("jgt", R4, R3, slow);
  copyMac(a, R2, 0, FV_DST_MAC);
  copyMac(a, R2, 6, FV_SRC_MAC);
  if (abi.hook === "tc") emitOldSums6(a, c);
  a.ldx("u8", R2, R0, FV_REWRITE)
    .jmpImm("jset", R2, FLOW_REWRITE_SRC, "fp6_src")
    .label("fp6_after_src")
    .jmpImm("jset", R2, FLOW_REWRITE_DST, "fp6_dst")
    .label("fp6_after_dst")
    .ldx("u8", R1, iph, IP6_HOP_LIMIT)
    .add64Imm(R1, -1)
    .stx("u8", iph, IP6_HOP_LIMIT, R1)
    // DR changes nothing a checksum covers.
    .ldx("u8", R2, R0, FV_REWRITE)
    .jmpImm("jeq", R2, 0, "fp6_dr")
    .jmpImm("jeq", proto, IPPROTO_SCTP, "fp6_dr");
  if (abi.hook === "tc") a.ldx("u32", R1, R10, GSO_FLAG).jmpImm("jne", R1, 0, "fp6_l4_gso");
  a.ldx("u32", R3, R0, FV_L4_DELTA).jmpImm("jeq", proto, IPPROTO_UDP, "fp6_l4_udp");
  patchChecksum(a, l4, 16, R3, false, "fp6_tcpck");
  a.ja("fp6_l4_done").label("fp6_l4_udp");
  patchChecksum(a, l4, 6, R3, true, "fp6_udpck");
  a.label("fp6_l4_done");
  if (abi.hook === "tc") {
    emitCsumComplete6(a, c, true, "fp6_cc");
    a.ja("fp_count");
    // An aggregate's partial checksum: the addresses' change only, no inversion (as for IPv4).
    a.label("fp6_l4_gso").jmpImm("jne", proto, IPPROTO_TCP, "fp_count").ldx("u32", R3, R10, OLD_ADDR_SUM);
    for (let w = 0; w < 16; w++) a.ldx("u16", R1, iph, IP6_SADDR + 2 * w).alu64Reg("add", R3, R1);
    a.ldx("u16", R1, l4, 16).alu64Reg("add", R3, R1);
    fold(a, R3, R1);
    a.stx("u16", l4, 16, R3).ja("fp_count");
    a.label("fp6_dr");
    emitCsumComplete6(a, c, false, "fp6_ccdr");
    a.ja("fp_count");
  } else {
    a.label("fp6_dr").ja("fp_count");
  }

  // Address and port rewrites (out of line; r2 = rewrite flags, kept).
  a.label("fp6_src");
  for (let k = 0; k < 4; k++) a.ldx("u32", R1, R0, FV6_SADDR + 4 * k).stx("u32", iph, IP6_SADDR + 4 * k, R1);
  a.ldx("u16", R1, R0, FV_SPORT).stx("u16", l4, 0, R1).ja("fp6_after_src").label("fp6_dst");
  for (let k = 0; k < 4; k++) a.ldx("u32", R1, R0, FV6_DADDR + 4 * k).stx("u32", iph, IP6_DADDR + 4 * k, R1);
  a.ldx("u16", R1, R0, FV_DPORT).stx("u16", l4, 2, R1).ja("fp6_after_dst");

  emitTunnel6(a, c);

  // Not taken: count why, then the slow path.
  const outcomes: [string, number][] = [
    ["fp6_no_headroom", FastPathCounter.SLOW_NO_HEADROOM],
    ["fp6_control", FastPathCounter.SLOW_CONTROL],
    ["fp6_miss", FastPathCounter.MISS],
    ["fp6_other_host", FastPathCounter.SLOW_OTHER_HOST],
    ["fp6_ttl", FastPathCounter.SLOW_TTL],
    ["fp6_too_long", FastPathCounter.SLOW_TOO_LONG],
    ["fp6_partial", FastPathCounter.SLOW_PARTIAL_CHECKSUM],
  ];
  emitSlowOutcomes(a, fds, outcomes, slow);
}

/**
 * LVS-TUN to an IPv6 real server, entered at "fp6_tunnel" with r0 = the flow value and r5 = the
 * inner packet's length, every common check passed. The frame grows by 40 bytes; the helpers that
 * do it invalidate every packet pointer, so `iph` and `l4` serve as scratch and are rebuilt
 * ("fp6_reparse") when the frame has to go on into the steering code after all.
 */
function emitTunnel6(a: BpfAsm, c: FastPathContext): void {
  const { ctx, abi } = c;
  const outer = c.iph;
  const inner = c.l4;
  a.label("fp6_tunnel");
  // An aggregate would need a GSO-aware encapsulation: the slow path (which segments it).
  if (abi.hook === "tc") a.ldx("u32", R1, R10, GSO_FLAG).jmpImm("jne", R1, 0, "fp6_too_long");
  a.stx("u64", R10, SPILL_VALUE, R0).stx("u64", R10, SPILL_LEN, R5);
  if (abi.hook === "xdp") {
    // Link padding after the IP packet is not carried.
    a.mov64Reg(R1, ctx)
      .call(Helper.xdpGetBuffLen)
      .ldx("u64", R2, R10, SPILL_LEN)
      .add64Imm(R2, ETH_HLEN)
      .alu64Reg("sub", R2, R0)
      .jmpImm("jeq", R2, 0, "fp6_tun_head")
      .mov64Reg(R1, ctx)
      .call(Helper.xdpAdjustTail)
      .jmpImm("jne", R0, 0, "fp6_reparse")
      .label("fp6_tun_head")
      .mov64Reg(R1, ctx)
      .mov64Imm(R2, -IP6_HLEN)
      .call(Helper.xdpAdjustHead)
      .jmpImm("jne", R0, 0, "fp6_reparse");
  } else {
    a.ldx("u32", R1, ctx, SKB_LEN)
      .ldx("u64", R2, R10, SPILL_LEN)
      .add64Imm(R2, ETH_HLEN)
      .jmpReg("jeq", R1, R2, "fp6_tun_head")
      .mov64Reg(R1, ctx)
      .mov64Imm(R3, 0)
      .call(Helper.skbChangeTail)
      .jmpImm("jne", R0, 0, "fp6_reparse")
      .label("fp6_tun_head")
      .mov64Reg(R1, ctx)
      .mov64Imm(R2, IP6_HLEN)
      .mov64Imm(R3, BPF_ADJ_ROOM_MAC)
      .mov64Imm(R4, 0)
      .call(Helper.skbAdjustRoom)
      .jmpImm("jne", R0, 0, "fp6_reparse");
  }
  a.ldx("u32", R2, ctx, abi.data)
    .ldx("u32", R3, ctx, abi.dataEnd)
    .mov64Reg(R4, R2)
    .add64Imm(R4, ETH_HLEN + IP6_HLEN + IP6_HLEN)
    .jmpReg("jgt", R4, R3, "fp6_tun_undo")
    .mov64Reg(outer, R2)
    .add64Imm(outer, ETH_HLEN)
    .mov64Reg(inner, outer)
    .add64Imm(inner, IP6_HLEN)
    .ldx("u64", R0, R10, SPILL_VALUE);
  // Ethernet: the new MACs, EtherType IPv6 (the old header's bytes now lie under the outer header).
  copyMac(a, R2, 0, FV_DST_MAC);
  copyMac(a, R2, 6, FV_SRC_MAC);
  a.st("u16", R2, 12, ETH_P_IPV6_LE)
    // Inner hop limit - 1 (checked > 1); no checksum covers it.
    .ldx("u8", R1, inner, IP6_HOP_LIMIT)
    .add64Imm(R1, -1)
    .stx("u8", inner, IP6_HOP_LIMIT, R1)
    .stx("u8", outer, IP6_HOP_LIMIT, R1)
    // Traffic class: the inner one's, CE (3) becoming ECT(0) (2) (RFC 6040 normal mode).
    .ldx("u8", R1, inner, 0)
    .alu64Imm("and", R1, 0x0f)
    .alu64Imm("lsh", R1, 4)
    .ldx("u8", R3, inner, 1)
    .alu64Imm("rsh", R3, 4)
    .alu64Reg("or", R1, R3)
    .mov64Reg(R3, R1)
    .alu64Imm("and", R3, 3)
    .jmpImm("jne", R3, 3, "fp6_tun_tc")
    .alu64Imm("xor", R1, 1)
    .label("fp6_tun_tc")
    .mov64Reg(R3, R1)
    .alu64Imm("rsh", R3, 4)
    .alu64Imm("or", R3, 0x60)
    .stx("u8", outer, 0, R3)
    .alu64Imm("and", R1, 0x0f)
    .alu64Imm("lsh", R1, 4)
    .stx("u8", outer, 1, R1)
    .st("u16", outer, 2, 0)
    // Payload length: the inner packet; next header: IPv6.
    .ldx("u64", R1, R10, SPILL_LEN)
    .be(R1, 16)
    .stx("u16", outer, IP6_PAYLOAD_LEN, R1)
    .st("u8", outer, IP6_NEXT, IPPROTO_IPV6);
  for (let k = 0; k < 4; k++)
    a.ldx("u32", R1, R0, FV6_SADDR + 4 * k)
      .stx("u32", outer, IP6_SADDR + 4 * k, R1)
      .ldx("u32", R1, R0, FV6_DADDR + 4 * k)
      .stx("u32", outer, IP6_DADDR + 4 * k, R1);
  // The director counts the inner packet, as the slow path does.
  a.ldx("u64", R5, R10, SPILL_LEN).ja("fp_count");

  // Grown but too short to hold what was there (cannot happen: the frame only grew): undo.
  a.label("fp6_tun_undo").mov64Reg(R1, ctx);
  if (abi.hook === "xdp") a.mov64Imm(R2, IP6_HLEN).call(Helper.xdpAdjustHead);
  else a.mov64Imm(R2, -IP6_HLEN).mov64Imm(R3, BPF_ADJ_ROOM_MAC).mov64Imm(R4, 0).call(Helper.skbAdjustRoom);
  // The frame is as it arrived (less any link padding): find the IPv6 and L4 headers again.
  a.label("fp6_reparse")
    .ldx("u32", R2, ctx, abi.data)
    .ldx("u32", R3, ctx, abi.dataEnd)
    .mov64Reg(c.iph, R2)
    .add64Imm(c.iph, ETH_HLEN)
    .mov64Reg(c.l4, c.iph)
    .add64Imm(c.l4, IP6_HLEN)
    .mov64Reg(R4, c.l4)
    .add64Imm(R4, 4)
    .jmpReg("jgt", R4, R3, "fp6_lost")
    .ja("fp6_no_headroom")
    // Unreachable (the frame's length did not change): hand it to the host rather than guess.
    .label("fp6_lost")
    .mov64Imm(R0, c.abi.pass)
    .exit();
}
