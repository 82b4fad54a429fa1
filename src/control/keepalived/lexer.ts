import { dirname, isAbsolute, join, resolve } from "node:path";
import type { Diags, Pos } from "./diagnostics.js";
import { expandGlob } from "./glob.js";

/**
 * keepalived.conf's lexical layer (spec A.2): lines, comments, quotes, braces, `include*`, `$NAME`
 * definitions and `@ID` lines. The result is a flat list of tokens: one `words` token per
 * statement (a line, or the part of a line between braces), and `open`/`close` for braces.
 */
export type Token = { kind: "words"; words: string[]; pos: Pos } | { kind: "open" | "close"; pos: Pos };

export interface LexOptions {
  /** The config id `@ID` lines are matched against. */
  configId: string;
  /** Reads a file; null when it cannot be read (the reason goes into `error`). */
  readFile: (path: string) => { text: string } | { error: string };
  /** Resolves a path to a real one (for include loops); null when it does not exist. */
  realPath: (path: string) => string | null;
  listDir: (dir: string) => string[] | null;
}

const INCLUDES = new Set(["include", "includer", "includem", "includew", "includeb", "includea"]);
/** Depth at which an include chain is taken for a loop even when paths differ (symlinks). */
const MAX_INCLUDE_DEPTH = 32;

export class Lexer {
  readonly tokens: Token[] = [];
  private readonly defs = new Map<string, string>();
  private readonly stack: string[] = [];

  constructor(
    private readonly diags: Diags,
    private readonly opts: LexOptions,
  ) {}

  /** Lexes `text` as the contents of `file`. */
  lexText(text: string, file: string): void {
    const real = this.opts.realPath(file) ?? resolve(file);
    this.stack.push(real);
    try {
      const lines = text.split(/\r?\n/);
      for (let i = 0; i < lines.length; i++) this.line(lines[i]!, { file, line: i + 1 });
    } finally {
      this.stack.pop();
    }
  }

  private line(raw: string, pos: Pos): void {
    let text = stripComment(raw).trim();
    if (text === "") return;
    if (text.startsWith("@")) {
      const m = /^@(\^?)(\S+)\s*(.*)$/.exec(text);
      if (!m) return;
      const match = m[2] === this.opts.configId;
      if (match === (m[1] === "^")) return;
      text = m[3]!;
      if (text === "") return;
    }
    if (text.startsWith("$")) {
      const def = /^\$([A-Za-z_][A-Za-z0-9_]*)\s*(\(|=)\s*(.*)$/.exec(text);
      if (def) {
        if (def[2] === "(") {
          this.diags.fatal(pos, `parameterised definition of $${def[1]} is not supported`);
          return;
        }
        if (def[3]!.endsWith("\\") || def[3] === "") {
          this.diags.fatal(pos, `multi-line definition of $${def[1]} is not supported`);
          return;
        }
        this.defs.set(def[1]!, def[3]!);
        return;
      }
    }
    if (text.includes("$")) text = this.substitute(text);
    if (/~(SEQ|LST)\(/.test(text)) {
      this.diags.fatal(pos, "~SEQ and ~LST are not supported");
      return;
    }
    // An include line is one statement: its braces belong to the glob (`inc/{a,b}.conf`).
    const head = /^(\S+)/.exec(text)?.[1];
    if (head !== undefined && INCLUDES.has(head)) {
      const words = splitLine(text, false).flatMap((seg) => (Array.isArray(seg) ? seg : []));
      this.include(words, pos);
      return;
    }
    const segments = splitLine(text);
    for (const seg of segments) {
      if (seg === "{") this.tokens.push({ kind: "open", pos });
      else if (seg === "}") this.tokens.push({ kind: "close", pos });
      else this.tokens.push({ kind: "words", words: seg, pos });
    }
  }

  private substitute(text: string): string {
    return text.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)/g, (all, a, b) => {
      const v = this.defs.get((a ?? b) as string);
      return v ?? all;
    });
  }

  private include(words: string[], pos: Pos): void {
    const kind = words[0]!;
    const pattern = words[1];
    if (!pattern) {
      this.diags.error(pos, `${kind} needs a file name`);
      return;
    }
    if (words.length > 2) this.diags.add(pos, "warning", "extra words ignored", { strictOnly: true });
    const full = isAbsolute(pattern) ? pattern : join(dirname(pos.file), pattern);
    const { files, unmatchedBrace, unmatchedWildcard } = expandGlob(full, this.opts.listDir);
    const strictMatch = kind === "includem" || kind === "includea";
    if (files.length === 0) {
      if (strictMatch || kind === "includew" || kind === "includeb")
        this.diags.fatal(pos, `${kind} ${pattern}: no file matches`);
      // keepalived 2.2.7 warns ("Config files missing") and goes on.
      else this.diags.warn(pos, `Config files missing '${pattern}'`);
      return;
    }
    if ((kind === "includew" || kind === "includea") && unmatchedWildcard)
      this.diags.fatal(pos, `${kind} ${pattern}: a wildcard matches nothing`);
    if ((kind === "includeb" || kind === "includea") && unmatchedBrace)
      this.diags.fatal(pos, `${kind} ${pattern}: a brace alternative matches nothing`);
    for (const f of files) {
      const real = this.opts.realPath(f);
      if (real && this.stack.includes(real)) {
        this.diags.error(pos, `include loop: '${f}' is already being read`);
        continue;
      }
      if (this.stack.length >= MAX_INCLUDE_DEPTH) {
        this.diags.error(pos, `includes nested deeper than ${MAX_INCLUDE_DEPTH}: '${f}' skipped`);
        continue;
      }
      const r = this.opts.readFile(f);
      if ("error" in r) {
        const msg = `Configuration file '${f}' open problem (${r.error}) - skipping`;
        if (kind === "includer" || kind === "includea") this.diags.fatal(pos, msg);
        else this.diags.error(pos, msg);
        continue;
      }
      this.lexText(r.text, f);
    }
  }
}

/** The line without its comment: `#` or `!` outside quotes; `\#` and `\!` stay literal. */
export function stripComment(line: string): string {
  let quote = "";
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (c === "\\") {
      i++;
      continue;
    }
    if (quote) {
      if (c === quote) quote = "";
    } else if (c === '"' || c === "'") quote = c;
    else if (c === "#" || c === "!") return line.slice(0, i);
  }
  return line;
}

/**
 * Splits a comment-free line into statements and braces: `["{"]`/`["}"]` stand for a brace
 * outside quotes, any other entry is a statement's words (quotes removed, escapes decoded). With
 * `braces` false a brace is an ordinary character (an include's glob).
 */
export function splitLine(line: string, braces = true): (string[] | "{" | "}")[] {
  const out: (string[] | "{" | "}")[] = [];
  let words: string[] = [];
  let word = "";
  let inWord = false;
  const endWord = () => {
    if (inWord) words.push(word);
    word = "";
    inWord = false;
  };
  const endStatement = () => {
    endWord();
    if (words.length) out.push(words);
    words = [];
  };
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (c === " " || c === "\t") {
      endWord();
    } else if (braces && (c === "{" || c === "}")) {
      endStatement();
      out.push(c);
    } else if (c === '"' || c === "'") {
      inWord = true;
      let j = i + 1;
      for (; j < line.length && line[j] !== c; j++) {
        if (line[j] === "\\" && j + 1 < line.length) {
          const [text, used] = decodeEscape(line, j + 1);
          word += text;
          j += used;
        } else word += line[j];
      }
      i = j;
    } else if (c === "\\" && (line[i + 1] === "#" || line[i + 1] === "!")) {
      inWord = true;
      word += line[++i];
    } else {
      inWord = true;
      word += c;
    }
  }
  endStatement();
  return out;
}

/** A shell-like escape starting at `s[i]` (after the backslash): its text and the characters used. */
function decodeEscape(s: string, i: number): [string, number] {
  const c = s[i]!;
  const simple: Record<string, string> = { n: "\n", t: "\t", r: "\r", "\\": "\\", '"': '"', "'": "'" };
  if (c in simple) return [simple[c]!, 1];
  if (c === "x") {
    const m = /^[0-9A-Fa-f]{1,2}/.exec(s.slice(i + 1));
    if (m) return [String.fromCharCode(Number.parseInt(m[0], 16)), 1 + m[0].length];
  }
  const o = /^[0-7]{1,3}/.exec(s.slice(i));
  if (o) return [String.fromCharCode(Number.parseInt(o[0], 8) & 255), o[0].length];
  return [`\\${c}`, 1];
}
