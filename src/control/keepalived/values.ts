import type { ScriptSpec } from "../health/check-spec.js";
import type { Diags } from "./diagnostics.js";
import type { Stmt } from "./tree.js";

/**
 * Reading a statement's values as keepalived does: an invalid value is reported and the line is
 * ignored (the caller keeps its default); words beyond what the keyword takes are ignored, with a
 * warning that counts only under --strict (keepalived says nothing).
 */
export class Values {
  constructor(readonly diags: Diags) {}

  /** True when `st` has at least `min` values; extra words past `max` are warned about. */
  arity(st: Stmt, min: number, max: number): boolean {
    const n = st.words.length - 1;
    if (n < min) {
      this.diags.error(st.pos, `${st.words[0]} needs a value`);
      return false;
    }
    if (n > max) this.extra(st, max + 1);
    return true;
  }

  extra(st: Stmt, from: number): void {
    this.diags.add(st.pos, "warning", `extra words ignored: '${st.words.slice(from).join(" ")}'`, {
      strictOnly: true,
    });
  }

  /** An integer in min..max, or null (reported). */
  int(st: Stmt, i: number, min: number, max: number): number | null {
    const w = st.words[i];
    if (w === undefined) {
      this.diags.error(st.pos, `${st.words[0]} needs a value`);
      return null;
    }
    const n = /^[0-9]+$/.test(w) ? Number(w) : Number.NaN;
    if (!(n >= min && n <= max)) {
      this.diags.error(st.pos, `${st.words[0]} value '${w}' is invalid (${min}..${max}) - ignoring`);
      return null;
    }
    return n;
  }

  /** A time in seconds (up to 6 decimals), at least `min`, or null (reported). */
  timer(st: Stmt, i: number, min = 0): number | null {
    const w = st.words[i];
    if (w === undefined) {
      this.diags.error(st.pos, `${st.words[0]} needs a value`);
      return null;
    }
    const n = /^[0-9]+(\.[0-9]+)?$/.test(w) ? Math.round(Number(w) * 1e6) / 1e6 : Number.NaN;
    if (!(n >= min) || n > 4294967) {
      this.diags.error(st.pos, `${st.words[0]} value '${w}' is invalid - ignoring`);
      return null;
    }
    return n;
  }

  /** A boolean: a bare keyword is true; on|off|true|false|yes|no. */
  bool(st: Stmt, i = 1): boolean | null {
    const w = st.words[i];
    if (w === undefined) return true;
    if (st.words.length > i + 1) this.extra(st, i + 1);
    const v = BOOLS[w.toLowerCase()];
    if (v === undefined) {
      this.diags.error(st.pos, `${st.words[0]} value '${w}' is not a boolean - ignoring`);
      return null;
    }
    return v;
  }

  /** `SCRIPT [user [group]]`: the command line split like a shell's, without a shell. */
  script(st: Stmt, i = 1): ScriptSpec | null {
    const cmd = st.words[i];
    if (cmd === undefined || cmd.trim() === "") {
      this.diags.error(st.pos, `${st.words[0]} needs a script`);
      return null;
    }
    if (st.words.length > i + 3) this.extra(st, i + 3);
    const argv = splitCommand(cmd);
    if (argv.length === 0) {
      this.diags.error(st.pos, `${st.words[0]} needs a script`);
      return null;
    }
    const spec: ScriptSpec = { argv };
    if (st.words[i + 1] !== undefined) spec.user = st.words[i + 1]!;
    if (st.words[i + 2] !== undefined) spec.group = st.words[i + 2]!;
    return spec;
  }
}

const BOOLS: Record<string, boolean> = {
  on: true,
  true: true,
  yes: true,
  off: false,
  false: false,
  no: false,
};

/** Splits a command line into argv: blanks separate, quotes group, backslash escapes. */
export function splitCommand(cmd: string): string[] {
  const out: string[] = [];
  let word = "";
  let inWord = false;
  let quote = "";
  for (let i = 0; i < cmd.length; i++) {
    const c = cmd[i]!;
    if (quote) {
      if (c === quote) quote = "";
      else if (c === "\\" && quote === '"' && i + 1 < cmd.length) word += cmd[++i];
      else word += c;
    } else if (c === '"' || c === "'") {
      quote = c;
      inWord = true;
    } else if (c === "\\" && i + 1 < cmd.length) {
      word += cmd[++i];
      inWord = true;
    } else if (c === " " || c === "\t" || c === "\n") {
      if (inWord) out.push(word);
      word = "";
      inWord = false;
    } else {
      word += c;
      inWord = true;
    }
  }
  if (inWord) out.push(word);
  return out;
}
