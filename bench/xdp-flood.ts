/**
 * UDP flood from an XDP program run by the kernel (BPF_PROG_TEST_RUN in live-frames mode), for
 * bench/dataplane.ts's `--generator xdp`: the same 60-byte frames as bench/raw-flood.c (FLOWS
 * source ports from SPORT_BASE, full IPv4 and UDP checksums), redirected out of IFNAME without an
 * skb or a socket per frame. On veth they reach the peer as frames in its NAPI ring, as a NIC's
 * receive ring hands them to its driver (the peer needs NAPI: GRO on, or an XDP program).
 *
 *   node dist/bench/xdp-flood.js IFNAME SRC_MAC DST_MAC SRC_IP DST_IP DST_PORT FLOWS SPORT_BASE SECONDS RATE
 *
 * RATE frames per second (0: flat out), paced by the program itself: each frame waits on the
 * kernel's clock for its due time, so a paced step is one syscall and the frames leave evenly
 * (in bulks of at most 16, as XDP redirects are flushed). A frame waits at most SPIN_MAX clock
 * reads (~130 µs here): below ~8 kpps frames leave faster than asked, and the elapsed time printed
 * says so (the benchmark asks for 20 kpps and more). Prints
 * "OFFERED ELAPSED_SECONDS 0": every frame the program redirected counts as offered (a frame the
 * receiving ring refuses is the receiver's loss; the kernel does not report it to the caller).
 */
import { BpfAsm, Helper, R0, R1, R2, R3, R6, R7, R8, R9, R10 } from "../src/dataplane/bpf/asm.js";
import { XDP_ABI } from "../src/dataplane/bpf/hook-abi.js";
import { interfaceIndex } from "../src/dataplane/xdp/attach.js";
import { finishSum, pseudoSumV4, sumRange } from "../src/net/checksum.js";
import {
  MapType,
  mapCreate,
  mapLookup,
  mapUpdate,
  ProgType,
  progLoad,
  progRunLive,
} from "../src/platform/bpf.js";
import { NativeMemory } from "../src/platform/native-memory.js";

const FRAME = 60;
/** Frames per page-pool batch, flushed to the interface together (a veth ring holds 256). */
const BATCH = 16;
/** Frames per run when flat out. */
const CHUNK = 1 << 18;
/** Clock reads a frame waits at most for its due time (the verifier walks every one). */
const SPIN_MAX = 4096;
/** How late a frame may be before the pace gives the time up rather than make it up. */
const SLACK_NS = 20_000;
const XDP_DROP = 1;
const UDP_CHECK = 40;

const args = process.argv.slice(2);
if (args.length !== 10) {
  process.stderr.write(
    "usage: node dist/bench/xdp-flood.js IFNAME SRC_MAC DST_MAC SRC_IP DST_IP DST_PORT FLOWS SPORT_BASE SECONDS RATE\n",
  );
  process.exit(2);
}
const [ifname, srcMac, dstMac, srcIp, dstIp] = args as [string, string, string, string, string];
const [dport, flows, sportBase, seconds, rate] = args.slice(5).map(Number) as [
  number,
  number,
  number,
  number,
  number,
];
if (!(flows >= 1 && sportBase >= 1 && sportBase + flows <= 65536 && seconds > 0 && rate >= 0)) {
  process.stderr.write("xdp-flood: bad arguments\n");
  process.exit(2);
}

const mac = (s: string) => s.split(":").map((h) => Number.parseInt(h, 16));
const ip4 = (s: string) => s.split(".").map(Number);

/**
 * Flow `flow`'s frame, as raw-flood.c builds it: Ethernet, IPv4 (no options, DF, the flow's number
 * as its ID), UDP from SPORT_BASE + flow with 18 bytes of zeros.
 */
function buildFrame(flow: number): Uint8Array {
  const f = new Uint8Array(FRAME);
  const v = new DataView(f.buffer);
  f.set(mac(dstMac), 0);
  f.set(mac(srcMac), 6);
  v.setUint16(12, 0x0800);
  v.setUint8(14, 0x45);
  v.setUint16(16, FRAME - 14);
  v.setUint16(18, flow);
  v.setUint8(20, 0x40);
  v.setUint8(22, 64);
  v.setUint8(23, 17);
  f.set(ip4(srcIp), 26);
  f.set(ip4(dstIp), 30);
  v.setUint16(24, finishSum(sumRange(f, 14, 20)));
  v.setUint16(34, sportBase + flow);
  v.setUint16(36, dport);
  v.setUint16(38, FRAME - 34);
  const sum = finishSum(sumRange(f, 34, FRAME - 34, pseudoSumV4(f, 14, 17, FRAME - 34)));
  v.setUint16(UDP_CHECK, sum === 0 ? 0xffff : sum);
  return f;
}

// Per flow: its whole frame. A frame's page comes back to the run's page pool as the receiver left
// it (a forwarded frame has another MAC and TTL), so every run writes all of it.
const framesMap = mapCreate({
  type: MapType.ARRAY,
  keySize: 4,
  valueSize: FRAME,
  maxEntries: flows,
  name: "flood_frames",
});
const key = new Uint8Array(4);
for (let i = 0; i < flows; i++) {
  new DataView(key.buffer).setUint32(0, i, true);
  mapUpdate(framesMap, key, buildFrame(i));
}
// The pace: frame n is due at T0 + (n * INTERVAL) >> 8 ns (CLOCK_MONOTONIC; INTERVAL 0: flat out;
// T0 is the first frame's time).
const STATE_T0 = 0;
const STATE_INTERVAL = 8;
const STATE_SEQ = 16;
/** When the first frame left (T0 moves on past this CPU's stalls; see SLACK_NS). */
const STATE_FIRST = 24;
const stateMap = mapCreate({
  type: MapType.ARRAY,
  keySize: 4,
  valueSize: 32,
  maxEntries: 1,
  name: "flood_state",
});

// Each run: n = SEQ++; wait until frame n is due (a bounded spin on the clock: a frame still not
// due after SPIN_MAX reads leaves early); write flow n % FLOWS's frame; redirect.
const a = new BpfAsm();
a.ldx("u32", R6, R1, XDP_ABI.data)
  .ldx("u32", R2, R1, XDP_ABI.dataEnd)
  .mov64Reg(R3, R6)
  .add64Imm(R3, FRAME)
  .jmpReg("jgt", R3, R2, "drop")
  .st("u32", R10, -4, 0)
  .ldMapFd(R1, stateMap)
  .mov64Reg(R2, R10)
  .add64Imm(R2, -4)
  .call(Helper.mapLookupElem)
  .jmpImm("jeq", R0, 0, "drop")
  .mov64Reg(R8, R0)
  .ldx("u64", R7, R8, STATE_SEQ)
  .mov64Reg(R1, R7)
  .add64Imm(R1, 1)
  .stx("u64", R8, STATE_SEQ, R1)
  // The pace starts with the first frame (T0 0: now), not when the run was asked for: setting a
  // run up takes milliseconds, which the pace would otherwise make up in one burst.
  .ldx("u64", R1, R8, STATE_T0)
  .jmpImm("jne", R1, 0, "t0_set")
  .call(Helper.ktimeGetNs)
  .stx("u64", R8, STATE_T0, R0)
  .stx("u64", R8, STATE_FIRST, R0)
  .mov64Reg(R1, R0)
  .label("t0_set")
  // due = T0 + (n * INTERVAL) >> 8, in r9
  .ldx("u64", R9, R8, STATE_INTERVAL)
  .alu64Reg("mul", R9, R7)
  .alu64Imm("rsh", R9, 8)
  .alu64Reg("add", R9, R1)
  .alu64Imm("mod", R7, flows)
  .stx("u32", R10, -8, R7)
  .mov64Imm(R7, 0)
  .label("spin")
  .call(Helper.ktimeGetNs)
  .jmpReg("jge", R0, R9, "due")
  .add64Imm(R7, 1)
  .jmpImm("jlt", R7, SPIN_MAX, "spin")
  .ja("send")
  // A frame more than SLACK late: this CPU was away (the VM's stall, not the receiver's). The pace
  // moves on by that much instead of making it up in a burst no receive ring could hold.
  .label("due")
  .alu64Reg("sub", R0, R9)
  .jmpImm("jle", R0, SLACK_NS, "send")
  .ldx("u64", R1, R8, STATE_T0)
  .alu64Reg("add", R1, R0)
  .stx("u64", R8, STATE_T0, R1)
  .label("send")
  .ldMapFd(R1, framesMap)
  .mov64Reg(R2, R10)
  .add64Imm(R2, -8)
  .call(Helper.mapLookupElem)
  .jmpImm("jeq", R0, 0, "drop");
for (let off = 0; off + 8 <= FRAME; off += 8) a.ldx("u64", R1, R0, off).stx("u64", R6, off, R1);
a.ldx("u32", R1, R0, FRAME - 4)
  .stx("u32", R6, FRAME - 4, R1)
  .mov64Imm(R1, interfaceIndex(ifname))
  .mov64Imm(R2, 0)
  .call(Helper.redirect)
  .exit()
  .label("drop")
  .mov64Imm(R0, XDP_DROP)
  .exit();
const prog = progLoad({ type: ProgType.XDP, insns: a.assemble(), name: "bench_xdp_flood", license: "GPL" });

const frame = NativeMemory.allocate(FRAME);
frame.bytes.set(buildFrame(0));

// The whole paced step is one run (a run's set-up and tear-down would leave a gap that the pace
// then makes up in a burst); flat out runs CHUNK frames at a time until SECONDS have passed.
const state = new Uint8Array(32);
const stateKey = new Uint8Array(4);
new DataView(state.buffer).setBigUint64(
  STATE_INTERVAL,
  rate > 0 ? BigInt(Math.round((256 * 1e9) / rate)) : 0n,
  true,
);
mapUpdate(stateMap, stateKey, state);
const started = process.hrtime.bigint();
let sent = 0;
if (rate > 0) {
  sent = Math.max(1, Math.round(rate * seconds));
  progRunLive(prog, frame, FRAME, sent, BATCH);
} else {
  while (Number(process.hrtime.bigint() - started) / 1e9 < seconds) {
    progRunLive(prog, frame, FRAME, CHUNK, BATCH);
    sent += CHUNK;
  }
}
const ended = process.hrtime.bigint();
// Elapsed from the first frame (CLOCK_MONOTONIC, like hrtime) to the last run's end.
mapLookup(stateMap, stateKey, state);
const first = new DataView(state.buffer).getBigUint64(STATE_FIRST, true);
const elapsed = Number(ended - (first > 0n && first < ended ? first : started)) / 1e9;
process.stdout.write(`${sent} ${elapsed.toFixed(6)} 0\n`);
