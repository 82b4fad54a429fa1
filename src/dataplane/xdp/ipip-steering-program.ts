/**
 * The XDP program of the TUN real-server helper (`tslvs rs --mode tun`): it takes IPIP packets
 * (IPv4, protocol 4, not fragmented) addressed to one of the host's own addresses away from the
 * kernel — which has no ipip module and would answer them with ICMP protocol unreachable — and
 * redirects them into the AF_XDP socket of their RX queue. Everything else passes untouched.
 *
 * Maps: `addrs` (hash, u32 IPv4 address in network order -> u8) holds the host's addresses;
 * `xsks` (XSKMAP) RX queue -> socket. Plain Ethernet frames only (no VLAN tag).
 */
import { BpfAsm, Helper, R0, R1, R2, R3, R4, R6, R7, R10 } from "../bpf/asm.js";
import { ProgType, progLoad } from "../bpf/syscalls.js";

const XDP_PASS = 2;
const ETH_HLEN = 14;
const ETH_P_IP_LE = 0x0008;
const IP_FRAG_MASK_LE = 0xff3f;
const IPPROTO_IPIP = 4;
const MD_DATA = 0;
const MD_DATA_END = 4;
const MD_RX_QUEUE_INDEX = 16;
const KEY = -8;

export interface IpipSteeringFds {
  /** HASH u32 -> u8: the host's IPv4 addresses (network byte order keys). */
  addrs: number;
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
    .jmpImm("jne", R1, ETH_P_IP_LE, "pass")
    .ldx("u8", R1, R7, 0)
    .alu64Imm("rsh", R1, 4)
    .jmpImm("jne", R1, 4, "pass")
    .ldx("u8", R1, R7, 9)
    .jmpImm("jne", R1, IPPROTO_IPIP, "pass")
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
