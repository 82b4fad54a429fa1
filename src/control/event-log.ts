/**
 * The daemon's recent events, for the dashboard: real servers up and down, quorum changes, reloads
 * applied or refused, the start, the connection table filling up and having room again. A bounded
 * ring (the last 200 by default): recording is O(1) and never grows with the daemon's uptime.
 */

export type EventKind =
  | "start"
  | "rs-up"
  | "rs-down"
  | "quorum-up"
  | "quorum-down"
  | "reload-applied"
  | "reload-refused"
  | "table-full"
  | "table-room"
  | "handover"
  | "vrrp-state";

export interface EventRecord {
  /** ISO 8601 time it happened. */
  at: string;
  kind: EventKind;
  /** One line, as an operator reads it ("real server 198.19.0.1:80 of tcp 198.18.0.10:80 DOWN (...)"). */
  message: string;
}

export const EVENT_LOG_CAPACITY = 200;

export class EventLog {
  private readonly ring: (EventRecord | undefined)[];
  /** Where the next record goes; records before it (cyclically) are older. */
  private next = 0;
  private count = 0;
  /** Every event recorded since start, by kind (the ring forgets; /metrics counts). */
  readonly totals = new Map<EventKind, number>();

  constructor(readonly capacity = EVENT_LOG_CAPACITY) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`capacity ${capacity}`);
    this.ring = new Array<EventRecord | undefined>(capacity);
  }

  record(kind: EventKind, message: string, at: Date = new Date()): void {
    this.ring[this.next] = { at: at.toISOString(), kind, message };
    this.next = (this.next + 1) % this.capacity;
    if (this.count < this.capacity) this.count++;
    this.totals.set(kind, (this.totals.get(kind) ?? 0) + 1);
  }

  /** The events kept, newest first. */
  list(): EventRecord[] {
    const out: EventRecord[] = [];
    for (let i = 1; i <= this.count; i++) {
      out.push(this.ring[(this.next - i + this.capacity) % this.capacity]!);
    }
    return out;
  }

  get size(): number {
    return this.count;
  }
}
