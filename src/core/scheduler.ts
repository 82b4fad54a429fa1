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
}

/**
 * One scheduler instance bound to one service (kernel `struct ip_vs_scheduler` + its
 * `sched_data`). The hooks mirror the kernel's: called after the service's dest list changed.
 */
export interface Scheduler {
  readonly name: string;
  /** Pick a real server for a new connection (or persistence template); null = no destination. */
  schedule(svc: VirtualService, pkt: FlowPacket): Dest | null;
  /** A dest was added at the head of svc.dests. */
  addDest?(svc: VirtualService, dest: Dest): void;
  /** A dest was removed (it is no longer in svc.dests). */
  delDest?(svc: VirtualService, dest: Dest): void;
  /** A dest's weight or thresholds were edited. */
  updDest?(svc: VirtualService, dest: Dest): void;
  /**
   * A dest's activeConns, inactConns, persistConns or flags (OVERLOAD) changed because a conn was
   * bound, unbound or changed state. Optional: for schedulers that keep an index over those counts.
   */
  destChanged?(svc: VirtualService, dest: Dest): void;
  /** The scheduler is unbound from the service. */
  done?(svc: VirtualService): void;
}

/** A scheduler module: the 14 built-ins and plugins all export one of these. */
export interface SchedulerModule {
  readonly name: string;
  /** Bind a new instance to a service whose dests may already exist. */
  create(svc: VirtualService, ctx: SchedulerContext): Scheduler;
}
