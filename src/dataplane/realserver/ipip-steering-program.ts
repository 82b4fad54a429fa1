/**
 * The XDP program of the TUN real-server helper (`tslvs rs --mode tun`), a tunnel end for a host
 * whose kernel has no ipip / sit / ip6_tunnel module (and would answer tunnel packets with ICMP
 * protocol unreachable or an ICMPv6 parameter problem). It looks at tunnel packets addressed to one
 * of the host's own addresses:
 * - IPv4, protocol 4 (IPv4 inside) or 41 (IPv6 inside), not fragmented, destination in `addrs`;
 * - IPv6, next header 4 or 41 right after the fixed header (LVS sends no extension headers),
 *   destination in `addrs6`.
 *
 * The common case is unwrapped here and handed to the host's stack (XDP_PASS), as the kernel's
 * tunnel module would: the outer header is plain (IPv4 without options and with a correct header
 * checksum, or the fixed IPv6 header), the inner header is whole in the frame, of the family the
 * protocol says (IPv4 with IHL >= 5), and exactly fills the outer payload. Its destination must be
 * one of the VIPs (`vips`, `vips6`); one that is not is dropped (a host must not relay tunnel
 * packets for anyone) and counted. The Ethernet header moves forward over the outer header, with
 * the inner packet's EtherType.
 *
 * Every other tunnel packet to the host (IPv4 options, a bad outer checksum, an inner packet shorter
 * than the outer payload, a malformed inner header) goes to the AF_XDP socket of its RX queue, where
 * the user-space receiver checks it, as before; everything that is no tunnel packet to the host
 * passes untouched.
 *
 * An outer header marked CE (congestion) is left to user space, which carries the mark inside
 * (RFC 6040).
 *
 * With `--tun-type gue` / `gre`, GUE packets (UDP to the tun-port) and GRE packets (protocol 47) to
 * the host's addresses go to user space too, every one: the receiver checks their UDP / GRE
 * checksums and headers there (emitEncapToUser).
 *
 * Maps: `addrs` (hash, u32 IPv4 address in network order -> u8) and `addrs6` (hash, 16-byte IPv6
 * address -> u8) hold the host's addresses; `vips` / `vips6` the same for the VIPs; `xsks` (XSKMAP)
 * RX queue -> socket; `stats` (per-CPU array of u64) counts by IpipXdpCounter. Plain Ethernet frames
 * only (no VLAN tag).
 */

import { ProgType, progLoad } from "../../platform/bpf.js";
import { BpfAsm, Helper, R0, R1, R2, R3, R4, R6, R7, R8, R9, R10 } from "../bpf/asm.js";
import { emitIncrement } from "../bpf/emit-increment.js";
import { XDP_ABI, XDP_RX_QUEUE_INDEX } from "../bpf/hook-abi.js";

/** Indexes of the program's per-CPU counters. */
export const IpipXdpCounter = {
  /** Unwrapped in XDP and passed to the host's stack. */
  DECAPSULATED: 0,
  /** Inner destination is not a VIP: dropped in XDP. */
  NOT_FOR_VIP: 1,
} as const;
export const IPIP_XDP_COUNTERS = 2;

const XDP_DROP = XDP_ABI.drop;
const XDP_PASS = XDP_ABI.pass;
const ETH_HLEN = 14;
const ETH_P_IP_LE = 0x0008;
const ETH_P_IPV6_LE = 0xdd86;
const IP_FRAG_MASK_LE = 0xff3f;
const IPPROTO_IPIP = 4;
const IPPROTO_IPV6 = 41;
const IPPROTO_UDP = 17;
const IPPROTO_GRE = 47;
const IPV4_HLEN = 20;
const IPV6_HLEN = 40;
const IPV6_PAYLOAD_LEN = 4;
const IPV6_NEXTHDR = 6;
const IPV6_DADDR = 24;
/** Largest outer payload taken in XDP: bounds the packet offsets for the verifier. */
const MAX_PAYLOAD = 0x7fff;
// Stack slots.
const KEY = -8;
const KEY6 = -24;
const SAVED_MACS = -32;
const SAVED_MACS_TAIL = -40;
const STAT_KEY = -44;

export interface IpipSteeringFds {
  /** HASH u32 -> u8: the host's IPv4 addresses (network byte order keys). */
  addrs: number;
  /** HASH 16 bytes -> u8: the host's IPv6 addresses. */
  addrs6: number;
  /** HASH u32 -> u8: the IPv4 VIPs. */
  vips: number;
  /** HASH 16 bytes -> u8: the IPv6 VIPs. */
  vips6: number;
  /** XSKMAP: RX queue index -> AF_XDP socket. */
  xsks: number;
  /** PERCPU_ARRAY of u64, indexed by IpipXdpCounter. */
  stats: number;
}

/** Emits `stats[id] += 1` (per CPU). Clobbers r0-r5. */
function count(a: BpfAsm, stats: number, id: number, skip: string): void {
  a.st("u32", R10, STAT_KEY, id);
  emitIncrement(a, stats, STAT_KEY, skip);
}

/**
 * The inner-header checks for one pairing. Entered with r7 = the outer IP header (at least
 * `outerLen` bytes in the frame) and r9 = the outer payload length (<= MAX_PAYLOAD); goes on to
 * "decap" with r8 = the outer header length and r9 = the inner EtherType.
 */
function emitInner(a: BpfAsm, fds: IpipSteeringFds, name: string, outerLen: number, innerV4: boolean): void {
  const inner = outerLen;
  a.label(name)
    .ldx("u32", R3, R6, XDP_ABI.dataEnd)
    .mov64Reg(R4, R7)
    .add64Imm(R4, outerLen + (innerV4 ? IPV4_HLEN : IPV6_HLEN))
    .jmpReg("jgt", R4, R3, "redirect")
    // The frame holds the whole outer payload (link padding may follow it).
    .mov64Reg(R4, R7)
    .add64Imm(R4, outerLen)
    .alu64Reg("add", R4, R9)
    .jmpReg("jgt", R4, R3, "redirect")
    .ldx("u8", R1, R7, inner)
    .mov64Reg(R2, R1)
    .alu64Imm("rsh", R2, 4)
    .jmpImm("jne", R2, innerV4 ? 4 : 6, "redirect");
  if (innerV4) {
    a.alu64Imm("and", R1, 0x0f)
      .jmpImm("jlt", R1, 5, "redirect")
      .ldx("u16", R1, R7, inner + 2)
      .be(R1, 16);
  } else {
    a.ldx("u16", R1, R7, inner + IPV6_PAYLOAD_LEN)
      .be(R1, 16)
      .add64Imm(R1, IPV6_HLEN);
  }
  // The inner packet is exactly the outer payload; a shorter one is trimmed in user space.
  a.jmpReg("jne", R1, R9, "redirect");
  if (innerV4) {
    a.ldx("u32", R1, R7, inner + 16)
      .stx("u32", R10, KEY, R1)
      .mov64Reg(R2, R10)
      .add64Imm(R2, KEY)
      .ldMapFd(R1, fds.vips);
  } else {
    for (let i = 0; i < 4; i++)
      a.ldx("u32", R1, R7, inner + IPV6_DADDR + 4 * i).stx("u32", R10, KEY6 + 4 * i, R1);
    a.mov64Reg(R2, R10).add64Imm(R2, KEY6).ldMapFd(R1, fds.vips6);
  }
  a.call(Helper.mapLookupElem)
    .jmpImm("jeq", R0, 0, "not_for_vip")
    .mov64Imm(R8, outerLen)
    .mov64Imm(R9, innerV4 ? ETH_P_IP_LE : ETH_P_IPV6_LE)
    .ja("decap");
}

/**
 * GUE (UDP to `guePort`, when not 0) and GRE packets to one of the host's addresses: to the AF_XDP
 * socket, where the receiver unwraps them (their headers and checksums are checked there). An IPv4
 * outer header with options, or a fragment, is left to the kernel, which refuses it as before.
 * Entered at "v4_udp" / "v4_encap" / "v6_udp" / "v6_encap" with r7 = the outer header (20 / 40
 * bytes checked) and r3 = the frame's end.
 */
function emitEncapToUser(a: BpfAsm, fds: IpipSteeringFds, guePort: number): void {
  const portLe = ((guePort & 0xff) << 8) | (guePort >>> 8);
  if (guePort) {
    a.label("v4_udp")
      .ldx("u8", R1, R7, 0)
      .jmpImm("jne", R1, 0x45, "pass")
      .mov64Reg(R4, R7)
      .add64Imm(R4, IPV4_HLEN + 8)
      .jmpReg("jgt", R4, R3, "pass")
      .ldx("u16", R1, R7, IPV4_HLEN + 2)
      .jmpImm("jne", R1, portLe, "pass")
      .ja("v4_encap")
      .label("v6_udp")
      .mov64Reg(R4, R7)
      .add64Imm(R4, IPV6_HLEN + 8)
      .jmpReg("jgt", R4, R3, "pass")
      .ldx("u16", R1, R7, IPV6_HLEN + 2)
      .jmpImm("jne", R1, portLe, "pass")
      .ja("v6_encap");
  }
  a.label("v4_encap")
    .ldx("u16", R1, R7, 6)
    .alu64Imm("and", R1, IP_FRAG_MASK_LE)
    .jmpImm("jne", R1, 0, "pass")
    .ldx("u32", R1, R7, 16)
    .stx("u32", R10, KEY, R1)
    .mov64Reg(R2, R10)
    .add64Imm(R2, KEY)
    .ldMapFd(R1, fds.addrs)
    .call(Helper.mapLookupElem)
    .jmpImm("jeq", R0, 0, "pass")
    .ja("redirect")
    .label("v6_encap");
  for (let i = 0; i < 4; i++) a.ldx("u32", R1, R7, IPV6_DADDR + 4 * i).stx("u32", R10, KEY6 + 4 * i, R1);
  a.mov64Reg(R2, R10)
    .add64Imm(R2, KEY6)
    .ldMapFd(R1, fds.addrs6)
    .call(Helper.mapLookupElem)
    .jmpImm("jeq", R0, 0, "pass")
    .ja("redirect");
}

/** The encapsulations besides IPIP the real server takes (`tslvs rs --tun-type gue|gre`). */
export interface RsTunnelTypes {
  /** GUE: the UDP port it arrives on (0: none). */
  guePort?: number;
  gre?: boolean;
}

export function buildIpipSteeringProgram(fds: IpipSteeringFds, tun: RsTunnelTypes = {}): Uint8Array {
  const a = new BpfAsm();
  a.mov64Reg(R6, R1)
    .ldx("u32", R2, R6, XDP_ABI.data)
    .ldx("u32", R3, R6, XDP_ABI.dataEnd)
    .mov64Reg(R7, R2)
    .add64Imm(R7, ETH_HLEN)
    .mov64Reg(R4, R7)
    .add64Imm(R4, IPV4_HLEN)
    .jmpReg("jgt", R4, R3, "pass")
    .ldx("u16", R1, R2, 12)
    .jmpImm("jeq", R1, ETH_P_IPV6_LE, "ipv6")
    .jmpImm("jne", R1, ETH_P_IP_LE, "pass")
    .ldx("u8", R1, R7, 0)
    .alu64Imm("rsh", R1, 4)
    .jmpImm("jne", R1, 4, "pass")
    .ldx("u8", R1, R7, 9)
    .jmpImm("jeq", R1, IPPROTO_IPIP, "proto_ok")
    .jmpImm("jeq", R1, IPPROTO_IPV6, "proto_ok");
  if (tun.gre) a.jmpImm("jeq", R1, IPPROTO_GRE, "v4_encap");
  if (tun.guePort) a.jmpImm("jeq", R1, IPPROTO_UDP, "v4_udp");
  a.ja("pass")
    .label("proto_ok")
    .ldx("u16", R1, R7, 6)
    .alu64Imm("and", R1, IP_FRAG_MASK_LE)
    .jmpImm("jne", R1, 0, "pass")
    .ldx("u32", R1, R7, 16)
    .stx("u32", R10, KEY, R1)
    .mov64Reg(R2, R10)
    .add64Imm(R2, KEY)
    .ldMapFd(R1, fds.addrs)
    .call(Helper.mapLookupElem)
    .jmpImm("jeq", R0, 0, "pass")
    // A tunnel packet for this host. Unwrapped here: no options, a correct header checksum (the
    // kernel's tunnel would drop a bad one; left to user space, which does not look).
    .ldx("u8", R1, R7, 0)
    .jmpImm("jne", R1, 0x45, "redirect")
    .mov64Imm(R1, 0);
  // One's-complement sum of the ten header words (in either byte order a correct header sums to 0xffff).
  for (let i = 0; i < IPV4_HLEN; i += 2) a.ldx("u16", R2, R7, i).alu64Reg("add", R1, R2);
  for (let i = 0; i < 2; i++)
    a.mov64Reg(R2, R1).alu64Imm("rsh", R2, 16).alu64Imm("and", R1, 0xffff).alu64Reg("add", R1, R2);
  a.jmpImm("jne", R1, 0xffff, "redirect")
    // A congestion mark (CE) on the outer header is for user space to carry inside (RFC 6040).
    .ldx("u8", R1, R7, 1)
    .alu64Imm("and", R1, 3)
    .jmpImm("jeq", R1, 3, "redirect")
    .ldx("u16", R9, R7, 2)
    .be(R9, 16)
    .jmpImm("jgt", R9, MAX_PAYLOAD, "redirect")
    .jmpImm("jlt", R9, IPV4_HLEN, "redirect")
    .add64Imm(R9, -IPV4_HLEN)
    .ldx("u8", R1, R7, 9)
    .jmpImm("jeq", R1, IPPROTO_IPIP, "v4_in_v4")
    .ja("v6_in_v4")
    .label("ipv6")
    .mov64Reg(R4, R7)
    .add64Imm(R4, IPV6_HLEN)
    .jmpReg("jgt", R4, R3, "pass")
    .ldx("u8", R1, R7, 0)
    .alu64Imm("rsh", R1, 4)
    .jmpImm("jne", R1, 6, "pass")
    .ldx("u8", R1, R7, IPV6_NEXTHDR)
    .jmpImm("jeq", R1, IPPROTO_IPIP, "nh_ok")
    .jmpImm("jeq", R1, IPPROTO_IPV6, "nh_ok");
  if (tun.gre) a.jmpImm("jeq", R1, IPPROTO_GRE, "v6_encap");
  if (tun.guePort) a.jmpImm("jeq", R1, IPPROTO_UDP, "v6_udp");
  a.ja("pass").label("nh_ok");
  for (let i = 0; i < 4; i++) a.ldx("u32", R1, R7, IPV6_DADDR + 4 * i).stx("u32", R10, KEY6 + 4 * i, R1);
  a.mov64Reg(R2, R10)
    .add64Imm(R2, KEY6)
    .ldMapFd(R1, fds.addrs6)
    .call(Helper.mapLookupElem)
    .jmpImm("jeq", R0, 0, "pass")
    .ldx("u8", R1, R7, 1)
    .alu64Imm("rsh", R1, 4)
    .alu64Imm("and", R1, 3)
    .jmpImm("jeq", R1, 3, "redirect")
    .ldx("u16", R9, R7, IPV6_PAYLOAD_LEN)
    .be(R9, 16)
    .jmpImm("jgt", R9, MAX_PAYLOAD, "redirect")
    .ldx("u8", R1, R7, IPV6_NEXTHDR)
    .jmpImm("jeq", R1, IPPROTO_IPIP, "v4_in_v6")
    .ja("v6_in_v6");

  if (tun.gre || tun.guePort) emitEncapToUser(a, fds, tun.guePort ?? 0);

  emitInner(a, fds, "v4_in_v4", IPV4_HLEN, true);
  emitInner(a, fds, "v6_in_v4", IPV4_HLEN, false);
  emitInner(a, fds, "v4_in_v6", IPV6_HLEN, true);
  emitInner(a, fds, "v6_in_v6", IPV6_HLEN, false);

  // r7 = outer header, r8 = its length, r9 = the inner EtherType. The MAC addresses are kept on the
  // stack while the head moves: a failed move leaves the frame as it was, for user space.
  a.label("decap")
    .ldx("u64", R1, R7, -ETH_HLEN)
    .stx("u64", R10, SAVED_MACS, R1)
    .ldx("u32", R1, R7, -ETH_HLEN + 8)
    .stx("u32", R10, SAVED_MACS_TAIL, R1)
    .mov64Reg(R1, R6)
    .mov64Reg(R2, R8)
    .call(Helper.xdpAdjustHead)
    .jmpImm("jne", R0, 0, "redirect")
    .ldx("u32", R2, R6, XDP_ABI.data)
    .ldx("u32", R3, R6, XDP_ABI.dataEnd)
    .mov64Reg(R4, R2)
    .add64Imm(R4, ETH_HLEN)
    .jmpReg("jgt", R4, R3, "lost")
    .ldx("u64", R1, R10, SAVED_MACS)
    .stx("u64", R2, 0, R1)
    .ldx("u32", R1, R10, SAVED_MACS_TAIL)
    .stx("u32", R2, 8, R1)
    .stx("u16", R2, 12, R9);
  count(a, fds.stats, IpipXdpCounter.DECAPSULATED, "decap_counted");
  a.mov64Imm(R0, XDP_PASS).exit();

  a.label("not_for_vip");
  count(a, fds.stats, IpipXdpCounter.NOT_FOR_VIP, "nfv_counted");
  a.label("lost").mov64Imm(R0, XDP_DROP).exit();

  a.label("redirect")
    .ldMapFd(R1, fds.xsks)
    .ldx("u32", R2, R6, XDP_RX_QUEUE_INDEX)
    .mov64Imm(R3, XDP_PASS)
    .call(Helper.redirectMap)
    .exit()
    .label("pass")
    .mov64Imm(R0, XDP_PASS)
    .exit();
  return a.assemble();
}

export function loadIpipSteeringProgram(fds: IpipSteeringFds, tun: RsTunnelTypes = {}): number {
  return progLoad({
    type: ProgType.XDP,
    insns: buildIpipSteeringProgram(fds, tun),
    name: "tslvs_rs_ipip",
    license: "GPL",
  });
}
