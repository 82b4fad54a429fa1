import { parseArgs } from "node:util";

/** A usage error in a tslvs subcommand's arguments (exit 2). */
export class UsageError extends Error {}

/**
 * Splits `args` into options (`--name value` or `--name=value`; repeatable ones collect into
 * arrays) and positional words, with Node's util.parseArgs. Only the options in `known` are
 * accepted; a value option given twice, an empty value or a value on a flag is a UsageError.
 */
export function parseOptions(
  args: string[],
  known: Record<string, "value" | "repeat" | "flag">,
): { opts: Map<string, string[]>; words: string[] } {
  const options: Record<string, { type: "string" | "boolean"; multiple: true }> = {};
  for (const [name, kind] of Object.entries(known))
    options[name] = { type: kind === "flag" ? "boolean" : "string", multiple: true };
  let parsed: ReturnType<typeof parseArgs<{ options: typeof options; allowPositionals: true; tokens: true }>>;
  try {
    parsed = parseArgs({ args, options, allowPositionals: true, strict: true, tokens: true });
  } catch (e) {
    throw new UsageError(usageMessage(e as Error & { code?: string }));
  }
  const opts = new Map<string, string[]>();
  for (const t of parsed.tokens) {
    if (t.kind !== "option") continue;
    const kind = known[t.name]!;
    if (kind === "flag") {
      if (t.inlineValue) throw new UsageError(`--${t.name} takes no value`);
      opts.set(t.name, ["1"]);
      continue;
    }
    if (!t.value) throw new UsageError(`--${t.name} needs a value`);
    const list = opts.get(t.name) ?? [];
    if (kind === "value" && list.length) throw new UsageError(`--${t.name} given twice`);
    list.push(t.value);
    opts.set(t.name, list);
  }
  return { opts, words: parsed.positionals };
}

/** util.parseArgs's errors in this CLI's words. */
function usageMessage(e: Error & { code?: string }): string {
  const option = /'(-{1,2}[^' ]+)/.exec(e.message)?.[1];
  switch (e.code) {
    case "ERR_PARSE_ARGS_UNKNOWN_OPTION":
      return `unknown option ${option ?? e.message}`;
    case "ERR_PARSE_ARGS_INVALID_OPTION_VALUE":
      return /argument missing/.test(e.message) ? `${option} needs a value` : `${option} takes no value`;
    default:
      return e.message;
  }
}
