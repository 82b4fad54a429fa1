/**
 * iptables-nft's rules in nft's JSON carry their xtables matches and targets as
 * `{"xt": {"name": "MARK"}}`, without their arguments; nft's text listing (`nft -a list ruleset`)
 * prints the same rules translated (`-m multiport --dports 80,443` as `tcp dport { 80, 443 }`,
 * `-j MARK --set-mark 1` as `meta mark set 0x1`). This reads such rule lines back into nft's JSON
 * expressions for the subset nft-compile.ts compiles, so iptables-nft's mark rules are compiled
 * too. A line with anything else is refused with the word it stopped at.
 */

type Json = unknown;

/** The rule lines of a text listing, by `${family} ${table} ${chain} ${handle}`. */
export function ruleLinesByHandle(listing: string): Map<string, string> {
  const out = new Map<string, string>();
  let table = "";
  let chain = "";
  for (const raw of listing.split("\n")) {
    const line = raw.trim();
    const t = /^table (\S+) (\S+) \{/.exec(line);
    if (t) {
      table = `${t[1]} ${t[2]}`;
      continue;
    }
    const c = /^chain (\S+) \{/.exec(line);
    if (c) {
      chain = c[1]!;
      continue;
    }
    const r = /^(.*\S)\s+# handle (\d+)$/.exec(line);
    if (r && table && chain && !/^(type|policy|set|map|elements)\b/.test(r[1]!))
      out.set(`${table} ${chain} ${r[2]}`, r[1]!);
  }
  return out;
}

/** Splits a rule line into words, keeping `{ ... }` groups and quoted names whole. */
function words(line: string): string[] {
  const out: string[] = [];
  const re = /\{[^}]*\}|"[^"]*"|\S+/g;
  for (let m = re.exec(line); m; m = re.exec(line)) out.push(m[0]);
  return out;
}

const OPS = new Set(["!=", "==", "<", ">", "<=", ">="]);

/** The expressions of one rule line, or the reason it cannot be read. */
export function ruleLineToExpr(line: string): Json[] | { error: string } {
  const w = words(line);
  const expr: Json[] = [];
  let i = 0;
  const next = () => w[i++];
  const value = (text: string): Json => {
    if (text.startsWith("{")) {
      const inner = text
        .slice(1, -1)
        .split(",")
        .map((x) => x.trim())
        .filter(Boolean);
      return { set: inner.map(value) };
    }
    if (text.startsWith('"')) return text.slice(1, -1);
    const prefix = /^(.+)\/(\d+)$/.exec(text);
    if (prefix) return { prefix: { addr: prefix[1], len: Number(prefix[2]) } };
    const range = /^([^-]+)-([^-]+)$/.exec(text);
    if (range && !text.includes(":")) return { range: [value(range[1]!), value(range[2]!)] };
    if (/^(0x[0-9a-f]+|\d+)$/i.test(text)) return Number(text);
    return text;
  };
  const match = (left: Json) => {
    let op = "==";
    if (OPS.has(w[i] ?? "")) op = next()!;
    const v = next();
    if (v === undefined) throw new Error("a match without a value");
    expr.push({ match: { op, left, right: value(v) } });
  };
  const markValue = (): Json => {
    // `0x1`, or `mark and 0xffff0000 xor 0x2`, `mark or 0x4`, ...
    const first = next();
    if (first === undefined) throw new Error("meta mark set without a value");
    if (first !== "mark") return value(first);
    let v: Json = { meta: { key: "mark" } };
    const ops: Record<string, string> = { and: "&", or: "|", xor: "^", "&": "&", "|": "|", "^": "^" };
    while (i < w.length && ops[w[i]!] !== undefined) {
      const op = ops[next()!]!;
      const c = next();
      if (c === undefined) throw new Error(`mark ${op} without a value`);
      v = { [op]: [v, value(c)] };
    }
    return v;
  };
  try {
    while (i < w.length) {
      const word = next()!;
      if (word === "counter") {
        if (w[i] === "packets") i += 4;
        expr.push({ counter: null });
      } else if (
        word === "meta" &&
        (w[i] === "mark" || w[i] === "l4proto" || w[i] === "iifname" || w[i] === "iif")
      ) {
        const key = next()!;
        if (key === "mark" && w[i] === "set") {
          i++;
          expr.push({ mangle: { key: { meta: { key: "mark" } }, value: markValue() } });
        } else match({ meta: { key } });
      } else if (word === "mark" || word === "iifname" || word === "iif") {
        if (word === "mark" && w[i] === "set") {
          i++;
          expr.push({ mangle: { key: { meta: { key: "mark" } }, value: markValue() } });
        } else match({ meta: { key: word } });
      } else if (
        (word === "ip" || word === "ip6") &&
        ["saddr", "daddr", "protocol", "nexthdr"].includes(w[i] ?? "")
      ) {
        match({ payload: { protocol: word, field: next() } });
      } else if (["tcp", "udp", "sctp", "th"].includes(word) && (w[i] === "dport" || w[i] === "sport")) {
        match({ payload: { protocol: word, field: next() } });
      } else if (["accept", "drop", "return", "continue"].includes(word)) {
        expr.push({ [word]: null });
      } else if (word === "jump" || word === "goto") {
        expr.push({ [word]: { target: next() } });
      } else {
        return { error: `"${word}" in "${line}"` };
      }
    }
  } catch (e) {
    return { error: `${(e as Error).message} in "${line}"` };
  }
  return expr;
}
