/**
 * node_exporter's `ipvs` collector, served by tslvs: the eight `node_ipvs_*` families with the same
 * names, types, HELP texts, labels and label values (spec B.1-B.2), so that queries and dashboards
 * written for node_exporter work unchanged. The backend labels can be narrowed as node_exporter's
 * `--collector.ipvs.backend-labels` narrows them: series whose kept labels are equal are summed.
 */
import { IpAddr } from "../core/address.js";
import type { CounterValues, ServiceEntry } from "./api.js";

/** The backend labels in node_exporter's canonical order. */
export const BACKEND_LABELS = [
  "local_address",
  "local_port",
  "remote_address",
  "remote_port",
  "proto",
  "local_mark",
] as const;
export type BackendLabel = (typeof BACKEND_LABELS)[number];

/**
 * Parses a `--metrics-ipvs-backend-labels` list as node_exporter does: comma-separated, reordered
 * to the canonical order, an unknown name refused, an empty list meaning no labels.
 */
export function parseBackendLabels(list: string): BackendLabel[] {
  const names = list
    .split(",")
    .map((n) => n.trim())
    .filter(Boolean);
  for (const n of names)
    if (!(BACKEND_LABELS as readonly string[]).includes(n))
      throw new Error(`unknown IPVS backend label ${JSON.stringify(n)} (known: ${BACKEND_LABELS.join(",")})`);
  return BACKEND_LABELS.filter((l) => names.includes(l));
}

const TOTALS: [string, string, keyof CounterValues][] = [
  ["node_ipvs_connections_total", "The total number of connections made.", "conns"],
  ["node_ipvs_incoming_packets_total", "The total number of incoming packets.", "inPkts"],
  ["node_ipvs_outgoing_packets_total", "The total number of outgoing packets.", "outPkts"],
  ["node_ipvs_incoming_bytes_total", "The total amount of incoming data.", "inBytes"],
  ["node_ipvs_outgoing_bytes_total", "The total amount of outgoing data.", "outBytes"],
];

const BACKEND: [string, string, "activeConns" | "inactConns" | "weight"][] = [
  [
    "node_ipvs_backend_connections_active",
    "The current active connections by local and remote address.",
    "activeConns",
  ],
  [
    "node_ipvs_backend_connections_inactive",
    "The current inactive connections by local and remote address.",
    "inactConns",
  ],
  ["node_ipvs_backend_weight", "The current backend weight by local and remote address.", "weight"],
];

/** An address as node_exporter prints it: IPv4 dotted, IPv6 compressed lower case. */
export function addrLabel(text: string): string {
  return IpAddr.mustParse(text).toString();
}

/** The four label values of a service, as procfs reads them from /proc/net/ip_vs. */
export function serviceLabels(
  s: ServiceEntry,
): Record<Exclude<BackendLabel, "remote_address" | "remote_port">, string> {
  const fwmark = s.id.fwmark !== undefined;
  return {
    local_address: fwmark ? "" : addrLabel(s.id.addr!),
    local_port: fwmark ? "0" : String(s.id.port),
    proto: fwmark ? "FWM" : s.id.protocol!.toUpperCase(),
    local_mark: fwmark ? (s.id.fwmark! >>> 0).toString(16).toUpperCase().padStart(8, "0") : "",
  };
}

/** The six label values of one real server of a service. */
export function backendLabels(
  s: ServiceEntry,
  d: ServiceEntry["dests"][number],
): Record<BackendLabel, string> {
  return { ...serviceLabels(s), remote_address: addrLabel(d.addr), remote_port: String(d.port) };
}

export const escapeLabel = (v: string) => v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");

/** Backend rows per slice: a slice is a few milliseconds of work, so the packet loop waits no longer. */
export const ROWS_PER_SLICE = 2000;

/**
 * The Prometheus text of the eight families as a generator that yields (undefined) between
 * slices: the services arrive in chunks (`chunks`, read as it goes), the equal series are summed,
 * and the lines are produced `ROWS_PER_SLICE` at a time. Returns the body's parts. The driver
 * decides what happens between slices: nothing (renderIpvsMetrics) or a turn of the event loop
 * (renderIpvsMetricsInSlices).
 */
export function* ipvsMetricsSlices(
  chunks: Iterable<readonly ServiceEntry[]>,
  totals: () => CounterValues,
  labels: readonly BackendLabel[] = BACKEND_LABELS,
): Generator<undefined, string[], undefined> {
  // Sum the rows whose kept labels are equal, in first-seen order.
  const rows = new Map<string, [number, number, number]>();
  let sinceYield = 0;
  for (const chunk of chunks) {
    for (const s of chunk)
      for (const d of s.dests) {
        const all = backendLabels(s, d);
        const text = labels.map((l) => `${l}="${escapeLabel(all[l])}"`).join(",");
        const row = rows.get(text);
        if (row) {
          row[0] += d.activeConns;
          row[1] += d.inactConns;
          row[2] += d.weight;
        } else rows.set(text, [d.activeConns, d.inactConns, d.weight]);
        sinceYield++;
      }
    if (sinceYield >= ROWS_PER_SLICE) {
      sinceYield = 0;
      yield;
    }
  }
  const t = totals();
  const parts: string[] = [];
  for (const [name, help, field] of TOTALS)
    parts.push(`# HELP ${name} ${help}\n# TYPE ${name} counter\n${name} ${t[field]}\n`);
  for (const [k, [name, help]] of BACKEND.entries()) {
    parts.push(`# HELP ${name} ${help}\n# TYPE ${name} gauge\n`);
    let lines: string[] = [];
    for (const [text, values] of rows) {
      lines.push(`${name}${text ? `{${text}}` : ""} ${values[k]}\n`);
      if (lines.length === ROWS_PER_SLICE) {
        parts.push(lines.join(""));
        lines = [];
        yield;
      }
    }
    parts.push(lines.join(""));
  }
  return parts;
}

/** The Prometheus text of the eight families for `services` and the director's `totals`, at once. */
export function renderIpvsMetrics(
  services: readonly ServiceEntry[],
  totals: CounterValues,
  labels: readonly BackendLabel[] = BACKEND_LABELS,
): string {
  const slices = ipvsMetricsSlices([services], () => totals, labels);
  for (;;) {
    const step = slices.next();
    if (step.done) return step.value.join("");
  }
}

/**
 * Drives ipvsMetricsSlices with a turn of the event loop between slices (setImmediate: the packet
 * loop's pending I/O runs first), so a large table's render never holds the slow path for longer
 * than one slice.
 */
export async function renderIpvsMetricsInSlices<T>(slices: Generator<undefined, T, undefined>): Promise<T> {
  for (;;) {
    const step = slices.next();
    if (step.done) return step.value;
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
}
