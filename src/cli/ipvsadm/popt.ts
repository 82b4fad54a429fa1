import type { OptDef } from "./option-table.js";

/** One step of the scan: an option with its value, the end, or a popt error. */
export type PoptEvent =
  | { kind: "opt"; def: OptDef; value: string | undefined; word: string }
  | { kind: "end" }
  | { kind: "error"; word: string; message: string };

/**
 * A scanner with libpopt's observable rules (the ones ipvsadm users rely on): short options bundle
 * (`-Ln`, `-At VIP`, `-p50`, `-p=50`), long options take `--name value` or `--name=value` and are
 * never abbreviated, an optional value is taken only from a next word not starting with `-`, a
 * required value takes the next word whatever it is, `--` ends options, and non-option words are
 * kept as leftovers. Errors name the whole word as typed.
 */
export class PoptScanner {
  readonly leftovers: string[] = [];
  private idx = 0;
  private bundle: { word: string; pos: number } | null = null;
  private onlyArgs = false;

  constructor(
    private readonly args: readonly string[],
    private readonly short: (ch: string) => OptDef | undefined,
    private readonly long: (name: string) => OptDef | undefined,
  ) {}

  next(): PoptEvent {
    if (this.bundle) return this.nextInBundle();
    while (this.idx < this.args.length) {
      const word = this.args[this.idx++]!;
      if (this.onlyArgs || word[0] !== "-" || word === "-") {
        this.leftovers.push(word);
        continue;
      }
      if (word === "--") {
        this.onlyArgs = true;
        continue;
      }
      if (word.startsWith("--")) return this.longOption(word);
      this.bundle = { word, pos: 1 };
      return this.nextInBundle();
    }
    return { kind: "end" };
  }

  private longOption(word: string): PoptEvent {
    const eq = word.indexOf("=");
    const name = eq >= 0 ? word.slice(2, eq) : word.slice(2);
    const inline = eq >= 0 ? word.slice(eq + 1) : undefined;
    const def = this.long(name);
    if (!def) return { kind: "error", word, message: "unknown option" };
    if (def.arg === "none") {
      if (inline !== undefined) return { kind: "error", word, message: "option does not take an argument" };
      return { kind: "opt", def, value: undefined, word };
    }
    if (inline !== undefined) return { kind: "opt", def, value: inline, word };
    return this.valueFromNextWord(def, word);
  }

  private nextInBundle(): PoptEvent {
    const b = this.bundle!;
    const ch = b.word[b.pos]!;
    b.pos++;
    const def = this.short(ch);
    if (!def) {
      this.bundle = null;
      return { kind: "error", word: b.word, message: "unknown option" };
    }
    const rest = b.word.slice(b.pos);
    if (rest === "") this.bundle = null;
    if (def.arg === "none") return { kind: "opt", def, value: undefined, word: b.word };
    this.bundle = null;
    if (rest !== "") return { kind: "opt", def, value: rest[0] === "=" ? rest.slice(1) : rest, word: b.word };
    return this.valueFromNextWord(def, b.word);
  }

  private valueFromNextWord(def: OptDef, word: string): PoptEvent {
    if (this.idx >= this.args.length) {
      if (def.arg === "optional") return { kind: "opt", def, value: undefined, word };
      return { kind: "error", word, message: "missing argument" };
    }
    const next = this.args[this.idx]!;
    if (def.arg === "optional" && next[0] === "-") return { kind: "opt", def, value: undefined, word };
    this.idx++;
    return { kind: "opt", def, value: next, word };
  }
}
