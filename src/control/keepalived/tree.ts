import type { Diags, Pos } from "./diagnostics.js";
import type { Token } from "./lexer.js";

/** One statement: its words, and its block's statements when a `{` follows it. */
export interface Stmt {
  words: string[];
  pos: Pos;
  block?: Stmt[];
  /** Where the block's `}` is (keepalived reports some end-of-block checks there). */
  end?: Pos;
}

/**
 * Builds the statement tree from the tokens. A `{` belongs to the statement before it (on the same
 * line or the one before); a `{` with no statement before it opens a block that is skipped. A
 * missing `}` at the end is fatal (the file cannot mean what it says).
 */
export function buildTree(tokens: readonly Token[], diags: Diags, endPos: Pos): Stmt[] {
  const root: Stmt[] = [];
  const stack: { list: Stmt[]; opener: Stmt | null }[] = [{ list: root, opener: null }];
  let last: Stmt | null = null;
  for (const t of tokens) {
    const top = stack[stack.length - 1]!;
    if (t.kind === "words") {
      last = { words: t.words, pos: t.pos };
      top.list.push(last);
    } else if (t.kind === "open") {
      if (last && !last.block) {
        last.block = [];
        stack.push({ list: last.block, opener: last });
      } else {
        diags.error(t.pos, "Unexpected '{' - ignoring");
        stack.push({ list: [], opener: null });
      }
      last = null;
    } else {
      last = null;
      if (stack.length === 1) diags.error(t.pos, "Unexpected '}' - ignoring");
      else {
        const done = stack.pop()!;
        if (done.opener) done.opener.end = t.pos;
      }
    }
  }
  if (stack.length > 1) {
    const open = stack[1]!.opener;
    diags.fatal(
      endPos,
      `end of file with ${stack.length - 1} block(s) not closed${open ? ` ('${open.words[0]}' at ${open.pos.file}: Line ${open.pos.line})` : ""}`,
    );
  }
  return root;
}
