import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { BpfAsm, Helper, R0, R1, R2, R3, R6, R10 } from "../src/dataplane/bpf/asm.js";

const hex = (a: BpfAsm) => Buffer.from(a.assemble()).toString("hex");

test("encodes instructions as the kernel documents them", () => {
  // mov64 r0, 2 ; exit
  assert.equal(hex(new BpfAsm().mov64Imm(R0, 2).exit()), "b700000002000000" + "9500000000000000");
  // r6 = r1 ; r2 = *(u32 *)(r6 + 4) ; *(u16 *)(r10 - 4) = r1
  assert.equal(
    hex(new BpfAsm().mov64Reg(R6, R1).ldx("u32", R2, R6, 4).stx("u16", R10, -4, R1)),
    "bf16000000000000" + "6162040000000000" + "6b1afcff00000000",
  );
  // *(u8 *)(r10 - 1) = 0 ; call bpf_redirect_map ; r3 = be16 r3
  assert.equal(
    hex(new BpfAsm().st("u8", R10, -1, 0).call(Helper.redirectMap).be(R3, 16)),
    "720affff00000000" + "8500000033000000" + "dc03000010000000",
  );
  // ld_imm64 r1, map fd 7 (src_reg = BPF_PSEUDO_MAP_FD), two slots
  assert.equal(hex(new BpfAsm().ldMapFd(R1, 7)), "1811000007000000" + "0000000000000000");
  assert.equal(hex(new BpfAsm().ldImm64(R2, 0x1122334455667788n)), "1802000088776655" + "0000000044332211");
});

test("jumps resolve labels forwards and backwards, relative to the next instruction", () => {
  const a = new BpfAsm()
    .label("top")
    .jmpImm("jeq", R1, 5, "out") // pc 0 -> 3: off 2
    .add64Imm(R1, 1)
    .ja("top") // pc 2 -> 0: off -3
    .label("out")
    .exit();
  const b = a.assemble();
  const v = new DataView(b.buffer);
  assert.equal(b[0], 0x15);
  assert.equal(v.getInt16(2, true), 2);
  assert.equal(b[16], 0x05);
  assert.equal(v.getInt16(16 + 2, true), -3);
  // LD_IMM64 occupies two slots in offset arithmetic.
  const c = new BpfAsm().ja("end").ldImm64(R1, 1n).label("end").exit().assemble();
  assert.equal(new DataView(c.buffer).getInt16(2, true), 2);
});

test("refuses what the kernel would misread", () => {
  assert.throws(() => new BpfAsm().ja("nowhere").assemble(), /undefined label "nowhere"/);
  assert.throws(() => new BpfAsm().label("x").label("x"), /defined twice/);
  assert.throws(() => new BpfAsm().mov64Imm(R0, 0x80000000), /sign-extended/);
  assert.throws(() => new BpfAsm().jmpImm("jeq", R0, 0xc6120001, "x"), /sign-extended/);
  assert.doesNotThrow(() => new BpfAsm().jmp32Imm("jeq", R0, 0xc6120001, "x").label("x").exit().assemble());
  assert.throws(() => new BpfAsm().ldx("u8", R0, R1, 40000), /16 bits/);
  assert.throws(() => new BpfAsm().st("u32", R10, -4, 2 ** 33), /32 bits/);
});

test("any 32-bit immediate round-trips through the encoding", () => {
  fc.assert(
    fc.property(fc.integer({ min: -0x80000000, max: 0xffffffff }), (imm) => {
      const b = new BpfAsm().mov32Imm(R0, imm).assemble();
      return new DataView(b.buffer).getInt32(4, true) === (imm | 0);
    }),
  );
});
