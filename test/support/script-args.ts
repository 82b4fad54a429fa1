/**
 * Command-line arguments of a support script. These scripts sit under test/ (compiled to
 * dist/test/support/), where `node --test dist/test/` also finds and runs them — with no
 * arguments; then they exit at once instead of serving or waiting.
 */
export function scriptArgs(usage: string): string[] {
  const args = process.argv.slice(2);
  if (args.length > 0) return args;
  if (process.env.NODE_TEST_CONTEXT) process.exit(0);
  process.stderr.write(`usage: ${usage}\n`);
  process.exit(2);
}
