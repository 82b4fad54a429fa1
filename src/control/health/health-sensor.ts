import type { Dest } from "../../core/dest.js";
import type { ServiceKey, VirtualService } from "../../core/service.js";
import { hostPort } from "../api-mapping.js";
import type { HealthPlan, RsPlan } from "./health-plan.js";

/**
 * SYN retransmits + RSTs per second at or above which a real server's checks run at once. Three
 * a second is above what a healthy server sees from its clients' own packet loss at the
 * connection rates one director serves, and reached within a second by a handful of clients of a
 * server that refuses (each refused connection is one RST) or has stopped answering (each client
 * resends its SYN after 1 s, 3 s, 7 s...).
 */
export const SENSOR_THRESHOLD = 3;
/** Seconds before the sensor runs the same real server's checks again. */
export const SENSOR_HOLDOFF = 1;

/** A real server whose checks the sensor asks to run now, with what it saw. */
export interface SensorHit {
  /** The ServicePlan's identity ("tcp 198.18.0.10:80", "group WEB"). */
  service: string;
  rs: RsPlan;
  synRetransmits: number;
  rstReplies: number;
  /** The window the counts were seen in (about 1 s). */
  seconds: number;
}

export interface HealthSensorOptions {
  threshold?: number;
  holdoff?: number;
}

/**
 * A window of at least this many seconds is closed (its counts become the new baseline): the
 * daemon's 1 s timer fires a little early as often as late, and a window left open by a tick at
 * 0.999 s would count the same packets twice.
 */
const WINDOW_S = 0.9;

interface Baseline {
  syn: number;
  rst: number;
}

/**
 * The data path as a health sensor (docs/decisions/1010-data-path-health-sensor.md): the core
 * counts, on each dest, client SYNs retransmitted to it and RSTs it answered a SYN with; every
 * tick this reads the counts of the checked real servers, and names those whose rate in the
 * current window (at least a second) reaches the threshold, at most once per holdoff. It only
 * names them: the caller runs their checks, and the checks alone decide the weight.
 */
export class HealthSensor {
  readonly threshold: number;
  readonly holdoff: number;
  /** Each dest's counts at the window's start; a dest first seen starts its own from then. */
  private readonly base = new WeakMap<Dest, Baseline>();
  private windowStart = Number.NaN;
  private readonly lastTrigger = new Map<string, number>();

  constructor(opts: HealthSensorOptions = {}) {
    this.threshold = opts.threshold ?? SENSOR_THRESHOLD;
    this.holdoff = opts.holdoff ?? SENSOR_HOLDOFF;
  }

  /**
   * One look at the counters, `now` in seconds. Every planned service is read (also one whose
   * sensor is off, so that switching it on does not count its past); only services with the
   * sensor on, and real servers with checkers, are named.
   */
  sample(
    plan: HealthPlan,
    findService: (key: ServiceKey) => VirtualService | null | undefined,
    now: number,
  ): SensorHit[] {
    const first = Number.isNaN(this.windowStart);
    if (first) this.windowStart = now;
    const seconds = now - this.windowStart;
    const roll = seconds >= WINDOW_S;
    const sums = new Map<string, { syn: number; rst: number; dests: Dest[] }>();
    for (const sp of plan.services) {
      const on = sp.health.sensor !== false;
      for (const key of sp.keys) {
        const svc = findService(key);
        if (!svc) continue;
        for (const d of svc.dests) {
          const b = this.base.get(d);
          if (!b) {
            this.base.set(d, { syn: d.synRetransmits, rst: d.rstReplies });
            continue;
          }
          const syn = d.synRetransmits - b.syn;
          const rst = d.rstReplies - b.rst;
          if (roll) {
            b.syn = d.synRetransmits;
            b.rst = d.rstReplies;
          }
          if (!on || syn + rst <= 0) continue;
          // Every address of a group counts toward the group's one real server.
          const rsKey = `${sp.identity}|${hostPort(d.addr, d.port)}`;
          const s = sums.get(rsKey);
          if (s) {
            s.syn += syn;
            s.rst += rst;
            s.dests.push(d);
          } else sums.set(rsKey, { syn, rst, dests: [d] });
        }
      }
    }
    if (roll) this.windowStart = now;
    const hits: SensorHit[] = [];
    // A window shorter than a second is held to the whole second's threshold: reaching it early
    // is that rate already; a late tick's longer window to as many per second.
    const needed = this.threshold * Math.max(1, seconds);
    for (const [rsKey, s] of sums) {
      if (s.syn + s.rst < needed) continue;
      const rs = plan.rsByKey.get(rsKey);
      const sp = plan.serviceOfRs.get(rsKey);
      if (!rs || !sp || rs.checkerIds.length === 0) continue;
      const last = this.lastTrigger.get(rsKey);
      if (last !== undefined && now - last < this.holdoff) continue;
      this.lastTrigger.set(rsKey, now);
      // What triggered is used up: a window still open at the next tick does not count it again.
      for (const d of s.dests) {
        const b = this.base.get(d)!;
        b.syn = d.synRetransmits;
        b.rst = d.rstReplies;
      }
      hits.push({ service: sp.identity, rs, synRetransmits: s.syn, rstReplies: s.rst, seconds });
    }
    // Forget real servers that left the plan.
    if (this.lastTrigger.size > plan.rsByKey.size)
      for (const k of this.lastTrigger.keys()) if (!plan.rsByKey.has(k)) this.lastTrigger.delete(k);
    return hits;
  }
}

/** The log line of a hit. */
export function sensorMessage(h: SensorHit): string {
  const s = Math.max(0.1, Math.round(h.seconds * 10) / 10);
  return `sensor: ${h.rs.target} of ${h.service}: ${h.synRetransmits} SYN retransmits, ${h.rstReplies} RSTs in ${s} s: checking now`;
}
