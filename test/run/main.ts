/**
 * `npm test` and `npm run test:unit`: runs every test file with node's test runner, after bringing
 * what the tests need.
 *
 *   npm test             as root: installs the missing Debian packages of test/system-packages.txt,
 *                        removes what killed runs left, runs every test, removes what this run left.
 *                        Without root or apt, runs the unit tests and ends with one line naming what
 *                        is missing and how to install it (under CI=true that line is a failure).
 *   npm run test:unit    the tests that need neither root nor a Debian package.
 */
import { spawn } from "node:child_process";
import { readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { reapLeftovers } from "./leftovers.js";
import { installCommand, installPackages, missingPackages } from "./system-packages.js";

const TEST_DIR = fileURLToPath(new URL("../", import.meta.url));

function say(line: string): void {
  process.stdout.write(`${line}\n`);
}

/** Every test file, or those whose name contains one of the words given (`npm test -- dp-restart`). */
function testFiles(): string[] {
  const words = process.argv.slice(2).filter((a) => !a.startsWith("--"));
  return readdirSync(TEST_DIR)
    .filter((f) => f.endsWith(".test.js") && (words.length === 0 || words.some((w) => f.includes(w))))
    .sort()
    .map((f) => `${TEST_DIR}${f}`);
}

/** node --test over every file, one at a time (network tests share the machine); resolves its exit code. */
function runNodeTest(unitOnly: boolean): Promise<number> {
  const env: NodeJS.ProcessEnv = { ...process.env, TSLVS_TEST_OWNER: String(process.pid) };
  if (unitOnly) env.TSLVS_TEST_UNIT_ONLY = "1";
  const child = spawn(process.execPath, ["--test", "--test-concurrency=1", ...testFiles()], {
    stdio: "inherit",
    env,
  });
  // Ctrl-C or a kill reaches the test runner, which ends its test processes; the clean-up below
  // then removes whatever they could not.
  const forward = (sig: NodeJS.Signals) => child.kill(sig);
  process.on("SIGINT", forward);
  process.on("SIGTERM", forward);
  return new Promise((resolve) => {
    child.on("exit", (code, signal) => {
      process.off("SIGINT", forward);
      process.off("SIGTERM", forward);
      resolve(code ?? (signal ? 128 + 15 : 1));
    });
  });
}

function cleanUp(owners: number[]): void {
  const r = reapLeftovers(owners);
  if (r.namespaces.length + r.processes.length > 0)
    say(
      `removed what ended test runs left: ${r.namespaces.length} namespaces, ${r.processes.length} processes`,
    );
}

async function main(): Promise<number> {
  const unitOnly = process.argv.includes("--unit");
  if (unitOnly) return runNodeTest(true);

  const root = process.getuid?.() === 0;
  let missing = missingPackages();
  if (root && missing.length > 0) missing = installPackages(missing, say);
  const lacking: string[] = [];
  if (!root) lacking.push("root");
  if (missing.length > 0) lacking.push(`the Debian packages ${missing.map((p) => p.name).join(", ")}`);

  if (lacking.length > 0) {
    const code = await runNodeTest(true);
    const how = [!root ? "run as root" : "", missing.length > 0 ? installCommand(missing) : ""]
      .filter(Boolean)
      .join("; ");
    say(`network tests not run: they need ${lacking.join(" and ")} (${how}, then npm test)`);
    return process.env.CI === "true" ? 1 : code;
  }

  cleanUp([]);
  const code = await runNodeTest(false);
  // Every test process has ended: whatever still carries this run's mark is a leftover.
  cleanUp([process.pid]);
  return code;
}

process.exitCode = await main();
