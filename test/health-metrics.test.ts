/**
 * The health families of /metrics from a HealthBook fed with reports: values per real server,
 * checker and service, and the text accepted by Prometheus's own linter (promtool check metrics).
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { test } from "node:test";
import type { DesiredState } from "../src/control/desired-state.js";
import type { CheckerSpec } from "../src/control/health/check-spec.js";
import { HealthBook } from "../src/control/health/health-book.js";
import { planHealth } from "../src/control/health/health-plan.js";
import { renderHealthMetrics } from "../src/control/health-metrics.js";
import { IpAddr } from "../src/core/address.js";
import { IPPROTO_TCP } from "../src/core/flow.js";
import { needsCommand } from "./support/privileged.js";

const timing = {
  delayLoop: 1,
  connectTimeout: 1,
  retry: 0,
  delayBeforeRetry: 1,
  warmup: 0,
  alpha: false,
  logAllFailures: false,
};

function desired(): DesiredState {
  const tcp = (ip: string): CheckerSpec => ({
    probe: { kind: "TCP_CHECK", target: { connectIp: ip, connectPort: 80 } },
    timing,
  });
  const misc: CheckerSpec = {
    probe: { kind: "MISC_CHECK", script: { argv: ["/bin/true"] }, timeout: 1, dynamic: true },
    timing,
  };
  const dest = (ip: string, checkers: CheckerSpec[]) => ({
    addr: IpAddr.parse(ip)!,
    port: 80,
    method: "masq" as const,
    weight: 2,
    uThreshold: 0,
    lThreshold: 0,
    tunType: "ipip" as const,
    tunPort: 0,
    tunCsum: "nocsum" as const,
    health: { checkers, inhibitOnFailure: false },
  });
  return {
    timeouts: null,
    sysctls: {},
    syncDaemons: [],
    services: [
      {
        spec: {
          key: { kind: "addr", protocol: IPPROTO_TCP, addr: IpAddr.parse("198.18.0.10")!, port: 80 },
          scheduler: "rr",
          flags: 0,
          timeout: 0,
          netmask: 0xffffffff,
          pe: "",
        },
        dests: [dest("198.19.0.1", [tcp("198.19.0.1"), misc]), dest("198.19.0.2", [tcp("198.19.0.2")])],
        laddrs: [],
        health: { quorum: 3, hysteresis: 0, omega: false, haSuspend: false },
      },
    ],
  };
}

test("health metrics: real servers, checkers, quorum, reloads", (t) => {
  const book = new HealthBook();
  const [tcp1, misc1, tcp2] = book.setPlan(planHealth(desired())).map((p) => p.id);
  const up = { up: true, hasRun: true, retryIt: 0 };
  const down = { up: false, hasRun: true, retryIt: 0 };
  book.record({
    id: tcp1!,
    ok: true,
    reason: "ok",
    latencyMs: 3,
    status: up,
    changed: false,
    at: 1_700_000_000_000,
  });
  book.record({
    id: misc1!,
    ok: true,
    reason: "exit 9",
    latencyMs: 40,
    status: up,
    changed: false,
    at: 1_700_000_001_000,
    dynamicWeight: 7,
  });
  book.record({
    id: tcp2!,
    ok: false,
    reason: "timeout",
    latencyMs: 1000,
    status: down,
    changed: true,
    at: 1_700_000_002_000,
  });
  const text = renderHealthMetrics(book.metricRows(), {
    reloads: { applied: 2, refused: 1 },
    lastReloadAt: 1_700_000_003,
    notActedOn: ["vrrp_instance"],
    events: new Map([["rs-down", 3]]),
  }).join("");
  const value = (series: string) => {
    const line = text.split("\n").find((l) => l.startsWith(`${series} `));
    assert.ok(line, `${series} is missing:\n${text}`);
    return Number(line.split(" ").at(-1));
  };
  const svc = 'local_address="198.18.0.10",local_port="80",proto="TCP",local_mark=""';
  const rs1 = `${svc},remote_address="198.19.0.1",remote_port="80"`;
  const rs2 = `${svc},remote_address="198.19.0.2",remote_port="80"`;
  assert.equal(value(`tslvs_real_server_up{${rs1}}`), 1);
  assert.equal(value(`tslvs_real_server_up{${rs2}}`), 0);
  assert.equal(value(`tslvs_real_server_effective_weight{${rs1}}`), 7, "misc_dynamic: exit 9 -> weight 7");
  assert.equal(value(`tslvs_real_server_failed_checkers{${rs2}}`), 1);
  assert.equal(value(`tslvs_real_server_transitions_total{${rs2},to="down"}`), 1);
  assert.equal(value(`tslvs_checker_runs_total{${rs2},checker="TCP_CHECK",index="0",result="timeout"}`), 1);
  assert.equal(value(`tslvs_checker_last_exit_code{${rs1},checker="MISC_CHECK",index="1"}`), 9);
  assert.equal(
    value(`tslvs_checker_duration_seconds_bucket{${rs1},checker="MISC_CHECK",index="1",le="0.05"}`),
    1,
  );
  assert.equal(
    value(`tslvs_checker_duration_seconds_bucket{${rs1},checker="MISC_CHECK",index="1",le="0.025"}`),
    0,
  );
  assert.equal(
    value(`tslvs_checker_last_success_timestamp_seconds{${rs1},checker="TCP_CHECK",index="0"}`),
    1_700_000_000,
  );
  assert.equal(value(`tslvs_virtual_server_live_weight{${svc}}`), 7);
  assert.equal(value(`tslvs_virtual_server_quorum_up{${svc}}`), 1, "7 >= 3");
  assert.equal(value(`tslvs_virtual_server_real_servers{${svc},state="down"}`), 1);
  assert.equal(value('tslvs_config_reloads_total{result="refused"}'), 1);
  assert.equal(value('tslvs_config_not_acted_on{kind="vrrp_instance"}'), 1);
  assert.equal(value('tslvs_events_total{kind="rs-down"}'), 3);
  // The rows are plain data: they cross to the HTTP thread by structured clone unchanged.
  assert.equal(
    renderHealthMetrics(structuredClone(book.metricRows()), {
      reloads: { applied: 2, refused: 1 },
      lastReloadAt: 1_700_000_003,
      notActedOn: ["vrrp_instance"],
      events: new Map([["rs-down", 3]]),
    }).join(""),
    text,
  );
  // The dashboard's listing of the services it shows only.
  assert.equal(book.listing([], new Set(["tcp 198.18.0.10:80"])).length, 1);
  assert.equal(book.listing([], new Set(["tcp 198.18.0.11:80"])).length, 0);
  assert.equal(book.listing().length, 1);
  const skip = needsCommand("promtool");
  if (skip) {
    t.skip(skip);
    return;
  }
  const lint = spawnSync("promtool", ["check", "metrics"], { input: text, encoding: "utf8" });
  assert.equal(lint.status, 0, `promtool check metrics:\n${lint.stdout}${lint.stderr}`);
});
