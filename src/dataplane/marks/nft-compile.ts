/**
 * Compiles the host's nftables ruleset (`nft -j list ruleset`, iptables-nft's rules included) into
 * the mark rules the data plane runs (mark-rules.ts): the base chains of the prerouting hook at or
 * before the mangle priority (-150) in tables of family ip, ip6 and inet, and the chains they jump
 * or go to. What is compiled:
 *
 *  - matches (==, !=, <, <=, >, >=) on `ip saddr|daddr` (addresses, prefixes, ranges), `ip6
 *    saddr|daddr` (addresses, prefixes), `meta l4proto`, `ip protocol`, `ip6 nexthdr`, `tcp|udp|sctp|th
 *    sport|dport`, `meta iif`, `meta iifname` (names without wildcards, resolved to the interface's
 *    index when the ruleset is read), `meta mark`, `meta nfproto`; right sides as single values,
 *    prefixes, ranges, anonymous sets and named sets of those;
 *  - `meta mark set` of a constant, or of the mark with `&`, `|`, `^` and constants;
 *  - `counter`, `log` (no effect on the mark); verdicts accept, drop, reject (a drop for tslvs),
 *    return, continue, jump, goto; the chain's policy;
 *  - iptables-nft's rules: their xtables matches and targets (`-m multiport`, `-j MARK`) are
 *    read from nft's text listing, where nft prints them translated (nft-text-rules.ts).
 *
 * Anything else in a rule that sets a mark or has a verdict (ct state, limits, maps, xtables
 * matches and targets whose translation cannot be read) makes the rule
 * uncompiled: it is left out — tslvs evaluates the chain as if the rule matched nothing — and
 * reported by its handle. Rules that neither set a mark nor decide anything are left out silently.
 * A rule setting a mark in a later prerouting chain is reported too: IPVS would see that mark.
 */
import { IpAddr } from "../../core/address.js";
import type {
  Mark6Match,
  MarkChain,
  MarkField,
  MarkHook,
  MarkMatch,
  MarkProgram,
  MarkRule,
  MarkSet,
  MarkStep,
  MarkVerdict,
} from "./mark-rules.js";
import { ruleLineToExpr } from "./nft-text-rules.js";

/** A rule the compiler left out, and why. */
export interface UncompiledRule {
  family: string;
  table: string;
  chain: string;
  handle: number;
  reason: string;
}

export interface CompiledRuleset {
  program: MarkProgram;
  uncompiled: UncompiledRule[];
  /** Rules compiled (those that set a mark or decide, in the chains the program runs). */
  rules: number;
}

/** The mangle priority: marks set at or before it are compiled. */
export const MANGLE_PRIORITY = -150;

const PRIORITY_NAMES: Record<string, number> = {
  raw: -300,
  mangle: -150,
  dstnat: -100,
  filter: 0,
  security: 50,
  srcnat: 100,
};

const PROTO_NUMBERS: Record<string, number> = {
  icmp: 1,
  igmp: 2,
  tcp: 6,
  udp: 17,
  gre: 47,
  esp: 50,
  ah: 51,
  "ipv6-icmp": 58,
  icmpv6: 58,
  sctp: 132,
  udplite: 136,
};

const PORT_PROTOCOLS: Record<string, number | null> = { tcp: 6, udp: 17, sctp: 132, th: null };

type Json = unknown;
type Obj = Record<string, Json>;

class Uncompilable extends Error {}

function fail(reason: string): never {
  throw new Uncompilable(reason);
}

function isObj(v: Json): v is Obj {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function onlyKey(v: Json): [string, Json] | null {
  if (!isObj(v)) return null;
  const keys = Object.keys(v);
  return keys.length === 1 ? [keys[0]!, v[keys[0]!]] : null;
}

interface ChainInfo {
  family: string;
  table: string;
  name: string;
  hook?: string;
  prio?: number;
  policy?: string;
  rules: Obj[];
}

interface SetInfo {
  elems: Json[];
}

/** What the compiler needs from the host: an interface's index by name (null: no such interface). */
export interface CompileHost {
  ifindexOf(name: string): number | null;
  /**
   * The text listing's rule lines (nft-text-rules.ts ruleLinesByHandle), where iptables-nft's
   * xtables matches and targets appear translated; absent: rules with them are not compiled.
   */
  ruleLines?: ReadonlyMap<string, string>;
}

/** Compiles `nft -j list ruleset`'s document (parsed). */
export function compileNftRuleset(doc: Json, host: CompileHost): CompiledRuleset {
  const items = isObj(doc) && Array.isArray(doc.nftables) ? doc.nftables : [];
  const chains = new Map<string, ChainInfo>();
  const sets = new Map<string, SetInfo>();
  const chainKey = (family: string, table: string, name: string) => `${family}\0${table}\0${name}`;
  for (const item of items) {
    const kv = onlyKey(item);
    if (!kv || !isObj(kv[1])) continue;
    const [kind, v] = kv as [string, Obj];
    const family = String(v.family ?? "");
    const table = String(v.table ?? "");
    if (kind === "chain") {
      const c: ChainInfo = { family, table, name: String(v.name), rules: [] };
      if (typeof v.hook === "string") c.hook = v.hook;
      if (v.prio !== undefined) c.prio = priorityOf(v.prio);
      if (typeof v.policy === "string") c.policy = v.policy;
      chains.set(chainKey(family, table, c.name), c);
    } else if (kind === "set") {
      const elem = v.elem;
      sets.set(chainKey(family, table, String(v.name)), { elems: Array.isArray(elem) ? elem : [] });
    } else if (kind === "rule") {
      chains.get(chainKey(family, table, String(v.chain)))?.rules.push(v);
    }
  }

  const out: MarkChain[] = [];
  const hooks: MarkHook[] = [];
  const uncompiled: UncompiledRule[] = [];
  const indexOf = new Map<string, number>();
  let compiledRules = 0;

  const compileChain = (c: ChainInfo, depth: number): number => {
    const key = chainKey(c.family, c.table, c.name);
    const known = indexOf.get(key);
    if (known !== undefined) return known;
    if (depth > 16) fail(`jumps nest deeper than 16 chains`);
    const index = out.length;
    const rules: MarkRule[] = [];
    out.push({ name: `${c.family} ${c.table} ${c.name}`, rules });
    indexOf.set(key, index);
    for (const r of c.rules) {
      const handle = typeof r.handle === "number" ? r.handle : 0;
      let expr = Array.isArray(r.expr) ? r.expr : [];
      try {
        if (expr.some((e) => onlyKey(e)?.[0] === "xt")) {
          const line = host.ruleLines?.get(`${c.family} ${c.table} ${c.name} ${handle}`);
          const read = line === undefined ? null : ruleLineToExpr(line);
          if (read !== null && !("error" in read)) expr = read;
          else if (read !== null && setsMark(expr))
            fail(`xtables extension, its translation not read: ${read.error}`);
        }
        const rule = compileRule(expr, {
          family: c.family,
          setOf: (name) => sets.get(chainKey(c.family, c.table, name)),
          chainOf: (name, d) => {
            const target = chains.get(chainKey(c.family, c.table, name));
            if (!target) fail(`jumps to a chain ${name} that does not exist`);
            return compileChain(target, d);
          },
          host,
          depth,
        });
        if (rule === null) continue;
        rules.push({ origin: `${c.family} ${c.table} ${c.name} handle ${handle}`, ...rule });
        compiledRules++;
      } catch (e) {
        if (!(e instanceof Uncompilable)) throw e;
        uncompiled.push({ family: c.family, table: c.table, chain: c.name, handle, reason: e.message });
      }
    }
    return index;
  };

  const base = [...chains.values()].filter(
    (c) => c.hook === "prerouting" && c.prio !== undefined && ["ip", "ip6", "inet"].includes(c.family),
  );
  // nftables runs base chains of equal priority in no promised order: here, as listed.
  base.sort((a, b) => a.prio! - b.prio!);
  for (const c of base) {
    if (c.prio! > MANGLE_PRIORITY) {
      // IPVS would see the marks set here (it runs at LOCAL_IN); tslvs reads up to mangle only.
      for (const r of c.rules) {
        if (setsMark(r.expr))
          uncompiled.push({
            family: c.family,
            table: c.table,
            chain: c.name,
            handle: typeof r.handle === "number" ? r.handle : 0,
            reason: `sets a mark in a prerouting chain of priority ${c.prio}, after mangle (${MANGLE_PRIORITY})`,
          });
      }
      continue;
    }
    let chain: number;
    try {
      chain = compileChain(c, 0);
    } catch (e) {
      if (!(e instanceof Uncompilable)) throw e;
      continue;
    }
    hooks.push({
      family: c.family === "ip" ? 4 : c.family === "ip6" ? 6 : 0,
      priority: c.prio!,
      policy: c.policy === "drop" ? "drop" : "accept",
      chain,
    });
  }
  return { program: { chains: out, hooks }, uncompiled, rules: compiledRules };
}

function priorityOf(v: Json): number {
  if (typeof v === "number") return v;
  if (typeof v === "string") {
    const m = /^([a-z]+)\s*([+-])?\s*(\d+)?$/.exec(v.trim());
    if (m && PRIORITY_NAMES[m[1]!] !== undefined) {
      const off = m[3] ? Number(m[3]) * (m[2] === "-" ? -1 : 1) : 0;
      return PRIORITY_NAMES[m[1]!]! + off;
    }
    if (/^-?\d+$/.test(v.trim())) return Number(v);
  }
  return Number.POSITIVE_INFINITY;
}

function setsMark(expr: Json): boolean {
  if (!Array.isArray(expr)) return false;
  return expr.some((e) => {
    const kv = onlyKey(e);
    if (!kv) return false;
    if (kv[0] === "mangle" && isObj(kv[1])) return JSON.stringify(kv[1].key) === '{"meta":{"key":"mark"}}';
    // iptables-nft's MARK target is an xtables target: it sets a mark tslvs cannot read.
    return kv[0] === "xt" && isObj(kv[1]) && kv[1].name === "MARK";
  });
}

interface RuleContext {
  family: string;
  setOf(name: string): SetInfo | undefined;
  chainOf(name: string, depth: number): number;
  host: CompileHost;
  depth: number;
}

/** One rule: null when it cannot change the mark or the verdict (left out silently). */
function compileRule(expr: Json[], ctx: RuleContext): { steps: MarkStep[]; verdict: MarkVerdict } | null {
  const steps: MarkStep[] = [];
  let verdict: MarkVerdict = { kind: "continue" };
  let sets = false;
  const problems: string[] = [];
  for (const e of expr) {
    const kv = onlyKey(e);
    if (!kv) {
      problems.push("an expression of unknown shape");
      continue;
    }
    const [kind, v] = kv;
    try {
      switch (kind) {
        case "match":
          steps.push(...compileMatch(v, ctx));
          break;
        case "mangle":
          if (isObj(v) && JSON.stringify(v.key) === '{"meta":{"key":"mark"}}') sets = true;
          steps.push(compileMarkSet(v));
          break;
        case "counter":
        case "log":
          break;
        case "accept":
        case "drop":
        case "return":
        case "continue":
          verdict = { kind };
          break;
        case "reject":
          verdict = { kind: "drop" };
          break;
        case "jump":
        case "goto": {
          const target = isObj(v) ? v.target : undefined;
          if (typeof target !== "string") fail(`${kind} without a target`);
          verdict = { kind, chain: ctx.chainOf(target, ctx.depth + 1) };
          break;
        }
        case "xt":
          if (isObj(v) && v.name === "MARK") sets = true;
          fail(
            `xtables ${isObj(v) ? `${String(v.type)} "${String(v.name)}"` : "extension"} (its arguments are not readable)`,
          );
          break;
        default:
          fail(`"${kind}" is not compiled`);
      }
    } catch (err) {
      if (!(err instanceof Uncompilable)) throw err;
      problems.push(err.message);
    }
  }
  const decides = verdict.kind !== "continue";
  if (!sets && !decides) return null;
  if (problems.length) fail(problems.join("; "));
  return { steps, verdict };
}

function compileMarkSet(v: Json): MarkSet {
  if (!isObj(v) || JSON.stringify(v.key) !== '{"meta":{"key":"mark"}}')
    fail(`a mangle of ${JSON.stringify(isObj(v) ? v.key : v)} (only meta mark is compiled)`);
  const a = affine(v.value);
  return { kind: "set", and: a.and >>> 0, xor: a.xor >>> 0 };
}

/** The value as (mark & and) ^ xor. */
function affine(v: Json): { and: number; xor: number } {
  if (typeof v === "number") return { and: 0, xor: u32(v) };
  if (typeof v === "string" && /^(0x[0-9a-f]+|\d+)$/i.test(v)) return { and: 0, xor: u32(Number(v)) };
  if (JSON.stringify(v) === '{"meta":{"key":"mark"}}') return { and: 0xffffffff, xor: 0 };
  const kv = onlyKey(v);
  if (kv && ["&", "|", "^"].includes(kv[0]) && Array.isArray(kv[1]) && kv[1].length === 2) {
    const [l, r] = kv[1].map(affine) as [{ and: number; xor: number }, { and: number; xor: number }];
    const [x, c] =
      l.and === 0 ? [r, l.xor] : r.and === 0 ? [l, r.xor] : fail("a mark computed from two marks");
    if (kv[0] === "&") return { and: (x.and & c) >>> 0, xor: (x.xor & c) >>> 0 };
    if (kv[0] === "|") return { and: (x.and & ~c) >>> 0, xor: (x.xor | c) >>> 0 };
    return { and: x.and, xor: (x.xor ^ c) >>> 0 };
  }
  return fail(`a mark set to ${JSON.stringify(v)}`);
}

function u32(n: number): number {
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) fail(`${n} is not a 32-bit value`);
  return n >>> 0;
}

/** The field a match's left side names, with the steps its protocol implies. */
function leftSide(
  left: Json,
  ctx: RuleContext,
): { field: MarkField | "saddr6" | "daddr6" | "nfproto"; implied: MarkStep[] } {
  const kv = onlyKey(left);
  if (kv && kv[0] === "payload" && isObj(kv[1])) {
    const protocol = String(kv[1].protocol);
    const field = String(kv[1].field);
    if (protocol === "ip" || protocol === "ip6") {
      const family = protocol === "ip" ? 4 : 6;
      const implied: MarkStep[] = familyStep(ctx.family, family);
      if (field === "saddr" || field === "daddr")
        return {
          field: family === 4 ? (`${field}4` as MarkField) : (`${field}6` as "saddr6" | "daddr6"),
          implied,
        };
      if ((family === 4 && field === "protocol") || (family === 6 && field === "nexthdr"))
        return { field: "l4proto", implied };
      fail(`${protocol} ${field} is not compiled`);
    }
    if (protocol in PORT_PROTOCOLS && (field === "sport" || field === "dport")) {
      const p = PORT_PROTOCOLS[protocol]!;
      const implied: MarkStep[] = [
        {
          kind: "u32",
          field: "l4proto",
          negate: false,
          ranges:
            p === null
              ? [
                  [6, 6],
                  [17, 17],
                  [132, 132],
                ]
              : [[p, p]],
        },
      ];
      return { field, implied };
    }
    fail(`${protocol} ${field} is not compiled`);
  }
  if (kv && kv[0] === "meta" && isObj(kv[1])) {
    const key = String(kv[1].key);
    if (key === "l4proto") return { field: "l4proto", implied: [] };
    if (key === "iif" || key === "iifname") return { field: "iif", implied: [] };
    if (key === "mark") return { field: "mark", implied: [] };
    if (key === "nfproto") return { field: "nfproto", implied: [] };
    fail(`meta ${key} is not compiled`);
  }
  return fail(`a match on ${JSON.stringify(left)}`);
}

/** In a table of `tableFamily`, a match on a `family` header implies that family. */
function familyStep(tableFamily: string, family: 4 | 6): MarkStep[] {
  if ((tableFamily === "ip" && family === 4) || (tableFamily === "ip6" && family === 6)) return [];
  return [{ kind: "family", family }];
}

function compileMatch(v: Json, ctx: RuleContext): MarkStep[] {
  if (!isObj(v)) fail("a match of unknown shape");
  const op = String(v.op);
  const { field, implied } = leftSide(v.left, ctx);
  const values = rightValues(v.right, ctx);
  if (field === "nfproto") {
    if (op !== "==" && op !== "!=") fail(`meta nfproto ${op}`);
    const fams = values.map((x) => (x === "ipv4" ? 4 : x === "ipv6" ? 6 : fail(`meta nfproto ${String(x)}`)));
    const want = [4, 6].filter((f) => fams.includes(f as 4 | 6) !== (op === "!="));
    if (want.length === 2) return [];
    if (want.length === 0) return [{ kind: "u32", field: "l4proto", negate: false, ranges: [] }];
    return [{ kind: "family", family: want[0] as 4 | 6 }];
  }
  if (field === "saddr6" || field === "daddr6") {
    if (op !== "==" && op !== "!=" && op !== "in") fail(`ip6 ${field.slice(0, 5)} ${op}`);
    const m: Mark6Match = {
      kind: "addr6",
      field,
      negate: op === "!=",
      prefixes: values.map((x) => prefix6(x)),
    };
    return [...implied, m];
  }
  const ranges = values.map((x) => rangeOf(field, x, ctx));
  const m = compare(field, op, ranges);
  return [...implied, m];
}

function compare(field: MarkField, op: string, ranges: (readonly [number, number])[]): MarkMatch {
  if (op === "==" || op === "in") return { kind: "u32", field, negate: false, ranges };
  if (op === "!=") return { kind: "u32", field, negate: true, ranges };
  if (ranges.length !== 1 || ranges[0]![0] !== ranges[0]![1]) fail(`${op} with more than one value`);
  const n = ranges[0]![0];
  const max = 0xffffffff;
  const r: [number, number] | null =
    op === "<"
      ? n === 0
        ? null
        : [0, n - 1]
      : op === "<="
        ? [0, n]
        : op === ">"
          ? n === max
            ? null
            : [n + 1, max]
          : op === ">="
            ? [n, max]
            : fail(`the operator ${op}`);
  return { kind: "u32", field, negate: false, ranges: r ? [r] : [] };
}

/** The values of a right side: a single value, a prefix, a range, or a set of them. */
function rightValues(right: Json, ctx: RuleContext): Json[] {
  if (typeof right === "string" && right.startsWith("@")) {
    const set = ctx.setOf(right.slice(1));
    if (!set) fail(`the set ${right} is not in the ruleset`);
    return set.elems.map(unwrapElem);
  }
  const kv = onlyKey(right);
  if (kv && kv[0] === "set") return (Array.isArray(kv[1]) ? kv[1] : [kv[1]]).map(unwrapElem);
  return [right];
}

function unwrapElem(e: Json): Json {
  // {"elem": {"val": ..., "timeout": ...}} in sets with options.
  const kv = onlyKey(e);
  if (kv && kv[0] === "elem" && isObj(kv[1])) return kv[1].val;
  return e;
}

function rangeOf(field: MarkField, x: Json, ctx: RuleContext): readonly [number, number] {
  const kv = onlyKey(x);
  if (kv && kv[0] === "range" && Array.isArray(kv[1]) && kv[1].length === 2) {
    const lo = scalarOf(field, kv[1][0], ctx);
    const hi = scalarOf(field, kv[1][1], ctx);
    return [lo, hi];
  }
  if (kv && kv[0] === "prefix" && isObj(kv[1])) {
    if (field !== "saddr4" && field !== "daddr4") fail(`a prefix on ${field}`);
    const a = scalarOf(field, kv[1].addr, ctx);
    const len = Number(kv[1].len);
    if (!Number.isInteger(len) || len < 0 || len > 32) fail(`prefix length ${String(kv[1].len)}`);
    const mask = len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
    const lo = (a & mask) >>> 0;
    return [lo, (lo | (~mask >>> 0)) >>> 0];
  }
  const n = scalarOf(field, x, ctx);
  return [n, n];
}

function scalarOf(field: MarkField, x: Json, ctx: RuleContext): number {
  switch (field) {
    case "saddr4":
    case "daddr4": {
      if (typeof x !== "string") fail(`address ${JSON.stringify(x)}`);
      const a = IpAddr.parse(x) ?? fail(`address ${x}`);
      if (a.family !== 4) fail(`address ${x} in an ip match`);
      return a.v4Value >>> 0;
    }
    case "l4proto":
      if (typeof x === "number") return u32(x);
      if (typeof x === "string" && PROTO_NUMBERS[x] !== undefined) return PROTO_NUMBERS[x]!;
      return fail(`protocol ${JSON.stringify(x)}`);
    case "sport":
    case "dport":
      if (typeof x === "number" && x >= 0 && x <= 0xffff) return x;
      return fail(`port ${JSON.stringify(x)}`);
    case "iif": {
      if (typeof x === "number") return u32(x);
      if (typeof x !== "string") fail(`interface ${JSON.stringify(x)}`);
      if (/[*?[\\]/.test(x)) fail(`interface name pattern "${x}"`);
      // An interface that does not exist matches no packet (index 0 is never an interface's).
      return ctx.host.ifindexOf(x) ?? 0;
    }
    case "mark":
      if (typeof x === "number") return u32(x);
      return fail(`mark ${JSON.stringify(x)}`);
  }
}

function prefix6(x: Json): { words: readonly [number, number, number, number]; len: number } {
  let text: Json = x;
  let len = 128;
  const kv = onlyKey(x);
  if (kv && kv[0] === "prefix" && isObj(kv[1])) {
    text = kv[1].addr;
    len = Number(kv[1].len);
  } else if (kv) {
    fail(`ip6 ${kv[0]} (addresses and prefixes are compiled)`);
  }
  if (typeof text !== "string") fail(`address ${JSON.stringify(text)}`);
  const a = IpAddr.parse(text) ?? fail(`address ${text}`);
  if (a.family !== 6 || !Number.isInteger(len) || len < 0 || len > 128) fail(`address ${text}/${len}`);
  const w = a.words;
  return { words: [w[0]! >>> 0, w[1]! >>> 0, w[2]! >>> 0, w[3]! >>> 0], len };
}
