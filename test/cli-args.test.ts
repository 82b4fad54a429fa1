import assert from "node:assert/strict";
import { test } from "node:test";
import { parseOptions, UsageError } from "../src/cli/cli-args.js";

const known = { socket: "value", interface: "repeat", json: "flag" } as const;

test("tslvs subcommand options: values, repeats, flags and words (util.parseArgs underneath)", () => {
  const r = parseOptions(
    ["--socket", "/run/x.sock", "word", "--interface", "eth0", "--interface=eth1", "--json"],
    known,
  );
  assert.deepEqual(
    [...r.opts],
    [
      ["socket", ["/run/x.sock"]],
      ["interface", ["eth0", "eth1"]],
      ["json", ["1"]],
    ],
  );
  assert.deepEqual(r.words, ["word"]);
});

test("tslvs subcommand options: each mistake is a UsageError that names the option", () => {
  const cases: [string[], string][] = [
    [["--bogus"], "unknown option --bogus"],
    [["--socket"], "--socket needs a value"],
    [["--socket="], "--socket needs a value"],
    [["--socket", "a", "--socket", "b"], "--socket given twice"],
    [["--json=yes"], "--json takes no value"],
  ];
  for (const [args, message] of cases)
    assert.throws(
      () => parseOptions(args, known),
      (e: unknown) => e instanceof UsageError && e.message === message,
      args.join(" "),
    );
});
