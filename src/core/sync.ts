/**
 * Connection synchronisation, the table's side (kernel ip_vs_sync.c): on the master, whether a
 * connection is to be sent now (ip_vs_sync_conn_needed, with sync_threshold, sync_period and the
 * TCP states worth sending) and what is sent of it; on the backup, a received connection put in
 * the table as the kernel's ip_vs_proc_conn does — found and updated, or created and bound to its
 * real server when the backup has the service — so that after a failover the next packet of an
 * established connection finds it: no reschedule, no reset. The wire format is src/net/ipvs-sync.ts;
 * the sockets are the daemon's.
 *
 * FULLNAT connections are not synced: the kernel's message has no room for the local address and
 * port (decision 1060).
 */
import { expireNow, newConn } from "./conn.js";
import {
  CONN_F_FULLNAT,
  CONN_F_FWD_MASK,
  CONN_F_INACTIVE,
  CONN_F_NO_CPORT,
  CONN_F_NOOUTPUT,
  CONN_F_ONE_PACKET,
  CONN_F_SYNC,
  CONN_F_TEMPLATE,
} from "./conn-table.js";
import type { DirectorState } from "./director-state.js";
import { IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP } from "./flow.js";
import {
  SCTP_S_CLOSED,
  SCTP_S_COUNT,
  SCTP_S_ESTABLISHED,
  SCTP_S_SHUTDOWN_ACK_SENT,
  SCTP_S_SHUTDOWN_RECEIVED,
  SCTP_S_SHUTDOWN_SENT,
} from "./sctp-state.js";
import {
  TCP_S_CLOSE,
  TCP_S_CLOSE_WAIT,
  TCP_S_COUNT,
  TCP_S_ESTABLISHED,
  TCP_S_FIN_WAIT,
  TCP_S_TIME_WAIT,
} from "./tcp-state.js";
import { MAX_TIMEOUT } from "./timeouts.js";

/** Kernel IP_VS_CONN_F_SEQ_MASK: the sequence-adjustment flags (application helpers). */
const CONN_F_SEQ_MASK = 0x0600;
/** Kernel IP_VS_CONN_F_BACKUP_MASK: the flags a backup takes from a message. */
export const CONN_F_BACKUP_MASK =
  CONN_F_FWD_MASK | CONN_F_NOOUTPUT | CONN_F_INACTIVE | CONN_F_SEQ_MASK | CONN_F_NO_CPORT | CONN_F_TEMPLATE;
/** Kernel IP_VS_CONN_F_BACKUP_UPD_MASK: the flags a message may change on a known connection. */
const CONN_F_BACKUP_UPD_MASK = CONN_F_INACTIVE | CONN_F_SEQ_MASK;
/** A template or a connection without a usable timeout in its message lives this long (kernel 3 min). */
const DEFAULT_SYNCED_TIMEOUT = 180;
/** The TCP states in which a connection is worth sending. */
const TCP_SYNC_STATES =
  (1 << TCP_S_ESTABLISHED) |
  (1 << TCP_S_FIN_WAIT) |
  (1 << TCP_S_CLOSE) |
  (1 << TCP_S_CLOSE_WAIT) |
  (1 << TCP_S_TIME_WAIT);

/** The SCTP states in which an association is worth sending. */
const SCTP_SYNC_STATES =
  (1 << SCTP_S_ESTABLISHED) |
  (1 << SCTP_S_SHUTDOWN_SENT) |
  (1 << SCTP_S_SHUTDOWN_RECEIVED) |
  (1 << SCTP_S_SHUTDOWN_ACK_SENT) |
  (1 << SCTP_S_CLOSED);

/** A connection as the sync message carries it, addresses as the core's words. */
export interface SyncedConn {
  family: 4 | 6;
  protocol: number;
  flags: number;
  state: number;
  caddr: ArrayLike<number>;
  cport: number;
  vaddr: ArrayLike<number>;
  vport: number;
  daddr: ArrayLike<number>;
  dport: number;
  fwmark: number;
  /** Seconds; 0: the state's own timeout. */
  timeout: number;
}

/** What a backup did with a received connection. */
export type SyncedResult =
  | "added"
  | "updated"
  /** A late message about a connection already replaced by a newer one: ignored, as the kernel. */
  | "stale"
  | "unsupported-protocol"
  | "bad-state"
  | "fullnat"
  | "table-full";

/**
 * Master: the state a connection had when it was last sent (kernel cp->old_state), per entry, and
 * where a connection to send goes (`send`, called on the packet path: it must not block).
 */
export class SyncMasterState {
  readonly oldState: Uint8Array;
  constructor(
    capacity: number,
    readonly send: (i: number) => void = () => {},
  ) {
    this.oldState = new Uint8Array(capacity);
  }
}

/**
 * Kernel ip_vs_sync_conn, called after each packet in on the master: the connection if needed
 * now, then its controlling template (whose packets-in count this look raises). A new connection
 * starts from state NONE (its entry may be a reused one). One-packet connections are never sent.
 */
export function syncAfterPacket(ds: DirectorState, m: SyncMasterState, i: number, isNew: boolean): void {
  const t = ds.conns;
  if (isNew) m.oldState[i] = 0;
  if (!(t.flags[i]! & CONN_F_ONE_PACKET) && syncNeeded(ds, m, i, t.inPkts[i]!)) m.send(i);
  const ct = t.control[i]!;
  if (ct >= 0 && t.flags[ct]! & CONN_F_TEMPLATE) {
    t.inPkts[ct]!++;
    if (syncNeeded(ds, m, ct, t.inPkts[ct]!)) m.send(ct);
  }
}

/**
 * Kernel ip_vs_sync_conn_needed with sync_refresh_period 0 (the only period the master acts on
 * here): a template whenever its connection is looked at; a TCP connection in a state worth
 * sending (SCTP likewise), at once when that state is not ESTABLISHED and new, and on the packet counts
 * `pkts % sync_period == sync_threshold` (or `== sync_threshold` with period 0); UDP on the counts.
 * `pkts` is the connection's incoming packets, this one included.
 */
export function syncNeeded(ds: DirectorState, m: SyncMasterState, i: number, pkts: number): boolean {
  const t = ds.conns;
  const flags = t.flags[i]!;
  const state = t.state[i]!;
  // Read by index: this runs after every packet in while a master sync daemon runs.
  const st = ds.sysctls.sync_threshold;
  const threshold = st[0];
  const period = st[1];
  if ((flags & CONN_F_FWD_MASK) === CONN_F_FULLNAT) return false;
  if (!(flags & CONN_F_TEMPLATE)) {
    const proto = t.protoOf(i);
    if (proto === IPPROTO_TCP || proto === IPPROTO_SCTP) {
      const tcp = proto === IPPROTO_TCP;
      if (!((1 << state) & (tcp ? TCP_SYNC_STATES : SCTP_SYNC_STATES))) return false;
      if (state !== m.oldState[i] && state !== (tcp ? TCP_S_ESTABLISHED : SCTP_S_ESTABLISHED)) {
        m.oldState[i] = state;
        return true;
      }
    }
    if (period > 0 ? pkts % period !== threshold : pkts !== threshold) return false;
  }
  m.oldState[i] = state;
  return true;
}

/**
 * Backup: kernel ip_vs_proc_sync_conn's checks and ip_vs_proc_conn. A known connection with
 * another real server is replaced (unless the message is that old connection's last word, marked
 * INACTIVE); a known one is updated (INACTIVE moves it between the real server's active and
 * inactive counts); an unknown one is created, bound to the real server when the backup has the
 * service and the server. Its packets-in count becomes sync_threshold, its state and timeout the
 * message's. The entry is marked SYNC (`-Lnc` origin).
 */
export function applySynced(ds: DirectorState, c: SyncedConn, now: number): SyncedResult {
  const t = ds.conns;
  let flags = (c.flags & CONN_F_BACKUP_MASK) | CONN_F_SYNC;
  const template = (flags & CONN_F_TEMPLATE) !== 0;
  if ((flags & CONN_F_FWD_MASK) === CONN_F_FULLNAT) return "fullnat";
  let stateTimeout = DEFAULT_SYNCED_TIMEOUT;
  if (!template) {
    if (c.protocol === IPPROTO_TCP) {
      if (c.state >= TCP_S_COUNT) return "bad-state";
      stateTimeout = ds.timeouts.tcp[c.state]!;
    } else if (c.protocol === IPPROTO_SCTP) {
      if (c.state >= SCTP_S_COUNT) return "bad-state";
      stateTimeout = ds.timeouts.sctp[c.state]!;
    } else if (c.protocol === IPPROTO_UDP) {
      if (c.state !== 0) return "bad-state";
      stateTimeout = ds.timeouts.udp;
    } else return "unsupported-protocol";
  }
  let i = t.lookupIn(c.protocol, c.family, c.caddr, c.cport, c.vaddr, c.vport, template);
  if (i >= 0 && !template && !sameDest(ds, i, c)) {
    if (c.flags & CONN_F_INACTIVE) return "stale";
    expireNow(ds, i, now);
    i = -1;
  }
  let result: SyncedResult = "updated";
  if (i >= 0) {
    const id = t.destId[i]!;
    const dest = id >= 0 ? ds.destById[id] : undefined;
    const old = t.flags[i]!;
    if ((old ^ flags) & CONN_F_INACTIVE && !template && dest) {
      if (flags & CONN_F_INACTIVE) {
        dest.activeConns--;
        dest.inactConns++;
      } else {
        dest.activeConns++;
        dest.inactConns--;
      }
    }
    flags = (flags & CONN_F_BACKUP_UPD_MASK) | (old & ~CONN_F_BACKUP_UPD_MASK);
    t.flags[i] = flags;
  } else {
    const svc =
      c.fwmark !== 0
        ? ds.svcs.findMark(c.family, c.fwmark)
        : ds.svcs.findAddr(c.family, c.protocol, c.vaddr, c.vport);
    const dest = svc?.dests.find((d) => d.port === c.dport && sameWords(d.addr.words, c.daddr, c.family));
    // One-packet scheduling never reaches a backup; the kernel's backup would not hash one either.
    i = newConn(
      ds,
      svc ?? null,
      c.protocol,
      c.family,
      c.caddr,
      c.cport,
      c.vaddr,
      c.vport,
      dest ?? null,
      c.family,
      c.daddr,
      c.dport,
      flags & ~CONN_F_ONE_PACKET,
      c.fwmark,
      now,
    );
    if (i < 0) return "table-full";
    result = "added";
  }
  t.inPkts[i] = ds.sysctls.sync_threshold[0];
  t.setState(i, c.state);
  const timeout = c.timeout > 0 ? Math.min(c.timeout, MAX_TIMEOUT) : stateTimeout;
  t.timeout[i] = timeout;
  t.wheel.arm(i, now + timeout);
  return result;
}

const daddrScratch = new Uint32Array(4);

function sameDest(ds: DirectorState, i: number, c: SyncedConn): boolean {
  const t = ds.conns;
  if (t.dportOf(i) !== c.dport || t.dafOf(i) !== c.family) return false;
  return sameWords(t.readDaddr(i, daddrScratch), c.daddr, c.family);
}

/** Master: what is sent of entry `i` (kernel ip_vs_sync_conn's fill of struct ip_vs_sync_v4/v6). */
export function syncRecordOf(ds: DirectorState, i: number): SyncedConn {
  const t = ds.conns;
  const family = t.afOf(i);
  return {
    family,
    protocol: t.protoOf(i),
    // The kernel sends its flags without IP_VS_CONN_F_HASHED; tslvs's own bits above 0xffff stay home.
    flags: t.flags[i]! & 0xffff & ~0x0040,
    state: t.state[i]!,
    caddr: t.readCaddr(i, new Uint32Array(4)),
    cport: t.cportOf(i),
    vaddr: t.readVaddr(i, new Uint32Array(4)),
    vport: t.vportOf(i),
    daddr: t.readDaddr(i, new Uint32Array(4)),
    dport: t.dportOf(i),
    fwmark: t.fwmark[i]!,
    timeout: t.timeout[i]!,
  };
}

function sameWords(a: ArrayLike<number>, b: ArrayLike<number>, family: 4 | 6): boolean {
  const n = family === 4 ? 1 : 4;
  for (let k = 0; k < n; k++) if (a[k]! >>> 0 !== b[k]! >>> 0) return false;
  return true;
}
