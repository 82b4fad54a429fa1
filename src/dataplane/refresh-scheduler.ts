/**
 * When the engine re-reads the host's state: soon after a change is reported (after a short quiet
 * time, so that a burst of notifications — an interface with its addresses and routes — costs one
 * refresh), never two at once, no more often than a minimum interval while changes keep coming, and
 * on a slow safety timer in case a change went unreported.
 */

export interface RefreshTiming {
  /** Wait after a request before refreshing, collecting the requests that follow (ms). */
  debounceMs: number;
  /** Least time between the starts of two refreshes (ms). */
  minIntervalMs: number;
  /** A refresh at least this often, requested or not (ms). */
  safetyMs: number;
}

export const DEFAULT_REFRESH_TIMING: RefreshTiming = { debounceMs: 75, minIntervalMs: 500, safetyMs: 30_000 };

export class RefreshScheduler {
  private timer: NodeJS.Timeout | null = null;
  private safety: NodeJS.Timeout | null = null;
  private inFlight = false;
  /** A request came while a refresh ran: it may have read the tables before the change. */
  private again = false;
  private lastStart = Number.NEGATIVE_INFINITY;
  private stopped = false;
  /** Refreshes run so far. */
  runs = 0;

  constructor(
    private readonly refresh: () => Promise<void>,
    private readonly timing: RefreshTiming = DEFAULT_REFRESH_TIMING,
    /** Milliseconds, monotonic. */
    private readonly now: () => number = () => performance.now(),
  ) {
    this.safety = setInterval(() => this.request(), timing.safetyMs);
    this.safety.unref();
  }

  /** Asks for a refresh; requests made before it starts are served by the same one. */
  request(): void {
    if (this.stopped || this.timer) return;
    if (this.inFlight) {
      this.again = true;
      return;
    }
    const sinceLast = this.now() - this.lastStart;
    const delay = Math.max(this.timing.debounceMs, this.timing.minIntervalMs - sinceLast);
    this.timer = setTimeout(this.fire, delay);
    this.timer.unref();
  }

  private readonly fire = (): void => {
    this.timer = null;
    if (this.stopped) return;
    this.inFlight = true;
    this.lastStart = this.now();
    this.runs++;
    this.refresh()
      .catch(() => {
        /* the refresh reports its own failures */
      })
      .finally(() => {
        this.inFlight = false;
        if (this.again) {
          this.again = false;
          this.request();
        }
      });
  };

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.safety) clearInterval(this.safety);
    this.timer = null;
    this.safety = null;
  }
}
