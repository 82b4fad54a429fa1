/**
 * The config's `fwmarks:` list: the native way to say which packets carry a firewall mark, the
 * same matches the host's nftables rules are compiled from (dataplane/marks/nft-compile.ts). Each
 * entry is one rule "matches → mark set N, accept"; the entries form one chain, run after the
 * host's prerouting chains of priority mangle (-150) and before any later one, first match wins.
 *
 *   fwmarks:
 *     - mark: 1
 *       protocol: tcp              # tcp, udp or sctp; default any of them
 *       daddr: 198.18.0.10         # an address, a prefix, or a list of them (one family)
 *       saddr: [198.18.1.0/24]
 *       dport: [80, 443, 8000-8080]
 *       sport: 1024-65535
 *       iifname: eth0
 */
import type { Node } from "yaml";
import { IpAddr } from "../core/address.js";
import type { MarkHook, MarkProgram, MarkRule, MarkStep } from "../dataplane/marks/mark-rules.js";
import { MANGLE_PRIORITY } from "../dataplane/marks/nft-compile.js";

export interface FwmarkDecl {
  mark: number;
  protocol?: "tcp" | "udp" | "sctp";
  saddr?: string[];
  daddr?: string[];
  sport?: string[];
  dport?: string[];
  iifname?: string;
  line?: number;
}

/** What config.ts's Reader offers (with file:line errors). */
export interface FwmarkReader {
  line(node: Node | null | undefined): number;
  fail(line: number, reason: string): never;
  fields(
    node: Node | null,
    line: number,
    what: string,
    allowed: readonly string[] | null,
  ): Map<string, { node: Node | null; keyLine: number }>;
  int(f: { node: Node | null; keyLine: number }, min: number, max: number, what: string): number;
  str(f: { node: Node | null; keyLine: number }, what: string): string;
  list(f: { node: Node | null; keyLine: number }, what: string): Node[];
  scalar(f: { node: Node | null; keyLine: number }, what: string): unknown;
}

const KEYS = ["mark", "protocol", "saddr", "daddr", "sport", "dport", "iifname"] as const;
const PROTOCOLS = { tcp: 6, udp: 17, sctp: 132 } as const;

export function readFwmarks(r: FwmarkReader, f: { node: Node | null; keyLine: number }): FwmarkDecl[] {
  const out: FwmarkDecl[] = [];
  for (const item of r.list(f, "fwmarks")) {
    const line = r.line(item) || f.keyLine;
    const fields = r.fields(item, line, "a fwmarks entry", KEYS);
    const mark = fields.get("mark");
    if (!mark) r.fail(line, "a fwmarks entry needs mark: 1..4294967295");
    const d: FwmarkDecl = { mark: r.int(mark, 1, 0xffffffff, "mark"), line };
    const proto = fields.get("protocol");
    if (proto) {
      const p = r.str(proto, "protocol");
      if (!(p in PROTOCOLS)) r.fail(proto.keyLine, `protocol must be tcp, udp or sctp, not ${p}`);
      d.protocol = p as FwmarkDecl["protocol"];
    }
    let family: number | null = null;
    for (const k of ["saddr", "daddr"] as const) {
      const v = fields.get(k);
      if (!v) continue;
      const texts = scalarsOf(r, v, k);
      for (const t of texts) {
        const fam = parsePrefix(t)?.family ?? r.fail(v.keyLine, `${k}: not an address or prefix: ${t}`);
        if (family !== null && fam !== family) r.fail(v.keyLine, `${k}: IPv4 and IPv6 in one entry`);
        family = fam;
      }
      d[k] = texts;
    }
    for (const k of ["sport", "dport"] as const) {
      const v = fields.get(k);
      if (!v) continue;
      const texts = scalarsOf(r, v, k);
      for (const t of texts) if (!portRange(t)) r.fail(v.keyLine, `${k}: not a port or a range a-b: ${t}`);
      d[k] = texts;
    }
    const iif = fields.get("iifname");
    if (iif) d.iifname = r.str(iif, "iifname");
    out.push(d);
  }
  return out;
}

function scalarsOf(r: FwmarkReader, v: { node: Node | null; keyLine: number }, what: string): string[] {
  const nodes = v.node && "items" in v.node ? r.list(v, what) : [v.node];
  const out = nodes.map((n) => String(r.scalar({ node: n, keyLine: v.keyLine }, what)));
  if (out.length === 0) r.fail(v.keyLine, `${what}: an empty list matches nothing`);
  return out;
}

function parsePrefix(t: string): { family: 4 | 6; addr: IpAddr; len: number } | null {
  const [a, l] = t.split("/");
  const addr = IpAddr.parse(a ?? "");
  if (!addr) return null;
  const max = addr.family === 4 ? 32 : 128;
  const len = l === undefined ? max : Number(l);
  if (!Number.isInteger(len) || len < 0 || len > max || (l !== undefined && !/^\d+$/.test(l))) return null;
  return { family: addr.family, addr, len };
}

function portRange(t: string): [number, number] | null {
  const m = /^(\d+)(?:-(\d+))?$/.exec(t.trim());
  if (!m) return null;
  const lo = Number(m[1]);
  const hi = m[2] === undefined ? lo : Number(m[2]);
  return lo <= hi && hi <= 0xffff ? [lo, hi] : null;
}

/** The entries as one chain of mark rules ("config fwmarks[i]"); interface names resolved now. */
export function fwmarkRules(
  decls: readonly FwmarkDecl[],
  ifindexOf: (name: string) => number | null,
): MarkRule[] {
  return decls.map((d, i): MarkRule => {
    const steps: MarkStep[] = [];
    const family = d.saddr?.[0] ?? d.daddr?.[0];
    const fam = family ? parsePrefix(family)!.family : null;
    if (fam !== null) steps.push({ kind: "family", family: fam });
    if (d.protocol) {
      const p = PROTOCOLS[d.protocol];
      steps.push({ kind: "u32", field: "l4proto", negate: false, ranges: [[p, p]] });
    }
    for (const k of ["saddr", "daddr"] as const) {
      const texts = d[k];
      if (!texts) continue;
      const prefixes = texts.map((t) => parsePrefix(t)!);
      if (fam === 4) {
        const ranges = prefixes.map((p): [number, number] => {
          const mask = p.len === 0 ? 0 : (0xffffffff << (32 - p.len)) >>> 0;
          const lo = (p.addr.v4Value & mask) >>> 0;
          return [lo, (lo | (~mask >>> 0)) >>> 0];
        });
        steps.push({ kind: "u32", field: k === "saddr" ? "saddr4" : "daddr4", negate: false, ranges });
      } else {
        steps.push({
          kind: "addr6",
          field: k === "saddr" ? "saddr6" : "daddr6",
          negate: false,
          prefixes: prefixes.map((p) => {
            const w = p.addr.words;
            return { words: [w[0]!, w[1]!, w[2]!, w[3]!] as const, len: p.len };
          }),
        });
      }
    }
    for (const k of ["sport", "dport"] as const) {
      const texts = d[k];
      if (texts)
        steps.push({ kind: "u32", field: k, negate: false, ranges: texts.map((t) => portRange(t)!) });
    }
    if (d.iifname !== undefined) {
      const ix = ifindexOf(d.iifname) ?? 0;
      steps.push({ kind: "u32", field: "iif", negate: false, ranges: [[ix, ix]] });
    }
    steps.push({ kind: "set", and: 0, xor: d.mark >>> 0 });
    return { origin: `config fwmarks[${i}]`, steps, verdict: { kind: "accept" } };
  });
}

/**
 * The host's compiled program with the config's chain added: a base chain of priority mangle for
 * both families, after the host's chains of that priority.
 */
export function withConfigChain(host: MarkProgram, rules: readonly MarkRule[]): MarkProgram {
  if (rules.length === 0) return host;
  const chains = [...host.chains, { name: "config fwmarks", rules }];
  const hook: MarkHook = { family: 0, priority: MANGLE_PRIORITY, policy: "accept", chain: chains.length - 1 };
  const hooks = [...host.hooks, hook].sort((a, b) => a.priority - b.priority);
  return { chains, hooks };
}

/** The entries as YAML (the state file keeps them). */
export function dumpFwmarks(decls: readonly FwmarkDecl[], out: string[]): void {
  if (decls.length === 0) return;
  out.push("fwmarks:\n");
  const list = (v: string[]) => `[${v.map((x) => JSON.stringify(x)).join(", ")}]`;
  for (const d of decls) {
    out.push(`  - mark: ${d.mark}\n`);
    if (d.protocol) out.push(`    protocol: ${d.protocol}\n`);
    for (const k of ["saddr", "daddr", "sport", "dport"] as const) {
      const v = d[k];
      if (v) out.push(`    ${k}: ${list(v)}\n`);
    }
    if (d.iifname !== undefined) out.push(`    iifname: ${JSON.stringify(d.iifname)}\n`);
  }
}
