/**
 * A small eBPF assembler: builder methods append instructions, jumps name labels, and `assemble()`
 * resolves the labels into the signed 16-bit offsets the kernel expects and returns the bytes that
 * BPF_PROG_LOAD takes (8 bytes per instruction: opcode, dst | src << 4, s16 offset, s32 immediate).
 *
 * Register and immediate operands have separate methods (`mov64Imm` / `mov64Reg`) so that a number
 * is never silently taken for the other kind.
 */

export type Reg = 0 | 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9 | 10;
export const R0: Reg = 0;
export const R1: Reg = 1;
export const R2: Reg = 2;
export const R3: Reg = 3;
export const R4: Reg = 4;
export const R5: Reg = 5;
export const R6: Reg = 6;
export const R7: Reg = 7;
export const R8: Reg = 8;
export const R9: Reg = 9;
/** Read-only frame pointer: the stack is the 512 bytes below it. */
export const R10: Reg = 10;

// Instruction classes.
const BPF_LD = 0x00;
const BPF_LDX = 0x01;
const BPF_ST = 0x02;
const BPF_STX = 0x03;
const BPF_ALU = 0x04;
const BPF_JMP = 0x05;
const BPF_JMP32 = 0x06;
const BPF_ALU64 = 0x07;
// Operand source.
const BPF_K = 0x00;
const BPF_X = 0x08;
// Memory access modes.
const BPF_IMM = 0x00;
const BPF_MEM = 0x60;
const BPF_ATOMIC = 0xc0;
/** imm of a BPF_ATOMIC instruction: plain fetch-less add. */
const BPF_ATOMIC_ADD = 0x00;
/** src_reg of a LD_IMM64 whose immediate is a map file descriptor (relocated by the kernel). */
export const BPF_PSEUDO_MAP_FD = 1;

export type Size = "u8" | "u16" | "u32" | "u64";
const SIZE_BITS: Record<Size, number> = { u32: 0x00, u16: 0x08, u8: 0x10, u64: 0x18 };

export type AluOp =
  | "add"
  | "sub"
  | "mul"
  | "div"
  | "or"
  | "and"
  | "lsh"
  | "rsh"
  | "mod"
  | "xor"
  | "mov"
  | "arsh";
const ALU_BITS: Record<AluOp, number> = {
  add: 0x00,
  sub: 0x10,
  mul: 0x20,
  div: 0x30,
  or: 0x40,
  and: 0x50,
  lsh: 0x60,
  rsh: 0x70,
  mod: 0x90,
  xor: 0xa0,
  mov: 0xb0,
  arsh: 0xc0,
};
const BPF_NEG = 0x80;
const BPF_END = 0xd0;

export type JmpOp =
  | "jeq"
  | "jgt"
  | "jge"
  | "jset"
  | "jne"
  | "jsgt"
  | "jsge"
  | "jlt"
  | "jle"
  | "jslt"
  | "jsle";
const JMP_BITS: Record<JmpOp, number> = {
  jeq: 0x10,
  jgt: 0x20,
  jge: 0x30,
  jset: 0x40,
  jne: 0x50,
  jsgt: 0x60,
  jsge: 0x70,
  jlt: 0xa0,
  jle: 0xb0,
  jslt: 0xc0,
  jsle: 0xd0,
};
const BPF_JA = 0x00;
const BPF_CALL = 0x80;
const BPF_EXIT = 0x90;

/** Kernel helper function ids (include/uapi/linux/bpf.h, `___BPF_FUNC_MAPPER` order). */
export const Helper = {
  mapLookupElem: 1,
  mapUpdateElem: 2,
  mapDeleteElem: 3,
  ktimeGetNs: 5,
  redirect: 23,
  skbChangeTail: 38,
  skbPullData: 39,
  csumUpdate: 40,
  xdpAdjustHead: 44,
  skbAdjustRoom: 50,
  redirectMap: 51,
  xdpAdjustTail: 65,
  ktimeGetCoarseNs: 160,
  xdpGetBuffLen: 188,
} as const;

interface Insn {
  code: number;
  dst: Reg;
  src: number;
  off: number;
  imm: number;
  /** Label a jump goes to; its offset is filled in by assemble(). */
  target?: string;
}

const INT32_MIN = -0x80000000;
const UINT32_MAX = 0xffffffff;

function checkImm32(imm: number, what: string): number {
  if (!Number.isInteger(imm) || imm < INT32_MIN || imm > UINT32_MAX) {
    throw new RangeError(`${what}: immediate ${imm} does not fit in 32 bits`);
  }
  return imm | 0;
}

/** Rejects immediates that the CPU would sign-extend to a different 64-bit value. */
function checkImm64Safe(imm: number, what: string): number {
  if (imm > 0x7fffffff) {
    throw new RangeError(
      `${what}: immediate ${imm} would be sign-extended to 64 bits; use the 32-bit form or ldImm64`,
    );
  }
  return checkImm32(imm, what);
}

function checkOff(off: number, what: string): number {
  if (!Number.isInteger(off) || off < -0x8000 || off > 0x7fff) {
    throw new RangeError(`${what}: offset ${off} does not fit in 16 bits`);
  }
  return off;
}

export class BpfAsm {
  private readonly insns: Insn[] = [];
  private readonly labels = new Map<string, number>();

  /** Number of 8-byte instruction slots so far (LD_IMM64 counts two). */
  get length(): number {
    return this.insns.length;
  }

  /** Marks the position of the next instruction. */
  label(name: string): this {
    if (this.labels.has(name)) throw new Error(`label "${name}" defined twice`);
    this.labels.set(name, this.insns.length);
    return this;
  }

  private emit(code: number, dst: Reg, src: number, off: number, imm: number, target?: string): this {
    const insn: Insn = { code, dst, src, off, imm };
    if (target !== undefined) insn.target = target;
    this.insns.push(insn);
    return this;
  }

  // ---- ALU ----

  alu64Imm(op: AluOp, dst: Reg, imm: number): this {
    return this.emit(BPF_ALU64 | ALU_BITS[op] | BPF_K, dst, 0, 0, checkImm64Safe(imm, `alu64 ${op}`));
  }
  alu64Reg(op: AluOp, dst: Reg, src: Reg): this {
    return this.emit(BPF_ALU64 | ALU_BITS[op] | BPF_X, dst, src, 0, 0);
  }
  /** 32-bit ALU: the result is zero-extended into the 64-bit register. */
  alu32Imm(op: AluOp, dst: Reg, imm: number): this {
    return this.emit(BPF_ALU | ALU_BITS[op] | BPF_K, dst, 0, 0, checkImm32(imm, `alu32 ${op}`));
  }
  alu32Reg(op: AluOp, dst: Reg, src: Reg): this {
    return this.emit(BPF_ALU | ALU_BITS[op] | BPF_X, dst, src, 0, 0);
  }
  mov64Imm(dst: Reg, imm: number): this {
    return this.alu64Imm("mov", dst, imm);
  }
  mov64Reg(dst: Reg, src: Reg): this {
    return this.alu64Reg("mov", dst, src);
  }
  /** dst = imm as an unsigned 32-bit value (zero-extended). */
  mov32Imm(dst: Reg, imm: number): this {
    return this.alu32Imm("mov", dst, imm);
  }
  add64Imm(dst: Reg, imm: number): this {
    return this.alu64Imm("add", dst, imm);
  }
  neg64(dst: Reg): this {
    return this.emit(BPF_ALU64 | BPF_NEG, dst, 0, 0, 0);
  }
  /** Converts the low `bits` of dst from network (big-endian) to host order on this little-endian CPU. */
  be(dst: Reg, bits: 16 | 32 | 64): this {
    return this.emit(BPF_ALU | BPF_END | BPF_X, dst, 0, 0, bits);
  }

  // ---- memory ----

  /** dst = *(size *)(src + off) */
  ldx(size: Size, dst: Reg, src: Reg, off: number): this {
    return this.emit(BPF_LDX | BPF_MEM | SIZE_BITS[size], dst, src, checkOff(off, "ldx"), 0);
  }
  /** *(size *)(dst + off) = src */
  stx(size: Size, dst: Reg, off: number, src: Reg): this {
    return this.emit(BPF_STX | BPF_MEM | SIZE_BITS[size], dst, src, checkOff(off, "stx"), 0);
  }
  /** *(size *)(dst + off) = imm */
  st(size: Size, dst: Reg, off: number, imm: number): this {
    return this.emit(BPF_ST | BPF_MEM | SIZE_BITS[size], dst, 0, checkOff(off, "st"), checkImm32(imm, "st"));
  }
  /**
   * *(size *)(dst + off) += src, atomically (lock add): for counters in shared (not per-CPU) map
   * values that several CPUs update. Only u32 and u64.
   */
  atomicAdd(size: "u32" | "u64", dst: Reg, off: number, src: Reg): this {
    return this.emit(
      BPF_STX | BPF_ATOMIC | SIZE_BITS[size],
      dst,
      src,
      checkOff(off, "atomicAdd"),
      BPF_ATOMIC_ADD,
    );
  }
  /** dst = a 64-bit constant (two instruction slots). */
  ldImm64(dst: Reg, value: bigint): this {
    const v = BigInt.asUintN(64, value);
    this.emit(BPF_LD | BPF_IMM | SIZE_BITS.u64, dst, 0, 0, Number(v & 0xffffffffn) | 0);
    return this.emit(0, 0, 0, 0, Number(v >> 32n) | 0);
  }
  /** dst = the map whose file descriptor is `fd` (the kernel replaces it by the map's address). */
  ldMapFd(dst: Reg, fd: number): this {
    if (!Number.isInteger(fd) || fd < 0) throw new RangeError(`ldMapFd: bad map fd ${fd}`);
    this.emit(BPF_LD | BPF_IMM | SIZE_BITS.u64, dst, BPF_PSEUDO_MAP_FD, 0, fd);
    return this.emit(0, 0, 0, 0, 0);
  }

  // ---- jumps ----

  ja(target: string): this {
    return this.emit(BPF_JMP | BPF_JA, 0, 0, 0, 0, target);
  }
  /** if (dst op imm) goto target — 64-bit compare; imm is sign-extended, so it must be < 2^31. */
  jmpImm(op: JmpOp, dst: Reg, imm: number, target: string): this {
    return this.emit(BPF_JMP | JMP_BITS[op] | BPF_K, dst, 0, 0, checkImm64Safe(imm, `jmp ${op}`), target);
  }
  jmpReg(op: JmpOp, dst: Reg, src: Reg, target: string): this {
    return this.emit(BPF_JMP | JMP_BITS[op] | BPF_X, dst, src, 0, 0, target);
  }
  /** if ((u32)dst op (u32)imm) goto target — compares the low 32 bits only. */
  jmp32Imm(op: JmpOp, dst: Reg, imm: number, target: string): this {
    return this.emit(BPF_JMP32 | JMP_BITS[op] | BPF_K, dst, 0, 0, checkImm32(imm, `jmp32 ${op}`), target);
  }
  jmp32Reg(op: JmpOp, dst: Reg, src: Reg, target: string): this {
    return this.emit(BPF_JMP32 | JMP_BITS[op] | BPF_X, dst, src, 0, 0, target);
  }
  /** Calls a kernel helper by id (see `Helper`); arguments in r1-r5, result in r0, r1-r5 clobbered. */
  call(helper: number): this {
    return this.emit(BPF_JMP | BPF_CALL, 0, 0, 0, checkImm32(helper, "call"));
  }
  exit(): this {
    return this.emit(BPF_JMP | BPF_EXIT, 0, 0, 0, 0);
  }

  /** The program as BPF_PROG_LOAD expects it; throws on an undefined label or an offset out of range. */
  assemble(): Uint8Array {
    const out = new Uint8Array(this.insns.length * 8);
    const view = new DataView(out.buffer);
    this.insns.forEach((insn, pc) => {
      let off = insn.off;
      if (insn.target !== undefined) {
        const at = this.labels.get(insn.target);
        if (at === undefined) throw new Error(`jump to undefined label "${insn.target}"`);
        off = checkOff(at - (pc + 1), `jump to "${insn.target}"`);
      }
      const base = pc * 8;
      view.setUint8(base, insn.code);
      view.setUint8(base + 1, (insn.dst & 0x0f) | ((insn.src & 0x0f) << 4));
      view.setInt16(base + 2, off, true);
      view.setInt32(base + 4, insn.imm, true);
    });
    return out;
  }
}
