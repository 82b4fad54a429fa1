import type { Dest } from "./dest.js";
import type { FlowPacket } from "./flow.js";
import type { VirtualService } from "./service.js";

/**
 * What a scheduler may use besides the service and the packet: the time (seconds, as a float,
 * passed in by the caller) and a random source (for twos). Both are injected so that the core
 * stays deterministic under test.
 */
export interface SchedulerContext {
  /** Current time in seconds. */
  now(): number;
  /** Uniform integer in [0, n). */
  randomBelow(n: number): number;
  /**
   * Live sysctl values in seconds, read at each use as the kernel does:
   * `net.ipv4.vs.lblc_expiration` / `lblcr_expiration`. Absent: 86400 (24 h).
   */
  lblcExpiration?(): number;
  lblcrExpiration?(): number;
}

/**
 * One scheduler instance bound to one service (kernel `struct ip_vs_scheduler` + its
 * `sched_data`). The hooks mirror the kernel's: called after the service's dest list changed.
 */
export interface Scheduler {
  readonly name: string;
  /** Pick a real server for a new connection (or persistence template); null = no destination. */
  schedule(svc: VirtualService, pkt: FlowPacket): Dest | null;
  /**
   * What schedule() would pick now, changing nothing (`tslvs trace`): no position moved, no cache
   * entry created or refreshed. `now` is the time in seconds. Absent: the scheduler cannot be traced.
   */
  dryRun?(svc: VirtualService, pkt: FlowPacket, now: number): SchedulerDryRun;
  /** A dest was added at the head of svc.dests. */
  addDest?(svc: VirtualService, dest: Dest): void;
  /** A dest was removed (it is no longer in svc.dests). */
  delDest?(svc: VirtualService, dest: Dest): void;
  /** A dest's weight or thresholds were edited. */
  updDest?(svc: VirtualService, dest: Dest): void;
  /**
   * A dest's activeConns / inactConns / weight / flags changed (no kernel counterpart: the kernel
   * rescans every dest per decision). Built-in schedulers also learn this through `Dest.watcher`,
   * so calling it is never required for correctness; it is cheap (O(1)) and idempotent.
   */
  destChanged?(svc: VirtualService, dest: Dest): void;
  /** The scheduler is unbound from the service. */
  done?(svc: VirtualService): void;
}

/** A scheduler's dry run (see `Scheduler.dryRun`). */
export interface SchedulerDryRun {
  /** The pick; null when no dest is usable, or when the choice is random (then `odds` is set). */
  dest: Dest | null;
  /** How it decides, in short sentences. */
  notes: string[];
  /** A random choice (twos): each candidate and its chance of being chosen. */
  odds?: { dest: Dest; p: number }[];
}

/** A scheduler module: the 14 built-ins and plugins all export one of these. */
export interface SchedulerModule {
  readonly name: string;
  /** Bind a new instance to a service whose dests may already exist. */
  create(svc: VirtualService, ctx: SchedulerContext): Scheduler;
}
