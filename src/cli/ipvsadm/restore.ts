import type { DestConfig, ServiceConfig } from "../../control/api.js";
import type { IpvsClient } from "../../control/client.js";
import { ipvsStrerror } from "./errno-messages.js";
import { errnoOf } from "./errno-of.js";
import { fail, type Output } from "./exit.js";

/**
 * `-R`: rules from standard input. Lines are split on blanks, tabs and CRs, `ipvsadm` words are
 * dropped, empty lines skipped, and each line runs as its own command line: a refusal prints and
 * the restore goes on, a validation error ends the process (the line's CliExit propagates), and
 * the status is the last line's.
 */
export async function restoreLines(
  text: string,
  runLine: (tokens: string[]) => Promise<number>,
): Promise<number> {
  let result = 0;
  for (const line of text.split("\n")) {
    const tokens = line
      .split(/[ \t\r]+/)
      .filter((t) => t !== "" && t !== "ipvsadm")
      .map((t) => t.slice(0, 4096));
    if (tokens.length === 0) continue;
    result = await runLine(tokens);
  }
  return result;
}

interface RestoreEnv {
  o: Output;
  client: IpvsClient;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Checks the shape of a `-S --json` document; returns a reason when it is not one. */
function rulesProblem(doc: unknown): string | null {
  if (!isObject(doc) || doc.format !== "tslvs-rules")
    return 'not a tslvs rules document (format "tslvs-rules")';
  if (doc.version !== 1) return `unsupported rules version ${JSON.stringify(doc.version)}`;
  if (!Array.isArray(doc.services)) return '"services" must be an array';
  for (const [i, s] of doc.services.entries()) {
    if (!isObject(s) || !isObject(s.id)) return `services[${i}]: missing "id"`;
    for (const k of ["scheduler", "netmask", "pe"])
      if (typeof s[k] !== "string") return `services[${i}].${k} must be a string`;
    for (const k of ["flags", "timeout"])
      if (typeof s[k] !== "number") return `services[${i}].${k} must be a number`;
    if (!Array.isArray(s.dests)) return `services[${i}].dests must be an array`;
    for (const [j, d] of s.dests.entries()) {
      if (
        !isObject(d) ||
        typeof d.addr !== "string" ||
        typeof d.port !== "number" ||
        typeof d.method !== "string"
      )
        return `services[${i}].dests[${j}] needs addr, port and method`;
    }
  }
  return null;
}

/**
 * `-R --json`: adds every service and real server of a `-S --json` document (thresholds and
 * tunnel settings included). Refusals print ipvsadm's text and the restore goes on; the status is
 * the last operation's. A malformed document is refused before anything is sent (exit 2).
 */
export async function restoreJson(text: string, env: RestoreEnv): Promise<number> {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    fail(env.o, 2, `invalid JSON rules: ${(e as Error).message}`);
  }
  const problem = rulesProblem(doc);
  if (problem) fail(env.o, 2, `invalid JSON rules: ${problem}`);
  const services = (doc as { services: (ServiceConfig & { dests: Partial<DestConfig>[] })[] }).services;
  let result = 0;
  for (const s of services) {
    const config: ServiceConfig = {
      id: s.id,
      scheduler: s.scheduler,
      flags: s.flags,
      timeout: s.timeout,
      netmask: s.netmask,
      pe: s.pe,
    };
    result = await attempt(env, "add-service", () => env.client.call({ op: "addService", config }));
    for (const d of s.dests) {
      const dest: DestConfig = {
        addr: d.addr!,
        port: d.port!,
        method: d.method!,
        weight: d.weight ?? 1,
        uThreshold: d.uThreshold ?? 0,
        lThreshold: d.lThreshold ?? 0,
        tunType: d.tunType ?? "ipip",
        tunPort: d.tunPort ?? 0,
        tunCsum: d.tunCsum ?? "nocsum",
      };
      result = await attempt(env, "add-dest", () => env.client.call({ op: "addDest", service: s.id, dest }));
    }
  }
  return result;
}

async function attempt(
  env: RestoreEnv,
  op: "add-service" | "add-dest",
  fn: () => Promise<unknown>,
): Promise<number> {
  try {
    await fn();
    return 0;
  } catch (e) {
    env.o.error(ipvsStrerror(op, errnoOf(e)));
    return 255;
  }
}
