import type { DaemonConfig, FwdMethodName, Protocol, TimeoutValues } from "../../control/api.js";
import type { LookupEnv } from "./address-parse.js";
import { CliExit, fail, type Output, tryHelp } from "./exit.js";
import { checkMatrix, checkTunnelMatrix } from "./matrix.js";
import { atoi, stringToNumber } from "./numbers.js";
import { type CommandKey, lookupLong, lookupShort, type OptDef } from "./option-table.js";
import { PoptScanner } from "./popt.js";
import { parseSchedFlags } from "./sched-flags-option.js";

/** Seconds: ipvsadm's default persistence timeout (IPVS_SVC_PERSISTENT_TIMEOUT) and --set limit. */
export const DEFAULT_PERSISTENT_TIMEOUT = 360;
export const MAX_TIMEOUT = 86400 * 31;
const SVC_F_PERSISTENT = 0x1;
const SVC_F_ONEPACKET = 0x4;
/** tslvs extension: FULLNAT sends the client's address in a TOA TCP option (core SVC_F_TOA). */
const SVC_F_TOA = 0x100;

export interface ListFormat {
  numeric: boolean;
  stats: boolean;
  rate: boolean;
  thresholds: boolean;
  persistentConn: boolean;
  nosort: boolean;
  exact: boolean;
  tunInfo: boolean;
  json: boolean;
}

export interface ServiceArgs {
  kind: "none" | "addr" | "fwmark";
  /** "" until -t/-u/--sctp-service/-f. Firewall-mark services use "tcp" internally, as ipvsadm. */
  protocol: Protocol | "";
  af: 0 | 4 | 6;
  addr: string;
  port: number;
  fwmark: number;
  scheduler: string;
  flags: number;
  timeout: number;
  /** IPv4 mask (dotted) or IPv6 prefix length (decimal text). */
  netmask: string;
  pe: string;
}

export interface DestArgs {
  af: 0 | 4 | 6;
  addr: string;
  port: number;
  method: FwdMethodName;
  weight: number;
  uThreshold: number;
  lThreshold: number;
  tunType: "ipip" | "gue" | "gre";
  tunPort: number;
  tunCsum: "nocsum" | "csum" | "remcsum";
}

/** A command line after parsing and every check ipvsadm makes before talking to IPVS. */
export interface ParsedCommand {
  command: CommandKey;
  /** Options given, by the names ipvsadm uses in its messages. */
  given: Set<string>;
  format: ListFormat;
  svc: ServiceArgs;
  dest: DestArgs;
  timeout: TimeoutValues;
  daemon: DaemonConfig;
  laddr: { addr: string; ifname: string };
}

/** Option key -> the name ipvsadm tracks it under ("multiple '...' options", the matrix). */
const TRACKED: Record<string, string> = {
  tcp: "service-address",
  udp: "service-address",
  sctp: "service-address",
  fwmark: "service-address",
  scheduler: "scheduler",
  persistent: "persistent",
  netmask: "netmask",
  "real-server": "real-server",
  masquerading: "forwarding-method",
  ipip: "forwarding-method",
  gatewaying: "forwarding-method",
  fullnat: "forwarding-method",
  weight: "weight",
  "u-threshold": "u-threshold",
  "l-threshold": "l-threshold",
  numeric: "numeric",
  connection: "connection",
  "mcast-interface": "mcast-interface",
  syncid: "syncid",
  timeout: "timeout",
  daemon: "daemon",
  stats: "stats",
  rate: "rate",
  thresholds: "thresholds",
  "persistent-conn": "persistent-conn",
  nosort: "nosort",
  exact: "exact",
  ops: "ops",
  pe: "pe",
  "sched-flags": "sched-flags",
  "mcast-group": "mcast-group",
  "mcast-port": "mcast-port",
  "mcast-ttl": "mcast-ttl",
  "sync-maxlen": "sync-maxlen",
  "tun-info": "tun-info",
  "tun-type": "tun-type",
  "tun-port": "tun-port",
  "tun-nocsum": "tun-nocsum",
  "tun-csum": "tun-csum",
  "tun-remcsum": "tun-remcsum",
  laddr: "local-address",
  ifname: "ifname",
  json: "json",
  toa: "toa",
};

const TUNNEL_OPTIONS = ["tun-type", "tun-port", "tun-nocsum", "tun-csum", "tun-remcsum"];

function newCommand(command: CommandKey): ParsedCommand {
  return {
    command,
    given: new Set(),
    format: {
      numeric: false,
      stats: false,
      rate: false,
      thresholds: false,
      persistentConn: false,
      nosort: false,
      exact: false,
      tunInfo: false,
      json: false,
    },
    svc: {
      kind: "none",
      protocol: "",
      af: 0,
      addr: "",
      port: 0,
      fwmark: 0,
      scheduler: "",
      flags: 0,
      timeout: 0,
      netmask: "255.255.255.255",
      pe: "",
    },
    dest: {
      af: 0,
      addr: "",
      port: 0,
      method: "route",
      weight: 1,
      uThreshold: 0,
      lThreshold: 0,
      tunType: "ipip",
      tunPort: 0,
      tunCsum: "nocsum",
    },
    timeout: { tcp: 0, tcpfin: 0, udp: 0 },
    daemon: {
      state: "master",
      mcastIfn: "",
      syncId: 0,
      syncMaxLen: 0,
      mcastGroup: "",
      mcastPort: 0,
      mcastTtl: 0,
    },
    laddr: { addr: "", ifname: "" },
  };
}

/**
 * Parses one command line (without argv[0]) the way ipvsadm's parse_options and process_options
 * do, up to the point where IPVS is called. Validation failures print and throw CliExit (2, or 255
 * for "Try ..."); -h/-v print and throw CliExit(0). A popt error prints `<word>: <error>` and
 * returns 255 without throwing: inside -R that line fails and the restore goes on, as in ipvsadm.
 */
export async function parseCommand(
  argv0: string,
  args: readonly string[],
  env: LookupEnv,
  o: Output,
): Promise<ParsedCommand | 255> {
  let command: CommandKey | undefined;
  const scanner = new PoptScanner(
    args,
    (ch) => lookupShort(ch, command),
    (name) => lookupLong(name),
  );

  const first = scanner.next();
  if (first.kind !== "opt" || !first.def.isCommand) tryHelp(o, argv0);
  command = first.def.key as CommandKey;
  if (command === "help" || command === "version") {
    const { helpText, VERSION_LINE } = await import("./help.js");
    o.print(command === "help" ? helpText(argv0) : `${VERSION_LINE}\n`);
    throw new CliExit(0);
  }
  const ce = newCommand(command);
  if (command === "start-daemon" || command === "stop-daemon") {
    const state = first.value;
    if (state === "master" || state === "backup") ce.daemon.state = state;
    else
      fail(
        o,
        2,
        command === "start-daemon"
          ? "illegal start-daemon parameter specified"
          : "illegal start_daemon specified",
      );
  }

  let schedFlagsText: string | undefined;
  for (;;) {
    const ev = scanner.next();
    if (ev.kind === "end") break;
    if (ev.kind === "error") {
      o.error(`${ev.word}: ${ev.message}`);
      return 255;
    }
    if (ev.def.isCommand) fail(o, 2, `invalid option \`${ev.word}'`);
    const flags = await applyOption(ce, ev.def, ev.value, env, o);
    if (flags !== undefined) schedFlagsText = flags;
  }

  // Positional values: only --set takes any.
  const rest = scanner.leftovers;
  let restIdx = 0;
  if (command === "set") {
    if (rest.length < 3) fail(o, 2, "--set option requires 3 timeout values");
    ce.timeout = {
      tcp: parseTimeout(o, rest[0]!, 0),
      tcpfin: parseTimeout(o, rest[1]!, 0),
      udp: parseTimeout(o, rest[2]!, 0),
    };
    restIdx = 3;
  }
  if (restIdx < rest.length) fail(o, 2, `unexpected argument ${rest[restIdx]}`);

  if (schedFlagsText !== undefined) {
    const r = parseSchedFlags(schedFlagsText, ce.svc.scheduler === "" ? "wlc" : ce.svc.scheduler);
    if (!r.ok) fail(o, 2, r.message);
    ce.svc.flags |= r.flags;
  }

  checkMatrix(o, command, ce.given);
  postChecks(ce, o);
  return ce;
}

function parseTimeout(o: Output, text: string, min: number): number {
  const v = stringToNumber(text, min, MAX_TIMEOUT);
  if (v === null) fail(o, 2, `invalid timeout value \`${text}' specified`);
  return v;
}

function track(ce: ParsedCommand, key: string, o: Output): void {
  const name = TRACKED[key];
  if (name === undefined) return;
  if (ce.given.has(name)) fail(o, 2, `multiple '${name}' options specified`);
  ce.given.add(name);
}

function servicesProto(svc: ServiceArgs): string {
  return svc.protocol;
}

/** Address parsing (and the IPv6 model it needs) loads only for options that carry addresses. */
const addressParsing = () => import("./address-parse.js");

/** One option, as ipvsadm's parse loop handles it. Returns the -b text (parsed after the loop). */
async function applyOption(
  ce: ParsedCommand,
  def: OptDef,
  value: string | undefined,
  env: LookupEnv,
  o: Output,
): Promise<string | undefined> {
  track(ce, def.key, o);
  const v = value ?? "";
  const svc = ce.svc;
  const dest = ce.dest;
  const f = ce.format;
  const range = (min: number, max: number, message: string): number => {
    const n = stringToNumber(v, min, max);
    if (n === null) fail(o, 2, message);
    return n;
  };
  switch (def.key) {
    case "tcp":
    case "udp":
    case "sctp": {
      svc.protocol = def.key;
      const a = await (await addressParsing()).parseServiceAddress(v, svc.protocol, env);
      if (!a) fail(o, 2, "illegal virtual server address[:port] specified");
      svc.kind = "addr";
      svc.af = a.af;
      svc.addr = a.addr;
      svc.port = a.port;
      if (a.af === 6) svc.netmask = "128";
      break;
    }
    case "fwmark": {
      const mark = stringToNumber(v, 1, 0xffffffff);
      if (mark === null) fail(o, 2, `invalid fwmark value \`${v}' specified`);
      svc.kind = "fwmark";
      svc.af = 4;
      svc.protocol = "tcp";
      svc.fwmark = mark;
      break;
    }
    case "scheduler":
      svc.scheduler = v.slice(0, 15);
      break;
    case "persistent":
      svc.flags |= SVC_F_PERSISTENT;
      svc.timeout = value === undefined ? DEFAULT_PERSISTENT_TIMEOUT : parseTimeout(o, v, 1);
      break;
    case "netmask":
      if (svc.af !== 6) {
        const m = await (await addressParsing()).parseV4Netmask(v, env);
        if (m === null) fail(o, 2, "illegal virtual server persistent mask specified");
        svc.netmask = m;
      } else {
        const p = atoi(v);
        if (p < 1 || p > 128) fail(o, 2, "illegal ipv6 netmask specified");
        svc.netmask = String(p);
      }
      break;
    case "real-server": {
      const a = await (await addressParsing()).parseServiceAddress(v, servicesProto(svc), env);
      if (!a) fail(o, 2, "illegal real server address[:port] specified");
      dest.af = a.af;
      dest.addr = a.addr;
      dest.port = a.hasPort ? a.port : svc.port;
      break;
    }
    case "masquerading":
      dest.method = "masq";
      break;
    case "ipip":
      dest.method = "tunnel";
      break;
    case "gatewaying":
      dest.method = "route";
      break;
    case "fullnat":
      dest.method = "fullnat";
      break;
    case "weight":
      // Debian's ipvsadm 1.31 accepts weights up to INT_MAX (upstream stops at 65535).
      dest.weight = range(0, 2147483647, "illegal weight specified");
      break;
    case "u-threshold":
      dest.uThreshold = range(0, 2147483647, "illegal u_threshold specified");
      break;
    case "l-threshold":
      dest.lThreshold = range(0, 2147483647, "illegal l_threshold specified");
      break;
    case "numeric":
      f.numeric = true;
      break;
    case "mcast-interface":
      ce.daemon.mcastIfn = v.slice(0, 15);
      break;
    case "syncid":
      ce.daemon.syncId = range(0, 255, "illegal syncid specified");
      break;
    case "stats":
      f.stats = true;
      break;
    case "rate":
      f.rate = true;
      break;
    case "thresholds":
      f.thresholds = true;
      break;
    case "persistent-conn":
      f.persistentConn = true;
      break;
    case "nosort":
      f.nosort = true;
      break;
    case "exact":
      f.exact = true;
      break;
    case "tun-info":
      f.tunInfo = true;
      break;
    case "json":
      f.json = true;
      break;
    case "ipv6":
      if (svc.fwmark === 0) fail(o, 2, "-6 used before -f\n");
      svc.af = 6;
      svc.netmask = "128";
      break;
    case "ops":
      svc.flags |= SVC_F_ONEPACKET;
      break;
    case "toa":
      svc.flags |= SVC_F_TOA;
      break;
    case "pe":
      svc.pe = v.slice(0, 15);
      break;
    case "sched-flags":
      return v;
    case "mcast-group": {
      const g = (await addressParsing()).parseMcastGroup(v);
      if (!g.ok) fail(o, 2, g.message);
      ce.daemon.mcastGroup = g.addr;
      break;
    }
    case "mcast-port":
      ce.daemon.mcastPort = range(1, 65535, "illegal mcast-port specified");
      break;
    case "mcast-ttl":
      ce.daemon.mcastTtl = range(1, 255, "illegal mcast-ttl specified");
      break;
    case "sync-maxlen":
      ce.daemon.syncMaxLen = range(1, 65507, "illegal sync-maxlen specified");
      break;
    case "tun-type":
      if (v !== "ipip" && v !== "gue" && v !== "gre") fail(o, 2, "illegal tunnel type specified");
      dest.tunType = v;
      break;
    case "tun-port":
      dest.tunPort = range(1, 65535, "illegal tunnel port specified");
      break;
    case "tun-nocsum":
      dest.tunCsum = "nocsum";
      break;
    case "tun-csum":
      dest.tunCsum = "csum";
      break;
    case "tun-remcsum":
      dest.tunCsum = "remcsum";
      break;
    case "laddr": {
      const a = await (await addressParsing()).parseServiceAddress(v, "", env);
      if (!a) fail(o, 2, "illegal local address");
      ce.laddr.addr = a.addr;
      break;
    }
    case "ifname":
      ce.laddr.ifname = v.slice(0, 15);
      break;
    default:
      // connection, timeout, daemon, sort: nothing beyond being recorded.
      break;
  }
  return undefined;
}

/** process_options' checks after the matrix, in ipvsadm's order. */
function postChecks(ce: ParsedCommand, o: Output): void {
  const { command, svc, dest, given } = ce;
  if (command === "add-service" || command === "edit-service") {
    if (svc.kind !== "fwmark" && svc.port === 0 && !(svc.flags & SVC_F_PERSISTENT))
      fail(o, 2, "Zero port specified for non-persistent service");
    if (svc.flags & SVC_F_ONEPACKET && svc.kind !== "fwmark" && svc.protocol !== "udp")
      fail(o, 2, "One-Packet Scheduling is only for UDP virtual services");
    if (svc.scheduler === "") svc.scheduler = "wlc";
  }
  if (command === "start-daemon" && ce.daemon.mcastIfn === "") ce.daemon.mcastIfn = "eth0";
  if (command === "add-server" || command === "edit-server") {
    // DR and tunnel servers answer on the virtual port, so ipvsadm forces it.
    if (svc.kind !== "fwmark" && (dest.method === "route" || dest.method === "tunnel")) dest.port = svc.port;
    if (dest.af !== svc.af && dest.method !== "tunnel")
      fail(o, 2, "Different address family is allowed only for tunneling servers");
    if (dest.method !== "tunnel" && TUNNEL_OPTIONS.some((t) => given.has(t)))
      fail(o, 2, "Tunnel options conflict with forward method");
    if (dest.method === "tunnel") checkTunnelMatrix(o, dest.tunType, given);
  }
  if (command === "list") {
    const g = (n: string) => given.has(n);
    if (
      ((g("connection") || g("timeout") || g("daemon")) && (g("stats") || g("rate") || g("thresholds"))) ||
      ((g("timeout") || g("daemon")) && g("persistent-conn"))
    )
      fail(o, 2, "options conflicts in the list command");
  }
}
