import { controlAdd, expire, expireNow, newConn, templateValid } from "./conn.js";
import {
  CONN_F_BYPASS,
  CONN_F_FULLNAT,
  CONN_F_FWD_MASK,
  CONN_F_MASQ,
  CONN_F_ONE_PACKET,
  CONN_F_TEMPLATE,
} from "./conn-table.js";
import { dropThisPacket } from "./defense.js";
import type { Dest } from "./dest.js";
import { addTo, type DirectorState } from "./director-state.js";
import { type FlowPacket, IPPROTO_TCP, IPPROTO_UDP } from "./flow.js";
import { sipCallId } from "./pe-sip.js";
import { fillTemplateKey, PE_SIP } from "./persistence.js";
import { protocolOps, setState } from "./proto.js";
import { SVC_F_ONEPACKET, type VirtualService } from "./service.js";
import { FTP_DATA_PORT, FTP_PORT } from "./service-table.js";
import { DIR_INPUT, DIR_OUTPUT } from "./tcp-state.js";
import {
  ACTION_DROP,
  ACTION_FORWARD,
  ACTION_ICMP_UNREACH,
  ACTION_PASS,
  type Verdict,
  type VerdictReason,
} from "./verdict.js";

export function inStats(ds: DirectorState, i: number, bytes: number): void {
  addTraffic(ds, ds.conns.destId[i]!, 1, bytes, 0, 0);
}

export function outStats(ds: DirectorState, i: number, bytes: number): void {
  addTraffic(ds, ds.conns.destId[i]!, 0, 0, 1, bytes);
}

/** Adds traffic to dest `id`'s counters, its service's and the totals (none for an unavailable dest). */
export function addTraffic(
  ds: DirectorState,
  id: number,
  inPkts: number,
  inBytes: number,
  outPkts: number,
  outBytes: number,
): void {
  if (id < 0) return;
  const dest = ds.destById[id]!;
  if (!dest.available) return;
  addTo(dest.stats, inPkts, inBytes, outPkts, outBytes);
  addTo(ds.destSvc[id]!.stats, inPkts, inBytes, outPkts, outBytes);
  addTo(ds.totals, inPkts, inBytes, outPkts, outBytes);
}

/**
 * Credits packets of conn i that a fast path forwarded without the director (kernel: the packets
 * IPVS would have counted in ip_vs_in/ip_vs_out): the dest, service and global in/out counters,
 * and the idle timer re-armed from `lastSeen` (seconds, the director's clock) when that is later
 * than what it was armed from. Only live, non-template conns are credited; returns false otherwise.
 */
export function creditFlow(
  ds: DirectorState,
  i: number,
  inPkts: number,
  inBytes: number,
  outPkts: number,
  outBytes: number,
  lastSeen: number,
): boolean {
  const t = ds.conns;
  if (i < 0 || i >= t.capacity || !t.isLive(i) || t.flags[i]! & CONN_F_TEMPLATE) return false;
  addTraffic(ds, t.destId[i]!, inPkts, inBytes, outPkts, outBytes);
  t.inPkts[i] = t.inPkts[i]! + inPkts;
  const at = lastSeen + t.timeout[i]!;
  if (at > t.wheel.expireAt[i]!) t.wheel.arm(i, at);
  return true;
}

export function connStats(ds: DirectorState, dest: Dest, svc: VirtualService): void {
  dest.stats.conns++;
  svc.stats.conns++;
  ds.totals.conns++;
}

/** Fills `out` with a verdict that forwards nothing. */
export function result(out: Verdict, action: Verdict["action"], reason: VerdictReason): Verdict {
  out.action = action;
  out.reason = reason;
  return out;
}

/** The packet-path service lookup: fwmark, then (proto, addr, port), FTP's port 21, the port-0 service. */
export function findServiceFor(ds: DirectorState, pkt: FlowPacket): VirtualService | undefined {
  const af = pkt.family;
  if (pkt.fwmark !== 0) {
    const s = ds.svcs.findMark(af, pkt.fwmark >>> 0);
    if (s) return s;
  }
  let s = ds.svcs.findAddr(af, pkt.protocol, pkt.daddr, pkt.dport);
  if (
    !s &&
    pkt.protocol === IPPROTO_TCP &&
    ds.svcs.ftpServices > 0 &&
    (pkt.dport === FTP_DATA_PORT || pkt.dport >= 1024)
  )
    s = ds.svcs.findAddr(af, pkt.protocol, pkt.daddr, FTP_PORT);
  if (!s && ds.svcs.nullServices > 0) s = ds.svcs.findAddr(af, pkt.protocol, pkt.daddr, 0);
  return s;
}

/**
 * A client -> virtual service packet (kernel ip_vs_in, §2.6). Fills and returns `out`.
 * `now` is the time in seconds.
 */
export function inbound(ds: DirectorState, pkt: FlowPacket, now: number, out: Verdict): Verdict {
  out.reset();
  ds.nowValue = now;
  const proto = pkt.protocol;
  const ops = protocolOps(proto);
  if (!ops) return result(out, ACTION_PASS, "unsupported-protocol");
  if (ds.sysctls.backup_only) return result(out, ACTION_PASS, "not-ours");
  const t = ds.conns;
  const sys = ds.sysctls;
  let i = t.lookupIn(proto, pkt.family, pkt.saddr, pkt.sport, pkt.daddr, pkt.dport, false);

  if (i >= 0 && sys.conn_reuse_mode && ops.opensConnection(pkt)) {
    const id = t.destId[i]!;
    const dest = id >= 0 ? ds.destById[id] : undefined;
    let resched = false;
    if (sys.expire_nodest_conn && dest && dest.weight === 0) resched = true;
    else if (ops.newConnExpected(ds, i, sys.conn_reuse_mode)) resched = true;
    if (resched) {
      if (t.nControl[i] === 0) expireNow(ds, i, now);
      i = -1;
    }
  }

  if (i >= 0) {
    const id = t.destId[i]!;
    if (id >= 0 && !ds.destById[id]!.available) {
      if (!sys.expire_nodest_conn) return result(out, ACTION_DROP, "dest-unavailable");
      expireNow(ds, i, now);
      i = -1;
    }
  }

  let isNew = false;
  if (i < 0) {
    if (!ops.schedulable(pkt, sys)) return result(out, ACTION_PASS, "not-schedulable");
    const svc = findServiceFor(ds, pkt);
    if (!svc) return result(out, ACTION_PASS, "no-service");
    // Kernel ip_vs_todrop in {tcp,udp,sctp}_conn_schedule: very loaded, this one is refused.
    if (ds.defense.dropRate !== 0 && dropThisPacket(ds)) return result(out, ACTION_DROP, "defense-drop");
    i = schedule(ds, svc, pkt, now, out);
    if (i < 0) return out;
    isNew = true;
  }

  // Count, move the state machine, decide the rewrite, re-arm the idle timer.
  inStats(ds, i, pkt.length);
  setState(ds, i, DIR_INPUT, pkt);
  t.inPkts[i]!++;
  fillInbound(ds, i, pkt, out);
  out.isNew = isNew;
  if (t.flags[i]! & CONN_F_ONE_PACKET) {
    // One-packet scheduling: the conn ends with its packet.
    expire(ds, i, now, false);
    out.conn = -1;
  } else {
    t.wheel.arm(i, now + t.timeout[i]!);
  }
  return out;
}

export function fillInbound(ds: DirectorState, i: number, pkt: FlowPacket, out: Verdict): void {
  const t = ds.conns;
  const fwd = t.flags[i]! & CONN_F_FWD_MASK;
  const id = t.destId[i]!;
  out.action = ACTION_FORWARD;
  out.conn = i;
  out.fwd = fwd;
  out.dest = id >= 0 ? ds.destById[id]! : null;
  out.srcAddr.set(pkt.saddr);
  out.srcPort = pkt.sport;
  if (fwd === CONN_F_MASQ || fwd === CONN_F_FULLNAT) {
    out.family = t.dafOf(i);
    t.readDaddr(i, out.dstAddr);
    out.dstPort = t.dportOf(i);
    out.rewriteDst = true;
    if (fwd === CONN_F_FULLNAT) {
      t.readLaddr(i, out.srcAddr);
      out.srcPort = t.lportOf(i);
      out.rewriteSrc = true;
    }
  } else {
    // DR, tunnel, local, bypass: the packet keeps its addresses; `dest` says where it goes.
    out.family = pkt.family;
    out.dstAddr.set(pkt.daddr);
    out.dstPort = pkt.dport;
  }
}

/**
 * Kernel ip_vs_schedule + ip_vs_leave: create the conn for a packet of `svc`, or fill `out` with
 * why not and return -1.
 */
export function schedule(
  ds: DirectorState,
  svc: VirtualService,
  pkt: FlowPacket,
  now: number,
  out: Verdict,
): number {
  if (pkt.sport === FTP_DATA_PORT) {
    result(out, ACTION_PASS, "ftp-data");
    return -1;
  }
  if (svc.persistent) return schedulePersistent(ds, svc, pkt, now, out);
  if (svc.key.kind === "addr" && pkt.dport !== svc.port) return leave(ds, svc, pkt, now, out);
  const dest = svc.scheduler ? svc.scheduler.schedule(svc, pkt) : null;
  if (!dest) return leave(ds, svc, pkt, now, out);
  const i = clientConn(ds, svc, pkt, dest, dest.port !== 0 ? dest.port : pkt.dport, now);
  if (i < 0) return refused(i, out);
  connStats(ds, dest, svc);
  return i;
}

/** The connection of the client's packet to `dest`:`dport` (one-packet when the service says so). */
function clientConn(
  ds: DirectorState,
  svc: VirtualService,
  pkt: FlowPacket,
  dest: Dest,
  dport: number,
  now: number,
): number {
  const flags = svc.flags & SVC_F_ONEPACKET && protocolOps(pkt.protocol)?.onePacket ? CONN_F_ONE_PACKET : 0;
  return newConn(
    ds,
    svc,
    pkt.protocol,
    pkt.family,
    pkt.saddr,
    pkt.sport,
    pkt.daddr,
    pkt.dport,
    dest,
    dest.addr.family,
    dest.addr.words,
    dport,
    flags,
    pkt.fwmark,
    now,
  );
}

export function refused(code: number, out: Verdict): number {
  result(out, ACTION_DROP, code === -2 ? "no-local-port" : "table-full");
  return -1;
}

export function schedulePersistent(
  ds: DirectorState,
  svc: VirtualService,
  pkt: FlowPacket,
  now: number,
  out: Verdict,
): number {
  const t = ds.conns;
  const key = ds.tkey;
  fillTemplateKey(svc, pkt.protocol, pkt.family, pkt.saddr, pkt.daddr, pkt.dport, key);
  // The SIP engine (kernel ip_vs_pe_sip): the template is also keyed by the Call-ID; a packet
  // without one (or not UDP) cannot be placed and is dropped, with no ICMP (kernel: ignored = -1).
  const sip = svc.pe === PE_SIP;
  const m = ds.sipMatch;
  let peHash = 0;
  let ct: number;
  if (sip) {
    const b = pkt.payload;
    if (pkt.protocol !== IPPROTO_UDP || !b || !sipCallId(b, pkt.payloadOff, pkt.payloadLen, m)) {
      result(out, ACTION_DROP, "no-pe-data");
      return -1;
    }
    peHash = t.hashBytes(b, pkt.payloadOff + m.off, m.len);
    const at = pkt.payloadOff + m.off;
    ct = findPeTemplate(ds, key.proto, pkt.family, key.caddr, key.vaddr, key.vport, b, at, m.len, peHash);
  } else {
    ct = t.lookupIn(key.proto, pkt.family, key.caddr, 0, key.vaddr, key.vport, true);
  }
  let dest: Dest;
  if (ct < 0 || !templateValid(ds, ct)) {
    const picked = svc.scheduler ? svc.scheduler.schedule(svc, pkt) : null;
    if (!picked) return leave(ds, svc, pkt, now, out);
    dest = picked;
    const tdport = pkt.dport === svc.port && svc.port !== FTP_PORT ? dest.port : 0;
    ct = newConn(
      ds,
      svc,
      key.proto,
      pkt.family,
      key.caddr,
      0,
      key.vaddr,
      key.vport,
      dest,
      dest.addr.family,
      dest.addr.words,
      tdport,
      CONN_F_TEMPLATE,
      pkt.fwmark,
      now,
    );
    if (ct < 0) return refused(ct, out);
    t.timeout[ct] = svc.timeout;
    if (sip) {
      // One copy of the Call-ID per new template (listed as its pe_data); none per packet.
      const at = pkt.payloadOff + m.off;
      ds.peData.set(ct, pkt.payload!.slice(at, at + m.len));
      t.setPeKey(ct, peHash);
    }
  } else {
    dest = ds.destById[t.destId[ct]!]!;
  }
  const dport = pkt.dport === svc.port && dest.port !== 0 ? dest.port : pkt.dport;
  const i = clientConn(ds, svc, pkt, dest, dport, now);
  if (i < 0) {
    t.wheel.arm(ct, now + t.timeout[ct]!);
    return refused(i, out);
  }
  controlAdd(ds, i, ct);
  // Each new conn through the template restarts the template's timer (not each packet).
  t.wheel.arm(ct, now + t.timeout[ct]!);
  connStats(ds, dest, svc);
  return i;
}

/**
 * The SIP template keyed (proto, family, caddr, vaddr, vport) with the Call-ID buf[off .. off+len)
 * (kernel ip_vs_sip_ct_match), or -1.
 */
export function findPeTemplate(
  ds: DirectorState,
  proto: number,
  family: number,
  caddr: ArrayLike<number>,
  vaddr: ArrayLike<number>,
  vport: number,
  buf: Uint8Array,
  off: number,
  len: number,
  peHash: number,
): number {
  const t = ds.conns;
  let ct = -1;
  for (;;) {
    ct = t.lookupPeTemplate(proto, family, caddr, vaddr, vport, peHash, ct);
    if (ct < 0) return -1;
    const data = ds.peData.get(ct);
    if (data && data.length === len && sameBytes(data, buf, off, len)) return ct;
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array, off: number, len: number): boolean {
  for (let k = 0; k < len; k++) if (a[k] !== b[off + k]) return false;
  return true;
}

/** Kernel ip_vs_leave: no real server for a new conn. */
export function leave(
  ds: DirectorState,
  svc: VirtualService,
  pkt: FlowPacket,
  now: number,
  out: Verdict,
): number {
  svc.noDestination++;
  if (ds.sysctls.cache_bypass && svc.key.kind === "fwmark") {
    // Forward to the original destination, remembered as a BYPASS conn without a dest.
    const i = newConn(
      ds,
      null,
      pkt.protocol,
      pkt.family,
      pkt.saddr,
      pkt.sport,
      pkt.daddr,
      pkt.dport,
      null,
      pkt.family,
      pkt.daddr,
      0,
      CONN_F_BYPASS,
      pkt.fwmark,
      now,
    );
    if (i < 0) return refused(i, out);
    return i;
  }
  if (svc.port === FTP_PORT && pkt.dport !== FTP_PORT) {
    result(out, ACTION_PASS, "no-dest");
    return -1;
  }
  result(out, ACTION_ICMP_UNREACH, "no-dest");
  return -1;
}

/** A real server -> client packet (kernel ip_vs_out, §2.7): NAT and FULLNAT replies. */
export function outbound(ds: DirectorState, pkt: FlowPacket, now: number, out: Verdict): Verdict {
  out.reset();
  ds.nowValue = now;
  const proto = pkt.protocol;
  const ops = protocolOps(proto);
  if (!ops) return result(out, ACTION_PASS, "unsupported-protocol");
  const t = ds.conns;
  const i = t.lookupOut(proto, pkt.family, pkt.saddr, pkt.sport, pkt.daddr, pkt.dport);
  if (i < 0) {
    if (ds.sysctls.nat_icmp_send && ops.answersStrayReply(pkt) && isNatRealServer(ds, pkt))
      return result(out, ACTION_ICMP_UNREACH, "nat-icmp");
    return result(out, ACTION_PASS, "not-ours");
  }
  outStats(ds, i, pkt.length);
  setState(ds, i, DIR_OUTPUT, pkt);
  const fwd = t.flags[i]! & CONN_F_FWD_MASK;
  out.action = ACTION_FORWARD;
  out.conn = i;
  out.fwd = fwd;
  const id = t.destId[i]!;
  out.dest = id >= 0 ? ds.destById[id]! : null;
  out.family = t.afOf(i);
  t.readVaddr(i, out.srcAddr);
  out.srcPort = t.vportOf(i);
  out.rewriteSrc = true;
  if (fwd === CONN_F_FULLNAT) {
    t.readCaddr(i, out.dstAddr);
    out.dstPort = t.cportOf(i);
    out.rewriteDst = true;
  } else {
    out.dstAddr.set(pkt.daddr);
    out.dstPort = pkt.dport;
  }
  t.wheel.arm(i, now + t.timeout[i]!);
  return out;
}

/**
 * An ICMP error about a connection (kernel ip_vs_in_icmp / ip_vs_out_icmp, §7.4). `quoted` is the
 * packet the error quotes; `length` the error's own IP length (counted in the conn's stats).
 * - `fromClientSide` (the error is addressed to a VIP): the quote is a packet the service sent to
 *   a client, VIP:vport -> client; its conn is looked up reversed. The verdict says where the
 *   error goes on to: the real server (dstAddr/dstPort: RS:rport, as `inbound` fills them).
 * - otherwise (from a NAT/FULLNAT real server): the quote is client -> RS:rport as the RS
 *   received it; the verdict's srcAddr/srcPort are VIP:vport (and for FULLNAT dstAddr/dstPort
 *   the client), as `outbound` fills them.
 * Only TCP and UDP quotes with ports; the conn's state is not changed, its timer is re-armed.
 * No conn: ACTION_PASS ("not-ours").
 */
export function icmpRelated(
  ds: DirectorState,
  fromClientSide: boolean,
  quoted: FlowPacket,
  length: number,
  now: number,
  out: Verdict,
): Verdict {
  out.reset();
  ds.nowValue = now;
  const proto = quoted.protocol;
  if (!protocolOps(proto)) return result(out, ACTION_PASS, "unsupported-protocol");
  const t = ds.conns;
  const q = quoted;
  if (fromClientSide) {
    const i = t.lookupIn(proto, q.family, q.daddr, q.dport, q.saddr, q.sport, false);
    if (i < 0) return result(out, ACTION_PASS, "not-ours");
    const id = t.destId[i]!;
    if (id >= 0 && !ds.destById[id]!.available && !ds.sysctls.expire_nodest_conn)
      return result(out, ACTION_DROP, "dest-unavailable");
    inStats(ds, i, length);
    // The rewrite toward the RS is the one a packet of the client would get.
    fillInbound(ds, i, q, out);
    t.readCaddr(i, out.srcAddr);
    out.srcPort = t.cportOf(i);
    if ((t.flags[i]! & CONN_F_FWD_MASK) === CONN_F_FULLNAT) {
      t.readLaddr(i, out.srcAddr);
      out.srcPort = t.lportOf(i);
    }
    t.wheel.arm(i, now + t.timeout[i]!);
    return out;
  }
  const i = t.lookupOut(proto, q.family, q.daddr, q.dport, q.saddr, q.sport);
  if (i < 0) return result(out, ACTION_PASS, "not-ours");
  outStats(ds, i, length);
  const fwd = t.flags[i]! & CONN_F_FWD_MASK;
  out.action = ACTION_FORWARD;
  out.conn = i;
  out.fwd = fwd;
  const id = t.destId[i]!;
  out.dest = id >= 0 ? ds.destById[id]! : null;
  out.family = t.afOf(i);
  t.readVaddr(i, out.srcAddr);
  out.srcPort = t.vportOf(i);
  out.rewriteSrc = true;
  t.readCaddr(i, out.dstAddr);
  out.dstPort = t.cportOf(i);
  out.rewriteDst = fwd === CONN_F_FULLNAT;
  t.wheel.arm(i, now + t.timeout[i]!);
  return out;
}

/** Kernel ip_vs_has_real_service: is the packet's source a NAT real server of some service? */
export function isNatRealServer(ds: DirectorState, pkt: FlowPacket): boolean {
  for (const svc of ds.svcs.all()) {
    if (svc.key.kind === "addr" && svc.key.protocol !== pkt.protocol) continue;
    for (const d of svc.dests) {
      if (d.method !== "masq" || d.port !== pkt.sport || d.addr.family !== pkt.family) continue;
      const w = d.addr.words;
      if (
        w[0] === pkt.saddr[0] &&
        (pkt.family === 4 || (w[1] === pkt.saddr[1] && w[2] === pkt.saddr[2] && w[3] === pkt.saddr[3]))
      )
        return true;
    }
  }
  return false;
}
