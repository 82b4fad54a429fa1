import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { basename, join, resolve } from "node:path";
import { test } from "node:test";
import { checkExitCode, type KeepalivedConfig } from "../src/control/keepalived/keepalived-config.js";
import { readKeepalivedConf } from "../src/control/keepalived/read-keepalived-conf.js";
import { haveRoot, needsCommand } from "./support/privileged.js";
import { labPrefix } from "./support/test-owner.js";

/**
 * keepalived -t (Debian 12's 2.2.7) as the oracle: for each fixture, the same exit-code class and
 * the same set of (file, line) pairs reported while parsing. keepalived reports its post-parse
 * repairs without a line and misreads what follows an unknown block (its "Unknown keyword '}'"),
 * so those are left out. Files are compared by name: keepalived prints included files relative
 * to the directory it reads them from. Deliberate differences: docs/keepalived.md.
 */
const DIR = resolve(import.meta.dirname, "../../test/fixtures/keepalived");
const confs = (sub: string) =>
  readdirSync(join(DIR, sub))
    .filter((f) => f.endsWith(".conf"))
    .map((f) => (sub === "." ? f : `${sub}/${f}`));
const FIXTURES = [
  ...confs("."),
  ...readdirSync(join(DIR, "malformed")).map((f) => `malformed/${f}`),
  ...confs("edge"),
  "include/main.conf",
];
/** Fixtures naming VRRP interfaces: run where eth0 and eth1 exist (a namespace with a veth pair). */
const VRRP_FIXTURES = confs("vrrp");
const CONFIG_ID = "oracle";

function kaLines(stderr: string): Set<string> {
  const out = new Set<string>();
  for (const l of stderr.split("\n")) {
    const m = /\((?:(.*): )?Line (\d+)\) (.*)$/.exec(l);
    if (m && m[3] !== "Unknown keyword '}'") out.add(`${m[1] ? basename(m[1]) : "-"}:${m[2]}`);
  }
  return out;
}

function ourLines(c: KeepalivedConfig, main: string): Set<string> {
  return new Set(
    c.diagnostics
      .filter((d) => !d.strictOnly && !d.afterParse)
      // keepalived prints global_defs lines of the main file without a file name.
      .map((d) => `${d.file === main && kaGlobal(c, d.line) ? "-" : basename(d.file)}:${d.line}`),
  );
}

/** Lines keepalived reports without a file: those inside global_defs (tracked by the caller). */
let globalLines = new Set<number>();
const kaGlobal = (_c: KeepalivedConfig, line: number) => globalLines.has(line);

function compare(file: string, ka: { status: number | null; stderr: string }): void {
  const ours = readKeepalivedConf(file, { configId: CONFIG_ID });
  const kl = kaLines(ka.stderr);
  // A line keepalived printed without a file name is one of the main file's global_defs lines.
  globalLines = new Set([...kl].filter((k) => k.startsWith("-:")).map((k) => Number(k.slice(2))));
  assert.equal(checkExitCode(ours.diagnostics), ka.status, `exit code (keepalived said:\n${ka.stderr})`);
  assert.deepEqual(
    [...ourLines(ours, file)].sort(),
    [...kl].sort(),
    `lines (keepalived said:\n${ka.stderr})`,
  );
}

for (const name of FIXTURES) {
  test(`keepalived -t agrees on ${name}`, { skip: needsCommand("keepalived") }, () => {
    const file = join(DIR, name);
    compare(file, spawnSync("keepalived", ["-t", "-i", CONFIG_ID, "-f", file], { encoding: "utf8" }));
  });
}

for (const name of VRRP_FIXTURES) {
  test(`keepalived -t agrees on ${name} (interfaces eth0, eth1)`, {
    skip: needsCommand("keepalived"),
  }, (t) => {
    if (!haveRoot(t)) return;
    const ns = labPrefix("ka");
    const ip = (...args: string[]) => {
      const r = spawnSync("ip", args, { encoding: "utf8" });
      assert.equal(r.status, 0, `ip ${args.join(" ")}: ${r.stderr}`);
    };
    ip("netns", "add", ns);
    try {
      ip("-n", ns, "link", "add", "eth0", "type", "veth", "peer", "name", "eth1");
      const file = join(DIR, name);
      compare(
        file,
        spawnSync("ip", ["netns", "exec", ns, "keepalived", "-t", "-i", CONFIG_ID, "-f", file], {
          encoding: "utf8",
        }),
      );
    } finally {
      spawnSync("ip", ["netns", "del", ns]);
    }
  });
}

test("an include loop: keepalived runs out of files (exit 0), tslvs reports where the loop closes (5)", {
  skip: needsCommand("keepalived"),
}, () => {
  const file = join(DIR, "include/loop/a.conf");
  const ka = spawnSync("keepalived", ["-t", "-f", file], { encoding: "utf8", timeout: 30_000 });
  assert.equal(ka.status, 0);
  assert.match(ka.stderr, /open problem/);
  const ours = readKeepalivedConf(file);
  assert.equal(checkExitCode(ours.diagnostics), 5);
  assert.deepEqual([...ourLines(ours, file)], ["b.conf:1"]);
  assert.match(ours.diagnostics[0]!.message, /include loop/);
});
