/**
 * One VRRP instance's state machine (RFC 5798 §6.4, with keepalived's preempt_delay, FAULT and
 * sync-group moves): INIT, BACKUP, MASTER, FAULT. No sockets, no timers: time is passed in
 * (seconds, monotonic), received adverts are passed in already checked, and what the instance
 * does is asked of `VrrpActions` (send an advert, take or release the VIPs, tell the state). The
 * engine (vrrp-engine.ts) calls tick() at the deadline this returns.
 */
import { PRIORITY_OWNER, PRIORITY_STOP } from "../../net/vrrp.js";
import type { VrrpInstanceConfig } from "./vrrp-config.js";

export type VrrpState = "INIT" | "BACKUP" | "MASTER" | "FAULT";

export interface VrrpActions {
  /** Send one advertisement with this priority (0 when stepping down). */
  sendAdvert(priority: number): void;
  /** Put the VIPs on and announce them (GARP / unsolicited NA). */
  takeVips(): void;
  releaseVips(): void;
  /** The state changed (notify scripts, events, sync group). `why` is for the log. */
  stateChanged(from: VrrpState, to: VrrpState, why: string): void;
  /** Whether a backup whose master down timer ran out may take over now (a sync group says no while a member still hears its master). */
  mayTakeOver?(now: number): boolean;
}

/** An advertisement as the state machine needs it (checked by the engine). */
export interface ReceivedAdvert {
  priority: number;
  /** centiseconds (v3: the master's; v2: ours, since a different one was dropped) */
  interval: number;
  /** The sender's IP address (4 or 16 bytes): breaks ties between equal priorities. */
  source: Uint8Array;
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return a.length - b.length;
}

export class VrrpInstance {
  state: VrrpState = "INIT";
  /** The priority in use: the configured one moved by tracked scripts and interfaces. */
  priority: number;
  /** Seconds: the master's advertisement interval (v3 learns it from the master's adverts). */
  masterAdverInterval: number;
  /** When a backup declares the master down; when a master sends its next advert. */
  private downAt = Number.POSITIVE_INFINITY;
  private advertAt = Number.POSITIVE_INFINITY;
  /** preempt_delay: since when adverts of a lower priority have been seen (null: not now). */
  private lowerSince: number | null = null;
  /** Why the instance is in FAULT (a tracked interface or script), or null. */
  private faultReason: string | null = null;
  /** The address of the master heard last (for `tslvs status`). */
  masterAddress: Uint8Array | null = null;
  transitions = 0;
  advertsSent = 0;
  advertsReceived = 0;
  becameMasterAt: number | null = null;

  constructor(
    readonly config: VrrpInstanceConfig,
    /** This router's address on the instance's interface (the advert's source). */
    readonly localAddress: Uint8Array,
    private readonly actions: VrrpActions,
  ) {
    this.priority = config.priority;
    this.masterAdverInterval = config.advertInt;
  }

  get skewTime(): number {
    return ((256 - this.priority) * this.masterAdverInterval) / 256;
  }

  /** RFC 5798 §6.1: Master_Down_Interval = 3 * Master_Adver_Interval + Skew_time. */
  get masterDownInterval(): number {
    return 3 * this.masterAdverInterval + this.skewTime;
  }

  /** The next time tick() has something to do. */
  get deadline(): number {
    if (this.state === "BACKUP") return this.downAt;
    if (this.state === "MASTER") return this.advertAt;
    return Number.POSITIVE_INFINITY;
  }

  /**
   * RFC 5798 §6.4.1 (Initialize): the owner (priority 255) becomes master at once; the others wait
   * as backups. `state MASTER` below 255 waits one advert interval plus skew instead of the full
   * down interval: a running master of higher priority is heard first, else this one takes over.
   */
  start(now: number): void {
    if (this.faultReason !== null) {
      this.enter("FAULT", now, this.faultReason);
      return;
    }
    if (this.config.priority === PRIORITY_OWNER) {
      this.becomeMaster(now, "address owner (priority 255)");
      return;
    }
    this.enter("BACKUP", now, "start");
    // preempt_delay counts at startup too (keepalived.conf(5)): the first takeover waits as long.
    if (this.config.preempt) this.downAt += this.config.preemptDelay;
    if (this.config.initialState === "MASTER") this.downAt = now + this.config.advertInt + this.skewTime;
  }

  tick(now: number): void {
    if (this.state === "BACKUP" && now >= this.downAt) {
      if (this.actions.mayTakeOver && !this.actions.mayTakeOver(now)) return;
      this.becomeMaster(now, "no advertisement for the master down interval");
    } else if (this.state === "MASTER" && now >= this.advertAt) {
      this.sendAdvert(now);
    }
  }

  /** A checked advertisement for this instance's router id arrived. */
  receive(adv: ReceivedAdvert, now: number): void {
    this.advertsReceived++;
    if (this.state === "BACKUP") {
      if (adv.priority === PRIORITY_STOP) {
        // The master steps down: take over after Skew_time (RFC 5798 §6.4.2).
        this.masterAddress = adv.source;
        this.downAt = now + this.skewTime;
        return;
      }
      const lower = adv.priority < this.priority;
      if (lower) this.lowerSince ??= now;
      else this.lowerSince = null;
      const mayPreempt =
        this.config.preempt &&
        (this.lowerSince === null || now >= this.lowerSince + this.config.preemptDelay);
      if (!lower || !mayPreempt) {
        this.masterAddress = adv.source;
        if (this.config.version === 3) this.masterAdverInterval = adv.interval / 100;
        this.downAt = now + this.masterDownInterval;
      }
      // else: a lower priority master while preemption is allowed: ignored, the timer runs out.
      return;
    }
    if (this.state === "MASTER") {
      if (adv.priority === PRIORITY_STOP) {
        this.sendAdvert(now);
        return;
      }
      const higher =
        adv.priority > this.priority ||
        (adv.priority === this.priority && compareBytes(adv.source, this.localAddress) > 0);
      if (higher) {
        this.masterAddress = adv.source;
        if (this.config.version === 3) this.masterAdverInterval = adv.interval / 100;
        this.becomeBackup(now, `higher priority advertisement (${adv.priority}) from another router`);
      }
    }
  }

  /** A tracked interface or script put the instance in FAULT (reason) or took it out (null). */
  setFault(reason: string | null, now: number): void {
    const was = this.faultReason;
    this.faultReason = reason;
    if (this.state === "INIT") return;
    if (reason !== null && this.state !== "FAULT") {
      if (this.state === "MASTER") this.stepDown();
      this.enter("FAULT", now, reason);
    } else if (reason === null && was !== null && this.state === "FAULT") {
      this.becomeBackup(now, "fault cleared");
    }
  }

  get fault(): string | null {
    return this.faultReason;
  }

  /** The tracked weights moved the priority (the owner's 255 never moves). */
  setPriority(p: number, now: number): void {
    const next = this.config.priority === PRIORITY_OWNER ? PRIORITY_OWNER : Math.max(1, Math.min(254, p));
    if (next === this.priority) return;
    this.priority = next;
    // A master tells the others at once, so that a backup now higher can preempt.
    if (this.state === "MASTER") this.sendAdvert(now);
  }

  /** A sync group moves this member with another one (keepalived's vrrp_sync_group). */
  follow(to: "MASTER" | "BACKUP" | "FAULT", now: number, why: string): void {
    if (this.state === to || this.state === "INIT") return;
    if (to === "MASTER") {
      if (this.state !== "FAULT") this.becomeMaster(now, why);
    } else if (to === "BACKUP") {
      // A member held in FAULT by the group (no fault of its own) comes back with it.
      if (this.state === "MASTER" || (this.state === "FAULT" && this.faultReason === null))
        this.becomeBackup(now, why);
    } else {
      if (this.state === "MASTER") this.stepDown();
      this.enter("FAULT", now, why);
    }
  }

  /** Shutdown (RFC 5798 §6.4.3): a master sends priority 0 and gives the addresses back. */
  stop(now: number): void {
    if (this.state === "MASTER") this.stepDown();
    this.enter("INIT", now, "stopping");
  }

  private stepDown(): void {
    this.actions.sendAdvert(PRIORITY_STOP);
    this.advertsSent++;
    this.actions.releaseVips();
  }

  private becomeMaster(now: number, why: string): void {
    this.sendAdvert(now);
    this.actions.takeVips();
    this.becameMasterAt = now;
    this.masterAddress = this.localAddress;
    this.enter("MASTER", now, why);
  }

  private becomeBackup(now: number, why: string): void {
    if (this.state === "MASTER") this.actions.releaseVips();
    this.enter("BACKUP", now, why);
  }

  private sendAdvert(now: number): void {
    this.actions.sendAdvert(this.priority);
    this.advertsSent++;
    this.advertAt = now + this.config.advertInt;
  }

  private enter(to: VrrpState, now: number, why: string): void {
    const from = this.state;
    if (to === "BACKUP") {
      if (this.config.version === 2 || from !== "MASTER") this.masterAdverInterval = this.config.advertInt;
      this.downAt = now + this.masterDownInterval;
      this.lowerSince = null;
    }
    if (from === to) return;
    this.state = to;
    this.transitions++;
    this.actions.stateChanged(from, to, why);
  }
}
