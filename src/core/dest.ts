import type { IpAddr } from "./address.js";
import { Counters } from "./stats.js";

/** Forwarding method of a real server (kernel IP_VS_CONN_F_FWD_MASK values; FULLNAT as DPVS). */
export type FwdMethod = "masq" | "local" | "tunnel" | "route" | "fullnat";

/** Dest flags (kernel IP_VS_DEST_F_*). */
export const DEST_F_AVAILABLE = 0x0001;
export const DEST_F_OVERLOAD = 0x0002;

export type TunType = "ipip" | "gue" | "gre";
export type TunCsum = "nocsum" | "csum" | "remcsum";

/** The settings of a real server, as ipvsadm sends them (what `-a`/`-e` carry). */
export interface DestSpec {
  addr: IpAddr;
  port: number;
  method: FwdMethod;
  weight: number;
  /** Upper / lower connection thresholds, 0 = off. */
  uThreshold: number;
  lThreshold: number;
  tunType: TunType;
  tunPort: number;
  tunCsum: TunCsum;
}

/**
 * Something that keeps state derived from a dest's scheduling inputs (a scheduler's index):
 * it is told whenever `weight`, `flags`, `activeConns` or `inactConns` is written.
 */
export interface DestWatcher {
  destChanged(dest: Dest): void;
}

/**
 * A real server of one virtual service (kernel `struct ip_vs_dest`). Schedulers read `weight`,
 * `flags`, `activeConns`, `inactConns`; the connection table updates the counts.
 *
 * Those four are accessors: writing one tells the dest's `watcher` (if any), so a scheduler that
 * indexes dests by load stays exact without every writer having to remember a notification.
 */
export class Dest {
  /** Small integer, unique among live dests of the director: the connection table stores it. */
  readonly id: number;
  addr: IpAddr;
  port: number;
  method: FwdMethod;
  uThreshold: number;
  lThreshold: number;
  tunType: TunType;
  tunPort: number;
  tunCsum: TunCsum;
  persistConns = 0;
  /**
   * Kernel `last_weight`: the weight given when the dest was added, then the latest non-zero
   * weight. mh builds its table from it, so quiescing (weight 0) does not reshuffle the table.
   */
  lastWeight: number;
  readonly stats = new Counters();
  /**
   * Handshake trouble seen on this dest's connections, for the health sensor (never zeroed; read
   * as deltas): a client SYN again while the conn waits in SYN_RECV (the first went unanswered or
   * its answer was lost), and a RST from a NAT/FULLNAT real server to a conn not yet ESTABLISHED.
   */
  synRetransmits = 0;
  rstReplies = 0;
  /** Scheduler-private slot (e.g. mh/sh bookkeeping); schedulers may use it freely. */
  schedData: unknown = undefined;
  /** Told about writes to the scheduling inputs; set by the scheduler bound to the dest's service. */
  watcher: DestWatcher | null = null;
  /** A number the watcher may use to find this dest in its own tables (e.g. a list position). */
  watchSlot = -1;

  private _weight: number;
  private _flags = DEST_F_AVAILABLE;
  private _activeConns = 0;
  private _inactConns = 0;

  constructor(id: number, spec: DestSpec) {
    this.id = id;
    this.addr = spec.addr;
    this.port = spec.port;
    this.method = spec.method;
    this._weight = spec.weight;
    this.lastWeight = spec.weight;
    this.uThreshold = spec.uThreshold;
    this.lThreshold = spec.lThreshold;
    this.tunType = spec.tunType;
    this.tunPort = spec.tunPort;
    this.tunCsum = spec.tunCsum;
  }

  get weight(): number {
    return this._weight;
  }

  /** Setting a non-zero weight also records it as `lastWeight` (kernel `__ip_vs_update_dest`). */
  set weight(w: number) {
    this._weight = w;
    if (w !== 0) this.lastWeight = w;
    if (this.watcher !== null) this.watcher.destChanged(this);
  }

  /** DEST_F_* bits. */
  get flags(): number {
    return this._flags;
  }

  set flags(f: number) {
    this._flags = f;
    if (this.watcher !== null) this.watcher.destChanged(this);
  }

  get activeConns(): number {
    return this._activeConns;
  }

  set activeConns(n: number) {
    this._activeConns = n;
    if (this.watcher !== null) this.watcher.destChanged(this);
  }

  get inactConns(): number {
    return this._inactConns;
  }

  set inactConns(n: number) {
    this._inactConns = n;
    if (this.watcher !== null) this.watcher.destChanged(this);
  }

  get available(): boolean {
    return (this._flags & DEST_F_AVAILABLE) !== 0;
  }

  get overloaded(): boolean {
    return (this._flags & DEST_F_OVERLOAD) !== 0;
  }

  /** Kernel ip_vs_dest_conn_overhead: active * 256 + total (active + inactive) = 257a + i. */
  get overhead(): number {
    return this._activeConns * 257 + this._inactConns;
  }
}
