import type { Dest, DestSpec } from "../core/dest.js";
import type { ServiceKey, ServiceSpec, VirtualService } from "../core/service.js";
import { SVC_F_PERSISTENT } from "../core/service.js";
import {
  type DaemonConfig,
  type DaemonEntry,
  type SysctlValue,
  sameSysctlValue,
  sysctlValueText,
} from "./api.js";
import { hostPort, keyText, SVC_USER_FLAGS } from "./api-mapping.js";
import { DEFAULT_TIMEOUTS, type DesiredService, type DesiredState } from "./desired-state.js";
import { type DirectorPort, errnoOf } from "./director-port.js";
import type { SyncDaemons } from "./sync-daemons.js";

/** One step reconcile took (or tried), as the daemon logs it. */
export interface Change {
  action: "add" | "edit" | "delete" | "set";
  kind: "service" | "dest" | "laddr" | "timeouts" | "sysctl" | "sync-daemon";
  /** "tcp 10.0.0.1:80", "tcp 10.0.0.1:80 -> 192.168.0.2:80", "expire_nodest_conn" ... */
  target: string;
  detail?: string;
}

export interface FailedChange extends Change {
  errno: string;
  message: string;
}

export interface ReconcileResult {
  changes: Change[];
  /** Steps the director refused; reconcile goes on with the others. */
  failed: FailedChange[];
}

/**
 * What a reconcile may touch. A YAML config owns everything; a keepalived.conf owns the services
 * it declares (and those it declared before, so that removing one deletes it), and timeouts only
 * when it sets them — services added with tslvsadm stay, as keepalived leaves them (spec A.1).
 */
export interface ReconcileScope {
  ownsService(key: ServiceKey): boolean;
  timeouts: boolean;
  sysctls: boolean;
  syncDaemons: boolean;
}

export const OWN_EVERYTHING: ReconcileScope = {
  ownsService: () => true,
  timeouts: true,
  sysctls: true,
  syncDaemons: true,
};

/**
 * Makes the running state equal to `desired`, touching only what differs: a service or real server
 * that is the same in both is left alone (with its connections, counters and scheduler state); one
 * that differs is edited in place; what the running state has beyond `desired` is deleted.
 * `sysctlDefaults` are the values of the sysctls that `desired` does not set.
 */
export function reconcile(
  director: DirectorPort,
  syncDaemons: SyncDaemons,
  desired: DesiredState,
  sysctlDefaults: Record<string, SysctlValue>,
  scope: ReconcileScope = OWN_EVERYTHING,
): ReconcileResult {
  const result: ReconcileResult = { changes: [], failed: [] };
  const apply = (change: Change, fn: () => void): boolean => {
    try {
      fn();
      result.changes.push(change);
      return true;
    } catch (e) {
      result.failed.push({ ...change, errno: errnoOf(e) ?? "EIO", message: (e as Error).message });
      return false;
    }
  };

  for (const name of scope.sysctls ? director.sysctls.names() : []) {
    const want = desired.sysctls[name] ?? sysctlDefaults[name];
    const have = director.sysctls.get(name);
    if (want !== undefined && !sameSysctlValue(want, have))
      apply(
        {
          action: "set",
          kind: "sysctl",
          target: name,
          detail: `${sysctlValueText(have)} -> ${sysctlValueText(want)}`,
        },
        () => director.sysctls.set(name, want),
      );
  }

  const wantT = desired.timeouts ?? DEFAULT_TIMEOUTS;
  const haveT = director.getTimeouts();
  if ((scope.timeouts && wantT.tcp !== haveT.tcp) || wantT.tcpfin !== haveT.tcpfin || wantT.udp !== haveT.udp)
    apply(
      {
        action: "set",
        kind: "timeouts",
        target: "tcp tcpfin udp",
        detail: `${haveT.tcp} ${haveT.tcpfin} ${haveT.udp} -> ${wantT.tcp} ${wantT.tcpfin} ${wantT.udp}`,
      },
      () => director.setTimeouts(wantT),
    );

  const wanted = new Set(desired.services.map((d) => keyText(d.spec.key)));
  for (const svc of [...director.services()]) {
    if (!wanted.has(keyText(svc.key)) && scope.ownsService(svc.key))
      apply({ action: "delete", kind: "service", target: keyText(svc.key) }, () =>
        director.delService(svc.key),
      );
  }

  for (const want of desired.services) {
    const have = director.findService(want.spec.key);
    const target = keyText(want.spec.key);
    if (!have) {
      if (
        !apply({ action: "add", kind: "service", target, detail: describeService(want.spec) }, () =>
          director.addService(want.spec),
        )
      )
        continue;
    } else if (!sameService(have, want.spec)) {
      apply({ action: "edit", kind: "service", target, detail: describeService(want.spec) }, () =>
        director.editService(want.spec),
      );
    }
    reconcileLaddrs(director, want, target, apply);
    reconcileDests(director, want, target, apply);
  }

  if (scope.syncDaemons) reconcileSyncDaemons(syncDaemons, desired.syncDaemons, apply);
  return result;
}

type Apply = (change: Change, fn: () => void) => boolean;

function reconcileLaddrs(director: DirectorPort, want: DesiredService, target: string, apply: Apply): void {
  const key = want.spec.key;
  for (const l of [...director.getLaddrs(key)]) {
    const w = want.laddrs.find((x) => x.addr.equals(l.addr));
    if (!w || w.ifname !== l.ifname)
      apply({ action: "delete", kind: "laddr", target: `${target} laddr ${l.addr}`, detail: l.ifname }, () =>
        director.delLaddr(key, l.addr),
      );
  }
  const have = director.getLaddrs(key);
  for (const w of want.laddrs) {
    if (!have.some((l) => l.addr.equals(w.addr)))
      apply({ action: "add", kind: "laddr", target: `${target} laddr ${w.addr}`, detail: w.ifname }, () =>
        director.addLaddr(key, w.addr, w.ifname),
      );
  }
}

function reconcileDests(director: DirectorPort, want: DesiredService, target: string, apply: Apply): void {
  const key = want.spec.key;
  const svc = director.findService(key);
  if (!svc) return;
  const wantByAddr = new Map(want.dests.map((w) => [hostPort(w.addr, w.port), w]));
  for (const d of [...svc.dests]) {
    if (!wantByAddr.has(hostPort(d.addr, d.port)))
      apply({ action: "delete", kind: "dest", target: `${target} -> ${hostPort(d.addr, d.port)}` }, () =>
        director.delDest(key, d.addr, d.port),
      );
  }
  const haveByAddr = new Map(svc.dests.map((d) => [hostPort(d.addr, d.port), d]));
  for (const w of want.dests) {
    const id = hostPort(w.addr, w.port);
    const have = haveByAddr.get(id);
    const change: Change = {
      action: have ? "edit" : "add",
      kind: "dest",
      target: `${target} -> ${id}`,
      detail: describeDest(w),
    };
    if (!have) apply(change, () => director.addDest(key, w));
    else if (!sameDest(have, w)) apply(change, () => director.editDest(key, w));
  }
}

function reconcileSyncDaemons(syncDaemons: SyncDaemons, want: DaemonConfig[], apply: Apply): void {
  const running = syncDaemons.list();
  for (const r of running) {
    const w = want.find((x) => x.state === r.state);
    if (!w || !sameDaemon(r, syncDaemons, w))
      apply({ action: "delete", kind: "sync-daemon", target: r.state }, () => syncDaemons.stop(r.state));
  }
  for (const w of want) {
    if (!syncDaemons.list().some((r) => r.state === w.state))
      apply(
        {
          action: "add",
          kind: "sync-daemon",
          target: w.state,
          detail: `interface ${w.mcastIfn} syncid ${w.syncId}`,
        },
        () => syncDaemons.start(w),
      );
  }
}

function sameDaemon(r: DaemonEntry, syncDaemons: SyncDaemons, w: DaemonConfig): boolean {
  let resolved: DaemonEntry;
  try {
    resolved = syncDaemons.resolve(w);
  } catch {
    return false;
  }
  return (
    r.mcastIfn === resolved.mcastIfn &&
    r.syncId === resolved.syncId &&
    r.syncMaxLen === resolved.syncMaxLen &&
    r.mcastGroup === resolved.mcastGroup &&
    r.mcastPort === resolved.mcastPort &&
    r.mcastTtl === resolved.mcastTtl
  );
}

function sameService(have: VirtualService, want: ServiceSpec): boolean {
  const persistent = (want.flags & SVC_F_PERSISTENT) !== 0;
  return (
    have.schedName === want.scheduler &&
    (have.flags & SVC_USER_FLAGS) === (want.flags & SVC_USER_FLAGS) &&
    // The timeout only means something with persistence.
    (!persistent || have.timeout === want.timeout) &&
    have.netmask === want.netmask &&
    have.pe === want.pe
  );
}

function sameDest(have: Dest, want: DestSpec): boolean {
  return (
    have.method === want.method &&
    have.weight === want.weight &&
    have.uThreshold === want.uThreshold &&
    have.lThreshold === want.lThreshold &&
    have.tunType === want.tunType &&
    have.tunPort === want.tunPort &&
    have.tunCsum === want.tunCsum
  );
}

function describeService(s: ServiceSpec): string {
  let t = `scheduler ${s.scheduler}`;
  if (s.flags & SVC_F_PERSISTENT) t += ` persistent ${s.timeout}`;
  if (s.pe) t += ` pe ${s.pe}`;
  return t;
}

function describeDest(d: DestSpec): string {
  let t = `${d.method} weight ${d.weight}`;
  if (d.uThreshold || d.lThreshold) t += ` thresholds ${d.uThreshold}/${d.lThreshold}`;
  if (d.method === "tunnel") t += ` ${d.tunType}`;
  return t;
}
