/**
 * What the VRRP engine runs: the vrrp_instance, vrrp_script and vrrp_sync_group blocks of a
 * keepalived.conf, with keepalived.conf(5)'s and RFC 5798's defaults filled in (docs/ha.md lists
 * them). Built by src/control/keepalived/vrrp-settings.ts; nothing here reads a file.
 */
import type { IpAddr } from "../../core/address.js";
import type { ScriptSpec } from "../health/check-spec.js";

/** keepalived.conf(5) / RFC 5798 defaults. */
export const VRRP_DEFAULTS = {
  priority: 100,
  /** seconds */
  advertInt: 1,
  version: 2 as 2 | 3,
  preempt: true,
  /** seconds */
  preemptDelay: 0,
  /** seconds between the first GARP burst and the second */
  garpMasterDelay: 5,
  garpMasterRepeat: 5,
  /** seconds; 0: no periodic refresh */
  garpMasterRefresh: 0,
  scriptInterval: 1,
  scriptWeight: 0,
  scriptRise: 1,
  scriptFall: 1,
} as const;

/** A virtual_ipaddress line: `ADDR[/LEN] [brd ADDR] [dev IF] [scope SCOPE] [label LABEL]`. */
export interface VipSpec {
  addr: IpAddr;
  prefixLen: number;
  /** The interface it goes on; the instance's when absent. */
  dev?: string;
  /** rtnetlink scope: 0 global, 200 site, 253 link, 254 host. */
  scope: number;
  label?: string;
  broadcast?: IpAddr;
}

export interface TrackedInterface {
  name: string;
  /** 0: FAULT while it is down; > 0 added while it is up; < 0 added while it is down. */
  weight: number;
  /** `reverse`: the other way round (added while down / while up; weight 0: FAULT while up). */
  reverse: boolean;
}

export interface TrackedScript {
  name: string;
  /** Overrides the vrrp_script's weight when given. */
  weight?: number;
  reverse: boolean;
}

export interface VrrpNotify {
  /** `notify`: called with INSTANCE|GROUP, the name, the new state and the priority. */
  any?: ScriptSpec;
  master?: ScriptSpec;
  backup?: ScriptSpec;
  fault?: ScriptSpec;
  stop?: ScriptSpec;
}

export interface VrrpInstanceConfig {
  name: string;
  /** The configured initial state; an owner (priority 255) starts MASTER regardless. */
  initialState: "MASTER" | "BACKUP";
  interface: string;
  vrid: number;
  priority: number;
  /** seconds */
  advertInt: number;
  version: 2 | 3;
  family: 4 | 6;
  preempt: boolean;
  /** seconds */
  preemptDelay: number;
  vips: VipSpec[];
  /** unicast_src_ip; with peers, adverts go to each peer instead of the group. */
  unicastSrc?: IpAddr;
  unicastPeers: IpAddr[];
  /** v2 authentication PASS. */
  authPass?: string;
  trackInterfaces: TrackedInterface[];
  trackScripts: TrackedScript[];
  /** dont_track_primary: the instance's own interface going down is not a fault. */
  dontTrackPrimary: boolean;
  notify: VrrpNotify;
  garpMasterDelay: number;
  garpMasterRepeat: number;
  garpMasterRefresh: number;
}

export interface VrrpScriptConfig {
  name: string;
  script: ScriptSpec;
  /** seconds */
  interval: number;
  /** seconds a run may take before it counts as a failure (keepalived: the interval when absent) */
  timeout: number;
  weight: number;
  rise: number;
  fall: number;
  /** init_fail: starts failed instead of OK. */
  initFail: boolean;
}

export interface VrrpSyncGroupConfig {
  name: string;
  members: string[];
  notify: VrrpNotify;
}

export interface VrrpConfig {
  instances: VrrpInstanceConfig[];
  scripts: VrrpScriptConfig[];
  syncGroups: VrrpSyncGroupConfig[];
}

export function emptyVrrpConfig(): VrrpConfig {
  return { instances: [], scripts: [], syncGroups: [] };
}
