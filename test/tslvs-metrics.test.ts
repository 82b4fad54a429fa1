/**
 * tslvs's own families from made-up inputs: connections by state, persistence templates, services
 * that found no real server, the steering program's decisions and the process's resources; the
 * text accepted by Prometheus's linter (promtool check metrics).
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { test } from "node:test";
import type { ServiceEntry } from "../src/control/api.js";
import { type DirectorSample, processSample, tslvsMetricsSlices } from "../src/control/tslvs-metrics.js";
import { needsCommand } from "./support/privileged.js";

const counters = { conns: 7, inPkts: 70, outPkts: 60, inBytes: 7000, outBytes: 6000 };

function service(port: number, noDestination?: number): ServiceEntry {
  return {
    id: { protocol: "tcp", addr: "198.18.0.1", port },
    stats: counters,
    dests: [
      {
        addr: "198.19.0.2",
        port: 80,
        weight: 1,
        activeConns: 1,
        inactConns: 0,
        persistConns: 0,
        stats: counters,
      },
    ],
    ...(noDestination !== undefined ? { noDestination } : {}),
  } as unknown as ServiceEntry;
}

function render(services: ServiceEntry[], sample: DirectorSample): string {
  const g = tslvsMetricsSlices([services], () => sample);
  let r = g.next();
  while (!r.done) r = g.next();
  return r.value.join("");
}

const base: DirectorSample = {
  version: "1.0.0",
  routerId: "lvs1",
  fill: { entries: 5, capacity: 100, refusedFull: 0 },
  live: null,
  eventLoop: { p50: 0.001, p99: 0.002, max: 0.003 },
};

function value(text: string, series: string): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

test("connections by state, templates, no destination, steering decisions and process families", (t) => {
  const text = render([service(80, 3), service(81, 0)], {
    ...base,
    live: {
      engine: { rxFrames: 10, txFrames: 9 },
      fastPath: {
        creditedPackets: 500,
        creditedBytes: 70000,
        installed: 3,
        removed: 1,
        refused: 0,
        notRedirectable: 0,
      },
      fastPathDecisions: { FORWARDED: 500, MISS: 7, SLOW_CONTROL: 9, SLOW_TOO_LONG: 2 },
      steering: { SERVICE: 11, REPLY: 4, PASS_NO_MATCH: 20, PASS_NOT_IP: 2 },
    },
    states: { byState: { ESTABLISHED: 4, SYN_RECV: 1, TIME_WAIT: 2, UDP: 3, NONE: 0 }, templates: 6 },
    process: { cpuSeconds: 1.5, residentBytes: 50_000_000, startTimeSeconds: 1_700_000_000.25, openFds: 42 },
    sync: [
      { role: "backup", messages: 7, conns: 12, byReason: { added: 10, updated: 2, "other-syncid": 1 } },
    ],
  });
  assert.equal(value(text, 'tslvs_sync_messages_total{role="backup"}'), 7);
  assert.equal(value(text, 'tslvs_sync_connections_total{role="backup"}'), 12);
  assert.equal(value(text, 'tslvs_sync_events_total{role="backup",reason="added"}'), 10);
  assert.equal(value(text, 'tslvs_sync_events_total{role="backup",reason="other-syncid"}'), 1);
  assert.equal(value(text, 'tslvs_connections{state="ESTABLISHED"}'), 4);
  assert.equal(value(text, 'tslvs_connections{state="UDP"}'), 3);
  assert.equal(value(text, 'tslvs_connections{state="NONE"}'), 0);
  assert.equal(value(text, "tslvs_persistence_templates"), 6);
  const svc = 'local_address="198.18.0.1",local_port="80",proto="TCP",local_mark=""';
  assert.equal(value(text, `tslvs_scheduler_no_destination_total{${svc}}`), 3);
  assert.equal(value(text, 'tslvs_steering_packets_total{decision="service"}'), 11);
  assert.equal(value(text, 'tslvs_fastpath_packets_total{decision="forwarded"}'), 500);
  assert.equal(value(text, 'tslvs_fastpath_packets_total{decision="slow_control"}'), 9);
  assert.equal(value(text, 'tslvs_fastpath_packets_total{decision="slow_no_headroom"}'), 0);
  assert.equal(text.match(/^tslvs_fastpath_packets_total\{/gm)?.length, 9);
  assert.equal(value(text, 'tslvs_steering_packets_total{decision="pass_no_match"}'), 20);
  assert.equal(value(text, 'tslvs_steering_packets_total{decision="pass_to_host"}'), 0);
  assert.equal(text.match(/^tslvs_steering_packets_total\{/gm)?.length, 11);
  assert.equal(value(text, "process_cpu_seconds_total"), 1.5);
  assert.equal(value(text, "process_resident_memory_bytes"), 50_000_000);
  assert.equal(value(text, "process_start_time_seconds"), 1_700_000_000.25);
  assert.equal(value(text, "process_open_fds"), 42);
  assert.match(text, /# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds\.\n/);
  assert.match(text, /# HELP process_open_fds Number of open file descriptors\.\n/);
  const skip = needsCommand("promtool");
  if (skip) {
    t.skip(skip);
    return;
  }
  const lint = spawnSync("promtool", ["check", "metrics"], { input: text, encoding: "utf8" });
  assert.equal(lint.status, 0, `promtool check metrics:\n${lint.stdout}${lint.stderr}`);
});

test("without a core, an engine or a process sample, their families are left out", () => {
  const text = render([service(80)], base);
  for (const name of [
    "tslvs_connections",
    "tslvs_persistence_templates",
    "tslvs_steering_packets_total",
    "process_cpu_seconds_total",
  ])
    assert.ok(!text.includes(`# TYPE ${name} `), name);
  assert.ok(!/^tslvs_scheduler_no_destination_total\{/m.test(text));
});

test("the process sample reads this process", () => {
  const p = processSample();
  assert.ok(p.cpuSeconds > 0);
  assert.ok(p.residentBytes > 1_000_000);
  assert.ok(Math.abs(p.startTimeSeconds - (Date.now() / 1000 - process.uptime())) < 1);
  assert.ok(p.openFds === null || p.openFds >= 3);
});
