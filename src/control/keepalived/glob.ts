/**
 * The glob of keepalived's `include`: `*`, `?`, `[...]` and `{a,b}`, matched one path segment at a
 * time against directory listings (a leading dot is matched only by a literal dot, as glob(3) does).
 */
export interface GlobResult {
  /** Matching paths, sorted within each brace alternative. */
  files: string[];
  /** Some brace alternative matched nothing (includeb). */
  unmatchedBrace: boolean;
  /** Some alternative with a wildcard matched nothing (includew). */
  unmatchedWildcard: boolean;
}

export function expandGlob(pattern: string, listDir: (dir: string) => string[] | null): GlobResult {
  const alternatives = expandBraces(pattern);
  const files: string[] = [];
  let unmatchedBrace = false;
  let unmatchedWildcard = false;
  for (const alt of alternatives) {
    const found = matchPath(alt, listDir);
    if (found.length === 0) {
      if (alternatives.length > 1) unmatchedBrace = true;
      if (/[*?[]/.test(alt)) unmatchedWildcard = true;
    }
    for (const f of found) if (!files.includes(f)) files.push(f);
  }
  return { files, unmatchedBrace, unmatchedWildcard };
}

/** `a{b,c}d` → [abd, acd], nested braces included. */
export function expandBraces(p: string): string[] {
  let depth = 0;
  let start = -1;
  for (let i = 0; i < p.length; i++) {
    if (p[i] === "{") {
      if (depth++ === 0) start = i;
    } else if (p[i] === "}" && depth > 0 && --depth === 0) {
      const inner = p.slice(start + 1, i);
      const parts: string[] = [];
      let d = 0;
      let from = 0;
      for (let j = 0; j < inner.length; j++) {
        if (inner[j] === "{") d++;
        else if (inner[j] === "}") d--;
        else if (inner[j] === "," && d === 0) {
          parts.push(inner.slice(from, j));
          from = j + 1;
        }
      }
      parts.push(inner.slice(from));
      const head = p.slice(0, start);
      const tail = p.slice(i + 1);
      return parts.flatMap((part) => expandBraces(head + part + tail));
    }
  }
  return [p];
}

function matchPath(pattern: string, listDir: (dir: string) => string[] | null): string[] {
  const absolute = pattern.startsWith("/");
  const segments = pattern.split("/").filter((s) => s !== "");
  let paths = [absolute ? "/" : "."];
  for (const seg of segments) {
    const next: string[] = [];
    for (const base of paths) {
      const join = (name: string) =>
        base === "/" ? `/${name}` : base === "." && !absolute ? name : `${base}/${name}`;
      if (!/[*?[]/.test(seg)) {
        next.push(join(seg));
        continue;
      }
      const names = listDir(base === "" ? "." : base);
      if (!names) continue;
      const re = segmentRegExp(seg);
      for (const n of [...names].sort())
        if (re.test(n) && (!n.startsWith(".") || seg.startsWith("."))) next.push(join(n));
    }
    paths = next;
  }
  // Literal segments were not checked: keep only what a listing of the parent shows.
  return paths.filter((p) => exists(p, listDir));
}

function exists(path: string, listDir: (dir: string) => string[] | null): boolean {
  const i = path.lastIndexOf("/");
  const dir = i < 0 ? "." : i === 0 ? "/" : path.slice(0, i);
  return listDir(dir)?.includes(path.slice(i + 1)) ?? false;
}

function segmentRegExp(seg: string): RegExp {
  let re = "^";
  for (let i = 0; i < seg.length; i++) {
    const c = seg[i]!;
    if (c === "*") re += "[^/]*";
    else if (c === "?") re += "[^/]";
    else if (c === "[") {
      const end = seg.indexOf("]", i + 2);
      if (end < 0) re += "\\[";
      else {
        let set = seg.slice(i + 1, end);
        if (set.startsWith("!")) set = `^${set.slice(1)}`;
        re += `[${set.replace(/\\/g, "\\\\")}]`;
        i = end;
      }
    } else re += c.replace(/[.+^${}()|\\]/g, "\\$&");
  }
  return new RegExp(`${re}$`);
}
