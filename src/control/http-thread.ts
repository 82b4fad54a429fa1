import { Worker } from "node:worker_threads";
import type { Logger } from "pino";
import type { HttpAddress, HttpSecurity } from "./http-endpoint.js";
import type { FromHttpThread, HttpThreadData, MetricsInputs, ToHttpThread } from "./http-worker.js";
import type { BackendLabel } from "./ipvs-metrics.js";

/** Milliseconds before an HTTP thread that died is started again. */
const RESTART_DELAY_MS = 1000;

/** What the HTTP thread asks the daemon for. */
export interface HttpSources {
  /**
   * The numbers of a /metrics render. `generation`: the table layout the thread holds (0: none),
   * so that a restarted thread gets the layout again.
   */
  metrics(generation: number): MetricsInputs;
  /** The /api/dashboard document. */
  dashboard(): unknown;
}

/**
 * The daemon's side of the HTTP thread (http-worker.ts): the endpoint listens, renders and writes
 * there; this side answers its requests for numbers, and starts it again (on the same address)
 * if it dies, so a crash of the endpoint never touches forwarding.
 */
export class HttpThread {
  private worker: Worker | null = null;
  private stopped = false;
  private restartTimer: NodeJS.Timeout | null = null;
  private bound: HttpAddress;
  restarts = 0;

  private constructor(
    private readonly data: HttpThreadData,
    private readonly sources: HttpSources,
    private readonly log: Logger,
  ) {
    this.bound = data.at;
  }

  /** Starts the thread and resolves once it listens; rejects with the endpoint's error. */
  static async listen(
    at: HttpAddress,
    security: HttpSecurity,
    backendLabels: readonly BackendLabel[],
    sources: HttpSources,
    log: Logger,
  ): Promise<HttpThread> {
    const t = new HttpThread({ at, security, backendLabels }, sources, log);
    t.bound = await t.start(at);
    return t;
  }

  /** Where it listens (the port chosen when 0 was asked for). */
  get address(): HttpAddress {
    return this.bound;
  }

  private start(at: HttpAddress): Promise<HttpAddress> {
    const w = new Worker(new URL("./http-worker.js", import.meta.url), {
      workerData: { ...this.data, at } satisfies HttpThreadData,
    });
    this.worker = w;
    // The thread must not keep a stopping daemon alive.
    w.unref();
    return new Promise((resolve, reject) => {
      let listening = false;
      w.on("message", (m: FromHttpThread) => {
        if (m.type === "listening") {
          listening = true;
          if (m.niceError) this.log.warn({ err: m.niceError }, "HTTP thread: priority not lowered");
          resolve(m.address);
        } else if (m.type === "listen-failed") {
          this.worker = null;
          void w.terminate();
          reject(new Error(m.message));
        } else if (m.type === "want") this.answer(w, m);
      });
      w.on("error", (e) => this.log.error({ err: e.message }, "HTTP thread failed"));
      w.on("exit", (code) => {
        if (!listening) reject(new Error(`the HTTP thread exited (${code}) before listening`));
        if (this.worker !== w) return;
        this.worker = null;
        if (this.stopped) return;
        this.restarts++;
        this.log.error({ code, restarts: this.restarts }, "HTTP thread exited; restarting it");
        this.restartTimer = setTimeout(() => {
          this.restartTimer = null;
          this.start(this.bound).catch((e: Error) =>
            this.log.error({ err: e.message }, "HTTP thread could not listen again"),
          );
        }, RESTART_DELAY_MS);
      });
    });
  }

  private answer(w: Worker, m: Extract<FromHttpThread, { type: "want" }>): void {
    let reply: ToHttpThread;
    const transfer: ArrayBuffer[] = [];
    try {
      if (m.what === "metrics") {
        const inputs = this.sources.metrics(m.generation);
        reply = { type: "metrics", id: m.id, inputs };
        transfer.push(inputs.snapshot.values.buffer as ArrayBuffer);
      } else reply = { type: "dashboard", id: m.id, doc: this.sources.dashboard() };
    } catch (e) {
      reply = { type: "failed", id: m.id, message: String(e) };
    }
    w.postMessage(reply, transfer);
  }

  /** Terminates the thread (tests: a crash must be survived). */
  crashForTest(): Promise<number> | undefined {
    return this.worker?.terminate();
  }

  /** Stops listening, closes every connection, and ends the thread. */
  async close(): Promise<void> {
    this.stopped = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    const w = this.worker;
    if (!w) return;
    this.worker = null;
    await new Promise<void>((resolve) => {
      const done = () => resolve();
      w.once("exit", done);
      w.on("message", (m: FromHttpThread) => {
        if (m.type === "closed") void w.terminate();
      });
      w.postMessage({ type: "close" } satisfies ToHttpThread);
      // A thread stuck in a render is not waited for long.
      setTimeout(() => void w.terminate(), 2000).unref();
    });
  }
}
