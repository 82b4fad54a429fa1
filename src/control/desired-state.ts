import type { IpAddr } from "../core/address.js";
import type { DestSpec } from "../core/dest.js";
import type { ServiceSpec } from "../core/service.js";
import { type DaemonConfig, type SysctlValue, sameSysctlValue, type TimeoutValues } from "./api.js";
import type { FwmarkDecl } from "./config-fwmarks.js";
import type { DirectorPort } from "./director-port.js";
import type { DestHealth, ServiceHealth } from "./health/check-spec.js";
import type { SyncDaemons } from "./sync-daemons.js";

/**
 * The director's configuration as a whole: what a config file declares, what the state file
 * keeps, and what reconcile makes the running state equal to. Real servers are listed in the
 * order they are added (oldest first), so adding them in list order rebuilds the kernel's
 * newest-first list exactly.
 */
export interface DesiredState {
  /** null: the kernel defaults (900 120 300). */
  timeouts: TimeoutValues | null;
  /** Only the sysctls that are set; the others take their defaults. */
  sysctls: Record<string, SysctlValue>;
  syncDaemons: DaemonConfig[];
  services: DesiredService[];
  /** Which packets carry which firewall mark (config-fwmarks.ts); absent: none declared. */
  fwmarks?: FwmarkDecl[];
  /** Source lines (config files only), for errors found after parsing. */
  sysctlLines?: Record<string, number>;
}

export interface DesiredService {
  spec: ServiceSpec;
  dests: DesiredDest[];
  laddrs: { addr: IpAddr; ifname: string }[];
  line?: number;
  /** Health checking (quorum, sorry server); absent: no checks, every real server serves. */
  health?: ServiceHealth;
}

/** A real server as a config declares it: its settings, and its checkers when it has any. */
export interface DesiredDest extends DestSpec {
  health?: DestHealth;
}

export const DEFAULT_TIMEOUTS: TimeoutValues = { tcp: 900, tcpfin: 120, udp: 300 };

/** The running state as a DesiredState; `sysctlDefaults` leaves out sysctls still at their default. */
export function snapshot(
  director: DirectorPort,
  syncDaemons: SyncDaemons,
  sysctlDefaults: Record<string, SysctlValue>,
): DesiredState {
  const sysctls: Record<string, SysctlValue> = {};
  for (const name of director.sysctls.names()) {
    const v = director.sysctls.get(name);
    if (!sameSysctlValue(sysctlDefaults[name], v)) sysctls[name] = v;
  }
  const services = director.services().map(
    (svc): DesiredService => ({
      spec: {
        key: svc.key,
        scheduler: svc.schedName,
        flags: svc.flags,
        timeout: svc.timeout,
        netmask: svc.netmask,
        pe: svc.pe,
      },
      dests: [...svc.dests].reverse().map((d) => ({
        addr: d.addr,
        port: d.port,
        method: d.method,
        weight: d.weight,
        uThreshold: d.uThreshold,
        lThreshold: d.lThreshold,
        tunType: d.tunType,
        tunPort: d.tunPort,
        tunCsum: d.tunCsum,
      })),
      laddrs: director.getLaddrs(svc.key).map((l) => ({ addr: l.addr, ifname: l.ifname })),
    }),
  );
  return {
    timeouts: director.getTimeouts(),
    sysctls,
    syncDaemons: syncDaemons.list().map(({ notActedOn: _n, counters: _c, ...config }) => config),
    services,
  };
}
