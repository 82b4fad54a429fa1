/**
 * ipvsadm's option table (ipvsadm 1.31 plus DPVS's FULLNAT and local-address commands and the
 * --json extension). `key` identifies the option to the command builder.
 */
export type ArgKind = "none" | "required" | "optional";

export type CommandKey =
  | "add-service"
  | "edit-service"
  | "delete-service"
  | "flush"
  | "list"
  | "add-server"
  | "delete-server"
  | "edit-server"
  | "set"
  | "start-daemon"
  | "stop-daemon"
  | "restore"
  | "save"
  | "zero"
  | "add-laddr"
  | "del-laddr"
  | "get-laddr"
  | "help"
  | "version";

export interface OptDef {
  /** Command key for command options, or the option's own key. */
  key: string;
  isCommand: boolean;
  long?: string;
  short?: string;
  arg: ArgKind;
}

function cmd(key: CommandKey, long: string, short: string | undefined, arg: ArgKind = "none"): OptDef {
  return short === undefined
    ? { key, isCommand: true, long, arg }
    : { key, isCommand: true, long, short, arg };
}
function opt(key: string, long: string | undefined, short: string | undefined, arg: ArgKind): OptDef {
  const d: OptDef = { key, isCommand: false, arg };
  if (long !== undefined) d.long = long;
  if (short !== undefined) d.short = short;
  return d;
}

export const OPTIONS: readonly OptDef[] = [
  cmd("add-service", "add-service", "A"),
  cmd("edit-service", "edit-service", "E"),
  cmd("delete-service", "delete-service", "D"),
  cmd("flush", "clear", "C"),
  cmd("list", "list", "L"),
  cmd("list", "list", "l"),
  cmd("zero", "zero", "Z"),
  cmd("add-server", "add-server", "a"),
  cmd("edit-server", "edit-server", "e"),
  cmd("delete-server", "delete-server", "d"),
  cmd("set", "set", undefined),
  cmd("help", "help", "h"),
  cmd("version", "version", "v"),
  cmd("restore", "restore", "R"),
  cmd("save", "save", "S"),
  cmd("start-daemon", "start-daemon", undefined, "required"),
  cmd("stop-daemon", "stop-daemon", undefined, "required"),
  cmd("add-laddr", "add-laddr", "P"),
  cmd("del-laddr", "del-laddr", "Q"),
  cmd("get-laddr", "get-laddr", "G"),
  opt("tcp", "tcp-service", "t", "required"),
  opt("udp", "udp-service", "u", "required"),
  opt("sctp", "sctp-service", undefined, "required"),
  opt("fwmark", "fwmark-service", "f", "required"),
  opt("scheduler", "scheduler", "s", "required"),
  opt("persistent", "persistent", "p", "optional"),
  opt("netmask", "netmask", "M", "required"),
  opt("real-server", "real-server", "r", "required"),
  opt("masquerading", "masquerading", "m", "none"),
  opt("ipip", "ipip", "i", "none"),
  opt("gatewaying", "gatewaying", "g", "none"),
  opt("fullnat", "fullnat", undefined, "none"),
  opt("weight", "weight", "w", "required"),
  opt("u-threshold", "u-threshold", "x", "required"),
  opt("l-threshold", "l-threshold", "y", "required"),
  opt("numeric", "numeric", "n", "none"),
  opt("connection", "connection", "c", "none"),
  opt("mcast-interface", "mcast-interface", undefined, "required"),
  opt("syncid", "syncid", undefined, "required"),
  opt("timeout", "timeout", undefined, "none"),
  opt("daemon", "daemon", undefined, "none"),
  opt("stats", "stats", undefined, "none"),
  opt("rate", "rate", undefined, "none"),
  opt("thresholds", "thresholds", undefined, "none"),
  opt("persistent-conn", "persistent-conn", undefined, "none"),
  opt("nosort", "nosort", undefined, "none"),
  opt("sort", "sort", undefined, "none"),
  opt("exact", "exact", "X", "none"),
  opt("ipv6", "ipv6", "6", "none"),
  opt("ops", "ops", "o", "none"),
  opt("pe", "pe", undefined, "required"),
  opt("sched-flags", "sched-flags", undefined, "required"),
  opt("mcast-group", "mcast-group", undefined, "required"),
  opt("mcast-port", "mcast-port", undefined, "required"),
  opt("mcast-ttl", "mcast-ttl", undefined, "required"),
  opt("sync-maxlen", "sync-maxlen", undefined, "required"),
  opt("tun-info", "tun-info", undefined, "none"),
  opt("tun-type", "tun-type", undefined, "required"),
  opt("tun-port", "tun-port", undefined, "required"),
  opt("tun-nocsum", "tun-nocsum", undefined, "none"),
  opt("tun-csum", "tun-csum", undefined, "none"),
  opt("tun-remcsum", "tun-remcsum", undefined, "none"),
  opt("laddr", "laddr", "z", "required"),
  opt("ifname", "ifname", "F", "required"),
  opt("json", "json", undefined, "none"),
  opt("toa", "toa", undefined, "none"),
];

const BY_LONG = new Map<string, OptDef>();
const BY_SHORT = new Map<string, OptDef>();
for (const d of OPTIONS) {
  if (d.long !== undefined && !BY_LONG.has(d.long)) BY_LONG.set(d.long, d);
  if (d.short !== undefined) BY_SHORT.set(d.short, d);
}
const SCHED_FLAGS = BY_LONG.get("sched-flags")!;
const FULLNAT = BY_LONG.get("fullnat")!;

export function lookupLong(name: string): OptDef | undefined {
  return BY_LONG.get(name);
}

/**
 * `-b` means two things: ipvsadm's `--sched-flags LIST` and DPVS's `--fullnat`. The command decides:
 * after -a/-e it is the forwarding method, everywhere else the scheduler flags.
 */
export function lookupShort(ch: string, command: CommandKey | undefined): OptDef | undefined {
  if (ch === "b") return command === "add-server" || command === "edit-server" ? FULLNAT : SCHED_FLAGS;
  return BY_SHORT.get(ch);
}
