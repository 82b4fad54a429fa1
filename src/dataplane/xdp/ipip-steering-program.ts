/**
 * The XDP program of the TUN real-server helper (`tslvs rs --mode tun`): it takes tunnel packets
 * addressed to one of the host's own addresses away from the kernel — which has no ipip / sit /
 * ip6_tunnel module and would answer them with ICMP protocol unreachable or an ICMPv6 parameter
 * problem — and redirects them into the AF_XDP socket of their RX queue. Everything else passes
 * untouched. Taken:
 * - IPv4, protocol 4 (IPv4 inside) or 41 (IPv6 inside), not fragmented, destination in `addrs`;
 * - IPv6, next header 4 or 41 right after the fixed header (LVS sends no extension headers),
 *   destination in `addrs6`.
 *
 * Maps: `addrs` (hash, u32 IPv4 address in network order -> u8) and `addrs6` (hash, 16-byte IPv6
 * address -> u8) hold the host's addresses; `xsks` (XSKMAP) RX queue -> socket. Plain Ethernet frames
 * only (no VLAN tag).
 */
import { BpfAsm, Helper, R0, R1, R2, R3, R4, R6, R7, R10 } from "../bpf/asm.js";
import { ProgType, progLoad } from "../bpf/syscalls.js";

const XDP_PASS = 2;
const ETH_HLEN = 14;
const ETH_P_IP_LE = 0x0008;
const ETH_P_IPV6_LE = 0xdd86;
const IP_FRAG_MASK_LE = 0xff3f;
const IPPROTO_IPIP = 4;
const IPPROTO_IPV6 = 41;
const IPV6_HLEN = 40;
const IPV6_NEXTHDR = 6;
const IPV6_DADDR = 24;
const MD_DATA = 0;
const MD_DATA_END = 4;
const MD_RX_QUEUE_INDEX = 16;
const KEY = -8;
const KEY6 = -24;

export interface IpipSteeringFds {
  /** HASH u32 -> u8: the host's IPv4 addresses (network byte order keys). */
  addrs: number;
  /** HASH 16 bytes -> u8: the host's IPv6 addresses. */
  addrs6: number;
  /** XSKMAP: RX queue index -> AF_XDP socket. */
  xsks: number;
}

export function buildIpipSteeringProgram(fds: IpipSteeringFds): Uint8Array {
  const a = new BpfAsm();
  a.mov64Reg(R6, R1)
    .ldx("u32", R2, R6, MD_DATA)
    .ldx("u32", R3, R6, MD_DATA_END)
    .mov64Reg(R7, R2)
    .add64Imm(R7, ETH_HLEN)
    .mov64Reg(R4, R7)
    .add64Imm(R4, 20)
    .jmpReg("jgt", R4, R3, "pass")
    .ldx("u16", R1, R2, 12)
    .jmpImm("jeq", R1, ETH_P_IPV6_LE, "ipv6")
    .jmpImm("jne", R1, ETH_P_IP_LE, "pass")
    .ldx("u8", R1, R7, 0)
    .alu64Imm("rsh", R1, 4)
    .jmpImm("jne", R1, 4, "pass")
    .ldx("u8", R1, R7, 9)
    .jmpImm("jeq", R1, IPPROTO_IPIP, "proto_ok")
    .jmpImm("jne", R1, IPPROTO_IPV6, "pass")
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
    .ja("redirect")
    .label("ipv6")
    .mov64Reg(R4, R7)
    .add64Imm(R4, IPV6_HLEN)
    .jmpReg("jgt", R4, R3, "pass")
    .ldx("u8", R1, R7, 0)
    .alu64Imm("rsh", R1, 4)
    .jmpImm("jne", R1, 6, "pass")
    .ldx("u8", R1, R7, IPV6_NEXTHDR)
    .jmpImm("jeq", R1, IPPROTO_IPIP, "nh_ok")
    .jmpImm("jne", R1, IPPROTO_IPV6, "pass")
    .label("nh_ok");
  for (let i = 0; i < 4; i++) a.ldx("u32", R1, R7, IPV6_DADDR + 4 * i).stx("u32", R10, KEY6 + 4 * i, R1);
  a.mov64Reg(R2, R10)
    .add64Imm(R2, KEY6)
    .ldMapFd(R1, fds.addrs6)
    .call(Helper.mapLookupElem)
    .jmpImm("jeq", R0, 0, "pass")
    .label("redirect")
    .ldMapFd(R1, fds.xsks)
    .ldx("u32", R2, R6, MD_RX_QUEUE_INDEX)
    .mov64Imm(R3, XDP_PASS)
    .call(Helper.redirectMap)
    .exit()
    .label("pass")
    .mov64Imm(R0, XDP_PASS)
    .exit();
  return a.assemble();
}

export function loadIpipSteeringProgram(fds: IpipSteeringFds): number {
  return progLoad({
    type: ProgType.XDP,
    insns: buildIpipSteeringProgram(fds),
    name: "tslvs_rs_ipip",
    license: "GPL",
  });
}
