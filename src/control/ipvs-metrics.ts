/**
 * node_exporter's `ipvs` collector, served by tslvs: the eight `node_ipvs_*` families with the same
 * names, types, HELP texts, labels and label values (spec B.1-B.2), so that queries and dashboards
 * written for node_exporter work unchanged. The backend labels can be narrowed as node_exporter's
 * `--collector.ipvs.backend-labels` narrows them: series whose kept labels are equal are summed.
 */
import { IpAddr } from "../core/address.js";
import type { CounterValues, ServiceEntry, ServiceId } from "./api.js";

/**
 * What the metrics families read of a service: its identity, counters and real servers. A
 * ServiceEntry is one; so is what the HTTP thread rebuilds from a snapshot (metrics-snapshot.ts).
 */
export interface MetricsService {
  id: ServiceId;
  stats: CounterValues;
  /** New connections that found no real server (tslvs_scheduler_no_destination_total). */
  noDestination?: number;
  dests: readonly MetricsDest[];
}

export interface MetricsDest {
  /** As the API writes it (IpAddr's text). */
  addr: string;
  port: number;
  weight: number;
  activeConns: number;
  inactConns: number;
  persistConns: number;
  stats: CounterValues;
}

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

/**
 * True when `text` is dotted IPv4 as IpAddr prints it: four decimal numbers 0-255 without leading
 * zeros. Such a text is its own label, with no parse and format.
 */
function isPrintedV4(text: string): boolean {
  const n = text.length;
  if (n < 7 || n > 15) return false;
  let dots = 0;
  let value = 0;
  let digits = 0;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === 46) {
      if (digits === 0 || ++dots > 3) return false;
      digits = 0;
      value = 0;
    } else if (c >= 48 && c <= 57) {
      if (digits === 1 && value === 0) return false;
      value = value * 10 + (c - 48);
      if (++digits > 3 || value > 255) return false;
    } else return false;
  }
  return dots === 3 && digits > 0;
}

/** Labels of other spellings already formatted (the IPv6 real servers of a large table). */
const printed = new Map<string, string>();

/** An address as node_exporter prints it: IPv4 dotted, IPv6 compressed lower case. */
export function addrLabel(text: string): string {
  if (isPrintedV4(text)) return text;
  let label = printed.get(text);
  if (label === undefined) {
    label = IpAddr.mustParse(text).toString();
    if (printed.size >= 65536) printed.clear();
    printed.set(text, label);
  }
  return label;
}

/** The four label values of a service, as procfs reads them from /proc/net/ip_vs. */
export function serviceLabels(
  s: Pick<ServiceEntry, "id">,
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
  s: Pick<ServiceEntry, "id">,
  d: Pick<MetricsDest, "addr" | "port">,
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
  chunks: Iterable<readonly MetricsService[]>,
  totals: () => CounterValues,
  labels: readonly BackendLabel[] = BACKEND_LABELS,
): Generator<undefined, string[], undefined> {
  // The label text of a row is the service's kept labels before the real server's, the real
  // server's, then the service's after them (canonical order: local_address, local_port,
  // remote_address, remote_port, proto, local_mark), each service's part built once.
  const keep = new Set<string>(labels);
  const keepRemoteAddress = keep.has("remote_address");
  const keepRemotePort = keep.has("remote_port");
  const allKept = labels.length === BACKEND_LABELS.length;
  // Sum the rows whose kept labels are equal, in first-seen order. With all six labels kept, two
  // rows can be equal only between fwmark services (an IPv4 and an IPv6 one with the same mark
  // give equal service labels, and their real servers may be equal too): a service is unique by
  // protocol, address and port, a real server within it by address and port, so the other rows
  // are appended without a look-up.
  const texts: string[] = [];
  const active: number[] = [];
  const inactive: number[] = [];
  const weight: number[] = [];
  const index = new Map<string, number>();
  let sinceYield = 0;
  for (const chunk of chunks) {
    for (const s of chunk) {
      const sl = serviceLabels(s);
      let before = "";
      let after = "";
      if (keep.has("local_address")) before = `local_address="${escapeLabel(sl.local_address)}"`;
      if (keep.has("local_port")) before += `${before ? "," : ""}local_port="${escapeLabel(sl.local_port)}"`;
      if (keep.has("proto")) after = `proto="${escapeLabel(sl.proto)}"`;
      if (keep.has("local_mark")) after += `${after ? "," : ""}local_mark="${escapeLabel(sl.local_mark)}"`;
      const lookUp = !allKept || s.id.fwmark !== undefined;
      for (const d of s.dests) {
        let text = before;
        if (keepRemoteAddress) text += `${text ? "," : ""}remote_address="${addrLabel(d.addr)}"`;
        if (keepRemotePort) text += `${text ? "," : ""}remote_port="${d.port}"`;
        if (after) text += text ? `,${after}` : after;
        if (lookUp) {
          const i = index.get(text);
          if (i !== undefined) {
            active[i]! += d.activeConns;
            inactive[i]! += d.inactConns;
            weight[i]! += d.weight;
            sinceYield++;
            continue;
          }
          index.set(text, texts.length);
        }
        texts.push(text ? `{${text}} ` : " ");
        active.push(d.activeConns);
        inactive.push(d.inactConns);
        weight.push(d.weight);
        sinceYield++;
      }
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
  const columns = [active, inactive, weight];
  for (const [k, [name, help]] of BACKEND.entries()) {
    parts.push(`# HELP ${name} ${help}\n# TYPE ${name} gauge\n`);
    const values = columns[k]!;
    for (let i = 0; i < texts.length; i += ROWS_PER_SLICE) {
      const end = Math.min(i + ROWS_PER_SLICE, texts.length);
      const lines = new Array<string>(end - i);
      for (let j = i; j < end; j++) lines[j - i] = `${name}${texts[j]}${values[j]}\n`;
      parts.push(lines.join(""));
      if (end - i === ROWS_PER_SLICE) yield;
    }
  }
  return parts;
}

/** The Prometheus text of the eight families for `services` and the director's `totals`, at once. */
export function renderIpvsMetrics(
  services: readonly MetricsService[],
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
