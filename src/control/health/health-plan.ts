import type { ServiceKey } from "../../core/service.js";
import { hostPort, keyText } from "../api-mapping.js";
import type { DesiredDest, DesiredService, DesiredState } from "../desired-state.js";
import type { CheckerSpec, ServiceHealth } from "./check-spec.js";

/** A real server under health checking: one per (checked service or group, address, port). */
export interface RsPlan {
  /** `${service identity}|${address:port}`: the real server's identity across reloads. */
  key: string;
  /** "198.19.0.1:8080", for listings and events. */
  target: string;
  dest: DesiredDest;
  checkerIds: string[];
}

/** A virtual_server block: one service, or every service of one virtual_server group. */
export interface ServicePlan {
  /** keyText of the service, or "group NAME": the quorum's identity across reloads. */
  identity: string;
  keys: ServiceKey[];
  health: ServiceHealth;
  rs: RsPlan[];
}

export interface CheckerPlan {
  id: string;
  spec: CheckerSpec;
  rsKey: string;
}

/** The checkers a desired state asks for, and which real servers and services they decide. */
export interface HealthPlan {
  services: ServicePlan[];
  checkers: Map<string, CheckerPlan>;
  rsByKey: Map<string, RsPlan>;
  serviceOfRs: Map<string, ServicePlan>;
}

/** Keys of a plain object sorted, so equal specs give equal text. */
function stableJson(v: unknown): string {
  return JSON.stringify(v, (_k, val: unknown) =>
    val && typeof val === "object" && !Array.isArray(val)
      ? Object.fromEntries(
          Object.entries(val as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : 1)),
        )
      : val,
  );
}

/**
 * A checker's identity: its real server, its kind and target and every parameter of its own,
 * and its connect timeout — what keepalived compares to carry a checker's state over a reload
 * (spec A.12). Retry counts and delays are not part of it: changing them keeps the state.
 */
function checkerIdentity(rsKey: string, spec: CheckerSpec): string {
  return `${rsKey}|${spec.probe.kind}|${stableJson(spec.probe)}|${spec.timing.connectTimeout}`;
}

export function planHealth(state: DesiredState): HealthPlan {
  const plan: HealthPlan = { services: [], checkers: new Map(), rsByKey: new Map(), serviceOfRs: new Map() };
  const byIdentity = new Map<string, ServicePlan>();
  for (const svc of state.services) {
    if (!svc.health) continue;
    const identity = svc.health.group ? `group ${svc.health.group}` : keyText(svc.spec.key);
    const known = byIdentity.get(identity);
    if (known) {
      // Another address of the same group: it shares the group's real servers and checkers.
      known.keys.push(svc.spec.key);
      continue;
    }
    const sp: ServicePlan = { identity, keys: [svc.spec.key], health: svc.health, rs: [] };
    byIdentity.set(identity, sp);
    plan.services.push(sp);
    addRealServers(plan, sp, svc);
  }
  return plan;
}

function addRealServers(plan: HealthPlan, sp: ServicePlan, svc: DesiredService): void {
  for (const dest of svc.dests) {
    const target = hostPort(dest.addr, dest.port);
    const key = `${sp.identity}|${target}`;
    const rs: RsPlan = { key, target, dest, checkerIds: [] };
    for (const spec of dest.health?.checkers ?? []) {
      const base = checkerIdentity(key, spec);
      let id = base;
      for (let n = 2; plan.checkers.has(id); n++) id = `${base}#${n}`;
      plan.checkers.set(id, { id, spec, rsKey: key });
      rs.checkerIds.push(id);
    }
    sp.rs.push(rs);
    plan.rsByKey.set(key, rs);
    plan.serviceOfRs.set(key, sp);
  }
}
