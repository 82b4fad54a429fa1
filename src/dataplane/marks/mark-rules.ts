/**
 * Firewall-mark rules in the form the data plane runs them: the host's nftables rules that set a
 * packet's mark before IPVS sees it (compiled by nft-compile.ts), and the config's own `fwmarks:`
 * rules. Marks are set by netfilter, which runs after XDP and TC ingress, so tslvs evaluates the same
 * rules itself: the steering program (xdp/mark-program.ts) to decide whether a packet belongs to a
 * firewall-mark service, and the slow path (evaluateMarks, below) to give the core the mark
 * (FlowPacket.fwmark). Both read this one form, with nftables' semantics:
 *
 *  - a packet starts with mark 0; the prerouting base chains run in priority order (lowest first),
 *    each only for the families it covers (an `ip` table IPv4, `ip6` IPv6, `inet` both);
 *  - in a chain, rules run in order; a rule's expressions run left to right: a match that fails ends
 *    the rule (a mark set before it stays set), a mark set changes the mark at once;
 *  - then the rule's verdict: none (`continue`) goes on with the next rule; `accept` ends this
 *    base chain and the next base chain runs; `drop` ends everything: the packet is netfilter's to
 *    drop, not tslvs's; `return` leaves the chain (in a base chain: its policy); `jump C` runs C and
 *    comes back unless C accepted or dropped; `goto C` runs C in place of the rest of this chain;
 *  - at the end of a base chain, its policy (accept or drop).
 * The mark IPVS sees is the mark after the last base chain.
 */

/** A field the rules can match; addresses of IPv4 as one u32, of IPv6 by prefix (Match6). */
export type MarkField = "l4proto" | "sport" | "dport" | "saddr4" | "daddr4" | "iif" | "mark";

/** `field` in one of the ranges [lo, hi] (u32, inclusive); with `negate`, in none of them. */
export interface MarkMatch {
  kind: "u32";
  field: MarkField;
  negate: boolean;
  ranges: readonly (readonly [number, number])[];
}

/** An IPv6 address in one of the prefixes (words in network word order); with `negate`, in none. */
export interface Mark6Match {
  kind: "addr6";
  field: "saddr6" | "daddr6";
  negate: boolean;
  prefixes: readonly { words: readonly [number, number, number, number]; len: number }[];
}

/** Matches nothing in this family (an `ip saddr` match seen by an IPv6 packet): the rule ends. */
export interface FamilyMatch {
  kind: "family";
  family: 4 | 6;
}

/** mark = (mark & and) ^ xor: every `meta mark set` of constants, `|`, `&` and `^` on the mark. */
export interface MarkSet {
  kind: "set";
  and: number;
  xor: number;
}

export type MarkStep = MarkMatch | Mark6Match | FamilyMatch | MarkSet;

export type MarkVerdict =
  | { kind: "continue" }
  | { kind: "accept" }
  | { kind: "drop" }
  | { kind: "return" }
  | { kind: "jump"; chain: number }
  | { kind: "goto"; chain: number };

export interface MarkRule {
  /** Where it came from, for messages: "inet lb pre handle 4", "config fwmarks[0]". */
  origin: string;
  steps: readonly MarkStep[];
  verdict: MarkVerdict;
}

export interface MarkChain {
  name: string;
  rules: readonly MarkRule[];
}

/** A base chain on the prerouting hook. */
export interface MarkHook {
  /** 0: both families (inet), else the table's family. */
  family: 0 | 4 | 6;
  priority: number;
  policy: "accept" | "drop";
  chain: number;
}

export interface MarkProgram {
  chains: readonly MarkChain[];
  /** Sorted by priority, lowest first. */
  hooks: readonly MarkHook[];
}

export const EMPTY_MARK_PROGRAM: MarkProgram = { chains: [], hooks: [] };

/** What evaluateMarks returns for a packet netfilter would drop. */
export const MARK_DROPPED = -1;

/** How deep jumps nest (nftables' own limit is 16). */
export const MARK_MAX_JUMP_DEPTH = 16;

/** The packet fields a rule reads; the slow path fills one and reuses it. */
export interface MarkPacket {
  family: 4 | 6;
  protocol: number;
  saddr: ArrayLike<number>;
  daddr: ArrayLike<number>;
  sport: number;
  dport: number;
  ifindex: number;
}

const ACCEPT = 1;
const DROP = 2;
const RETURN = 3;
const END = 4;

/** True when the program has a hook for `family` at all (no rule: no mark, nothing to evaluate). */
export function hasMarkHooks(p: MarkProgram, family: 4 | 6): boolean {
  for (const h of p.hooks) if (h.family === 0 || h.family === family) return true;
  return false;
}

/**
 * The mark the packet carries after the prerouting chains, or MARK_DROPPED (one state object per
 * call: tests and one-offs; the slow path keeps a MarkEvaluator, which allocates nothing).
 */
export function evaluateMarks(p: MarkProgram, pkt: MarkPacket): number {
  const state = { mark: 0 };
  return evaluateWith(p, pkt, state);
}

/** Reused by the slow path: one state object, no allocation per packet. */
export class MarkEvaluator {
  private readonly state = { mark: 0 };
  program: MarkProgram = EMPTY_MARK_PROGRAM;

  evaluate(pkt: MarkPacket): number {
    return evaluateWith(this.program, pkt, this.state);
  }
}

function evaluateWith(p: MarkProgram, pkt: MarkPacket, state: { mark: number }): number {
  state.mark = 0;
  for (let i = 0; i < p.hooks.length; i++) {
    const h = p.hooks[i]!;
    if (h.family !== 0 && h.family !== pkt.family) continue;
    const r = runChain(p, h.chain, pkt, state, 0);
    if (r === DROP) return MARK_DROPPED;
    if (r !== ACCEPT && h.policy === "drop") return MARK_DROPPED;
  }
  return state.mark >>> 0;
}

function runChain(
  p: MarkProgram,
  c: number,
  pkt: MarkPacket,
  state: { mark: number },
  depth: number,
): number {
  const rules = p.chains[c]!.rules;
  for (let i = 0; i < rules.length; i++) {
    const rule = rules[i]!;
    if (!runSteps(rule.steps, pkt, state)) continue;
    const v = rule.verdict;
    switch (v.kind) {
      case "continue":
        continue;
      case "accept":
        return ACCEPT;
      case "drop":
        return DROP;
      case "return":
        return RETURN;
      case "jump": {
        if (depth >= MARK_MAX_JUMP_DEPTH) return DROP;
        const r = runChain(p, v.chain, pkt, state, depth + 1);
        if (r === ACCEPT || r === DROP) return r;
        continue;
      }
      case "goto": {
        if (depth >= MARK_MAX_JUMP_DEPTH) return DROP;
        const r = runChain(p, v.chain, pkt, state, depth + 1);
        return r === ACCEPT || r === DROP ? r : RETURN;
      }
    }
  }
  return END;
}

/** Runs a rule's steps: false when a match fails (the marks set before it stay set). */
function runSteps(steps: readonly MarkStep[], pkt: MarkPacket, state: { mark: number }): boolean {
  for (let i = 0; i < steps.length; i++) {
    const s = steps[i]!;
    switch (s.kind) {
      case "set":
        state.mark = ((state.mark & s.and) ^ s.xor) >>> 0;
        break;
      case "family":
        if (pkt.family !== s.family) return false;
        break;
      case "u32": {
        const v = fieldValue(s.field, pkt, state.mark);
        if (v < 0) return false;
        let inAny = false;
        for (let r = 0; r < s.ranges.length; r++) {
          const range = s.ranges[r]!;
          if (v >= range[0] && v <= range[1]) {
            inAny = true;
            break;
          }
        }
        if (inAny === s.negate) return false;
        break;
      }
      case "addr6": {
        if (pkt.family !== 6) return false;
        const w = s.field === "saddr6" ? pkt.saddr : pkt.daddr;
        let inAny = false;
        for (let r = 0; r < s.prefixes.length; r++) {
          const pre = s.prefixes[r]!;
          if (inPrefix6(w, pre.words, pre.len)) {
            inAny = true;
            break;
          }
        }
        if (inAny === s.negate) return false;
        break;
      }
    }
  }
  return true;
}

/** The field's value as an unsigned number; -1 when the packet has no such field (never matches). */
function fieldValue(field: MarkField, pkt: MarkPacket, mark: number): number {
  switch (field) {
    case "l4proto":
      return pkt.protocol;
    case "sport":
      return pkt.sport;
    case "dport":
      return pkt.dport;
    case "saddr4":
      return pkt.family === 4 ? pkt.saddr[0]! >>> 0 : -1;
    case "daddr4":
      return pkt.family === 4 ? pkt.daddr[0]! >>> 0 : -1;
    case "iif":
      return pkt.ifindex >>> 0;
    case "mark":
      return mark >>> 0;
  }
}

/** The mask of word `w` (0..3) of an IPv6 prefix of `len` bits. */
export function prefixWordMask(len: number, w: number): number {
  const bits = Math.max(0, Math.min(32, len - 32 * w));
  return bits === 0 ? 0 : bits === 32 ? 0xffffffff : (0xffffffff << (32 - bits)) >>> 0;
}

function inPrefix6(w: ArrayLike<number>, net: readonly number[], len: number): boolean {
  for (let i = 0; i < 4; i++) {
    const m = prefixWordMask(len, i);
    if (m === 0) return true;
    if ((w[i]! & m) >>> 0 !== (net[i]! & m) >>> 0) return false;
  }
  return true;
}
