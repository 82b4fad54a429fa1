import { IpAddr } from "../../core/address.js";
import type { Pos } from "./diagnostics.js";
import type { Stmt } from "./tree.js";
import type { Values } from "./values.js";

/** One entry of a virtual_server_group, expanded: an address service or a fwmark. */
export type GroupEntry =
  | { kind: "addr"; addr: IpAddr; port: number; pos: Pos }
  | { kind: "fwmark"; fwmark: number; family?: 4 | 6; pos: Pos };

/** Above this a group is refused rather than expanded. */
export const MAX_GROUP_SERVICES = 65536;

/**
 * `virtual_server_group NAME { ... }` (spec A.4): `IP [PORT]`, ranges `a.b.c.d-e`,
 * `a.b.c.d-e.f.g.h`, CIDR `a.b.c.d/nn` (and the IPv6 forms), `fwmark N [inet|inet6]`.
 * Returns null when the group is too large to expand (reported as fatal).
 */
export function parseGroup(v: Values, st: Stmt): GroupEntry[] | null {
  const out: GroupEntry[] = [];
  for (const s of st.block ?? []) {
    if (s.block) {
      v.diags.error(s.pos, `Unknown keyword '${s.words[0]}'`);
      continue;
    }
    const w = s.words;
    if (w[0] === "fwmark") {
      if (!v.arity(s, 1, 2)) continue;
      const m = v.int(s, 1, 1, 0xffffffff);
      if (m === null) continue;
      const fam = w[2] === "inet" ? 4 : w[2] === "inet6" ? 6 : undefined;
      if (w[2] !== undefined && fam === undefined)
        v.diags.error(s.pos, `unknown family '${w[2]}' - ignoring`);
      out.push({ kind: "fwmark", fwmark: m, ...(fam ? { family: fam } : {}), pos: s.pos });
      continue;
    }
    if (w.length > 2) v.extra(s, 2);
    let port = 0;
    if (w[1] !== undefined) {
      const p = v.int(s, 1, 0, 65535);
      if (p === null) continue;
      port = p;
    }
    const range = addressRange(w[0]!);
    if (!range) {
      v.diags.error(s.pos, `invalid virtual server group entry '${w[0]}' - ignoring`);
      continue;
    }
    const [first, count] = range;
    if (out.length + count > MAX_GROUP_SERVICES) {
      v.diags.fatal(
        s.pos,
        `virtual_server_group ${st.words[1]} expands to more than ${MAX_GROUP_SERVICES} services`,
      );
      return null;
    }
    for (let i = 0; i < count; i++) out.push({ kind: "addr", addr: addOffset(first, i), port, pos: s.pos });
  }
  return out;
}

/** The first address and the number of addresses of an entry, or null when invalid. */
export function addressRange(text: string): [IpAddr, number] | null {
  const slash = text.indexOf("/");
  if (slash >= 0) {
    const a = IpAddr.parse(text.slice(0, slash));
    const len = /^[0-9]{1,3}$/.test(text.slice(slash + 1)) ? Number(text.slice(slash + 1)) : -1;
    const bits = a?.family === 4 ? 32 : 128;
    if (!a || len < 0 || len > bits) return null;
    const size = 2 ** (bits - len);
    return [a.masked(len), Math.min(size, MAX_GROUP_SERVICES + 1)];
  }
  const dash = text.indexOf("-");
  if (dash < 0) {
    const a = IpAddr.parse(text);
    return a ? [a, 1] : null;
  }
  const a = IpAddr.parse(text.slice(0, dash));
  const tail = text.slice(dash + 1);
  if (!a) return null;
  let last: IpAddr | null;
  if (a.family === 4 && /^[0-9]{1,3}$/.test(tail)) {
    const n = Number(tail);
    last = n > 255 ? null : IpAddr.v4(((a.v4Value & 0xffffff00) | n) >>> 0);
  } else if (a.family === 6 && /^[0-9a-fA-F]{1,4}$/.test(tail)) {
    const w = [...a.words];
    w[3] = ((w[3]! & 0xffff0000) | Number.parseInt(tail, 16)) >>> 0;
    last = IpAddr.fromWords(6, w);
  } else last = IpAddr.parse(tail);
  if (!last || last.family !== a.family || last.compare(a) < 0) return null;
  const diff = distance(a, last);
  return [a, Math.min(diff + 1, MAX_GROUP_SERVICES + 1)];
}

function distance(a: IpAddr, b: IpAddr): number {
  if (a.family === 4) return b.v4Value - a.v4Value;
  let d = 0n;
  for (let i = 0; i < 4; i++) d = (d << 32n) + BigInt(b.words[i]!) - BigInt(a.words[i]!);
  return d > BigInt(MAX_GROUP_SERVICES) ? MAX_GROUP_SERVICES + 1 : Number(d);
}

function addOffset(a: IpAddr, off: number): IpAddr {
  if (off === 0) return a;
  if (a.family === 4) return IpAddr.v4(a.v4Value + off);
  let v = 0n;
  for (let i = 0; i < 4; i++) v = (v << 32n) + BigInt(a.words[i]!);
  v += BigInt(off);
  const w = [3, 2, 1, 0].map((i) => Number((v >> BigInt(i * 32)) & 0xffffffffn));
  return IpAddr.fromWords(6, w);
}
