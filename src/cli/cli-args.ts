/** A usage error in a tslvs subcommand's arguments (exit 2). */
export class UsageError extends Error {}

/**
 * Splits `args` into options (`--name value` or `--name=value`; repeatable ones collect into
 * arrays) and positional words. Only the options in `known` are accepted.
 */
export function parseOptions(
  args: string[],
  known: Record<string, "value" | "repeat" | "flag">,
): { opts: Map<string, string[]>; words: string[] } {
  const opts = new Map<string, string[]>();
  const words: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (!a.startsWith("--")) {
      words.push(a);
      continue;
    }
    const eq = a.indexOf("=");
    const name = eq < 0 ? a.slice(2) : a.slice(2, eq);
    const kind = known[name];
    if (!kind) throw new UsageError(`unknown option --${name}`);
    if (kind === "flag") {
      if (eq >= 0) throw new UsageError(`--${name} takes no value`);
      opts.set(name, ["1"]);
      continue;
    }
    let value: string | undefined;
    if (eq >= 0) value = a.slice(eq + 1);
    else value = args[++i];
    if (value === undefined || value === "") throw new UsageError(`--${name} needs a value`);
    const list = opts.get(name) ?? [];
    if (kind === "value" && list.length) throw new UsageError(`--${name} given twice`);
    list.push(value);
    opts.set(name, list);
  }
  return { opts, words };
}
