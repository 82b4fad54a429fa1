import { type BpfAsm, Helper, R0, R1, R2, R10 } from "./asm.js";

/**
 * Emits `map[key] += 1` for a per-CPU array of u64 counters, the key (u32) already stored at
 * r10 + `keySlot`; a failed lookup skips the increment (label `skip`, placed here). Per-CPU values
 * need no atomic add. Clobbers r0-r5.
 */
export function emitIncrement(a: BpfAsm, mapFd: number, keySlot: number, skip: string): BpfAsm {
  return a
    .mov64Reg(R2, R10)
    .add64Imm(R2, keySlot)
    .ldMapFd(R1, mapFd)
    .call(Helper.mapLookupElem)
    .jmpImm("jeq", R0, 0, skip)
    .ldx("u64", R1, R0, 0)
    .add64Imm(R1, 1)
    .stx("u64", R0, 0, R1)
    .label(skip);
}
