/**
 * Connections as lists: `ipvsadm -Lc` entries (whole or from a record on), and the restart handover's
 * export and import of the table with the counters (conn-snapshot.ts holds the records' format).
 * Functions over the director's state.
 */
import { IpAddr } from "./address.js";
import { bindDest, controlAdd } from "./conn.js";
import {
  bytesToLatin1,
  type CheckedConn,
  type ConnRecord,
  type ConnSnapshot,
  type CounterRecord,
  checkConnRecord,
  type ImportResult,
  isInt,
  latin1ToBytes,
  serviceKeyOf,
  serviceKeyRecord,
} from "./conn-snapshot.js";
import {
  CONN_F_BYPASS,
  CONN_F_FULLNAT,
  CONN_F_FWD_MASK,
  CONN_F_HASHED,
  CONN_F_MASQ,
  CONN_F_ONE_PACKET,
  CONN_F_OUT_HASHED,
  CONN_F_TEMPLATE,
  type ConnTable,
  CTPL_S_ASSURED,
  STATE_ROW_OTHER,
  STATE_ROW_SCTP,
  STATE_ROW_TCP,
  STATE_ROW_UDP,
} from "./conn-table.js";
import { displayed, findDest } from "./ctl.js";
import type { Dest } from "./dest.js";
import { type ConnInfo, type DirectorState, FWD_NAMES, type IndexedConnInfo } from "./director-state.js";
import { IpvsError } from "./errors.js";
import { IPPROTO_IP, IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP } from "./flow.js";
import { findPeTemplate } from "./packet-path.js";
import { PE_SIP } from "./persistence.js";
import { protocolOps } from "./proto.js";
import { SCTP_STATE_NAMES } from "./sctp-state.js";
import type { VirtualService } from "./service.js";
import type { Counters } from "./stats.js";
import { TCP_STATE_NAMES } from "./tcp-state.js";

/**
 * Live connections (templates apart) by the state name `ipvsadm -Lc` prints, read from the table's
 * running counts (no walk): every TCP state, `UDP`, `NONE` also for protocols without states, and
 * the SCTP states in use as `SCTP <name>`.
 */
export function connsByStateName(t: ConnTable): { byState: Record<string, number>; templates: number } {
  const byState: Record<string, number> = {};
  TCP_STATE_NAMES.forEach((name, s) => {
    byState[name] = t.connsInState(STATE_ROW_TCP, s);
  });
  let udp = 0;
  let other = 0;
  for (let s = 0; s < 256; s++) {
    udp += t.connsInState(STATE_ROW_UDP, s);
    other += t.connsInState(STATE_ROW_OTHER, s);
  }
  byState.UDP = udp;
  byState.NONE = (byState.NONE ?? 0) + other;
  // SCTP shares names with TCP (ESTABLISHED, NONE): its states are keyed "SCTP " + name, present
  // only while some association is in them.
  SCTP_STATE_NAMES.forEach((name, s) => {
    const n = t.connsInState(STATE_ROW_SCTP, s);
    if (n !== 0) byState[`SCTP ${name}`] = n;
  });
  return { byState, templates: t.templateCount };
}

/** Every conn and template, as `ipvsadm -Lc` lists them (table order, never sorted). */
export function connections(ds: DirectorState, now: number): ConnInfo[] {
  const t = ds.conns;
  const res: ConnInfo[] = [];
  for (let i = 0; i < t.highWater; i++) if (t.isLive(i)) res.push(connInfo(ds, i, now));
  return res;
}

/**
 * The conns and templates of `connections`, from table record `from` on, each with its record
 * number, produced one at a time: a listing can stop after any entry and resume at its
 * `index + 1`. An entry keeps its record while it lives, so one that lives throughout such a
 * listing is seen exactly once; an entry created or expired meanwhile may be missed, never seen
 * twice (the way readers of /proc/net/ip_vs_conn see the kernel's table).
 */
export function* connectionsFrom(
  ds: DirectorState,
  now: number,
  from = 0,
): Generator<IndexedConnInfo, void, undefined> {
  const t = ds.conns;
  for (let i = Math.max(0, Math.floor(from)); i < t.highWater; i++)
    if (t.isLive(i)) yield { index: i, conn: connInfo(ds, i, now) };
}

/** The listing of live record `i`. */
export function connInfo(ds: DirectorState, i: number, now: number): ConnInfo {
  const t = ds.conns;
  const w = ds.scratch;
  const w2 = ds.scratch2;
  const af = t.afOf(i);
  const daf = t.dafOf(i);
  const proto = t.protoOf(i);
  const tmpl = (t.flags[i]! & CONN_F_TEMPLATE) !== 0;
  const fwd = t.flags[i]! & CONN_F_FWD_MASK;
  let state: string;
  if (tmpl) state = t.state[i]! & CTPL_S_ASSURED ? "ASSURED" : "NONE";
  else state = protocolOps(proto)?.stateName(t.state[i]!) ?? "NONE";
  const info: ConnInfo = {
    protocol: protoName(proto),
    af,
    caddr: IpAddr.fromWords(af, t.readCaddr(i, w)).toString(),
    cport: t.cportOf(i),
    vaddr: IpAddr.fromWords(af, t.readVaddr(i, w)).toString(),
    vport: t.vportOf(i),
    daf,
    daddr: IpAddr.fromWords(daf, t.readDaddr(i, w2)).toString(),
    dport: t.dportOf(i),
    state,
    expires: Math.max(0, Math.floor(t.wheel.expireAt[i]! - now)),
    template: tmpl,
    method: FWD_NAMES[fwd] ?? "masq",
    peName: "",
    peData: "",
  };
  const pe = tmpl && t.isPeTemplate(i) ? ds.peData.get(i) : undefined;
  if (pe) {
    // /proc/net/ip_vs_conn: the engine's name and its data (the Call-ID's bytes).
    info.peName = PE_SIP;
    info.peData = bytesToLatin1(pe);
  }
  if (fwd === CONN_F_FULLNAT && !tmpl) {
    info.laddr = IpAddr.fromWords(daf, t.readLaddr(i, w)).toString();
    info.lport = t.lportOf(i);
  }
  return info;
}

/**
 * Every conn and template (one-packet conns excepted: they never stay) and the listed counters,
 * as plain data a next director can take over with `importConnections` (a daemon restart).
 */
export function exportConnections(ds: DirectorState, now: number): ConnSnapshot {
  const t = ds.conns;
  const conns: ConnRecord[] = [];
  const tableIndex: number[] = [];
  const recordOf = new Map<number, number>();
  const w = ds.scratch;
  for (let i = 0; i < t.highWater; i++) {
    if (!t.isLive(i) || t.flags[i]! & CONN_F_ONE_PACKET) continue;
    const af = t.afOf(i);
    const daf = t.dafOf(i);
    const flags = t.flags[i]! & ~(CONN_F_HASHED | CONN_F_OUT_HASHED);
    const rec: ConnRecord = {
      protocol: t.protoOf(i),
      af,
      caddr: IpAddr.fromWords(af, t.readCaddr(i, w)).toString(),
      cport: t.cportOf(i),
      vaddr: IpAddr.fromWords(af, t.readVaddr(i, w)).toString(),
      vport: t.vportOf(i),
      daf,
      daddr: IpAddr.fromWords(daf, t.readDaddr(i, w)).toString(),
      dport: t.dportOf(i),
      flags,
      state: t.state[i]!,
      timeout: t.timeout[i]!,
      expiresIn: Math.max(0, t.wheel.expireAt[i]! - now),
      fwmark: t.fwmark[i]!,
      inPkts: t.inPkts[i]!,
      control: -1,
    };
    const pe = t.isPeTemplate(i) ? ds.peData.get(i) : undefined;
    if (pe) rec.peData = bytesToLatin1(pe);
    if (t.lpool[i]! >= 0) {
      rec.laddr = IpAddr.fromWords(daf, t.readLaddr(i, w)).toString();
      rec.lport = t.lportOf(i);
    }
    const id = t.destId[i]!;
    const dest = id >= 0 ? ds.destById[id] : undefined;
    const svc = id >= 0 ? ds.destSvc[id] : undefined;
    if (dest && svc) {
      rec.service = serviceKeyRecord(svc.key);
      rec.dest = { addr: dest.addr.toString(), port: dest.port };
    }
    recordOf.set(i, conns.length);
    tableIndex.push(i);
    conns.push(rec);
  }
  for (let k = 0; k < conns.length; k++) {
    const ct = t.control[tableIndex[k]!]!;
    if (ct >= 0) conns[k]!.control = recordOf.get(ct) ?? -1;
  }
  const counters: CounterRecord[] = [{ ...displayed(ds, ds.totals) }];
  for (const svc of ds.svcs.all()) {
    const service = serviceKeyRecord(svc.key);
    counters.push({ service, ...displayed(ds, svc.stats) });
    for (const d of svc.dests)
      counters.push({
        service,
        dest: { addr: d.addr.toString(), port: d.port },
        ...displayed(ds, d.stats),
      });
  }
  return { version: 1, conns, counters };
}

/**
 * Takes over the conns and templates of a snapshot from `exportConnections` (possibly read back
 * from a file: every record is validated). Only entries whose real server is still a live dest of
 * its service are taken (and bound to it, counted active or inactive as their flags say); their
 * timers run on from `now`; controlling templates are relinked. Counters of services and dests
 * that still exist are set to the snapshot's values (their rates restart). Throws only when
 * `snapshot` is not a snapshot at all.
 */
export function importConnections(ds: DirectorState, snapshot: unknown, now: number): ImportResult {
  const snap = snapshot as Partial<ConnSnapshot> | null;
  if (typeof snap !== "object" || snap === null || snap.version !== 1 || !Array.isArray(snap.conns))
    throw new IpvsError("EINVAL", "not a connection snapshot (version 1)");
  ds.nowValue = now;
  const res: ImportResult = { imported: 0, noDest: 0, refused: 0, invalid: 0 };
  const list = snap.conns as unknown[];
  const made = new Int32Array(list.length).fill(-1);
  for (let k = 0; k < list.length; k++) {
    const c = checkConnRecord(list[k], list.length);
    if (!c) {
      res.invalid++;
      continue;
    }
    const r = importOne(ds, c, now);
    if (r >= 0) {
      made[k] = r;
      res.imported++;
    } else if (r === -1) res.refused++;
    else if (r === -2) res.noDest++;
    else res.invalid++;
  }
  const t = ds.conns;
  for (let k = 0; k < list.length; k++) {
    const i = made[k]!;
    const ctRec = (list[k] as ConnRecord).control;
    if (i < 0 || ctRec < 0) continue;
    const ct = made[ctRec]!;
    if (ct >= 0 && ct !== i && t.flags[ct]! & CONN_F_TEMPLATE) controlAdd(ds, i, ct);
  }
  if (Array.isArray(snap.counters)) for (const c of snap.counters as unknown[]) importCounters(ds, c);
  return res;
}

/** Index of the new entry; -1 duplicate or table full, -2 no such dest, -3 inconsistent. */
export function importOne(ds: DirectorState, c: CheckedConn, now: number): number {
  const t = ds.conns;
  const rec = c.rec;
  const flags = rec.flags & ~(CONN_F_HASHED | CONN_F_OUT_HASHED);
  const fwd = flags & CONN_F_FWD_MASK;
  const tmpl = (flags & CONN_F_TEMPLATE) !== 0;
  if (flags & CONN_F_ONE_PACKET || fwd > CONN_F_FULLNAT) return -3;
  let dest: Dest | undefined;
  let svc: VirtualService | undefined;
  if (c.service && c.destAddr) {
    svc = ds.svcs.find(c.service);
    dest = svc ? findDest(ds, svc, c.destAddr, rec.dest!.port) : undefined;
    if (!dest) return -2;
  } else if (fwd !== CONN_F_BYPASS) {
    return -2;
  }
  const fullnatConn = fwd === CONN_F_FULLNAT && !tmpl;
  if (fullnatConn !== (c.laddr !== null)) return -3;
  const pe = rec.peData !== undefined ? latin1ToBytes(rec.peData) : null;
  if (pe) {
    const h = t.hashBytes(pe, 0, pe.length);
    const w = c.caddr.words;
    if (findPeTemplate(ds, rec.protocol, rec.af, w, c.vaddr.words, rec.vport, pe, 0, pe.length, h) >= 0)
      return -1;
  } else if (t.lookupIn(rec.protocol, rec.af, c.caddr.words, rec.cport, c.vaddr.words, rec.vport, tmpl) >= 0)
    return -1;
  const i = t.alloc(
    rec.protocol,
    rec.af,
    c.caddr.words,
    rec.cport,
    c.vaddr.words,
    rec.vport,
    rec.daf,
    c.daddr.words,
    rec.dport,
    flags,
  );
  if (i < 0) return -1;
  t.setState(i, rec.state);
  t.timeout[i] = rec.timeout;
  t.fwmark[i] = rec.fwmark;
  t.inPkts[i] = rec.inPkts;
  if (fullnatConn) {
    const laddr = c.laddr!;
    const lip = ds.localAddrs.find((l) => l?.addr.equals(laddr));
    if (!lip?.ring(rec.protocol).reserve(rec.lport!)) {
      t.free(i);
      return -2;
    }
    t.setLocal(i, laddr.words, rec.lport!);
    t.lpool[i] = lip.id;
  }
  if (dest) bindDest(ds, i, dest);
  if (pe) {
    ds.peData.set(i, pe);
    t.setPeKey(i, t.hashBytes(pe, 0, pe.length));
  }
  t.hashIn(i);
  if ((fwd === CONN_F_MASQ || fwd === CONN_F_FULLNAT) && !tmpl) t.hashOut(i);
  t.wheel.arm(i, now + rec.expiresIn);
  return i;
}

export function importCounters(ds: DirectorState, r: unknown): void {
  if (typeof r !== "object" || r === null) return;
  const rec = r as Partial<CounterRecord>;
  let target: Counters | undefined;
  if (rec.service === undefined) {
    target = ds.totals;
  } else {
    const key = serviceKeyOf(rec.service);
    const svc = key ? ds.svcs.find(key) : undefined;
    if (!svc) return;
    if (rec.dest === undefined) {
      target = svc.stats;
    } else {
      const addr = typeof rec.dest?.addr === "string" ? IpAddr.parse(rec.dest.addr) : null;
      target =
        addr && isInt(rec.dest.port, 0, 65535) ? findDest(ds, svc, addr, rec.dest.port)?.stats : undefined;
    }
  }
  if (!target) return;
  const fields = ["conns", "inPkts", "outPkts", "inBytes", "outBytes"] as const;
  if (!fields.every((f) => isInt(rec[f], 0, Number.MAX_SAFE_INTEGER))) return;
  for (const f of fields) target[f] = rec[f]!;
  ds.baselines.delete(target);
  // The estimator starts over from these values instead of seeing them as one period's traffic.
  ds.hooks.zeroed?.(target);
}

function protoName(p: number): string {
  switch (p) {
    case IPPROTO_TCP:
      return "TCP";
    case IPPROTO_UDP:
      return "UDP";
    case IPPROTO_SCTP:
      return "SCTP";
    case IPPROTO_IP:
      return "IP";
    default:
      return String(p);
  }
}
