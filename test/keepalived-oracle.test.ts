import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { test } from "node:test";
import { checkExitCode } from "../src/control/keepalived/keepalived-config.js";
import { readKeepalivedConf } from "../src/control/keepalived/read-keepalived-conf.js";
import { needsCommand } from "./support/privileged.js";

/**
 * keepalived -t (Debian 12's 2.2.7) as the oracle: for each fixture, the same exit-code class and
 * the same set of lines reported while parsing. keepalived reports its post-parse repairs without a
 * line and misreads what follows an unknown block (its "Unknown keyword '}'"), so those are left out.
 */
const DIR = resolve(import.meta.dirname, "../../test/fixtures/keepalived");
const FIXTURES = [
  ...readdirSync(DIR).filter((f) => f.endsWith(".conf")),
  ...readdirSync(join(DIR, "malformed")).map((f) => `malformed/${f}`),
];

for (const name of FIXTURES) {
  test(`keepalived -t agrees on ${name}`, { skip: needsCommand("keepalived") }, () => {
    const file = join(DIR, name);
    const ka = spawnSync("keepalived", ["-t", "-f", file], { encoding: "utf8" });
    const kaLines = new Set<number>();
    for (const l of ka.stderr.split("\n")) {
      const m = /\(.*Line (\d+)\) (.*)$/.exec(l);
      if (m && m[2] !== "Unknown keyword '}'") kaLines.add(Number(m[1]));
    }
    const ours = readKeepalivedConf(file, { configId: "oracle" });
    const ourLines = new Set(
      ours.diagnostics.filter((d) => !d.strictOnly && !d.afterParse && d.file === file).map((d) => d.line),
    );
    assert.equal(checkExitCode(ours.diagnostics), ka.status, `exit code (keepalived said:\n${ka.stderr})`);
    assert.deepEqual([...ourLines].sort(), [...kaLines].sort(), `lines (keepalived said:\n${ka.stderr})`);
  });
}
