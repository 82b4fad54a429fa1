/**
 * The table's numbers for /metrics, packed for the HTTP thread (http-thread.ts): one Float64Array
 * of every service's and real server's counters and gauges, handed over without a copy (its
 * buffer is transferred), and the labels' source — each service's identity and its real servers'
 * addresses — only when the table's shape changed since the previous snapshot. The packet loop's
 * thread then does a loop of number stores per scrape-second; the text, its encoding, compression
 * and the sockets are the HTTP thread's.
 */
import type { Dest } from "../core/dest.js";
import type { VirtualService } from "../core/service.js";
import type { CounterValues, ServiceId } from "./api.js";
import { keyToServiceId } from "./api-mapping.js";
import type { MetricsDest, MetricsService } from "./ipvs-metrics.js";

/** Values per service: conns, inPkts, outPkts, inBytes, outBytes, noDestination. */
export const SERVICE_VALUES = 6;
/** Values per real server: activeConns, inactConns, persistConns, weight, then the five counters. */
export const DEST_VALUES = 9;

/** The labels' source: services in table order, each with its real servers in order. */
export interface MetricsLayout {
  services: { id: ServiceId; dests: { addr: string; port: number }[] }[];
}

export interface MetricsSnapshot {
  /** Changes whenever the layout does; the HTTP thread keeps the last layout it was sent. */
  generation: number;
  /** Set when the shape changed (and on the first snapshot); null: the previous generation's. */
  layout: MetricsLayout | null;
  values: Float64Array;
  totals: CounterValues;
}

/** Packs snapshots, remembering the shape it last sent to know when to send it again. */
export class MetricsSnapshotter {
  private generation = 0;
  private lastServices: readonly VirtualService[] = [];
  private lastDests: Dest[] = [];
  private sent = false;

  /**
   * A snapshot of `services` and the director's `totals`, in one go: number stores only (about
   * 2 ms for 10,000 services of 10 real servers), so no rule change can land half-way through.
   */
  take(services: readonly VirtualService[], totals: CounterValues): MetricsSnapshot {
    let size = services.length * SERVICE_VALUES;
    let destCount = 0;
    for (const s of services) destCount += s.dests.length;
    size += destCount * DEST_VALUES;
    const values = new Float64Array(size);
    let same =
      this.sent && services.length === this.lastServices.length && destCount === this.lastDests.length;
    let at = 0;
    let flat = 0;
    for (let i = 0; i < services.length; i++) {
      const s = services[i]!;
      if (same && s !== this.lastServices[i]) same = false;
      const st = s.stats;
      values[at] = st.conns;
      values[at + 1] = st.inPkts;
      values[at + 2] = st.outPkts;
      values[at + 3] = st.inBytes;
      values[at + 4] = st.outBytes;
      values[at + 5] = s.noDestination;
      at += SERVICE_VALUES;
      for (const d of s.dests) {
        if (same && d !== this.lastDests[flat]) same = false;
        flat++;
        const ds = d.stats;
        values[at] = d.activeConns;
        values[at + 1] = d.inactConns;
        values[at + 2] = d.persistConns;
        values[at + 3] = d.weight;
        values[at + 4] = ds.conns;
        values[at + 5] = ds.inPkts;
        values[at + 6] = ds.outPkts;
        values[at + 7] = ds.inBytes;
        values[at + 8] = ds.outBytes;
        at += DEST_VALUES;
      }
    }
    let layout: MetricsLayout | null = null;
    if (!same) {
      // The table changed shape since the last snapshot: the labels' source goes again.
      this.generation++;
      layout = { services: [] };
      const dests: Dest[] = [];
      for (const s of services) {
        layout.services.push({
          id: keyToServiceId(s.key),
          dests: s.dests.map((d) => ({ addr: d.addr.toString(), port: d.port })),
        });
        dests.push(...s.dests);
      }
      this.lastServices = [...services];
      this.lastDests = dests;
      this.sent = true;
    }
    const t = totals;
    return {
      generation: this.generation,
      layout,
      values,
      totals: {
        conns: t.conns,
        inPkts: t.inPkts,
        outPkts: t.outPkts,
        inBytes: t.inBytes,
        outBytes: t.outBytes,
      },
    };
  }

  /** The generation of the last layout sent (0: none yet). */
  get generationSent(): number {
    return this.sent ? this.generation : 0;
  }

  /** The HTTP thread lost its layout (it was restarted): the next snapshot carries it again. */
  forget(): void {
    this.sent = false;
  }
}

/**
 * The services a snapshot describes, in chunks of about `perChunk` real servers, as the renderers
 * read them (ipvs-metrics.ts, tslvs-metrics.ts). On the HTTP thread.
 */
export function* unpackSnapshot(
  layout: MetricsLayout,
  values: Float64Array,
  perChunk = 2000,
): Generator<MetricsService[], void, undefined> {
  let chunk: MetricsService[] = [];
  let rows = 0;
  let at = 0;
  for (const s of layout.services) {
    const dests = new Array<MetricsDest>(s.dests.length);
    const stats = counters(values, at);
    const noDestination = values[at + 5]!;
    at += SERVICE_VALUES;
    for (let j = 0; j < s.dests.length; j++) {
      const d = s.dests[j]!;
      dests[j] = {
        addr: d.addr,
        port: d.port,
        activeConns: values[at]!,
        inactConns: values[at + 1]!,
        persistConns: values[at + 2]!,
        weight: values[at + 3]!,
        stats: counters(values, at + 4),
      };
      at += DEST_VALUES;
    }
    chunk.push({ id: s.id, stats, noDestination, dests });
    rows += 1 + dests.length;
    if (rows >= perChunk) {
      yield chunk;
      chunk = [];
      rows = 0;
    }
  }
  if (chunk.length) yield chunk;
}

function counters(values: Float64Array, at: number): CounterValues {
  return {
    conns: values[at]!,
    inPkts: values[at + 1]!,
    outPkts: values[at + 2]!,
    inBytes: values[at + 3]!,
    outBytes: values[at + 4]!,
  };
}
