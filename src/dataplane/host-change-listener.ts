/**
 * Tells the engine, soon after the fact, that the host's links, addresses, routes or neighbours
 * changed (docs/decisions/0770-host-change-events.md). Kernel notifications arrive on an rtnetlink
 * socket that a cheap timer drains without blocking: a read that finds nothing costs one syscall
 * of about a microsecond, so checking every 100 ms is free next to the packet loop, and the
 * listener needs no part of the loop's poll() set (which is rebuilt whenever ports come or go).
 */

import { RECEIVE_OVERRUN, RtnetlinkSocket } from "../platform/rtnetlink-socket.js";
import { HostChange, readHostChanges } from "./host-changes.js";
import { NeighbourLladdrs } from "./neighbour-lladdrs.js";

export interface HostChangeListenerOptions {
  /** How often the socket is drained (default 100 ms). */
  checkEveryMs?: number;
  /** Told once when the socket fails and listening stops. */
  onFailure?: (err: Error) => void;
}

/** Datagrams read per check at most, so a flood cannot hold the event loop; the rest waits. */
const MAX_READS_PER_CHECK = 256;

export class HostChangeListener {
  private readonly neighbours = new NeighbourLladdrs();
  private timer: NodeJS.Timeout | null = null;
  private socket: RtnetlinkSocket | null;
  /** Notifications read, and overruns (messages the kernel dropped). */
  messages = 0;
  overruns = 0;

  private constructor(
    socket: RtnetlinkSocket,
    private readonly onChange: (kinds: number) => void,
    private readonly opts: HostChangeListenerOptions,
  ) {
    this.socket = socket;
  }

  /**
   * Subscribes in the caller's network namespace and starts checking; `onChange` gets the kinds
   * (HostChange bits) seen in one check, never zero. Throws if the socket cannot be opened.
   */
  static start(onChange: (kinds: number) => void, opts: HostChangeListenerOptions = {}): HostChangeListener {
    const listener = new HostChangeListener(RtnetlinkSocket.open(), onChange, opts);
    listener.timer = setInterval(() => listener.check(), opts.checkEveryMs ?? 100);
    listener.timer.unref();
    return listener;
  }

  /** Reads what is queued now (without waiting) and reports it; returns the kinds seen. */
  check(): number {
    const socket = this.socket;
    if (!socket) return HostChange.NONE;
    let kinds = 0;
    try {
      for (let i = 0; i < MAX_READS_PER_CHECK; i++) {
        const n = socket.receive();
        if (n === 0) break;
        if (n === RECEIVE_OVERRUN) {
          this.overruns++;
          kinds |= HostChange.ALL;
          continue;
        }
        this.messages++;
        kinds |= readHostChanges(socket.bytes, n, this.neighbours);
      }
    } catch (e) {
      // A socket that fails once will fail again: stop, and let the caller fall back to polling.
      this.stop();
      this.opts.onFailure?.(e as Error);
      kinds |= HostChange.ALL;
    }
    if (kinds !== 0) this.onChange(kinds);
    return kinds;
  }

  get listening(): boolean {
    return this.socket !== null;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.socket?.close();
    this.socket = null;
  }
}
