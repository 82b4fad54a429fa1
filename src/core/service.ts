import type { Family, IpAddr } from "./address.js";
import type { Dest } from "./dest.js";
import type { Scheduler } from "./scheduler.js";
import { Counters } from "./stats.js";

/** Service flags (kernel IP_VS_SVC_F_*). */
export const SVC_F_PERSISTENT = 0x0001;
export const SVC_F_HASHED = 0x0002;
export const SVC_F_ONEPACKET = 0x0004;
/** Scheduler flags: sh/mh "fallback" and "port", and a spare third. */
export const SVC_F_SCHED1 = 0x0008;
export const SVC_F_SCHED2 = 0x0010;
export const SVC_F_SCHED3 = 0x0020;
/**
 * tslvs extension (not a kernel flag): FULLNAT sends the client's address to the real server in a
 * TOA TCP option (kind 254, DPVS's format) on the first packet acknowledging its SYN-ACK.
 */
export const SVC_F_TOA = 0x0100;

/** Which table a service lives in: by (protocol, address, port) or by firewall mark. */
export type ServiceKey =
  | { kind: "addr"; protocol: number; addr: IpAddr; port: number }
  | { kind: "fwmark"; family: Family; fwmark: number };

/** The settings of a virtual service, as ipvsadm sends them (what `-A`/`-E` carry). */
export interface ServiceSpec {
  key: ServiceKey;
  /** Scheduler name; "none" means no scheduler (kernel accepts it). */
  scheduler: string;
  /** SVC_F_* bits the user sets: PERSISTENT, ONEPACKET, SCHED1..3. */
  flags: number;
  /** Persistence timeout in seconds (meaningful with SVC_F_PERSISTENT). */
  timeout: number;
  /**
   * Persistence granularity, stored as the kernel stores it: IPv4 a 32-bit mask (unsigned,
   * 0xffffffff = /32, not necessarily contiguous); IPv6 a prefix length 1..128.
   */
  netmask: number;
  /** Persistence engine name ("" = none; "sip" is accepted and stored). */
  pe: string;
}

/**
 * A virtual service (kernel `struct ip_vs_service`). `dests` keeps the kernel's list order:
 * the newest-added real server first, because rr/wrr order and every tie-break depend on it.
 */
export class VirtualService {
  readonly id: number;
  readonly key: ServiceKey;
  schedName: string;
  scheduler: Scheduler | null = null;
  flags: number;
  timeout: number;
  netmask: number;
  pe: string;
  readonly dests: Dest[] = [];
  readonly stats = new Counters();
  /** New connections that found no real server (kernel ip_vs_leave), since start; not zeroed by -Z. */
  noDestination = 0;

  constructor(id: number, spec: ServiceSpec) {
    this.id = id;
    this.key = spec.key;
    this.schedName = spec.scheduler;
    this.flags = spec.flags;
    this.timeout = spec.timeout;
    this.netmask = spec.netmask;
    this.pe = spec.pe;
  }

  get family(): Family {
    return this.key.kind === "addr" ? this.key.addr.family : this.key.family;
  }

  get persistent(): boolean {
    return (this.flags & SVC_F_PERSISTENT) !== 0;
  }

  get isFwmark(): boolean {
    return this.key.kind === "fwmark";
  }

  /** Service port (0 for fwmark services). */
  get port(): number {
    return this.key.kind === "addr" ? this.key.port : 0;
  }
}
