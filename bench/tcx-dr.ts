/**
 * A fixed-rewrite DR forwarder at the TC ingress hook (tcx link), for bench/dataplane.ts's
 * `tcx-dr-fixed` scenario: frames for the VIP get the RS's MAC, the egress interface's MAC and
 * TTL - 1, and are redirected out of the egress interface. No XDP is attached, so the frame is not
 * copied for XDP's headroom: the scenario prices the hook itself against generic XDP, not a
 * director (no connection table, no counters, no slow path).
 *
 *   node dist/bench/tcx-dr.js IN_IF OUT_IF VIP RS_MAC
 */
import { readFileSync } from "node:fs";
import { BpfAsm, Helper, R0, R1, R2, R3, R4, R6 } from "../src/dataplane/bpf/asm.js";
import { interfaceIndex } from "../src/dataplane/xdp/attach.js";
import { linkCreateTcx, ProgType, progLoad } from "../src/platform/bpf.js";

const TC_ACT_OK = 0;
const SKB_DATA = 76;
const SKB_DATA_END = 80;
const ETH_P_IP_LE = 0x0008;

const [inIf, outIf, vip, rsMac] = process.argv.slice(2);
if (!inIf || !outIf || !vip || !rsMac) {
  process.stderr.write("usage: node dist/bench/tcx-dr.js IN_IF OUT_IF VIP RS_MAC\n");
  process.exit(2);
}
const mac = (s: string) => s.split(":").map((h) => Number.parseInt(h, 16));
const dst = mac(rsMac);
const src = mac(readFileSync(`/sys/class/net/${outIf}/address`, "utf8").trim());
const vipLe = vip.split(".").reduce((acc, o, i) => acc + Number(o) * 256 ** i, 0);
const u32le = (b: number[], o: number) =>
  (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)) >>> 0;
const u16le = (b: number[], o: number) => b[o]! | (b[o + 1]! << 8);

const a = new BpfAsm();
a.mov64Reg(R6, R1)
  .ldx("u32", R2, R6, SKB_DATA)
  .ldx("u32", R3, R6, SKB_DATA_END)
  .mov64Reg(R4, R2)
  .add64Imm(R4, 34)
  .jmpReg("jgt", R4, R3, "pass")
  .ldx("u16", R1, R2, 12)
  .jmpImm("jne", R1, ETH_P_IP_LE, "pass")
  .ldx("u32", R1, R2, 30)
  .jmpImm("jne", R1, vipLe, "pass")
  .ldx("u8", R1, R2, 22)
  .jmpImm("jle", R1, 1, "pass")
  .add64Imm(R1, -1)
  .stx("u8", R2, 22, R1)
  // Header checksum: the TTL is the high byte of its 16-bit word, so one less TTL is 0x0100 more.
  .ldx("u16", R1, R2, 24)
  .be(R1, 16)
  .add64Imm(R1, 0x100)
  .mov64Reg(R4, R1)
  .alu64Imm("rsh", R4, 16)
  .alu64Imm("and", R1, 0xffff)
  .alu64Reg("add", R1, R4)
  .be(R1, 16)
  .stx("u16", R2, 24, R1)
  .st("u32", R2, 0, u32le(dst, 0))
  .st("u16", R2, 4, u16le(dst, 4))
  .st("u16", R2, 6, u16le(src, 0))
  .st("u32", R2, 8, u32le(src, 2))
  .mov64Imm(R1, interfaceIndex(outIf))
  .mov64Imm(R2, 0)
  .call(Helper.redirect)
  .exit()
  .label("pass")
  .mov64Imm(R0, TC_ACT_OK)
  .exit();

const prog = progLoad({
  type: ProgType.SCHED_CLS,
  insns: a.assemble(),
  name: "bench_tcx_dr",
  license: "GPL",
});
const link = linkCreateTcx(prog, interfaceIndex(inIf), "ingress");
process.stdout.write("attached\n");
process.on("SIGTERM", () => process.exit(0));
setInterval(() => void link, 1 << 30);
