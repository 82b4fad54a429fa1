import assert from "node:assert/strict";
import { IpAddr } from "../../src/core/address.js";
import { SKB_GSO_SEGS, SKB_GSO_SIZE, TC_ABI, TC_ACT_REDIRECT } from "../../src/dataplane/bpf/hook-abi.js";
import {
  encodeFlow,
  encodeFlowKey,
  FLOW_KEY_SIZE,
  FLOW_VALUE_SIZE,
  type FlowSpec,
} from "../../src/dataplane/fastpath/flow-layout.js";
import { FastPathMaps } from "../../src/dataplane/fastpath/flow-maps.js";
import { SteeringMaps } from "../../src/dataplane/xdp/steering-maps.js";
import { loadSteeringProgram } from "../../src/dataplane/xdp/steering-program.js";
import { closeFd, mapDelete, mapUpdate, progTestRun } from "../../src/platform/bpf.js";
import { PRIVILEGED } from "./privileged.js";

/**
 * The steering program with the fast path, loaded with its maps and run in the kernel by
 * BPF_PROG_TEST_RUN (which presents a frame as received on loopback, ifindex 1). Fast-pathed frames
 * come back as XDP_REDIRECT with the rewritten bytes; the others as the steering program decides
 * (missAction "drop" and no AF_XDP socket: a steered frame comes back as XDP_DROP, untouched).
 * Shared by the fast path's program tests.
 */
export const XDP_DROP = 1;
export const XDP_PASS = 2;
export const XDP_REDIRECT = 4;
export const TCP = 6;
export const UDP = 17;
export const SCTP = 132;
export const ACK_PSH = 0x18;

export const v4 = (a: number, b: number, c: number, d: number) =>
  ((a << 24) | (b << 16) | (c << 8) | d) >>> 0;
export const CLIENT = v4(198, 18, 0, 100);
export const VIP = v4(198, 18, 0, 10);
export const LIP = v4(198, 19, 0, 1);
export const RIP = v4(198, 19, 10, 20);
export const OUR_MAC = [2, 0, 0, 0, 0, 2];
export const OUR_MAC_N = 0x020000000002;
export const RS_MAC = 0x02aabbccdd20;
export const OUT_MAC = 0x020000000003;
export const CLIENT_MAC = 0x02aabbccdd01;
export const LOOPBACK = 1;
export const OUT_IFINDEX = 7;

/** Where the program under test runs (hook-abi.ts). */
export type ProgramHook = "xdp" | "tc";

/**
 * A program's return value as the XDP verdict the cases expect: at TC, TC_ACT_REDIRECT is
 * XDP_REDIRECT, TCX_NEXT XDP_PASS, TC_ACT_SHOT XDP_DROP; anything else comes back negated.
 */
export function asXdpVerdict(hook: ProgramHook, retval: number): number {
  if (hook === "xdp") return retval;
  if (retval === TC_ACT_REDIRECT) return XDP_REDIRECT;
  if (retval === TC_ABI.pass >>> 0) return XDP_PASS;
  if (retval === TC_ABI.drop) return XDP_DROP;
  return -retval;
}

export class FastPathRig {
  steering: SteeringMaps | null = null;
  fast: FastPathMaps | null = null;
  private prog = -1;
  private readonly key = new Uint8Array(FLOW_KEY_SIZE);
  private readonly value = new Uint8Array(FLOW_VALUE_SIZE);

  /** `tc`: the program is loaded for TC ingress; steered frames (missAction "drop") are dropped. */
  constructor(readonly hook: ProgramHook = "xdp") {}

  /** Services TCP VIP:80 and UDP VIP:53; with `replySources`, replies from RIP:8080 / RIP:5353. */
  open(replySources: boolean): void {
    if (!PRIVILEGED) return;
    this.steering = SteeringMaps.create();
    this.fast = FastPathMaps.create(1024);
    this.prog = loadSteeringProgram(this.steering.fds, {
      missAction: "drop",
      fastPath: this.fast.fds,
      hook: this.hook === "xdp" ? "xdp" : { tc: 1 },
    });
    this.steering.setInterfaceMac(LOOPBACK, Uint8Array.from(OUR_MAC));
    this.steering.addService(TCP, IpAddr.v4(VIP), 80);
    this.steering.addService(UDP, IpAddr.v4(VIP), 53);
    if (replySources) {
      this.steering.addReplySource(TCP, IpAddr.v4(RIP), 8080);
      this.steering.addReplySource(UDP, IpAddr.v4(RIP), 5353);
    }
  }

  close(): void {
    if (this.prog >= 0) closeFd(this.prog);
    this.fast?.close();
    this.steering?.close();
  }

  install(s: FlowSpec): void {
    encodeFlow(this.key, 0, this.value, 0, s);
    mapUpdate(this.fast!.fds.flows, this.key, this.value);
  }

  remove(s: FlowSpec): void {
    encodeFlowKey(this.key, 0, s.protocol, s.saddr, s.daddr, s.sport, s.dport);
    mapDelete(this.fast!.fds.flows, this.key);
  }

  /**
   * Runs the program on `frame`: its verdict, output bytes and the one fast-path counter it moved.
   * `gsoSize` (tc only): the frame is presented as a GSO aggregate of segments of that payload size.
   */
  run(frame: Uint8Array, gsoSize = 0) {
    const before = this.fast!.counters();
    let ctx: Uint8Array | undefined;
    if (gsoSize > 0) {
      if (this.hook !== "tc") throw new Error("a GSO aggregate is a TC program's input");
      ctx = new Uint8Array(192); // struct __sk_buff
      const v = new DataView(ctx.buffer);
      v.setUint32(SKB_GSO_SEGS, Math.ceil((frame.length - 54) / gsoSize), true);
      v.setUint32(SKB_GSO_SIZE, gsoSize, true);
    }
    const r = progTestRun(this.prog, frame, 1, ctx);
    const now = this.fast!.counters();
    const moved = Object.keys(now).filter(
      (k) => now[k as keyof typeof now] !== before[k as keyof typeof before],
    );
    assert.ok(moved.length <= 1, `one fast-path counter per frame, got ${moved.join(",")}`);
    return { verdict: asXdpVerdict(this.hook, r.retval), data: r.data, counter: moved[0] ?? null };
  }
}
