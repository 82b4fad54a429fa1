/**
 * The health families of /metrics (spec B.6): each real server's state, effective weight, failed
 * checkers and transitions; each checker's state, attempts by result, duration histogram,
 * consecutive failures, last success and (MISC_CHECK) last exit status; each service's quorum,
 * live weight, sorry server and real servers by state; and the config's reloads and the options
 * it holds but does not act on. Labels are node_exporter's backend labels, as for the traffic
 * families, plus `checker` and `index` on the checker families.
 */
import type { ServiceId } from "./api.js";
import { DURATION_BUCKETS, type HealthMetricRow } from "./health/health-book.js";
import { escapeLabel, serviceLabels } from "./ipvs-metrics.js";

/** The config file's reloads and what it holds without acting on it. */
export interface ConfigSample {
  reloads: { applied: number; refused: number };
  /** Unix seconds of the last applied reload (0: none). */
  lastReloadAt: number;
  notActedOn: readonly string[];
  /** The host's nftables rules the firewall-mark compiler left out (getInfo.fwmarkRules.uncompiled). */
  fwmarkNotCompiled?: readonly { family: string; table: string; chain: string; handle: number }[];
  /** Events since start by kind (the dashboard's event log): real servers up/down, reloads, restarts, table full. */
  events?: ReadonlyMap<string, number>;
}

interface Family {
  name: string;
  type: "counter" | "gauge" | "histogram";
  help: string;
  lines: string[];
}

/** A service's four labels, as /metrics's other families give them. */
function keyLabels(id: ServiceId): string {
  const l = serviceLabels({ id });
  return `local_address="${l.local_address}",local_port="${l.local_port}",proto="${l.proto}",local_mark="${l.local_mark}"`;
}

export function renderHealthMetrics(rows: readonly HealthMetricRow[], config: ConfigSample): string[] {
  const f = (name: string, type: Family["type"], help: string): Family => ({ name, type, help, lines: [] });
  const rsUp = f("tslvs_real_server_up", "gauge", "1 while every health checker of the real server passes.");
  const rsWeight = f(
    "tslvs_real_server_effective_weight",
    "gauge",
    "The real server's weight with MISC_CHECK and FILE_CHECK contributions, before inhibit_on_failure.",
  );
  const rsFailed = f(
    "tslvs_real_server_failed_checkers",
    "gauge",
    "Health checkers of the real server that fail.",
  );
  const rsTrans = f(
    "tslvs_real_server_transitions_total",
    "counter",
    "Times the real server went up or down.",
  );
  const ckUp = f("tslvs_checker_up", "gauge", "1 while the health checker passes (after its retries).");
  const ckRuns = f("tslvs_checker_runs_total", "counter", "Attempts of the health checker by result.");
  const ckDur = f(
    "tslvs_checker_duration_seconds",
    "histogram",
    "How long the health checker's attempts took.",
  );
  const ckFails = f(
    "tslvs_checker_consecutive_failures",
    "gauge",
    "Failed attempts of the health checker since its last success.",
  );
  const ckLast = f(
    "tslvs_checker_last_success_timestamp_seconds",
    "gauge",
    "Unix time of the health checker's last successful attempt (0: none yet).",
  );
  const ckExit = f("tslvs_checker_last_exit_code", "gauge", "MISC_CHECK: the script's last exit status.");
  const vsQuorum = f(
    "tslvs_virtual_server_quorum_up",
    "gauge",
    "1 while the service's live weight meets its quorum.",
  );
  const vsLive = f(
    "tslvs_virtual_server_live_weight",
    "gauge",
    "Sum of the effective weights of the service's live real servers.",
  );
  const vsSorry = f(
    "tslvs_virtual_server_sorry_server_active",
    "gauge",
    "1 while the sorry server serves in place of the real servers.",
  );
  const vsRs = f(
    "tslvs_virtual_server_real_servers",
    "gauge",
    "The service's health-checked real servers by state.",
  );
  const seen = new Set<string>();
  for (const row of rows) {
    const svc = keyLabels(row.service.id);
    if (!seen.has(svc)) {
      seen.add(svc);
      const s = row.service;
      vsQuorum.lines.push(`tslvs_virtual_server_quorum_up{${svc}} ${s.quorumUp ? 1 : 0}\n`);
      vsLive.lines.push(`tslvs_virtual_server_live_weight{${svc}} ${s.liveWeight}\n`);
      vsSorry.lines.push(`tslvs_virtual_server_sorry_server_active{${svc}} ${s.sorryActive ? 1 : 0}\n`);
      vsRs.lines.push(`tslvs_virtual_server_real_servers{${svc},state="up"} ${s.up}\n`);
      vsRs.lines.push(`tslvs_virtual_server_real_servers{${svc},state="down"} ${s.down}\n`);
    }
    if (!row.rs) continue;
    const rs = `${svc},remote_address="${row.rs.addr}",remote_port="${row.rs.port}"`;
    rsUp.lines.push(`tslvs_real_server_up{${rs}} ${row.up ? 1 : 0}\n`);
    rsWeight.lines.push(`tslvs_real_server_effective_weight{${rs}} ${row.effectiveWeight}\n`);
    rsFailed.lines.push(`tslvs_real_server_failed_checkers{${rs}} ${row.failedCheckers}\n`);
    rsTrans.lines.push(`tslvs_real_server_transitions_total{${rs},to="up"} ${row.transitions.up}\n`);
    rsTrans.lines.push(`tslvs_real_server_transitions_total{${rs},to="down"} ${row.transitions.down}\n`);
    for (const c of row.checkers) {
      const ck = `${rs},checker="${c.kind}",index="${c.index}"`;
      const st = c.stats;
      ckUp.lines.push(`tslvs_checker_up{${ck}} ${c.up ? 1 : 0}\n`);
      for (const result of ["ok", "fail", "timeout", "error"] as const)
        ckRuns.lines.push(`tslvs_checker_runs_total{${ck},result="${result}"} ${st?.[result] ?? 0}\n`);
      for (let i = 0; i < DURATION_BUCKETS.length; i++)
        ckDur.lines.push(
          `tslvs_checker_duration_seconds_bucket{${ck},le="${DURATION_BUCKETS[i]}"} ${st?.buckets[i] ?? 0}\n`,
        );
      ckDur.lines.push(`tslvs_checker_duration_seconds_bucket{${ck},le="+Inf"} ${st?.runs ?? 0}\n`);
      ckDur.lines.push(`tslvs_checker_duration_seconds_sum{${ck}} ${st?.durationSum ?? 0}\n`);
      ckDur.lines.push(`tslvs_checker_duration_seconds_count{${ck}} ${st?.runs ?? 0}\n`);
      ckFails.lines.push(`tslvs_checker_consecutive_failures{${ck}} ${st?.consecutiveFailures ?? 0}\n`);
      ckLast.lines.push(
        `tslvs_checker_last_success_timestamp_seconds{${ck}} ${(st?.lastSuccessAt ?? 0) / 1000}\n`,
      );
      if (c.kind === "MISC_CHECK" && st?.lastExitCode != null)
        ckExit.lines.push(`tslvs_checker_last_exit_code{${ck}} ${st.lastExitCode}\n`);
    }
  }
  const reloads = f("tslvs_config_reloads_total", "counter", "Reloads of the config file by result.");
  reloads.lines.push(`tslvs_config_reloads_total{result="applied"} ${config.reloads.applied}\n`);
  reloads.lines.push(`tslvs_config_reloads_total{result="refused"} ${config.reloads.refused}\n`);
  const last = f(
    "tslvs_config_last_reload_timestamp_seconds",
    "gauge",
    "Unix time of the last applied reload (0: none).",
  );
  last.lines.push(`tslvs_config_last_reload_timestamp_seconds ${config.lastReloadAt}\n`);
  const nao = f(
    "tslvs_config_not_acted_on",
    "gauge",
    "Options and blocks the config holds that tslvs accepts but does not act on.",
  );
  for (const k of config.notActedOn)
    nao.lines.push(`tslvs_config_not_acted_on{kind="${escapeLabel(k)}"} 1\n`);
  const fwm = f(
    "tslvs_fwmark_rule_not_compiled",
    "gauge",
    "The host's nftables rules that set a mark or decide in a prerouting chain, left out of firewall-mark steering.",
  );
  for (const u of config.fwmarkNotCompiled ?? [])
    fwm.lines.push(
      `tslvs_fwmark_rule_not_compiled{family="${escapeLabel(u.family)}",table="${escapeLabel(u.table)}",chain="${escapeLabel(u.chain)}",handle="${u.handle}"} 1\n`,
    );
  const events = f(
    "tslvs_events_total",
    "counter",
    "Events since start by kind (real servers up and down, reloads, restarts, table full).",
  );
  for (const [kind, n] of config.events ?? [])
    events.lines.push(`tslvs_events_total{kind="${escapeLabel(kind)}"} ${n}\n`);
  const out: string[] = [];
  for (const fam of [
    rsUp,
    rsWeight,
    rsFailed,
    rsTrans,
    ckUp,
    ckRuns,
    ckDur,
    ckFails,
    ckLast,
    ckExit,
    vsQuorum,
    vsLive,
    vsSorry,
    vsRs,
    reloads,
    last,
    nao,
    fwm,
    events,
  ]) {
    if (fam.lines.length === 0 && fam.type !== "counter") continue;
    out.push(`# HELP ${fam.name} ${fam.help}\n# TYPE ${fam.name} ${fam.type}\n`, ...fam.lines);
  }
  return out;
}
