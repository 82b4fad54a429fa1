import { IpAddr } from "../../core/address.js";
import { IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP } from "../../core/flow.js";
import { type ServiceKey, type ServiceSpec, SVC_F_ONEPACKET, SVC_F_PERSISTENT } from "../../core/service.js";
import { keyText } from "../api-mapping.js";
import type { DesiredDest, DesiredService } from "../desired-state.js";
import { DEFAULT_DELAY_LOOP } from "../health/check-defaults.js";
import type { CheckerSpec, ScriptSpec, ServiceHealth } from "../health/check-spec.js";
import { type Inherited, resolveChecker } from "./checkers.js";
import type { Diags } from "./diagnostics.js";
import type { KeepalivedGlobals } from "./keepalived-config.js";
import type { Method, VsDraft } from "./virtual-server.js";
import type { GroupEntry } from "./vs-group.js";

/** What building the services needs besides the drafts. */
export interface BuildContext {
  diags: Diags;
  globals: KeepalivedGlobals;
  groups: ReadonlyMap<string, GroupEntry[]>;
  laddrGroups: ReadonlyMap<string, { addr: IpAddr; ifname: string }[]>;
  trackFiles: Inherited["trackFiles"];
}

const NAT: Method = { method: "masq", tunType: "ipip", tunPort: 0, tunCsum: "nocsum" };

/**
 * Turns the virtual servers as written into services, making keepalived's post-parse repairs
 * (spec A.8) with their warnings; a group expands into one service per entry.
 */
export function buildServices(drafts: VsDraft[], ctx: BuildContext): DesiredService[] {
  const out: DesiredService[] = [];
  const seen = new Map<string, VsDraft>();
  const groupUse = new Map<string, VsDraft>();
  for (const vs of drafts) {
    const d = ctx.diags;
    const name = vsName(vs);
    if (!vs.scheduler) {
      d.repair(vs.pos, `Virtual server ${name}: no scheduler set, setting default 'wlc'`);
      vs.scheduler = "wlc";
    }
    if (!vs.method) {
      d.repair(vs.pos, `Virtual server ${name}: no forwarding method set, setting default NAT`);
      vs.method = NAT;
    }
    let entries: GroupEntry[];
    if (vs.form.kind === "group") {
      const g = ctx.groups.get(vs.form.name);
      if (!g) {
        d.repair(vs.pos, `Virtual server group ${vs.form.name} does not exist - ignoring`);
        continue;
      }
      if (g.length === 0) continue;
      const useKey = `${vs.form.name}/${vs.protocol ?? "UDP"}`;
      if (groupUse.has(useKey)) {
        d.repair(
          vs.pos,
          `Virtual server group ${vs.form.name} is already used by another virtual server of this protocol - ignoring`,
        );
        continue;
      }
      groupUse.set(useKey, vs);
      entries = g;
    } else if (vs.form.kind === "fwmark") {
      entries = [{ kind: "fwmark", fwmark: vs.form.fwmark, pos: vs.pos }];
    } else {
      const addr = IpAddr.parse(vs.form.addr);
      if (!addr) {
        d.error(vs.pos, `invalid virtual server address '${vs.form.addr}' - ignoring`);
        continue;
      }
      entries = [{ kind: "addr", addr, port: vs.form.port, pos: vs.pos }];
    }
    const hasAddr = entries.some((e) => e.kind === "addr");
    const hasMark = entries.some((e) => e.kind === "fwmark");
    if (!vs.protocol && hasAddr) {
      d.repair(vs.pos, `Virtual server ${name}: no protocol set - defaulting to UDP`);
      vs.protocol = "UDP";
    }
    if (vs.protocol && !hasAddr && hasMark) {
      d.repair(
        vs.protocolPos ?? vs.pos,
        `Virtual server ${name}: protocol specified for fwmark service - ignoring`,
      );
    }
    if (vs.ops && vs.protocol !== "UDP") {
      d.repair(vs.pos, `Virtual server ${name}: one packet scheduling requires UDP - resetting`);
      vs.ops = false;
    }
    if (vs.haSuspend && hasMark) {
      d.repair(vs.pos, `Virtual server ${name}: ha_suspend is not valid with fwmark - clearing`);
      vs.haSuspend = false;
    }
    if (hasAddr && entries.some((e) => e.kind === "addr" && e.port === 0) && vs.persistence === undefined) {
      d.repair(vs.pos, `Virtual server ${name}: zero port only valid for persistent services - setting`);
      vs.persistence = 360;
    }
    if (vs.granularity !== undefined && vs.persistence === undefined) vs.persistence = 360;
    if (vs.rs.length === 0) {
      d.repair(vs.pos, `Virtual server ${name} has no real servers - ignoring`);
      continue;
    }
    const protocol =
      vs.protocol === "TCP" ? IPPROTO_TCP : vs.protocol === "SCTP" ? IPPROTO_SCTP : IPPROTO_UDP;
    // The real servers are shared by every entry; their ports follow each entry for DR/TUN.
    const first = entries[0]!;
    const family: 4 | 6 =
      first.kind === "addr" ? first.addr.family : (first.family ?? vs.family ?? familyOfRs(vs) ?? 4);
    const rsList = realServers(vs, ctx, family, entries);
    if (rsList.length === 0) {
      d.repair(vs.pos, `Virtual server ${name} has no real servers - ignoring`);
      continue;
    }
    const health = serviceHealth(vs, ctx, rsList);
    for (const e of entries) {
      const key: ServiceKey =
        e.kind === "addr"
          ? { kind: "addr", protocol, addr: e.addr, port: e.port }
          : { kind: "fwmark", fwmark: e.fwmark, family: e.family ?? family };
      const id = keyText(key);
      if (seen.has(id)) {
        d.repair(e.pos, `Virtual server ${id} is defined twice - ignoring the second`);
        continue;
      }
      seen.set(id, vs);
      const persistent = vs.persistence !== undefined || (e.kind === "addr" && e.port === 0);
      const fam = key.kind === "addr" ? key.addr.family : key.family;
      const spec: ServiceSpec = {
        key,
        scheduler: vs.scheduler,
        flags: (persistent ? SVC_F_PERSISTENT : 0) | (vs.ops ? SVC_F_ONEPACKET : 0) | vs.schedFlags,
        timeout: persistent ? (vs.persistence ?? 360) : 0,
        netmask: granularity(vs, fam, ctx.diags),
        pe: vs.pe ?? "",
      };
      const servicePort = e.kind === "addr" ? e.port : 0;
      const dests: DesiredDest[] = rsList.map((r) => {
        const tunnelled = r.dest.method === "route" || r.dest.method === "tunnel";
        return { ...r.dest, port: tunnelled ? servicePort : r.dest.port };
      });
      const laddrs = vs.laddrGroup ? [...(ctx.laddrGroups.get(vs.laddrGroup) ?? [])] : [];
      if (vs.laddrGroup && !ctx.laddrGroups.has(vs.laddrGroup))
        d.repair(vs.pos, `local_address_group ${vs.laddrGroup} does not exist - ignoring`);
      out.push({
        spec,
        dests,
        laddrs,
        line: vs.pos.line,
        health: { ...health, ...(vs.form.kind === "group" ? { group: vs.form.name } : {}) },
      });
    }
  }
  return out;
}

function vsName(vs: VsDraft): string {
  if (vs.form.kind === "group") return `group ${vs.form.name}`;
  if (vs.form.kind === "fwmark") return `FWM ${vs.form.fwmark}`;
  const a = vs.form.addr.includes(":") ? `[${vs.form.addr}]` : vs.form.addr;
  return `${a}:${vs.form.port}`;
}

function familyOfRs(vs: VsDraft): 4 | 6 | undefined {
  const a = vs.rs.length ? IpAddr.parse(vs.rs[0]!.addr) : null;
  return a?.family;
}

function granularity(vs: VsDraft, family: 4 | 6, d: Diags): number {
  const full = family === 4 ? 0xffffffff : 128;
  const g = vs.granularity;
  if (g === undefined) return full;
  if (family === 4) {
    const m = IpAddr.parse(g);
    if (m?.family === 4) return m.v4Value;
  } else if (/^[0-9]{1,3}$/.test(g) && Number(g) >= 1 && Number(g) <= 128) return Number(g);
  d.repair(vs.pos, `persistence_granularity '${g}' is invalid - ignoring`);
  return full;
}

interface BuiltRs {
  dest: DesiredDest;
  inhibit: boolean;
}

function realServers(vs: VsDraft, ctx: BuildContext, family: 4 | 6, entries: GroupEntry[]): BuiltRs[] {
  const d = ctx.diags;
  const out: BuiltRs[] = [];
  const seen = new Set<string>();
  const firstEntry = entries[0]!;
  const isMark = firstEntry.kind === "fwmark";
  const vsPort = firstEntry.kind === "addr" ? firstEntry.port : 0;
  const vsDelayLoop = vs.timing.delayLoop ?? DEFAULT_DELAY_LOOP;
  for (const rs of vs.rs) {
    const addr = IpAddr.parse(rs.addr);
    if (!addr) {
      d.error(rs.pos, `invalid real server address '${rs.addr}' - ignoring`);
      continue;
    }
    const m = rs.method ?? vs.method ?? NAT;
    let port = rs.port ?? vsPort;
    const tunnelled = m.method === "route" || m.method === "tunnel";
    if (tunnelled && rs.port !== undefined && rs.port !== 0) {
      if (isMark) {
        d.repair(
          rs.pos,
          `Real server ${rs.addr}:${rs.port}: port is ignored for a fwmark ${m.method === "route" ? "DR" : "TUN"} service`,
        );
        port = 0;
      } else if (entries.some((e) => e.kind === "addr" && e.port !== rs.port)) {
        d.repair(
          rs.pos,
          `Real server ${rs.addr}:${rs.port}: port differs from the virtual server's for ${m.method === "route" ? "DR" : "TUN"} - resetting`,
        );
        port = vsPort;
      }
    }
    if (tunnelled && isMark) port = 0;
    if (addr.family !== family && m.method !== "tunnel") {
      d.repair(
        rs.pos,
        `Real server ${rs.addr}: address family does not match the virtual server's - ignoring`,
      );
      continue;
    }
    const id = `${addr}/${port}`;
    if (seen.has(id)) {
      d.repair(rs.pos, `Real server ${rs.addr}:${port} is a duplicate - ignoring`);
      continue;
    }
    seen.add(id);
    const checkers: CheckerSpec[] = [];
    for (const c of rs.checkers) {
      const r = resolveChecker(c, {
        rs: rs.timing,
        vs: vs.timing,
        vsDelayLoop,
        rsAddr: addr.toString(),
        rsPort: port,
        globalLogAllFailures: ctx.globals.checkerLogAllFailures,
        trackFiles: ctx.trackFiles,
      });
      if ("error" in r) d.repair(c.pos, r.error);
      else {
        if (r.probe.kind === "MISC_CHECK") r.probe.script = withUser(r.probe.script, ctx.globals);
        checkers.push(r);
      }
    }
    const dest: DesiredDest = {
      addr,
      port,
      method: m.method,
      weight: rs.weight ?? vs.weight,
      uThreshold: rs.uThreshold,
      lThreshold: rs.lThreshold,
      tunType: m.tunType,
      tunPort: m.tunPort,
      tunCsum: m.tunCsum,
      health: {
        checkers,
        inhibitOnFailure: rs.inhibit ?? vs.inhibit,
        ...(rs.notifyUp ? { notifyUp: withUser(rs.notifyUp, ctx.globals) } : {}),
        ...(rs.notifyDown ? { notifyDown: withUser(rs.notifyDown, ctx.globals) } : {}),
      },
    };
    out.push({ dest, inhibit: rs.inhibit ?? vs.inhibit });
  }
  return out;
}

function serviceHealth(vs: VsDraft, ctx: BuildContext, rs: BuiltRs[]): ServiceHealth {
  const d = ctx.diags;
  const total = rs.reduce((s, r) => s + r.dest.weight, 0);
  let quorum = vs.quorum;
  let hysteresis = vs.hysteresis;
  if (quorum > total) {
    d.repair(
      vs.pos,
      `Virtual server ${vsName(vs)}: quorum ${quorum} is greater than the total weight ${total} - setting to ${total}`,
    );
    quorum = total;
  }
  if (hysteresis >= quorum && hysteresis > 0) {
    // keepalived wraps to 2^32-1 when the quorum is 0; a hysteresis cannot be negative here.
    const h = Math.max(0, quorum - 1);
    d.repair(
      vs.pos,
      `Virtual server ${vsName(vs)}: hysteresis ${hysteresis} >= quorum ${quorum} - setting to ${h}`,
    );
    hysteresis = h;
  }
  const health: ServiceHealth = {
    quorum,
    hysteresis,
    omega: vs.omega,
    haSuspend: vs.haSuspend,
    ...(vs.sensor === false ? { sensor: false } : {}),
    ...(vs.quorumUp ? { quorumUp: withUser(vs.quorumUp, ctx.globals) } : {}),
    ...(vs.quorumDown ? { quorumDown: withUser(vs.quorumDown, ctx.globals) } : {}),
  };
  if (vs.sorry) {
    const addr = IpAddr.parse(vs.sorry.addr);
    if (!addr) d.error(vs.pos, `invalid sorry_server address '${vs.sorry.addr}' - ignoring`);
    else {
      const first = vs.form.kind === "addr" ? vs.form.port : 0;
      const port = vs.sorry.port ?? first;
      let inhibit = vs.sorryInhibit;
      const same = rs.find((r) => r.dest.addr.equals(addr) && r.dest.port === port);
      if (same && same.inhibit !== inhibit) {
        d.repair(
          vs.pos,
          `Virtual server ${vsName(vs)}: sorry server is also a real server with a different inhibit setting - using the real server's`,
        );
        inhibit = same.inhibit;
      }
      health.sorryServer = {
        addr: addr.toString(),
        port,
        method: (vs.sorryMethod ?? vs.method ?? NAT).method as "masq" | "route" | "tunnel" | "fullnat",
        inhibit,
      };
    }
  }
  return health;
}

/** The script's own user, else the global script_user. */
function withUser(s: ScriptSpec, g: KeepalivedGlobals): ScriptSpec {
  if (s.user !== undefined || !g.scriptUser) return s;
  return {
    ...s,
    user: g.scriptUser.user,
    ...(g.scriptUser.group !== undefined ? { group: g.scriptUser.group } : {}),
  };
}
