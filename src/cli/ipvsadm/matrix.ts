import { fail, type Output } from "./exit.js";
import type { CommandKey } from "./option-table.js";

/**
 * Legal command x option combinations (ipvsadm's commands_v_options, extended with DPVS's
 * local-address commands and --json). Rows are checked in this order, so the first failing row
 * decides the message. Key: '+' required, 'x' illegal, '1' at most one of the '1' options, '.' optional.
 */
const COLUMNS: readonly CommandKey[] = [
  "add-service",
  "edit-service",
  "delete-service",
  "flush",
  "list",
  "add-server",
  "delete-server",
  "edit-server",
  "set",
  "start-daemon",
  "stop-daemon",
  "restore",
  "save",
  "zero",
  "add-laddr",
  "del-laddr",
  "get-laddr",
];

/** [option name used in messages, legality per column]. */
export const MATRIX_ROWS: readonly (readonly [string, string])[] = [
  ["numeric", "xxxx.xxxxxxx.xxxx"],
  ["connection", "xxxx1xxxxxxxxxxxx"],
  ["service-address", "+++x1+++xxxxx.++."],
  ["scheduler", "..xxxxxxxxxxxxxxx"],
  ["persistent", "..xxxxxxxxxxxxxxx"],
  ["netmask", "..xxxxxxxxxxxxxxx"],
  ["real-server", "xxxxx+++xxxxxxxxx"],
  ["forwarding-method", "xxxxx.x.xxxxxxxxx"],
  ["weight", "xxxxx.x.xxxxxxxxx"],
  ["u-threshold", "xxxxx.x.xxxxxxxxx"],
  ["l-threshold", "xxxxx.x.xxxxxxxxx"],
  ["mcast-interface", "xxxxxxxxx.xxxxxxx"],
  ["timeout", "xxxx1xxxxxxxxxxxx"],
  ["daemon", "xxxx1xxxxxxxxxxxx"],
  ["stats", "xxxx.xxxxxxxxxxxx"],
  ["rate", "xxxx.xxxxxxxxxxxx"],
  ["thresholds", "xxxx.xxxxxxxxxxxx"],
  ["persistent-conn", "xxxx.xxxxxxxxxxxx"],
  ["nosort", "xxxx.xxxxxxxxxxxx"],
  ["syncid", "xxxx.xxxx..xxxxxx"],
  ["exact", "xxxx.xxxxxxxxxxxx"],
  ["ops", "..xxxxxxxxxxxxxxx"],
  ["pe", "..xxxxxxxxxxxxxxx"],
  ["sched-flags", "..xxxxxxxxxxxxxxx"],
  ["mcast-group", "xxxxxxxxx.xxxxxxx"],
  ["mcast-port", "xxxxxxxxx.xxxxxxx"],
  ["mcast-ttl", "xxxxxxxxx.xxxxxxx"],
  ["sync-maxlen", "xxxxxxxxx.xxxxxxx"],
  ["tun-info", "xxxx.xxxxxxxxxxxx"],
  ["tun-type", "xxxxx.x.xxxxxxxxx"],
  ["tun-port", "xxxxx.x.xxxxxxxxx"],
  ["tun-nocsum", "xxxxx.x.xxxxxxxxx"],
  ["tun-csum", "xxxxx.x.xxxxxxxxx"],
  ["tun-remcsum", "xxxxx.x.xxxxxxxxx"],
  ["local-address", "xxxxxxxxxxxxxx++x"],
  ["ifname", "xxxxxxxxxxxxxx++x"],
  ["json", "xxxx.xxxxxx..xxx."],
  ["toa", "..xxxxxxxxxxxxxxx"],
];

/** ipvsadm's generic_opt_check over the options given (by message name). */
export function checkMatrix(o: Output, command: CommandKey, given: ReadonlySet<string>): void {
  const col = COLUMNS.indexOf(command);
  if (col < 0) return;
  let firstExclusive: string | undefined;
  for (const [name, row] of MATRIX_ROWS) {
    const rule = row[col];
    if (!given.has(name)) {
      if (rule === "+") fail(o, 2, `You need to supply the '${name}' option for the '${command}' command`);
      continue;
    }
    if (rule === "x") fail(o, 2, `Illegal '${name}' option with the '${command}' command`);
    if (rule === "1") {
      if (firstExclusive === undefined) firstExclusive = name;
      else
        fail(
          o,
          2,
          `The option '${name}' conflicts with the '${firstExclusive}' option in the '${command}' command`,
        );
    }
  }
}

/** Tunnel type x tunnel option (checked for -a/-e once -i is confirmed). Columns ipip, gue, gre. */
const TUNNEL_ROWS: readonly (readonly [string, string])[] = [
  ["tun-port", "x+x"],
  ["tun-nocsum", "x11"],
  ["tun-csum", "x11"],
  ["tun-remcsum", "x1x"],
];
const TUNNEL_TYPES = ["ipip", "gue", "gre"];

export function checkTunnelMatrix(o: Output, tunType: string, given: ReadonlySet<string>): void {
  const col = TUNNEL_TYPES.indexOf(tunType);
  let firstExclusive: string | undefined;
  for (const [name, row] of TUNNEL_ROWS) {
    const rule = row[col];
    if (!given.has(name)) {
      if (rule === "+")
        fail(o, 2, `You need to supply the '${name}' option for the '${tunType}' tunnel type`);
      continue;
    }
    if (rule === "x") fail(o, 2, `Illegal '${name}' option with the '${tunType}' tunnel type`);
    if (rule === "1") {
      if (firstExclusive === undefined) firstExclusive = name;
      else
        fail(
          o,
          2,
          `The option '${name}' conflicts with the '${firstExclusive}' option in the '${tunType}' tunnel type`,
        );
    }
  }
}
