import { emptyVrrpConfig, type VrrpConfig } from "../vrrp/vrrp-config.js";
import { TslvsOnlyDiags } from "./diagnostics.js";
import type { Stmt } from "./tree.js";
import { Values } from "./values.js";
import { readInstance, readScript, readSyncGroup } from "./vrrp-settings.js";

/**
 * The VRRP, BFD and static blocks of keepalived.conf (spec A.14): read in full and checked against
 * the keywords keepalived 2.2 knows. vrrp_instance, vrrp_script and vrrp_sync_group are acted on
 * (the VRRP engine, src/control/vrrp/; their values: vrrp-settings.ts); the other kinds are not.
 * What the LVS side needs (a VRRP instance's configured state and router id, for
 * `lvs_sync_daemon`) is returned too.
 *
 * Keyword lists: keepalived.conf(5) of 2.2.7, checked one by one against `keepalived -t` 2.2.7.
 * A keyword outside its list is reported as keepalived does ("Unknown keyword"); values are
 * checked only where noted (the rest is kept as text, since nothing acts on it).
 */

/** Keywords whose block is a list (addresses, routes, names): its lines are not keywords. */
const LIST_BLOCKS = new Set([
  "track_interface",
  "track_script",
  "track_file",
  "track_process",
  "track_bfd",
  "unicast_peer",
  "virtual_ipaddress",
  "virtual_ipaddress_excluded",
  "virtual_routes",
  "virtual_rules",
  "group",
  "interfaces",
]);

const VRRP_NOTIFY = [
  "notify",
  "notify_backup",
  "notify_fault",
  "notify_master",
  "notify_stop",
  "notify_priority_changes",
  "smtp_alert",
];
const TRACKS = ["track_bfd", "track_file", "track_interface", "track_process", "track_script"];

/** The keywords of each block kind (blocks whose contents are lists have none here). */
export const VRRP_KEYWORDS: Readonly<Record<string, ReadonlySet<string>>> = {
  vrrp_instance: new Set([
    ...VRRP_NOTIFY,
    ...TRACKS,
    "accept",
    "advert_int",
    "authentication",
    "check_unicast_src",
    "debug",
    "dont_track_primary",
    "down_timer_adverts",
    "garp_extra_if",
    "garp_lower_prio_delay",
    "garp_lower_prio_repeat",
    "garp_master_delay",
    "garp_master_refresh",
    "garp_master_refresh_repeat",
    "garp_master_repeat",
    "higher_prio_send_advert",
    "interface",
    "kernel_rx_buf_size",
    "linkbeat_use_polling",
    "lower_prio_no_advert",
    "lvs_sync_daemon_interface",
    "mcast_dst_ip",
    "mcast_src_ip",
    "native_ipv6",
    "no_accept",
    "nopreempt",
    "notify_deleted",
    "notify_master_rx_lower_pri",
    "old_unicast_checksum",
    "preempt",
    "preempt_delay",
    "priority",
    "promote_secondaries",
    "skip_check_adv_addr",
    "state",
    "strict_mode",
    "track_src_ip",
    "unicast_fault_no_peer",
    "unicast_peer",
    "unicast_src_ip",
    "unicast_ttl",
    "use_ipvlan",
    "use_vmac",
    "use_vmac_addr",
    "version",
    "virtual_ipaddress",
    "virtual_ipaddress_excluded",
    "virtual_router_id",
    "virtual_routes",
    "virtual_rules",
    "vmac_garp_intvl",
    "vmac_xmit_base",
    "vrf",
  ]),
  vrrp_sync_group: new Set([
    ...VRRP_NOTIFY,
    ...TRACKS,
    "group",
    "global_tracking",
    "sync_group_tracking_weight",
  ]),
  vrrp_script: new Set(["script", "interval", "timeout", "weight", "rise", "fall", "user", "init_fail"]),
  vrrp_track_process: new Set([
    "process",
    "param_match",
    "weight",
    "quorum",
    "quorum_max",
    "fork_delay",
    "terminate_delay",
    "delay",
    "full_command",
  ]),
  track_group: new Set(["group"]),
  garp_group: new Set(["garp_interval", "gna_interval", "interface", "interfaces"]),
  bfd_instance: new Set([
    "neighbor_ip",
    "neighbour_ip",
    "source_ip",
    "min_rx",
    "min_tx",
    "idle_tx",
    "multiplier",
    "passive",
    "ttl",
    "hoplimit",
    "max_hops",
    "weight",
    "vrrp",
    "checker",
  ]),
  authentication: new Set(["auth_type", "auth_pass"]),
};

/** Top-level blocks whose contents are lists (interfaces, addresses, routes, rules). */
export const LIST_TOP_BLOCKS: ReadonlySet<string> = new Set([
  "linkbeat_interfaces",
  "static_ipaddress",
  "static_routes",
  "static_rules",
]);

/** The block kinds the VRRP engine acts on. */
export const VRRP_ACTED_BLOCKS: ReadonlySet<string> = new Set([
  "vrrp_instance",
  "vrrp_script",
  "vrrp_sync_group",
]);

/** Every block kind this module reads. */
export const VRRP_TOP_BLOCKS: ReadonlySet<string> = new Set([
  ...Object.keys(VRRP_KEYWORDS).filter((k) => k !== "authentication"),
  ...LIST_TOP_BLOCKS,
]);

/** What the LVS side needs to know about a VRRP instance. */
export interface VrrpInstanceInfo {
  /** The configured initial state (keepalived's default is BACKUP). */
  state: "MASTER" | "BACKUP";
  virtualRouterId?: number;
}

/** Reads the VRRP/BFD/static blocks; `instances` collects what lvs_sync_daemon needs. */
export class VrrpReader {
  readonly instances = new Map<string, VrrpInstanceInfo>();
  /** What the VRRP engine runs. */
  readonly config: VrrpConfig = emptyVrrpConfig();
  /** global_defs vrrp_version, when set. */
  globalVersion: 2 | 3 | undefined;
  private garpGroups = 0;

  constructor(
    private readonly v: Values,
    notActedOn: (what: string) => void = () => {},
  ) {
    this.quiet = new Values(new TslvsOnlyDiags(v.diags));
    this.silent = new Values(new TslvsOnlyDiags(v.diags, true));
    // A keyword keepalived does not know is reported as unknown, not as "not acted on".
    this.notActedOn = (what) => {
      const words = what.split(" ");
      const known = VRRP_KEYWORDS[words[0]!];
      if (!known || words.length !== 2 || known.has(words[1]!)) notActedOn(what);
    };
  }

  private readonly notActedOn: (what: string) => void;
  /** The values VRRP runs on are read with these: tslvs's own checks count only under --strict. */
  private readonly quiet: Values;
  private readonly silent: Values;

  /** Reads one top-level block of a kind in VRRP_TOP_BLOCKS. */
  read(st: Stmt): void {
    const kind = st.words[0]!;
    const d = this.v.diags;
    if (!st.block) {
      d.error(st.pos, `${kind} needs a block`);
      return;
    }
    if (LIST_TOP_BLOCKS.has(kind)) {
      if (st.words.length > 1)
        d.error(st.pos, `Block ${kind} has extra parameters ${st.words.slice(1).join(" ")} ...`);
      return;
    }
    const seen = this.keywords(st, kind);
    const end = st.end ?? st.pos;
    const name = st.words[1] ?? "";
    switch (kind) {
      case "vrrp_instance":
        this.instance(st, seen);
        return;
      case "vrrp_script": {
        if (!seen.has("script")) d.error(end, `No script set for vrrp_script ${name} - removing`);
        const sc = readScript(this.quiet, st, this.notActedOn);
        if (sc) this.config.scripts.push(sc);
        return;
      }
      case "vrrp_sync_group":
        this.config.syncGroups.push(readSyncGroup(this.quiet, st, this.notActedOn));
        return;
      case "vrrp_track_process":
        if (!seen.has("process")) d.error(end, `track process '${name}' process name not specified`);
        return;
      case "garp_group":
        if (!seen.has("garp_interval") && !seen.has("gna_interval"))
          d.error(end, `garp group ${this.garpGroups} does not have any delay set - removing`);
        this.garpGroups++;
        return;
      case "bfd_instance":
        if (!seen.has("neighbor_ip") && !seen.has("neighbour_ip"))
          d.error(
            end,
            `Configuration error: BFD instance ${name} has no neighbor address set, disabling instance`,
          );
        return;
    }
  }

  /** Checks each keyword of a block against its kind's list; returns the keywords seen. */
  private keywords(st: Stmt, kind: string): Set<string> {
    const known = VRRP_KEYWORDS[kind]!;
    const seen = new Set<string>();
    for (const s of st.block ?? []) {
      const key = s.words[0]!;
      if (!known.has(key)) {
        this.v.diags.error(s.pos, `Unknown keyword '${key}'`);
        continue;
      }
      seen.add(key);
      if (key === "authentication" && s.block) this.keywords(s, "authentication");
      else if (s.block && !LIST_BLOCKS.has(key)) this.v.diags.error(s.pos, `Unexpected '{' - ignoring`);
    }
    return seen;
  }

  /** The values keepalived checks on the spot, and what lvs_sync_daemon needs. */
  private instance(st: Stmt, seen: Set<string>): void {
    const d = this.v.diags;
    const name = st.words[1] ?? "";
    const info: VrrpInstanceInfo = { state: "BACKUP" };
    for (const s of st.block ?? []) {
      switch (s.words[0]) {
        case "state":
          if (s.words[1] === "MASTER" || s.words[1] === "BACKUP") info.state = s.words[1];
          else d.error(s.pos, `(${name}) unknown state '${s.words[1] ?? ""}', defaulting to BACKUP`);
          break;
        case "virtual_router_id": {
          const n = this.v.int(s, 1, 1, 255);
          if (n !== null) info.virtualRouterId = n;
          break;
        }
        case "priority":
          this.v.int(s, 1, 1, 255);
          break;
        case "advert_int": {
          const t = this.v.timer(s, 1);
          if (t !== null && (t < 0.01 || t > 255))
            d.error(s.pos, `(${name}) Advert interval (${s.words[1]}) not valid! Must be > 0 - ignoring`);
          break;
        }
      }
    }
    if (info.virtualRouterId === undefined) d.repair(st.pos, `(${name}) the virtual router id must be set`);
    else if (!seen.has("interface")) d.repair(st.pos, `(${name}) Unknown interface!`);
    else if (!seen.has("virtual_ipaddress") && !seen.has("virtual_ipaddress_excluded"))
      d.repair(st.pos, `(${name}) No VIP specified; at least one is sensible`);
    this.instances.set(name, info);
    const run = readInstance(this.quiet, st, this.globalVersion, this.notActedOn, this.silent);
    if (run) this.config.instances.push(run);
  }
}
