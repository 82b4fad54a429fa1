/**
 * Connections (the kernel's ip_vs_conn.c): creating a conn or template and binding it to its real
 * server (active/inactive/persistent counts, thresholds) and FULLNAT local port, controlling
 * templates, expiry on the timer wheel (and "expire later" while a conn controls others), the
 * expire_nodest_conn sweep and the dest trash's end. Functions over the director's state.
 */

import type { IpAddr } from "./address.js";
import {
  CONN_F_FULLNAT,
  CONN_F_FWD_MASK,
  CONN_F_HASHED,
  CONN_F_INACTIVE,
  CONN_F_MASQ,
  CONN_F_NOOUTPUT,
  CONN_F_ONE_PACKET,
  CONN_F_OUT_HASHED,
  CONN_F_SYNC,
  CONN_F_TEMPLATE,
  CTPL_S_ASSURED,
} from "./conn-table.js";
import { randomDropEntry, updateDefenseLevel } from "./defense.js";
import type { Dest } from "./dest.js";
import {
  CONN_EVENT_FREED,
  DEST_TRASH_PERIOD,
  type DirectorState,
  destConnFlags,
  EXPIRE_LATER,
  RATE_PERIOD,
} from "./director-state.js";
import { LADDR_TRIES, LocalAddress } from "./laddr-pool.js";
import { protocolOps } from "./proto.js";
import type { VirtualService } from "./service.js";
import { overloadAfterBind, overloadAfterUnbind } from "./thresholds.js";
import { NEW_CONN_TIMEOUT } from "./timeouts.js";

/** The pinned default LIP for `addr`, made on first use. */
export function defaultLip(ds: DirectorState, addr: IpAddr): LocalAddress {
  let lip = ds.localAddrs.find((l) => l?.addr.equals(addr));
  if (!lip) {
    let id = ds.localAddrs.indexOf(undefined);
    if (id < 0) id = ds.localAddrs.length;
    lip = new LocalAddress(id, addr, "", ds.localPorts);
    ds.localAddrs[id] = lip;
  }
  lip.pinned = true;
  return lip;
}

/** Give conn i a local address and port from its service's pool; false when none is free. */
export function bindLocal(ds: DirectorState, i: number, svc: VirtualService, dest: Dest | null): boolean {
  const la = ds.svcLaddrs.get(svc.id);
  if (!la || la.list.length === 0) {
    const addr = dest && ds.defaultLaddr ? ds.defaultLaddr(dest) : null;
    if (!addr || addr.family !== dest!.addr.family) return false;
    const lip = defaultLip(ds, addr);
    const port = lip.ring(ds.conns.protoOf(i)).take();
    if (port < 0) return false;
    ds.conns.setLocal(i, lip.addr.words, port);
    ds.conns.lpool[i] = lip.id;
    return true;
  }
  const n = la.list.length;
  const tries = Math.min(LADDR_TRIES, n);
  const rrLike = svc.schedName === "rr" || svc.schedName === "wrr";
  const proto = ds.conns.protoOf(i);
  for (let t = 0; t < tries; t++) {
    const lip = la.list[la.cursor % n]!;
    // DPVS steps two LIPs 5 % of the time under rr/wrr, to avoid lock-step with the RS rotation.
    const step = rrLike && ds.random() < 0.05 ? 2 : 1;
    la.cursor = (la.cursor + step) % n;
    const port = lip.ring(proto).take();
    if (port >= 0) {
      ds.conns.setLocal(i, lip.addr.words, port);
      ds.conns.lpool[i] = lip.id;
      return true;
    }
  }
  return false;
}

export function unbindLocal(ds: DirectorState, i: number): void {
  const id = ds.conns.lpool[i]!;
  if (id < 0) return;
  const lip = ds.localAddrs[id];
  ds.conns.lpool[i] = -1;
  if (!lip) return;
  lip.ring(ds.conns.protoOf(i)).give(ds.conns.lportOf(i));
  if (lip.services === 0 && lip.portsInUse === 0 && !lip.pinned) ds.localAddrs[lip.id] = undefined;
}

export function bindDest(ds: DirectorState, i: number, dest: Dest): void {
  const t = ds.conns;
  t.destId[i] = dest.id;
  if (t.flags[i]! & CONN_F_TEMPLATE) dest.persistConns++;
  else if (t.flags[i]! & CONN_F_INACTIVE) dest.inactConns++;
  else dest.activeConns++;
  overloadAfterBind(dest);
  notifyDest(ds, dest);
}

export function unbindDest(ds: DirectorState, i: number): void {
  const t = ds.conns;
  const id = t.destId[i]!;
  if (id < 0) return;
  t.destId[i] = -1;
  const dest = ds.destById[id]!;
  if (t.flags[i]! & CONN_F_TEMPLATE) dest.persistConns--;
  else if (t.flags[i]! & CONN_F_INACTIVE) dest.inactConns--;
  else dest.activeConns--;
  overloadAfterUnbind(dest);
  notifyDest(ds, dest);
  if (!dest.available && dest.activeConns + dest.inactConns + dest.persistConns === 0 && ds.trash.has(dest))
    ds.trash.set(dest, ds.nowValue);
}

/**
 * Conn `i`'s new state is active or not: its real server's active and inactive counts follow, and
 * the scheduler is told (kernel set_tcp_state / set_sctp_state).
 */
export function setActivity(ds: DirectorState, i: number, active: boolean): void {
  const t = ds.conns;
  const id = t.destId[i]!;
  if (id < 0) return;
  const dest = ds.destById[id]!;
  const fl = t.flags[i]!;
  if (!(fl & CONN_F_INACTIVE) && !active) {
    dest.activeConns--;
    dest.inactConns++;
    t.flags[i] = fl | CONN_F_INACTIVE;
    notifyDest(ds, dest);
  } else if (fl & CONN_F_INACTIVE && active) {
    dest.activeConns++;
    dest.inactConns--;
    t.flags[i] = fl & ~CONN_F_INACTIVE;
    notifyDest(ds, dest);
  }
}

export function notifyDest(ds: DirectorState, dest: Dest): void {
  if (!dest.available) return;
  const svc = ds.destSvc[dest.id];
  svc?.scheduler?.destChanged?.(svc, dest);
}

/**
 * Create and hash a conn or template. Returns its index, or -1 when the table is full, -2 when
 * no FULLNAT local port is free (both counted).
 */
export function newConn(
  ds: DirectorState,
  svc: VirtualService | null,
  proto: number,
  af: number,
  caddr: ArrayLike<number>,
  cport: number,
  vaddr: ArrayLike<number>,
  vport: number,
  dest: Dest | null,
  daf: number,
  daddr: ArrayLike<number>,
  dport: number,
  flags: number,
  fwmark: number,
  now: number,
): number {
  if (dest) {
    let destFlags = destConnFlags(dest);
    if (flags & CONN_F_SYNC) {
      // Kernel ip_vs_bind_dest: a synced connection keeps the activity the master reported and
      // takes its forwarding method from the backup's own real server.
      if (!(flags & CONN_F_TEMPLATE)) destFlags &= ~CONN_F_INACTIVE;
      flags &= ~(CONN_F_FWD_MASK | CONN_F_NOOUTPUT);
    }
    flags |= destFlags;
  }
  if (!protocolOps(proto)?.onePacket) flags &= ~CONN_F_ONE_PACKET;
  const t = ds.conns;
  const i = t.alloc(proto, af, caddr, cport, vaddr, vport, daf, daddr, dport, flags);
  if (i < 0) return -1;
  t.fwmark[i] = fwmark;
  t.timeout[i] = NEW_CONN_TIMEOUT;
  if (dest) bindDest(ds, i, dest);
  const fwd = flags & CONN_F_FWD_MASK;
  if (fwd === CONN_F_FULLNAT && !(flags & CONN_F_TEMPLATE) && svc) {
    if (!bindLocal(ds, i, svc, dest)) {
      unbindDest(ds, i);
      t.free(i);
      ds.noLocalPort++;
      return -2;
    }
  }
  if (!(flags & CONN_F_ONE_PACKET)) {
    t.hashIn(i);
    if ((fwd === CONN_F_MASQ || fwd === CONN_F_FULLNAT) && !(flags & CONN_F_TEMPLATE)) t.hashOut(i);
  }
  t.wheel.arm(i, now + NEW_CONN_TIMEOUT);
  return i;
}

/**
 * Expire conn i (kernel ip_vs_conn_expire). A conn that still controls others is re-armed for 60 s
 * instead, and its timeout becomes 60 s. `forced` (a drop, not a timeout) also drops an unused
 * controlling template that is not ASSURED.
 */
export function expire(ds: DirectorState, i: number, now: number, forced: boolean): void {
  const t = ds.conns;
  if (t.nControl[i]! > 0) {
    t.timeout[i] = EXPIRE_LATER;
    t.wheel.arm(i, now + EXPIRE_LATER);
    return;
  }
  ds.connEvents?.connEvent(i, CONN_EVENT_FREED);
  if (t.flags[i]! & CONN_F_HASHED) t.unhashIn(i);
  if (t.flags[i]! & CONN_F_OUT_HASHED) t.unhashOut(i);
  t.wheel.disarm(i);
  const ct = t.control[i]!;
  if (ct >= 0) {
    t.control[i] = -1;
    t.nControl[ct]!--;
    if (
      forced &&
      t.nControl[ct] === 0 &&
      (!(t.flags[ct]! & CONN_F_TEMPLATE) || !(t.state[ct]! & CTPL_S_ASSURED))
    )
      expire(ds, ct, now, false);
  }
  unbindLocal(ds, i);
  unbindDest(ds, i);
  if (ds.peData.size > 0) ds.peData.delete(i);
  t.free(i);
}

/** A conn that still controls others is only re-armed; otherwise gone now. */
export function expireNow(ds: DirectorState, i: number, now: number, forced = false): void {
  expire(ds, i, now, forced);
}

/** Kernel ip_vs_check_template: a template to a dead or (optionally) quiesced dest is neutralised. */
export function templateValid(ds: DirectorState, ct: number): boolean {
  const t = ds.conns;
  const id = t.destId[ct]!;
  const dest = id >= 0 ? ds.destById[id] : undefined;
  if (dest?.available && !(ds.sysctls.expire_quiescent_template && dest.weight === 0)) return true;
  if (t.vportOf(ct) !== 0xffff) {
    // Rehash under ports that no packet can carry, so it is never found again; it just expires.
    t.unhashIn(ct);
    t.setPorts(ct, 0, 0xffff, 0xffff);
    t.hashIn(ct);
  }
  return false;
}

export function controlAdd(ds: DirectorState, cp: number, ct: number): void {
  ds.conns.control[cp] = ct;
  ds.conns.nControl[ct]!++;
}

/** Mark the controlling template of conn i ASSURED. */
export function assureControl(ds: DirectorState, i: number): void {
  const ct = ds.conns.control[i]!;
  if (ct >= 0 && ds.conns.flags[ct]! & CONN_F_TEMPLATE) ds.conns.state[ct]! |= CTPL_S_ASSURED;
}

/**
 * Advance time to `now` (seconds): expire due conns and templates, sweep conns of deleted dests
 * (expire_nodest_conn), free unreferenced trashed dests after 120 s, and call the rate hook every 2 s.
 */
export function tick(ds: DirectorState, now: number): void {
  ds.nowValue = now;
  ds.connEvents?.beforeExpiry?.(now);
  const t = ds.conns;
  const n = t.wheel.collect(now);
  const due = t.wheel.due();
  for (let k = 0; k < n; k++) {
    const i = due[k]!;
    if (t.isLive(i) && t.wheel.isDue(i, now)) expire(ds, i, now, false);
  }
  // Kernel defense_work_handler, once a second: the defence modes, then drop_entry's pass.
  const defense = ds.defense;
  if (!(now < defense.nextRun)) {
    defense.nextRun = now + 1;
    updateDefenseLevel(ds);
    if (defense.dropEntry) randomDropEntry(ds, now, (i) => expire(ds, i, now, true));
  }
  if (ds.nodestSweepPending) {
    ds.nodestSweepPending = false;
    if (ds.sysctls.expire_nodest_conn) sweepNodest(ds, now);
  }
  for (const [d, since] of ds.trash) {
    const refs = d.activeConns + d.inactConns + d.persistConns;
    if (refs > 0) {
      ds.trash.set(d, Number.NaN);
    } else if (Number.isNaN(since)) {
      ds.trash.set(d, now);
    } else if (now - since >= DEST_TRASH_PERIOD) {
      ds.trash.delete(d);
      ds.destById[d.id] = undefined;
      ds.destSvc[d.id] = undefined;
      ds.freeDestIds.push(d.id);
      ds.hooks.removed?.(d.stats);
    }
  }
  if (ds.hooks.tick) {
    if (Number.isNaN(ds.nextRateTick)) ds.nextRateTick = now + RATE_PERIOD;
    let calls = 0;
    while (now >= ds.nextRateTick && calls < 64) {
      ds.hooks.tick(ds.nextRateTick);
      ds.nextRateTick += RATE_PERIOD;
      calls++;
    }
    if (now >= ds.nextRateTick) ds.nextRateTick = now + RATE_PERIOD;
  }
}

/** Kernel ip_vs_expire_nodest_conn_flush: drop every conn whose dest was deleted. */
export function sweepNodest(ds: DirectorState, now: number): void {
  const t = ds.conns;
  for (let i = 0; i < t.highWater; i++) {
    if (!t.isLive(i)) continue;
    const id = t.destId[i]!;
    if (id < 0 || ds.destById[id]!.available || t.nControl[i]! > 0) continue;
    const ct = t.control[i]!;
    expireNow(ds, i, now, true);
    if (ct >= 0 && t.isLive(ct) && t.nControl[ct] === 0) expireNow(ds, ct, now, true);
  }
}
