/**
 * The firewall-mark rules (marks/mark-rules.ts) as eBPF, inside the steering program: for a TCP,
 * UDP or SCTP packet that matched no address service, the program computes the mark netfilter's
 * prerouting chains would give it, and steers it when a firewall-mark service of that mark and the
 * packet's family exists (the `marks` map, filled by steering-sync.ts). Chains are inlined at every
 * jump (nftables forbids loops), rules become straight-line matches that jump to the next rule on
 * failure, and the running mark lives in a stack slot. The slow path evaluates the same rules in
 * TypeScript (evaluateMarks) to hand the core the mark.
 */
import { type BpfAsm, Helper, R0, R1, R2, R10, type Reg } from "../bpf/asm.js";
import type { HookAbi } from "../bpf/hook-abi.js";
import type { MarkMatch, MarkProgram, MarkStep } from "../marks/mark-rules.js";
import { prefixWordMask } from "../marks/mark-rules.js";
import { MARK_KEY_FAMILY, MARK_KEY_MARK } from "./steering-layout.js";

export interface MarkEmitRegs {
  ctx: Reg;
  iph: Reg;
  l4: Reg;
  proto: Reg;
  abi: HookAbi;
  /** Stack slot (4 bytes) for the running mark, and one (8 bytes) for the `marks` key. */
  markSlot: number;
  keySlot: number;
  /** Where a packet of a firewall-mark service goes, and where every other one goes on. */
  hit: string;
  miss: string;
}

/** Source and destination address offsets in the IP header, by family. */
const ADDR = { 4: { saddr: 12, daddr: 16 }, 6: { saddr: 8, daddr: 24 } } as const;

let labels = 0;

/**
 * Emits the evaluation for `family` packets (IPH, L4 and PROTO set, 4 bytes of L4 present); ends
 * with a jump to `hit` or `miss`; returns whether anything jumps to `hit`. Clobbers r0-r5.
 */
export function emitMarkRules(
  a: BpfAsm,
  program: MarkProgram,
  family: 4 | 6,
  marksMap: number,
  r: MarkEmitRegs,
): boolean {
  const fresh = (p: string) => `mark${family}_${p}_${++labels}`;
  // The verifier refuses unreachable instructions: code after an unconditional jump is emitted
  // only once a label someone jumps to starts again (every jump here goes forward).
  const referenced = new Set<string>();
  let live = true;
  const jump = (target: string) => {
    if (live) {
      a.ja(target);
      referenced.add(target);
    }
    live = false;
  };
  const cond = (op: "jeq" | "jne" | "jlt" | "jle", v: number, target: string) => {
    a.jmp32Imm(op, R1, v, target);
    referenced.add(target);
  };
  const label = (name: string) => {
    a.label(name);
    live = live || referenced.has(name);
  };

  a.st("u32", R10, r.markSlot, 0);
  for (const hook of program.hooks) {
    if (!live) break;
    if (hook.family !== 0 && hook.family !== family) continue;
    const done = fresh("hook_done");
    const end = fresh("hook_end");
    emitChain(hook.chain, done, r.miss, end, 0);
    label(end);
    if (hook.policy === "drop") jump(r.miss);
    label(done);
  }
  if (!live) return false;
  a.ldx("u32", R1, R10, r.markSlot)
    .jmp32Imm("jeq", R1, 0, r.miss)
    .stx("u32", R10, r.keySlot + MARK_KEY_MARK, R1)
    .st("u32", R10, r.keySlot + MARK_KEY_FAMILY, family)
    .mov64Reg(R2, R10)
    .add64Imm(R2, r.keySlot)
    .ldMapFd(R1, marksMap)
    .call(Helper.mapLookupElem)
    .jmpImm("jne", R0, 0, r.hit)
    .ja(r.miss);
  return true;

  function emitChain(c: number, onAccept: string, onDrop: string, onEnd: string, depth: number): void {
    if (depth > 16) throw new Error("firewall-mark chains nest deeper than 16 jumps");
    for (const rule of program.chains[c]!.rules) {
      if (!live) break;
      const next = fresh("next");
      let matches = true;
      for (const s of rule.steps) {
        if (!emitStep(s, next)) {
          matches = false;
          break;
        }
      }
      if (matches) {
        const v = rule.verdict;
        if (v.kind === "accept") jump(onAccept);
        else if (v.kind === "drop") jump(onDrop);
        else if (v.kind === "return") jump(onEnd);
        else if (v.kind === "jump") emitChain(v.chain, onAccept, onDrop, next, depth + 1);
        else if (v.kind === "goto") {
          emitChain(v.chain, onAccept, onDrop, onEnd, depth + 1);
          jump(onEnd);
        }
      }
      label(next);
    }
    jump(onEnd);
  }

  /** Emits one step; false when it can never match here (the rest of the rule is not emitted). */
  function emitStep(s: MarkStep, next: string): boolean {
    switch (s.kind) {
      case "set":
        a.ldx("u32", R1, R10, r.markSlot)
          .alu32Imm("and", R1, s.and)
          .alu32Imm("xor", R1, s.xor)
          .stx("u32", R10, r.markSlot, R1);
        return true;
      case "family":
        return s.family === family;
      case "addr6": {
        if (family !== 6) return false;
        if (s.prefixes.length === 0) return s.negate;
        const inAny = fresh("in");
        const off = ADDR[6][s.field === "saddr6" ? "saddr" : "daddr"];
        for (const p of s.prefixes) {
          const other = fresh("other");
          for (let w = 0; w < 4; w++) {
            const m = prefixWordMask(p.len, w);
            if (m === 0) break;
            a.ldx("u32", R1, r.iph, off + 4 * w).be(R1, 32);
            if (m !== 0xffffffff) a.alu32Imm("and", R1, m);
            cond("jne", (p.words[w]! & m) >>> 0, other);
          }
          jump(inAny);
          label(other);
        }
        membership(s.negate, inAny, next);
        return true;
      }
      case "u32": {
        if (s.ranges.length === 0) return s.negate;
        if (!loadField(s)) return false;
        const inAny = fresh("in");
        for (const [lo, hi] of s.ranges) {
          if (lo === hi) {
            cond("jeq", lo, inAny);
          } else {
            const skip = fresh("below");
            if (lo > 0) cond("jlt", lo, skip);
            cond("jle", hi, inAny);
            label(skip);
          }
        }
        membership(s.negate, inAny, next);
        return true;
      }
    }
  }

  /** After the tests (falling through: in none of them): go on, or to `next`. */
  function membership(negate: boolean, inAny: string, next: string): void {
    const ok = fresh("ok");
    jump(negate ? ok : next);
    label(inAny);
    if (negate) jump(next);
    label(ok);
  }

  /** r1 = the field; false when this family's packets have no such field (the match fails). */
  function loadField(s: MarkMatch): boolean {
    switch (s.field) {
      case "l4proto":
        a.mov64Reg(R1, r.proto);
        return true;
      case "sport":
        a.ldx("u16", R1, r.l4, 0).be(R1, 16);
        return true;
      case "dport":
        a.ldx("u16", R1, r.l4, 2).be(R1, 16);
        return true;
      case "saddr4":
      case "daddr4":
        if (family !== 4) return false;
        a.ldx("u32", R1, r.iph, ADDR[4][s.field === "saddr4" ? "saddr" : "daddr"]).be(R1, 32);
        return true;
      case "iif":
        a.ldx("u32", R1, r.ctx, r.abi.ifindex);
        return true;
      case "mark":
        a.ldx("u32", R1, R10, r.markSlot);
        return true;
    }
  }
}
