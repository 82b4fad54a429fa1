/**
 * The VRRP families of /metrics: each instance's state (keepalived-exporter's convention: 0 INIT,
 * 1 BACKUP, 2 MASTER, 3 FAULT), priority, transitions and adverts sent and received, and the
 * adverts dropped by reason. Absent when no VRRP instance runs.
 */
import { escapeLabel } from "../ipvs-metrics.js";
import type { VrrpListing } from "./vrrp-engine.js";

const STATE_VALUE = { INIT: 0, BACKUP: 1, MASTER: 2, FAULT: 3 } as const;

export function renderVrrpMetrics(v: VrrpListing): string[] {
  const fams: { name: string; type: string; help: string; lines: string[] }[] = [];
  const fam = (name: string, type: string, help: string) => {
    const f = { name, type, help, lines: [] as string[] };
    fams.push(f);
    return f.lines;
  };
  const state = fam(
    "tslvs_vrrp_state",
    "gauge",
    "The VRRP instance's state: 0 INIT, 1 BACKUP, 2 MASTER, 3 FAULT.",
  );
  const prio = fam("tslvs_vrrp_priority", "gauge", "The VRRP instance's priority now (tracking applied).");
  const trans = fam("tslvs_vrrp_transitions_total", "counter", "State changes of the VRRP instance.");
  const sent = fam("tslvs_vrrp_adverts_sent_total", "counter", "Advertisements the VRRP instance sent.");
  const recv = fam(
    "tslvs_vrrp_adverts_received_total",
    "counter",
    "Advertisements the VRRP instance accepted.",
  );
  const dropped = fam(
    "tslvs_vrrp_adverts_dropped_total",
    "counter",
    "VRRP advertisements dropped, by reason.",
  );
  for (const i of v.instances) {
    const l = `instance="${escapeLabel(i.name)}",interface="${escapeLabel(i.interface)}",vrid="${i.vrid}"`;
    state.push(`tslvs_vrrp_state{${l}} ${STATE_VALUE[i.state]}\n`);
    prio.push(`tslvs_vrrp_priority{${l}} ${i.priority}\n`);
    trans.push(`tslvs_vrrp_transitions_total{${l}} ${i.transitions}\n`);
    sent.push(`tslvs_vrrp_adverts_sent_total{${l}} ${i.advertsSent}\n`);
    recv.push(`tslvs_vrrp_adverts_received_total{${l}} ${i.advertsReceived}\n`);
  }
  for (const [reason, n] of Object.entries(v.dropped))
    dropped.push(`tslvs_vrrp_adverts_dropped_total{reason="${reason}"} ${n}\n`);
  return fams.map((f) => `# HELP ${f.name} ${f.help}\n# TYPE ${f.name} ${f.type}\n${f.lines.join("")}`);
}
