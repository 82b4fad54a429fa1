/**
 * The XDP program on a slow-path veth (slow-path-veth.ts): everything that arrives there was steered
 * to tslvs by the TC steering program of a served interface, so every frame goes to the AF_XDP
 * socket of its RX queue, or is dropped when none is bound (never to the host: the frame was
 * addressed to another interface).
 */

import { ProgType, progLoad } from "../../platform/bpf.js";
import { BpfAsm, Helper, R1, R2, R3 } from "../bpf/asm.js";
import { XDP_ABI, XDP_RX_QUEUE_INDEX } from "../bpf/hook-abi.js";

export function buildXskRedirectProgram(xsksMap: number): Uint8Array {
  return new BpfAsm()
    .ldx("u32", R2, R1, XDP_RX_QUEUE_INDEX)
    .ldMapFd(R1, xsksMap)
    .mov64Imm(R3, XDP_ABI.drop)
    .call(Helper.redirectMap)
    .exit()
    .assemble();
}

/** Loads the program for `xsksMap` (RX queue -> AF_XDP socket); returns its fd. */
export function loadXskRedirectProgram(xsksMap: number): number {
  return progLoad({
    type: ProgType.XDP,
    insns: buildXskRedirectProgram(xsksMap),
    name: "tslvs_to_xsk",
    license: "GPL",
  });
}
