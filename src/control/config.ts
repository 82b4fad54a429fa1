import { readFileSync } from "node:fs";
import { isMap, isScalar, isSeq, LineCounter, type Node, type Pair, parseDocument, type YAMLMap } from "yaml";
import { IpAddr, parseHostPort } from "../core/address.js";
import type { DestSpec, FwdMethod, TunCsum, TunType } from "../core/dest.js";
import { IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP } from "../core/flow.js";
import { schedFlagBit, schedFlagNames } from "../core/sched-flags.js";
import {
  type ServiceKey,
  type ServiceSpec,
  SVC_F_ONEPACKET,
  SVC_F_PERSISTENT,
  SVC_F_TOA,
} from "../core/service.js";
import type { DaemonConfig, TimeoutValues } from "./api.js";
import { familyOfKey, hostPort, keyText, netmaskText, protocolName } from "./api-mapping.js";
import { dumpFwmarks, readFwmarks } from "./config-fwmarks.js";
import { readHealth, SERVER_HEALTH_KEYS, type ServerItem } from "./config-health.js";
import type { DesiredDest, DesiredService, DesiredState } from "./desired-state.js";

/**
 * The declarative configuration file (YAML): services with their real servers and FULLNAT local
 * addresses, timeouts, sysctls and sync daemons — the content of `tslvsadm -S` plus what -S leaves
 * out (thresholds, timeouts). The same format is the daemon's state file. Parsing checks everything
 * ipvsadm checks before it talks to the kernel, and refuses the whole file with `file:line: reason`
 * at the first problem. See docs/configuration.md.
 */

export class ConfigError extends Error {
  constructor(
    readonly file: string,
    readonly line: number,
    readonly reason: string,
  ) {
    super(line > 0 ? `${file}:${line}: ${reason}` : `${file}: ${reason}`);
    this.name = "ConfigError";
  }
}

/** Persistence timeout when `persistent: true` (ipvsadm's -p without a value). */
export const DEFAULT_PERSISTENT_TIMEOUT = 360;
const MAX_TIMEOUT = 2678400;
const INT_MAX = 2147483647;
const METHODS: readonly FwdMethod[] = ["masq", "route", "tunnel", "fullnat", "local"];
const TUN_TYPES: readonly TunType[] = ["ipip", "gue", "gre"];
const TUN_CSUMS: readonly TunCsum[] = ["nocsum", "csum", "remcsum"];

export function loadConfig(file: string): DesiredState {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    throw new ConfigError(file, 0, `cannot read: ${(e as Error).message}`);
  }
  return parseConfig(text, file);
}

export function parseConfig(text: string, file: string): DesiredState {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true });
  const first = doc.errors[0];
  if (first) throw new ConfigError(file, lc.linePos(first.pos[0]).line, first.message.split("\n")[0]!);
  return new Reader(file, lc).top(doc.contents);
}

/** A key's value and the line of the key. */
export interface Field {
  node: Node | null;
  keyLine: number;
}
export type Fields = Map<string, Field>;

/** Reads values with `file:line` errors; shared with the health-check reader (config-health.ts). */
export class Reader {
  constructor(
    private readonly file: string,
    private readonly lc: LineCounter,
  ) {}

  line(node: Node | null | undefined): number {
    const start = node?.range?.[0];
    return start === undefined ? 0 : this.lc.linePos(start).line;
  }

  fail(line: number, reason: string): never {
    throw new ConfigError(this.file, line, reason);
  }

  /** A map's entries by key, refusing keys not in `allowed` (null: any key). */
  fields(node: Node | null, line: number, what: string, allowed: readonly string[] | null): Fields {
    if (!isMap(node)) this.fail(this.line(node) || line, `${what} must be a mapping (key: value lines)`);
    const out: Fields = new Map();
    for (const pair of (node as YAMLMap).items as Pair<Node, Node | null>[]) {
      const keyLine = this.line(pair.key);
      const key = isScalar(pair.key) ? String(pair.key.value) : null;
      if (key === null) this.fail(keyLine, `${what} has a key that is not text`);
      if (allowed && !allowed.includes(key))
        this.fail(keyLine, `unknown key ${JSON.stringify(key)} in ${what} (known: ${allowed.join(", ")})`);
      if (out.has(key)) this.fail(keyLine, `${key} is given twice in ${what}`);
      out.set(key, { node: pair.value, keyLine });
    }
    return out;
  }

  scalar(f: { node: Node | null; keyLine: number }, what: string): unknown {
    if (!isScalar(f.node)) this.fail(this.line(f.node) || f.keyLine, `${what} needs a single value`);
    return f.node.value;
  }

  int(f: { node: Node | null; keyLine: number }, min: number, max: number, what: string): number {
    const v = this.scalar(f, what);
    if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max)
      this.fail(
        this.line(f.node) || f.keyLine,
        `${what} must be an integer in ${min}..${max}, not ${show(v)}`,
      );
    return v;
  }

  /** A list of two non-negative integers. */
  pair(f: { node: Node | null; keyLine: number }, what: string): readonly [number, number] {
    const items = this.list(f, what);
    if (items.length !== 2) this.fail(this.line(f.node) || f.keyLine, `${what} must be two integers [a, b]`);
    const line = this.line(f.node) || f.keyLine;
    return [
      this.int({ node: items[0]!, keyLine: line }, 0, INT_MAX, what),
      this.int({ node: items[1]!, keyLine: line }, 0, INT_MAX, what),
    ];
  }

  str(f: { node: Node | null; keyLine: number }, what: string): string {
    const v = this.scalar(f, what);
    if (typeof v !== "string" || v === "")
      this.fail(this.line(f.node) || f.keyLine, `${what} must be text, not ${show(v)}`);
    return v;
  }

  choice<T extends string>(
    f: { node: Node | null; keyLine: number },
    allowed: readonly T[],
    what: string,
  ): T {
    const v = this.scalar(f, what);
    if (typeof v !== "string" || !(allowed as readonly string[]).includes(v))
      this.fail(
        this.line(f.node) || f.keyLine,
        `${what} must be one of ${allowed.join(", ")}, not ${show(v)}`,
      );
    return v as T;
  }

  list(f: { node: Node | null; keyLine: number }, what: string): Node[] {
    if (f.node === null || (isScalar(f.node) && f.node.value === null)) return [];
    if (!isSeq(f.node)) this.fail(this.line(f.node) || f.keyLine, `${what} must be a list ("- " items)`);
    return f.node.items as Node[];
  }

  top(root: Node | null): DesiredState {
    const state: DesiredState = {
      timeouts: null,
      sysctls: {},
      syncDaemons: [],
      services: [],
      sysctlLines: {},
    };
    if (root === null || (isScalar(root) && root.value === null)) return state;
    const f = this.fields(root, 1, "the configuration", [
      "version",
      "timeouts",
      "sysctls",
      "sync-daemons",
      "services",
      "fwmarks",
    ]);
    const version = f.get("version");
    if (version && this.int(version, 1, 1, "version") !== 1)
      this.fail(version.keyLine, "unsupported version");
    const t = f.get("timeouts");
    if (t) state.timeouts = this.timeouts(t);
    const s = f.get("sysctls");
    if (s && s.node !== null) {
      // Names are checked against the director's sysctls when the state is applied.
      for (const [name, v] of this.fields(s.node, s.keyLine, "sysctls", null)) {
        if (!/^[a-z_0-9]+$/.test(name)) this.fail(v.keyLine, `not a sysctl name: ${JSON.stringify(name)}`);
        // A pair (sync_threshold) is a two-item list: [threshold, period].
        state.sysctls[name] = isSeq(v.node)
          ? this.pair(v, `sysctl ${name}`)
          : this.int(v, -INT_MAX - 1, INT_MAX, `sysctl ${name}`);
        state.sysctlLines![name] = v.keyLine;
      }
    }
    const d = f.get("sync-daemons");
    if (d) {
      for (const item of this.list(d, "sync-daemons")) {
        const cfg = this.syncDaemon(item, d.keyLine);
        if (state.syncDaemons.some((x) => x.state === cfg.state))
          this.fail(this.line(item), `a second ${cfg.state} sync daemon`);
        state.syncDaemons.push(cfg);
      }
    }
    const marks = f.get("fwmarks");
    if (marks) state.fwmarks = readFwmarks(this, marks);
    const svcs = f.get("services");
    if (svcs) {
      const seen = new Map<string, number>();
      for (const item of this.list(svcs, "services")) {
        const svc = this.service(item, svcs.keyLine);
        const id = keyText(svc.spec.key);
        const before = seen.get(id);
        if (before !== undefined) this.fail(svc.line!, `service ${id} is already defined at line ${before}`);
        seen.set(id, svc.line!);
        state.services.push(svc);
      }
    }
    return state;
  }

  timeouts(t: { node: Node | null; keyLine: number }): TimeoutValues {
    const f = this.fields(t.node, t.keyLine, "timeouts", ["tcp", "tcpfin", "udp"]);
    const get = (k: "tcp" | "tcpfin" | "udp", def: number) => {
      const v = f.get(k);
      return v ? this.int(v, 1, MAX_TIMEOUT, `${k} timeout`) : def;
    };
    return { tcp: get("tcp", 900), tcpfin: get("tcpfin", 120), udp: get("udp", 300) };
  }

  syncDaemon(node: Node, listLine: number): DaemonConfig {
    const line = this.line(node) || listLine;
    const f = this.fields(node, line, "a sync daemon", [
      "state",
      "interface",
      "syncid",
      "maxlen",
      "group",
      "port",
      "ttl",
    ]);
    const state = f.get("state");
    if (!state) this.fail(line, "a sync daemon needs state: master or backup");
    const opt = (k: string, min: number, max: number) => {
      const v = f.get(k);
      return v ? this.int(v, min, max, k) : 0;
    };
    const group = f.get("group");
    let mcastGroup = "";
    if (group) {
      mcastGroup = this.str(group, "group");
      const a = IpAddr.parse(mcastGroup);
      if (!a || !(a.family === 4 ? a.v4Value >>> 28 === 0xe : a.words[0]! >>> 24 === 0xff))
        this.fail(group.keyLine, `group must be a multicast address, not ${show(mcastGroup)}`);
    }
    const ifn = f.get("interface");
    const mcastIfn = ifn ? this.str(ifn, "interface") : "eth0";
    if (mcastIfn.length > 15) this.fail(ifn!.keyLine, "interface names are at most 15 characters");
    return {
      state: this.choice(state, ["master", "backup"] as const, "state"),
      mcastIfn,
      syncId: opt("syncid", 0, 255),
      syncMaxLen: opt("maxlen", 1, 65507),
      mcastGroup,
      mcastPort: opt("port", 1, 65535),
      mcastTtl: opt("ttl", 1, 255),
    };
  }

  service(node: Node, listLine: number): DesiredService {
    const line = this.line(node) || listLine;
    const f = this.fields(node, line, "a service", [
      "tcp",
      "udp",
      "sctp",
      "fwmark",
      "family",
      "scheduler",
      "persistent",
      "netmask",
      "pe",
      "ops",
      "toa",
      "sched-flags",
      "local-addresses",
      "servers",
      "health",
    ]);
    const kinds = ["tcp", "udp", "sctp", "fwmark"].filter((k) => f.has(k));
    if (kinds.length !== 1) this.fail(line, "a service needs exactly one of tcp:, udp:, sctp: or fwmark:");
    const kind = kinds[0]!;
    const kf = f.get(kind)!;
    let key: ServiceKey;
    if (kind === "fwmark") {
      const fam = f.get("family");
      const family = fam ? (this.choice(fam, ["ipv4", "ipv6"] as const, "family") === "ipv6" ? 6 : 4) : 4;
      key = { kind: "fwmark", fwmark: this.int(kf, 1, 0xffffffff, "fwmark"), family };
    } else {
      if (f.has("family"))
        this.fail(f.get("family")!.keyLine, "family: is only for fwmark services (the address says it)");
      const text = this.str(kf, `${kind} service address`);
      const hp = parseHostPort(text);
      if (!hp || hp.port === null)
        this.fail(kf.keyLine, `${kind}: must be address:port ([address]:port for IPv6), not ${show(text)}`);
      const protocol = kind === "tcp" ? IPPROTO_TCP : kind === "udp" ? IPPROTO_UDP : IPPROTO_SCTP;
      key = { kind: "addr", protocol, addr: hp.addr, port: hp.port };
    }
    const family = familyOfKey(key);
    const sched = f.get("scheduler");
    const scheduler = sched ? this.str(sched, "scheduler") : "wlc";
    if (scheduler.length > 15) this.fail(sched!.keyLine, "scheduler names are at most 15 characters");
    let flags = 0;
    let timeout = 0;
    const p = f.get("persistent");
    if (p) {
      const v = this.scalar(p, "persistent");
      if (v === true) timeout = DEFAULT_PERSISTENT_TIMEOUT;
      else if (v !== false) timeout = this.int(p, 1, MAX_TIMEOUT, "persistent (timeout in seconds)");
      if (timeout) flags |= SVC_F_PERSISTENT;
    }
    let netmask = family === 4 ? 0xffffffff : 128;
    const nm = f.get("netmask");
    if (nm) {
      const v = this.scalar(nm, "netmask");
      if (family === 4) {
        const m = typeof v === "string" ? IpAddr.parse(v) : null;
        if (m?.family !== 4) this.fail(nm.keyLine, `an IPv4 netmask is a dotted quad, not ${show(v)}`);
        netmask = m.v4Value;
      } else {
        netmask = this.int(nm, 1, 128, "an IPv6 netmask (prefix length)");
      }
    }
    const pe = f.get("pe") ? this.str(f.get("pe")!, "pe") : "";
    if (pe.length > 15) this.fail(f.get("pe")!.keyLine, "persistence engine names are at most 15 characters");
    const ops = f.get("ops");
    if (ops) {
      const v = this.scalar(ops, "ops");
      if (typeof v !== "boolean") this.fail(ops.keyLine, `ops must be true or false, not ${show(v)}`);
      if (v) {
        if (key.kind === "addr" && key.protocol !== IPPROTO_UDP)
          this.fail(ops.keyLine, "One-Packet Scheduling is only for UDP virtual services");
        flags |= SVC_F_ONEPACKET;
      }
    }
    const toa = f.get("toa");
    if (toa) {
      const v = this.scalar(toa, "toa");
      if (typeof v !== "boolean") this.fail(toa.keyLine, `toa must be true or false, not ${show(v)}`);
      if (v) flags |= SVC_F_TOA;
    }
    const sf = f.get("sched-flags");
    if (sf) flags |= this.schedFlags(sf, scheduler);
    if (key.kind === "addr" && key.port === 0 && !(flags & SVC_F_PERSISTENT))
      this.fail(kf.keyLine, "Zero port specified for non-persistent service");
    const spec: ServiceSpec = { key, scheduler, flags, timeout, netmask, pe };

    const laddrs: DesiredService["laddrs"] = [];
    const la = f.get("local-addresses");
    if (la) {
      for (const item of this.list(la, "local-addresses")) {
        const il = this.line(item) || la.keyLine;
        const lf = this.fields(item, il, "a local address", ["address", "interface"]);
        const a = lf.get("address");
        const i = lf.get("interface");
        if (!a || !i) this.fail(il, "a local address needs address: and interface:");
        const addr = IpAddr.parse(this.str(a, "address"));
        if (!addr)
          this.fail(a.keyLine, `not an IP address: ${show(a.node && isScalar(a.node) ? a.node.value : "")}`);
        const ifname = this.str(i, "interface");
        if (ifname.length > 15) this.fail(i.keyLine, "interface names are at most 15 characters");
        if (laddrs.some((x) => x.addr.equals(addr))) this.fail(il, `local address ${addr} is listed twice`);
        laddrs.push({ addr, ifname });
      }
    }
    const dests: DesiredDest[] = [];
    const items: ServerItem[] = [];
    const servers = f.get("servers");
    if (servers) {
      const seen = new Map<string, number>();
      for (const item of this.list(servers, "servers")) {
        const d = this.dest(item, servers.keyLine, key);
        const id = hostPort(d.addr, d.port);
        const il = this.line(item) || servers.keyLine;
        if (seen.has(id)) this.fail(il, `real server ${id} is already listed at line ${seen.get(id)}`);
        seen.set(id, il);
        dests.push(d);
        items.push({ node: item, line: il, dest: d });
      }
    }
    // Health settings fill in `health` on the dests; absent everywhere: the service is not checked.
    const health = readHealth(this, f.get("health"), items, key);
    return { spec, dests, laddrs, line, ...(health ? { health } : {}) };
  }

  schedFlags(f: { node: Node | null; keyLine: number }, scheduler: string): number {
    const names: { name: unknown; line: number }[] = isSeq(f.node)
      ? (f.node.items as Node[]).map((n) => ({ name: isScalar(n) ? n.value : null, line: this.line(n) }))
      : [{ name: this.scalar(f, "sched-flags"), line: f.keyLine }];
    let flags = 0;
    for (const { name, line } of names) {
      const bit = schedFlagBit(String(name), scheduler);
      if (bit === null) this.fail(line, `invalid scheduler flag ${show(name)}`);
      if (bit === 0) this.fail(line, `incompatible scheduler flag ${show(name)} (scheduler ${scheduler})`);
      flags |= bit;
    }
    return flags;
  }

  dest(node: Node, listLine: number, svc: ServiceKey): DestSpec {
    const line = this.line(node) || listLine;
    const f = this.fields(node, line, "a real server", [
      "address",
      "method",
      "weight",
      "u-threshold",
      "l-threshold",
      "tunnel",
      ...SERVER_HEALTH_KEYS,
    ]);
    const a = f.get("address");
    if (!a) this.fail(line, "a real server needs address:");
    const text = this.str(a, "address");
    const hp = parseHostPort(text);
    if (!hp)
      this.fail(a.keyLine, `address must be address[:port] ([address]:port for IPv6), not ${show(text)}`);
    const m = f.get("method");
    const method = m ? this.choice(m, METHODS, "method") : "route";
    const svcPort = svc.kind === "addr" ? svc.port : 0;
    let port = hp.port ?? svcPort;
    if (svc.kind === "addr" && (method === "route" || method === "tunnel")) {
      if (hp.port !== null && hp.port !== svcPort)
        this.fail(
          a.keyLine,
          `a ${method} server receives the service port ${svcPort}: write ${hostPort(hp.addr, svcPort)}`,
        );
      port = svcPort;
    }
    if (hp.addr.family !== familyOfKey(svc) && method !== "tunnel")
      this.fail(a.keyLine, "Different address family is allowed only for tunneling servers");
    const w = f.get("weight");
    const u = f.get("u-threshold");
    const l = f.get("l-threshold");
    const uThreshold = u ? this.int(u, 0, INT_MAX, "u-threshold") : 0;
    const lThreshold = l ? this.int(l, 0, INT_MAX, "l-threshold") : 0;
    if (lThreshold > uThreshold)
      this.fail((l ?? u)!.keyLine, `l-threshold ${lThreshold} is above u-threshold ${uThreshold}`);
    const spec: DestSpec = {
      addr: hp.addr,
      port,
      method,
      weight: w ? this.int(w, 0, INT_MAX, "weight") : 1,
      uThreshold,
      lThreshold,
      tunType: "ipip",
      tunPort: 0,
      tunCsum: "nocsum",
    };
    const t = f.get("tunnel");
    if (t) {
      if (method !== "tunnel") this.fail(t.keyLine, "Tunnel options conflict with forward method");
      const tf = this.fields(t.node, t.keyLine, "tunnel", ["type", "port", "csum"]);
      const type = tf.get("type");
      const tport = tf.get("port");
      const csum = tf.get("csum");
      spec.tunType = type ? this.choice(type, TUN_TYPES, "tunnel type") : "ipip";
      if (tport) spec.tunPort = this.int(tport, 1, 65535, "tunnel port");
      if (csum) spec.tunCsum = this.choice(csum, TUN_CSUMS, "tunnel csum");
      if (spec.tunType === "ipip" && (tport || csum))
        this.fail((tport ?? csum)!.keyLine, "an ipip tunnel takes no port or csum option");
      if (spec.tunType === "gre" && tport) this.fail(tport.keyLine, "a gre tunnel takes no port option");
      if (spec.tunType === "gre" && spec.tunCsum === "remcsum")
        this.fail(csum!.keyLine, "a gre tunnel takes csum nocsum or csum, not remcsum");
      if (spec.tunType === "gue" && !tport) this.fail(t.keyLine, "a gue tunnel needs a port option");
    }
    return spec;
  }
}

function show(v: unknown): string {
  return typeof v === "string" ? JSON.stringify(v) : String(v);
}

/**
 * The state as a configuration file (the daemon's state file). Parsing it gives the same state
 * back, health checks excepted: they are left out on purpose. The state file is written only in
 * state mode, where nothing is health-checked (checks come from --config or --keepalived-conf,
 * and a snapshot of the director has none); writing them would make a restored state file start
 * checkers the operator never asked that mode for. Emitted by hand rather than through the yaml
 * library: the state file is rewritten after changes, and at 100,000 real servers the library's
 * generic stringify takes seconds.
 */
export function dumpConfig(state: DesiredState, header = ""): string {
  const out: string[] = [header, "version: 1\n"];
  if (state.timeouts) {
    const t = state.timeouts;
    out.push(`timeouts:\n  tcp: ${t.tcp}\n  tcpfin: ${t.tcpfin}\n  udp: ${t.udp}\n`);
  }
  const sysctls = Object.entries(state.sysctls);
  if (sysctls.length) {
    out.push("sysctls:\n");
    for (const [name, v] of sysctls)
      out.push(`  ${scalar(name)}: ${typeof v === "number" ? v : `[${v[0]}, ${v[1]}]`}\n`);
  }
  if (state.syncDaemons.length) {
    out.push("sync-daemons:\n");
    for (const d of state.syncDaemons) {
      out.push(`  - state: ${d.state}\n    interface: ${scalar(d.mcastIfn)}\n    syncid: ${d.syncId}\n`);
      if (d.syncMaxLen) out.push(`    maxlen: ${d.syncMaxLen}\n`);
      if (d.mcastGroup) out.push(`    group: ${scalar(d.mcastGroup)}\n`);
      if (d.mcastPort) out.push(`    port: ${d.mcastPort}\n`);
      if (d.mcastTtl) out.push(`    ttl: ${d.mcastTtl}\n`);
    }
  }
  dumpFwmarks(state.fwmarks ?? [], out);
  out.push(state.services.length ? "services:\n" : "services: []\n");
  for (const s of state.services) dumpService(s, out);
  return out.join("");
}

function dumpService(s: DesiredService, out: string[]): void {
  const { key, flags } = s.spec;
  if (key.kind === "fwmark") {
    out.push(`  - fwmark: ${key.fwmark}\n`);
    if (key.family === 6) out.push("    family: ipv6\n");
  } else {
    out.push(`  - ${protocolName(key.protocol) ?? "tcp"}: ${scalar(hostPort(key.addr, key.port))}\n`);
  }
  out.push(`    scheduler: ${scalar(s.spec.scheduler)}\n`);
  if (flags & SVC_F_PERSISTENT) out.push(`    persistent: ${s.spec.timeout}\n`);
  const family = familyOfKey(key);
  if (s.spec.netmask !== (family === 4 ? 0xffffffff : 128))
    out.push(`    netmask: ${family === 4 ? netmaskText(s.spec.netmask, 4) : s.spec.netmask}\n`);
  if (s.spec.pe) out.push(`    pe: ${scalar(s.spec.pe)}\n`);
  if (flags & SVC_F_ONEPACKET) out.push("    ops: true\n");
  if (flags & SVC_F_TOA) out.push("    toa: true\n");
  const sf = schedFlagNames(flags, s.spec.scheduler);
  if (sf.length) out.push(`    sched-flags:\n${sf.map((f) => `      - ${f}\n`).join("")}`);
  if (s.laddrs.length) {
    out.push("    local-addresses:\n");
    for (const l of s.laddrs)
      out.push(`      - address: ${scalar(l.addr.toString())}\n        interface: ${scalar(l.ifname)}\n`);
  }
  out.push(s.dests.length ? "    servers:\n" : "    servers: []\n");
  for (const d of s.dests) {
    out.push(
      `      - address: ${scalar(hostPort(d.addr, d.port))}\n        method: ${d.method}\n        weight: ${d.weight}\n`,
    );
    if (d.uThreshold) out.push(`        u-threshold: ${d.uThreshold}\n`);
    if (d.lThreshold) out.push(`        l-threshold: ${d.lThreshold}\n`);
    if (d.method === "tunnel" && (d.tunType !== "ipip" || d.tunPort || d.tunCsum !== "nocsum")) {
      out.push(`        tunnel:\n          type: ${d.tunType}\n`);
      if (d.tunPort) out.push(`          port: ${d.tunPort}\n`);
      if (d.tunType !== "ipip") out.push(`          csum: ${d.tunCsum}\n`);
    }
  }
}

/** A YAML scalar for text: plain when it cannot be read as anything but that text, else double-quoted. */
function scalar(text: string): string {
  const plain = /^[A-Za-z_][A-Za-z0-9_.-]*$/.test(text) || /^\d{1,3}(\.\d{1,3}){3}(:\d{1,5})?$/.test(text);
  if (plain && !/^(true|false|null|yes|no|on|off|y|n|~)$/i.test(text)) return text;
  return JSON.stringify(text);
}
