/**
 * tslvs's own `tslvs_*` families (spec B.6), served on /metrics after node_exporter's: what
 * `ipvsadm --stats` shows per service and per real server as counters (node_exporter has only the
 * totals), the packet engine's frames and drops by reason, the steering program's decisions, the
 * fast path's flows and packets, the connection table's fill and connections by state, the event
 * loop's delay (the slow path, the control socket and the scrapes share one thread), and the
 * process's standard `process_*` families. Labels of services and real servers are node_exporter's
 * backend labels.
 */
import { readdirSync } from "node:fs";
import type { StatsEntry } from "./api.js";
import type { TableFill } from "./director-port.js";
import {
  addrLabel,
  escapeLabel,
  type MetricsService,
  ROWS_PER_SLICE,
  serviceLabels,
} from "./ipvs-metrics.js";

/** What the director's one-off families are rendered from, read when the render ends. */
export interface DirectorSample {
  version: string;
  routerId: string;
  fill: TableFill;
  live: Omit<StatsEntry, "dataPlane"> | null;
  /** Event-loop delay percentiles in seconds (perf_hooks.monitorEventLoopDelay). */
  eventLoop: { p50: number; p99: number; max: number };
  /** Live connections by `-Lnc` state name and persistence templates (the core's running counts). */
  states?: { byState: Record<string, number>; templates: number } | null;
  /** The running sync daemons' counters (connection sync), by role. */
  sync?: { role: string; messages: number; conns: number; byReason: Record<string, number> }[];
  /** The process's resources (processSample), under the standard `process_*` names. */
  process?: ProcessSample | null;
}

/** What prom-client's and node_exporter's process collector export, for this process. */
export interface ProcessSample {
  cpuSeconds: number;
  residentBytes: number;
  startTimeSeconds: number;
  /** Null where /proc/self/fd cannot be read. */
  openFds: number | null;
}

/** Unix time the process started, fixed: uptime and the clock read once. */
const startTimeSeconds = Date.now() / 1000 - process.uptime();

/** This process's CPU time, resident memory, start time and open descriptors, read now. */
export function processSample(): ProcessSample {
  const cpu = process.cpuUsage();
  let openFds: number | null = null;
  try {
    // Less the descriptor the listing itself holds open.
    openFds = readdirSync("/proc/self/fd").length - 1;
  } catch {
    // not Linux, or no /proc
  }
  return {
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
    residentBytes: process.memoryUsage.rss(),
    startTimeSeconds,
    openFds,
  };
}

/** The steering program's counters by the decision label they are exported under. */
export const STEERING_DECISIONS: readonly (readonly [string, string])[] = [
  ["service", "SERVICE"],
  ["service_any_port", "SERVICE_ANY_PORT"],
  ["reply", "REPLY"],
  ["local_port", "LOCAL_PORT"],
  ["fragment", "FRAGMENT"],
  ["icmp_error", "ICMP_ERROR"],
  ["pass_not_ip", "PASS_NOT_IP"],
  ["pass_no_match", "PASS_NO_MATCH"],
  ["pass_malformed", "PASS_MALFORMED"],
  ["pass_other_host", "PASS_OTHER_HOST"],
  ["pass_to_host", "PASS_TO_HOST"],
];

/** The fast-path program's hand-offs to the slow path, by the decision label they are exported under. */
export const FASTPATH_DECISIONS: readonly (readonly [string, string])[] = [
  ["miss", "MISS"],
  ["slow_control", "SLOW_CONTROL"],
  ["slow_ttl", "SLOW_TTL"],
  ["slow_partial_checksum", "SLOW_PARTIAL_CHECKSUM"],
  ["slow_too_long", "SLOW_TOO_LONG"],
  ["slow_other_host", "SLOW_OTHER_HOST"],
  ["slow_tunnel_no_df", "SLOW_TUNNEL_NO_DF"],
  ["slow_no_headroom", "SLOW_NO_HEADROOM"],
];

/** A family's lines; `pending` holds the lines not yet joined into `lines` (see add). */
type Family = {
  name: string;
  help: string;
  type: "counter" | "gauge";
  lines: string[];
  pending: string[];
};

const family = (name: string, type: Family["type"], help: string): Family => ({
  name,
  help,
  type,
  lines: [],
  pending: [],
});

/**
 * Appends a line to `f`, joined with the previous ones, ROWS_PER_SLICE lines to an element of
 * `f.lines`: joined while the lines are young, so that only the joined text outlives the slice
 * (fewer, larger strings for the garbage collector to keep than the lines or a concatenation's
 * pieces).
 */
function add(f: Family, line: string): void {
  if (f.pending.push(line) === ROWS_PER_SLICE) {
    f.lines.push(f.pending.join(""));
    f.pending = [];
  }
}

/** The engine's drop counters by the reason label they are exported under. */
export const DROP_REASONS: readonly (readonly [string, string])[] = [
  ["malformed", "malformed"],
  ["no_route", "noRoute"],
  ["ttl_expired", "ttlExpired"],
  ["rewrite_failed", "rewriteFailed"],
  ["fragment", "fragmentsDropped"],
  ["sctp_bad_checksum", "sctpBadChecksum"],
  ["icmp_unrelated", "icmpUnrelated"],
  ["no_local_port", "noLocalPort"],
  ["tx_full", "txFull"],
  ["passed_dropped", "passedAndDropped"],
  ["dropped", "dropped"],
  ["error", "errors"],
  ["kernel_rx_dropped", "kernelRxDropped"],
  ["kernel_rx_ring_full", "kernelRxRingFull"],
  ["next_hop_refused", "nextHopRefused"],
];

/**
 * The families as a generator that yields between slices (see ipvsMetricsSlices), returning the
 * body's parts. Per-service and per-real-server counters come from `chunks`; the rest from
 * `sample()`, read once the table has been walked.
 */
export function* tslvsMetricsSlices(
  chunks: Iterable<readonly MetricsService[]>,
  sample: () => DirectorSample,
): Generator<undefined, string[], undefined> {
  const svcConns = family(
    "tslvs_service_connections_total",
    "counter",
    "Connections scheduled by the service.",
  );
  const svcPkts = family("tslvs_service_packets_total", "counter", "Packets of the service's connections.");
  const svcBytes = family("tslvs_service_bytes_total", "counter", "Bytes of the service's connections.");
  const rsConns = family(
    "tslvs_backend_connections_total",
    "counter",
    "Connections scheduled to the real server.",
  );
  const rsPkts = family(
    "tslvs_backend_packets_total",
    "counter",
    "Packets of the real server's connections.",
  );
  const rsBytes = family("tslvs_backend_bytes_total", "counter", "Bytes of the real server's connections.");
  const rsTemplates = family(
    "tslvs_backend_persistent_connections",
    "gauge",
    "Persistence templates pointing at the real server.",
  );
  const noDest = family(
    "tslvs_scheduler_no_destination_total",
    "counter",
    "New connections for which the service found no real server (answered, passed or bypassed).",
  );
  // These families' lines are joined as they are made (add), a slice's worth to a string.
  const joined = new Set([svcConns, svcPkts, svcBytes, rsConns, rsPkts, rsBytes, rsTemplates, noDest]);
  let rows = 0;
  for (const chunk of chunks) {
    for (const s of chunk) {
      const sl = serviceLabels(s);
      const labels = `local_address="${escapeLabel(sl.local_address)}",local_port="${escapeLabel(sl.local_port)}",proto="${escapeLabel(sl.proto)}",local_mark="${escapeLabel(sl.local_mark)}"`;
      for (const d of s.dests) {
        const rs = `${labels},remote_address="${addrLabel(d.addr)}",remote_port="${d.port}"`;
        const st = d.stats;
        add(rsConns, `tslvs_backend_connections_total{${rs}} ${st.conns}\n`);
        add(rsPkts, `tslvs_backend_packets_total{${rs},direction="in"} ${st.inPkts}\n`);
        add(rsPkts, `tslvs_backend_packets_total{${rs},direction="out"} ${st.outPkts}\n`);
        add(rsBytes, `tslvs_backend_bytes_total{${rs},direction="in"} ${st.inBytes}\n`);
        add(rsBytes, `tslvs_backend_bytes_total{${rs},direction="out"} ${st.outBytes}\n`);
        add(rsTemplates, `tslvs_backend_persistent_connections{${rs}} ${d.persistConns}\n`);
      }
      add(svcConns, `tslvs_service_connections_total{${labels}} ${s.stats.conns}\n`);
      add(svcPkts, `tslvs_service_packets_total{${labels},direction="in"} ${s.stats.inPkts}\n`);
      add(svcPkts, `tslvs_service_packets_total{${labels},direction="out"} ${s.stats.outPkts}\n`);
      add(svcBytes, `tslvs_service_bytes_total{${labels},direction="in"} ${s.stats.inBytes}\n`);
      add(svcBytes, `tslvs_service_bytes_total{${labels},direction="out"} ${s.stats.outBytes}\n`);
      if (s.noDestination !== undefined)
        add(noDest, `tslvs_scheduler_no_destination_total{${labels}} ${s.noDestination}\n`);
      rows += 1 + s.dests.length;
    }
    if (rows >= ROWS_PER_SLICE / 4) {
      // Each row makes several lines: a quarter of the node_ipvs slice is about as long.
      rows = 0;
      yield;
    }
  }
  for (const f of joined) if (f.pending.length) f.lines.push(f.pending.join(""));
  const x = sample();
  const one = (f: Family, labels: string, value: number) =>
    f.lines.push(`${f.name}${labels ? `{${labels}}` : ""} ${value}\n`);
  const info = family("tslvs_info", "gauge", "The director's version and router id (always 1).");
  one(info, `version="${escapeLabel(x.version)}",router_id="${escapeLabel(x.routerId)}"`, 1);
  const entries = family("tslvs_conn_table_entries", "gauge", "Connections and templates in the table.");
  one(entries, "", x.fill.entries);
  const capacity = family(
    "tslvs_conn_table_capacity",
    "gauge",
    "Entries the connection table holds at most.",
  );
  one(capacity, "", x.fill.capacity);
  const refused = family(
    "tslvs_conn_table_refused_total",
    "counter",
    "New connections refused because the connection table was full.",
  );
  one(refused, "", x.fill.refusedFull);
  const defense = x.fill.defense;
  const defenseFamilies: Family[] = [];
  if (defense) {
    const active = family(
      "tslvs_defense_active",
      "gauge",
      "1 while the memory-defence strategy is in force (the drop_entry, drop_packet, secure_tcp sysctls).",
    );
    one(active, 'strategy="drop_entry"', defense.dropEntry ? 1 : 0);
    one(active, 'strategy="drop_packet"', defense.dropRate ? 1 : 0);
    one(active, 'strategy="secure_tcp"', defense.secureTcp ? 1 : 0);
    const dropped = family(
      "tslvs_defense_drops_total",
      "counter",
      "New connections refused by drop_packet, and entries dropped by drop_entry.",
    );
    one(dropped, 'strategy="drop_packet"', defense.packetsDropped);
    one(dropped, 'strategy="drop_entry"', defense.entriesDropped);
    defenseFamilies.push(active, dropped);
  }
  const loop = family(
    "tslvs_event_loop_delay_seconds",
    "gauge",
    "Event-loop delay since the previous render (the slow path, control socket and scrapes share the loop).",
  );
  one(loop, 'stat="p50"', x.eventLoop.p50);
  one(loop, 'stat="p99"', x.eventLoop.p99);
  one(loop, 'stat="max"', x.eventLoop.max);
  const out = [
    svcConns,
    svcPkts,
    svcBytes,
    rsConns,
    rsPkts,
    rsBytes,
    rsTemplates,
    noDest,
    info,
    entries,
    capacity,
    refused,
    ...defenseFamilies,
  ];
  if (x.sync?.length) {
    const messages = family(
      "tslvs_sync_messages_total",
      "counter",
      "Connection-sync messages sent (master) or received (backup).",
    );
    const conns = family(
      "tslvs_sync_connections_total",
      "counter",
      "Connections sent (master) or received (backup) by connection sync.",
    );
    const events = family(
      "tslvs_sync_events_total",
      "counter",
      "What a sync daemon did by reason: a backup's results (added, updated, stale...) and refused messages (bad-size, other-syncid...), a master's send errors.",
    );
    for (const d of x.sync) {
      const role = `role="${escapeLabel(d.role)}"`;
      one(messages, role, d.messages);
      one(conns, role, d.conns);
      for (const [reason, n] of Object.entries(d.byReason))
        one(events, `${role},reason="${escapeLabel(reason)}"`, n);
    }
    out.push(messages, conns);
    if (events.lines.length) out.push(events);
  }
  if (x.states) {
    const conns = family(
      "tslvs_connections",
      "gauge",
      "Live connections by state (as ipvsadm -Lnc names them), persistence templates apart.",
    );
    for (const [state, n] of Object.entries(x.states.byState)) one(conns, `state="${escapeLabel(state)}"`, n);
    const templates = family("tslvs_persistence_templates", "gauge", "Live persistence templates.");
    one(templates, "", x.states.templates);
    out.push(conns, templates);
  }
  const e = x.live?.engine;
  if (e) {
    const frames = family("tslvs_slowpath_frames_total", "counter", "Frames through the slow path (AF_XDP).");
    one(frames, 'direction="rx"', e.rxFrames ?? 0);
    one(frames, 'direction="tx"', e.txFrames ?? 0);
    const drops = family("tslvs_drops_total", "counter", "Frames the packet engine dropped, by reason.");
    for (const [reason, key] of DROP_REASONS) one(drops, `reason="${reason}"`, e[key] ?? 0);
    out.push(frames, drops);
  }
  const f = x.live?.fastPath;
  if (f) {
    const pkts = family(
      "tslvs_fastpath_packets_total",
      "counter",
      'Packets the in-kernel fast path forwarded (decision="forwarded") or handed to the slow path, by reason.',
    );
    one(pkts, 'decision="forwarded"', f.creditedPackets ?? 0);
    // The program's own counts of what it handed to the slow path (forwarded above is what the
    // flows' counters credited to the connections: the same packets, counted per flow).
    const d = x.live?.fastPathDecisions;
    if (d) for (const [decision, key] of FASTPATH_DECISIONS) one(pkts, `decision="${decision}"`, d[key] ?? 0);
    const bytes = family(
      "tslvs_fastpath_bytes_total",
      "counter",
      "Bytes forwarded by the in-kernel fast path.",
    );
    one(bytes, 'decision="forwarded"', f.creditedBytes ?? 0);
    const flows = family(
      "tslvs_fastpath_flow_events_total",
      "counter",
      "Fast-path flow entries installed, removed, refused (map full), or not installed (egress cannot redirect).",
    );
    one(flows, 'event="installed"', f.installed ?? 0);
    one(flows, 'event="removed"', f.removed ?? 0);
    one(flows, 'event="refused"', f.refused ?? 0);
    one(flows, 'event="not_redirectable"', f.notRedirectable ?? 0);
    out.push(pkts, bytes, flows);
  }
  const st = x.live?.steering;
  if (st) {
    const steer = family(
      "tslvs_steering_packets_total",
      "counter",
      "Packets the in-kernel steering program sent to the slow path, or passed to the host (pass_*), by decision.",
    );
    for (const [decision, key] of STEERING_DECISIONS) one(steer, `decision="${decision}"`, st[key] ?? 0);
    out.push(steer);
  }
  out.push(loop);
  const p = x.process;
  if (p) {
    // prom-client's and node_exporter's names and HELP texts, so standard dashboards find them.
    const cpu = family(
      "process_cpu_seconds_total",
      "counter",
      "Total user and system CPU time spent in seconds.",
    );
    one(cpu, "", p.cpuSeconds);
    const rss = family("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.");
    one(rss, "", p.residentBytes);
    const start = family(
      "process_start_time_seconds",
      "gauge",
      "Start time of the process since unix epoch in seconds.",
    );
    one(start, "", p.startTimeSeconds);
    out.push(cpu, rss, start);
    if (p.openFds !== null) {
      const fds = family("process_open_fds", "gauge", "Number of open file descriptors.");
      one(fds, "", p.openFds);
      out.push(fds);
    }
  }
  const parts: string[] = [];
  for (const fam of out) {
    parts.push(`# HELP ${fam.name} ${fam.help}\n# TYPE ${fam.name} ${fam.type}\n`);
    // The per-service and per-real-server families' lines are already joined a slice at a time.
    if (joined.has(fam)) {
      parts.push(...fam.lines);
      continue;
    }
    for (let i = 0; i < fam.lines.length; i += ROWS_PER_SLICE) {
      parts.push(fam.lines.slice(i, i + ROWS_PER_SLICE).join(""));
      if (fam.lines.length > ROWS_PER_SLICE) yield;
    }
  }
  return parts;
}
