import { type SysctlValue, sysctlValueText } from "../control/api.js";
import { socketPath } from "../control/socket-path.js";
import type { IpvsError } from "../core/errors.js";
import { parseOptions, UsageError } from "./cli-args.js";
import { connectDaemon } from "./connect-daemon.js";

/**
 * `tslvs sysctl [NAME[=VALUE]]`: reads or sets the director's IPVS sysctls (the kernel's names
 * under /proc/sys/net/ipv4/vs) through the control socket. Prints `name = value` lines, a pair
 * (sync_threshold) tab-separated as the kernel prints it; a pair is set as "3 50" or "3,50".
 */
export async function sysctlCommand(args: string[]): Promise<number> {
  let name: string | undefined;
  let value: SysctlValue | undefined;
  let path: string;
  try {
    const { opts, words } = parseOptions(args, { socket: "value" });
    if (words.length > 1) throw new UsageError(`unexpected argument ${words[1]}`);
    path = socketPath(opts.get("socket")?.[0]);
    const w = words[0];
    if (w !== undefined) {
      const eq = w.indexOf("=");
      name = (eq < 0 ? w : w.slice(0, eq)).trim().replace(/^net\.ipv4\.vs\./, "");
      if (!/^[a-z_0-9]+$/.test(name)) throw new UsageError(`not a sysctl name: ${name}`);
      if (eq >= 0) {
        const text = w.slice(eq + 1).trim();
        const pair = /^(\d+)(?:\s+|\s*,\s*)(\d+)$/.exec(text);
        if (pair) value = [Number(pair[1]), Number(pair[2])];
        else if (/^-?\d+$/.test(text)) value = Number(text);
        else
          throw new UsageError(`${name}: the value must be an integer (or two, for a pair), not '${text}'`);
      }
    }
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    process.stderr.write(`tslvs sysctl: ${e.message}\nusage: tslvs sysctl [NAME[=VALUE]] [--socket PATH]\n`);
    return 2;
  }
  const client = await connectDaemon("sysctl", path);
  if (!client) return 1;
  try {
    if (name !== undefined && value !== undefined) await client.call({ op: "setSysctl", name, value });
    const all = await client.call({ op: "getSysctl", name });
    for (const [n, v] of Object.entries(all)) process.stdout.write(`${n} = ${sysctlValueText(v)}\n`);
    return 0;
  } catch (e) {
    const err = e as IpvsError;
    const text = err.errno === "ENOENT" ? `unknown sysctl ${name}` : err.message;
    process.stderr.write(`tslvs sysctl: ${text}\n`);
    return 1;
  } finally {
    client.close();
  }
}
