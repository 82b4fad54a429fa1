/**
 * Drives a packet-processing step on the Node.js main thread without starving the event loop.
 *
 * While the step finds work, it runs back to back for a bounded number of rounds, then yields with
 * setImmediate (so timers, signals and the control socket are served between bursts). When a round
 * finds nothing, the loop blocks in poll() on the RX sockets for a short timeout — cheaper than
 * spinning, and the only syscall an idle data plane makes — then yields as well.
 */
import { errno, libc, SysError } from "../../platform/libc.js";
import { NativeMemory } from "../../platform/native-memory.js";
import type { XskSocket } from "./xsk-socket.js";

const POLLIN = 0x1;
const EINTR = 4;

export interface PacketLoopOptions {
  /** How long an idle round blocks in poll() (default 5 ms; keep it short: the event loop waits too). */
  idleTimeoutMs?: number;
  /** Busy rounds before yielding to the event loop (default 64). */
  roundsPerYield?: number;
}

export class PacketLoop {
  private readonly pollfds: NativeMemory;
  private readonly idleTimeoutMs: number;
  private readonly roundsPerYield: number;
  private running = false;
  private done: (() => void) | null = null;
  private failed: ((e: unknown) => void) | null = null;
  /** poll() calls made while idle (for statistics). */
  idlePolls = 0;

  /**
   * @param step processes one batch; returns the number of frames it handled (0 = nothing to do).
   * @param sockets the RX sockets whose readiness ends an idle wait.
   */
  constructor(
    private readonly step: () => number,
    private readonly sockets: readonly XskSocket[],
    options: PacketLoopOptions = {},
  ) {
    this.idleTimeoutMs = options.idleTimeoutMs ?? 5;
    this.roundsPerYield = options.roundsPerYield ?? 64;
    this.pollfds = NativeMemory.allocate(8 * Math.max(1, sockets.length));
    sockets.forEach((s, i) => {
      this.pollfds.view.setInt32(i * 8, s.fd, true);
      this.pollfds.view.setInt16(i * 8 + 4, POLLIN, true);
    });
  }

  /** Runs until stop(); the promise settles then (or rejects with the step's error). */
  run(): Promise<void> {
    if (this.running) throw new Error("packet loop already running");
    this.running = true;
    return new Promise<void>((resolve, reject) => {
      this.done = resolve;
      this.failed = reject;
      setImmediate(this.tick);
    });
  }

  stop(): void {
    this.running = false;
  }

  private readonly tick = (): void => {
    if (!this.running) {
      this.finish(null);
      return;
    }
    try {
      for (let round = 0; round < this.roundsPerYield; round++) {
        if (this.step() > 0) continue;
        this.idlePolls++;
        const r = libc().poll(this.pollfds.ptr, this.sockets.length, this.idleTimeoutMs);
        if (r < 0 && errno() !== EINTR) throw new SysError("poll(AF_XDP sockets)", errno());
        break;
      }
    } catch (e) {
      this.running = false;
      this.finish(e);
      return;
    }
    setImmediate(this.tick);
  };

  private finish(error: unknown): void {
    this.pollfds.free();
    const done = this.done;
    const failed = this.failed;
    this.done = null;
    this.failed = null;
    if (error !== null) failed?.(error);
    else done?.();
  }
}
