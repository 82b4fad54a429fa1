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
 * A real server of one virtual service (kernel `struct ip_vs_dest`). Schedulers read `weight`,
 * `flags`, `activeConns`, `inactConns`; the connection table updates the counts.
 */
export class Dest {
  /** Small integer, unique among live dests of the director: the connection table stores it. */
  readonly id: number;
  addr: IpAddr;
  port: number;
  method: FwdMethod;
  weight: number;
  uThreshold: number;
  lThreshold: number;
  tunType: TunType;
  tunPort: number;
  tunCsum: TunCsum;
  flags = DEST_F_AVAILABLE;
  activeConns = 0;
  inactConns = 0;
  persistConns = 0;
  readonly stats = new Counters();
  /** Scheduler-private slot (e.g. mh/sh bookkeeping); schedulers may use it freely. */
  schedData: unknown = undefined;

  constructor(id: number, spec: DestSpec) {
    this.id = id;
    this.addr = spec.addr;
    this.port = spec.port;
    this.method = spec.method;
    this.weight = spec.weight;
    this.uThreshold = spec.uThreshold;
    this.lThreshold = spec.lThreshold;
    this.tunType = spec.tunType;
    this.tunPort = spec.tunPort;
    this.tunCsum = spec.tunCsum;
  }

  get available(): boolean {
    return (this.flags & DEST_F_AVAILABLE) !== 0;
  }

  get overloaded(): boolean {
    return (this.flags & DEST_F_OVERLOAD) !== 0;
  }

  /** Kernel ip_vs_dest_conn_overhead: active * 256 + total (active + inactive) = 257a + i. */
  get overhead(): number {
    return this.activeConns * 256 + this.activeConns + this.inactConns;
  }
}
