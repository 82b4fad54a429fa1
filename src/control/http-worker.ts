/**
 * The HTTP thread (started by http-thread.ts): the daemon's HTTP endpoint runs here, off the
 * packet loop's thread. It asks the daemon for a snapshot of the numbers when a scrape finds no
 * fresh body (at most once a second), and renders, encodes, compresses and writes here; a scrape
 * storm then costs the packet loop one snapshot a second, whatever the number of scrapers.
 */
import { parentPort, workerData } from "node:worker_threads";
import { createGzip } from "node:zlib";
import { niceThisThread } from "../platform/thread-priority.js";
import type { HealthMetricRow } from "./health/health-book.js";
import { type ConfigSample, renderHealthMetrics } from "./health-metrics.js";
import { type HttpAddress, HttpEndpoint, type HttpSecurity } from "./http-endpoint.js";
import { type BackendLabel, ipvsMetricsSlices, renderIpvsMetricsInSlices } from "./ipvs-metrics.js";
import { type MetricsLayout, type MetricsSnapshot, unpackSnapshot } from "./metrics-snapshot.js";
import { type DirectorSample, tslvsMetricsSlices } from "./tslvs-metrics.js";
import type { VrrpListing } from "./vrrp/vrrp-engine.js";
import { renderVrrpMetrics } from "./vrrp/vrrp-metrics.js";

export interface HttpThreadData {
  at: HttpAddress;
  security: HttpSecurity;
  backendLabels: readonly BackendLabel[];
}

/** What the daemon sends for a /metrics render. */
export interface MetricsInputs {
  snapshot: MetricsSnapshot;
  sample: DirectorSample;
  health: HealthMetricRow[];
  config: ConfigSample;
  /** The VRRP engine's instances (null without one). */
  vrrp: VrrpListing | null;
}

export type ToHttpThread =
  | { type: "metrics"; id: number; inputs: MetricsInputs }
  | { type: "dashboard"; id: number; doc: unknown }
  | { type: "failed"; id: number; message: string }
  | { type: "close" };

export type FromHttpThread =
  | { type: "listening"; address: HttpAddress; niceError: string | null }
  | { type: "listen-failed"; message: string }
  | { type: "want"; id: number; what: "metrics"; generation: number }
  | { type: "want"; id: number; what: "dashboard" }
  | { type: "closed" };

/**
 * The HTTP thread's nice value: scrapes and dashboards share the CPUs with the packet loop, and
 * under a storm of them the packet loop must win (as the health checker's thread, nice 10).
 */
export const HTTP_THREAD_NICE = 10;

/** A body is served to every request for a second after its render ends. */
const FRESH_MS = 1000;

function gzipParts(parts: readonly Buffer[]): Promise<readonly Buffer[]> {
  return new Promise((resolve, reject) => {
    const z = createGzip({ level: 1 });
    const out: Buffer[] = [];
    z.on("data", (c: Buffer) => out.push(c));
    z.on("end", () => resolve(out));
    z.on("error", reject);
    for (const p of parts) z.write(p);
    z.end();
  });
}

function* render(
  layout: MetricsLayout,
  inputs: MetricsInputs,
  labels: readonly BackendLabel[],
): Generator<undefined, Buffer[], undefined> {
  const chunks = [...unpackSnapshot(layout, inputs.snapshot.values)];
  yield;
  const ipvs = yield* ipvsMetricsSlices(chunks, () => inputs.snapshot.totals, labels);
  const own = yield* tslvsMetricsSlices(chunks, () => inputs.sample);
  own.push(...renderHealthMetrics(inputs.health, inputs.config));
  if (inputs.vrrp) own.push(...renderVrrpMetrics(inputs.vrrp));
  // Encoded once here, not once per scrape: a storm of scrapes then writes the same bytes.
  const bytes: Buffer[] = [];
  for (const part of [...ipvs, ...own]) {
    bytes.push(Buffer.from(part, "utf8"));
    if (part.length > 65536) yield;
  }
  return bytes;
}

async function main(): Promise<void> {
  const port = parentPort;
  if (!port) throw new Error("http-worker.js runs as a worker thread");
  const data = workerData as HttpThreadData;
  const niceError = niceThisThread(HTTP_THREAD_NICE);
  let endpoint: HttpEndpoint;
  try {
    endpoint = await HttpEndpoint.listen(data.at, data.security);
  } catch (e) {
    port.postMessage({ type: "listen-failed", message: (e as Error).message } satisfies FromHttpThread);
    return;
  }

  let nextId = 1;
  const waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  const ask = <T>(m: FromHttpThread & { id: number }): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      waiting.set(m.id, { resolve: resolve as (v: unknown) => void, reject });
      port.postMessage(m);
    });

  let layout: MetricsLayout | null = null;
  let generation = 0;
  let metrics: { at: number; body: Promise<readonly Buffer[]>; gzip?: Promise<readonly Buffer[]> } | null =
    null;
  const metricsBody = (): Promise<readonly Buffer[]> => {
    if (metrics && Date.now() - metrics.at < FRESH_MS) return metrics.body;
    const body = ask<MetricsInputs>({ type: "want", id: nextId++, what: "metrics", generation }).then(
      (inputs) => {
        const snap = inputs.snapshot;
        if (snap.layout) {
          layout = snap.layout;
          generation = snap.generation;
        }
        if (!layout || snap.generation !== generation) throw new Error("metrics snapshot without its layout");
        return renderIpvsMetricsInSlices(render(layout, inputs, data.backendLabels));
      },
    );
    const entry: { at: number; body: Promise<readonly Buffer[]>; gzip?: Promise<readonly Buffer[]> } = {
      at: Date.now(),
      body,
    };
    metrics = entry;
    // The second of freshness counts from when the body is done: a render longer than a second
    // under a storm is not followed at once by the next.
    body.then(
      () => (entry.at = Date.now()),
      () => {
        if (metrics === entry) metrics = null;
      },
    );
    return body;
  };
  endpoint.metrics = metricsBody;
  endpoint.metricsGzip = () => {
    const body = metricsBody();
    const entry = metrics;
    if (!entry || entry.body !== body) return body.then(gzipParts);
    entry.gzip ??= body.then(gzipParts);
    return entry.gzip;
  };

  let dashboard: { at: number; body: Promise<Buffer> } | null = null;
  endpoint.dashboard = () => {
    if (dashboard && Date.now() - dashboard.at < FRESH_MS) return dashboard.body;
    const body = ask<unknown>({ type: "want", id: nextId++, what: "dashboard" }).then((doc) =>
      Buffer.from(JSON.stringify(doc), "utf8"),
    );
    const entry = { at: Date.now(), body };
    dashboard = entry;
    body.catch(() => {
      if (dashboard === entry) dashboard = null;
    });
    return body;
  };

  port.on("message", (m: ToHttpThread) => {
    if (m.type === "close") {
      for (const w of waiting.values()) w.reject(new Error("the daemon is stopping"));
      waiting.clear();
      void endpoint.close().then(() => {
        port.postMessage({ type: "closed" } satisfies FromHttpThread);
        port.close();
      });
      return;
    }
    const w = waiting.get(m.id);
    if (!w) return;
    waiting.delete(m.id);
    if (m.type === "metrics") w.resolve(m.inputs);
    else if (m.type === "dashboard") w.resolve(m.doc);
    else w.reject(new Error(m.message));
  });
  port.postMessage({ type: "listening", address: endpoint.address, niceError } satisfies FromHttpThread);
}

void main();
