/**
 * The kernel's defence against running out of room (ip_vs_ctl.c update_defense_level and
 * defense_work_handler, ip_vs_conn.c ip_vs_random_dropentry and todrop_entry, ip_vs.h
 * ip_vs_todrop): three strategies, each a sysctl of four modes — 0 off, 1 automatic (on while
 * room is short; the sysctl then reads 2, and back to 1 when room returns), 2 on now and automatic
 * after, 3 always on.
 *
 * - drop_entry: once a second, a random 1/32 of the table is looked at, and half-open TCP
 *   connections (SYN_RECV, SYNACK) and SCTP associations (INIT1, INIT) are dropped, and idle established ones and other protocols'
 *   entries with few packets in (1-8, the fewer the likelier) — what a SYN flood fills the table
 *   with goes first.
 * - drop_packet: one new connection in `rate` is refused (its packet dropped) before scheduling;
 *   automatic: rate = amemthresh / (amemthresh - available), so the shorter the room the more;
 *   always: rate = am_droprate.
 * - secure_tcp: the TCP state table becomes the defensive one (tcp-state.ts, TCP_STATES_SECURE),
 *   where a connection is ESTABLISHED only when both sides spoke.
 *
 * "Available memory": the kernel compares the host's free pages with amemthresh (in pages). The
 * table is what runs out here, so tslvs reads amemthresh as a number of free entries of the
 * connection table (docs/decisions/1050-defense-in-table-entries.md).
 */

import { CONN_F_TEMPLATE, CTPL_S_ASSURED } from "./conn-table.js";
import type { DirectorState } from "./director-state.js";
import { IPPROTO_SCTP, IPPROTO_TCP } from "./flow.js";
import { SCTP_S_ESTABLISHED, SCTP_S_INIT, SCTP_S_INIT1 } from "./sctp-state.js";
import { SVC_F_ONEPACKET } from "./service.js";
import { TCP_S_ESTABLISHED, TCP_S_SYN_RECV, TCP_S_SYNACK } from "./tcp-state.js";

/** A connection refreshed within this many seconds is never dropped (todrop_entry). */
const DROP_ENTRY_MIN_IDLE = 60;

/** Where the strategies stand, and what they did (counted for `tslvs stats` and /metrics). */
export class DefenseState {
  /** drop_entry in force (kernel ipvs->dropentry). */
  dropEntry = false;
  /** 1 in dropRate new connections refused; 0: none (kernel drop_rate, drop_counter). */
  dropRate = 0;
  dropCounter = 0;
  /** The TCP state table in use is the defensive one. */
  secureTcp = false;
  /** todrop_entry's per-in_pkts counters (kernel: static, 1..8). */
  readonly entryCounters = new Int8Array(9);
  /** When the next once-a-second pass is due (seconds). */
  nextRun = Number.NaN;
  /** New connections refused by drop_packet. */
  packetsDropped = 0;
  /** Entries dropped by drop_entry. */
  entriesDropped = 0;
}

/** Free entries of the connection table: the "available memory" the modes compare with amemthresh. */
export function availableEntries(ds: DirectorState): number {
  return ds.conns.capacity - ds.conns.size;
}

/**
 * Kernel update_defense_level: each strategy's state from its sysctl and whether room is short,
 * moving the automatic modes' sysctl between 1 and 2 as the kernel does. Run once a second and
 * whenever one of the three sysctls is written.
 */
export function updateDefenseLevel(ds: DirectorState): void {
  const sys = ds.sysctls;
  const d = ds.defense;
  const available = availableEntries(ds);
  const short = available < sys.amemthresh;

  switch (sys.drop_entry) {
    case 0:
      d.dropEntry = false;
      break;
    case 1:
      d.dropEntry = short;
      if (short) sys.drop_entry = 2;
      break;
    case 2:
      d.dropEntry = short;
      if (!short) sys.drop_entry = 1;
      break;
    default:
      d.dropEntry = true;
  }

  switch (sys.drop_packet) {
    case 0:
      d.dropRate = 0;
      break;
    case 1:
    case 2:
      if (short) {
        // Integer division as the kernel's; at least 1 (every new connection) when nothing is free.
        d.dropRate = d.dropCounter = Math.max(1, Math.floor(sys.amemthresh / (sys.amemthresh - available)));
        sys.drop_packet = 2;
      } else {
        d.dropRate = 0;
        sys.drop_packet = 1;
      }
      break;
    default:
      d.dropRate = sys.am_droprate;
  }

  switch (sys.secure_tcp) {
    case 0:
      d.secureTcp = false;
      break;
    case 1:
    case 2:
      d.secureTcp = short;
      sys.secure_tcp = short ? 2 : 1;
      break;
    default:
      d.secureTcp = true;
  }
}

/** Kernel ip_vs_todrop: whether this new connection is one of the 1 in dropRate refused. */
export function dropThisPacket(ds: DirectorState): boolean {
  const d = ds.defense;
  if (d.dropRate === 0) return false;
  if (--d.dropCounter > 0) return false;
  d.dropCounter = d.dropRate;
  d.packetsDropped++;
  return true;
}

/**
 * Kernel todrop_entry: an entry idle for a minute or more, with 1-8 packets in, dropped once per
 * (packets) candidates of that count — the fewer packets, the likelier.
 */
function todropEntry(ds: DirectorState, i: number, now: number): boolean {
  const t = ds.conns;
  const left = t.wheel.expireAt[i]! - now;
  if (left > t.timeout[i]! - DROP_ENTRY_MIN_IDLE) return false;
  const n = t.inPkts[i]!;
  if (n < 1 || n > 8) return false;
  const c = ds.defense.entryCounters;
  if (--c[n]! > 0) return false;
  c[n] = n;
  return true;
}

/**
 * Kernel ip_vs_random_dropentry: a random 1/32 of the table looked at, what a flood leaves behind
 * dropped. `expire` removes an entry as a drop (its unused, unassured template with it).
 */
export function randomDropEntry(ds: DirectorState, now: number, expire: (i: number) => void): void {
  const t = ds.conns;
  const high = t.highWater;
  const looks = Math.max(1, high >> 5);
  for (let k = 0; k < looks; k++) {
    const i = Math.floor(ds.random() * high);
    if (!t.isLive(i) || t.nControl[i]! > 0) continue;
    const flags = t.flags[i]!;
    let drop: boolean;
    if (flags & CONN_F_TEMPLATE) {
      // A one-packet service's template is tried like a connection (kernel
      // ip_vs_conn_ops_mode); another goes unless a connection made it ASSURED.
      const id = t.destId[i]!;
      const svc = id >= 0 ? ds.destSvc[id] : undefined;
      if (svc && svc.flags & SVC_F_ONEPACKET) drop = todropEntry(ds, i, now);
      else drop = !(t.state[i]! & CTPL_S_ASSURED);
    } else {
      const proto = t.protoOf(i);
      const state = t.state[i]!;
      if (proto === IPPROTO_TCP) {
        if (state === TCP_S_SYN_RECV || state === TCP_S_SYNACK) drop = true;
        else drop = state === TCP_S_ESTABLISHED && todropEntry(ds, i, now);
      } else if (proto === IPPROTO_SCTP) {
        if (state === SCTP_S_INIT1 || state === SCTP_S_INIT) drop = true;
        else drop = state === SCTP_S_ESTABLISHED && todropEntry(ds, i, now);
      } else drop = todropEntry(ds, i, now);
    }
    if (!drop) continue;
    ds.defense.entriesDropped++;
    expire(i);
  }
}
