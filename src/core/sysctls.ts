/**
 * The IPVS sysctls (`/proc/sys/net/ipv4/vs/*`) with the kernel's defaults and the kernel's
 * validation: most are plain integers, the defence modes take 0..3, sync_version 0..1,
 * sync_retries 0..3, sync_ports a power of two, sync_threshold a pair "threshold period".
 */
import { IpvsError } from "./errors.js";

export type SysctlValue = number | readonly [number, number];

type Kind = "int" | "defense" | "bool01" | "retries" | "ports" | "pair";

const DEFS: ReadonlyArray<readonly [string, Kind, SysctlValue]> = [
  ["amemthresh", "int", 1024],
  ["am_droprate", "int", 10],
  ["drop_entry", "defense", 0],
  ["drop_packet", "defense", 0],
  ["secure_tcp", "defense", 0],
  ["conntrack", "int", 0],
  ["snat_reroute", "int", 1],
  ["sync_version", "bool01", 1],
  ["sync_ports", "ports", 1],
  ["sync_persist_mode", "int", 0],
  ["cache_bypass", "int", 0],
  ["expire_nodest_conn", "int", 0],
  ["sloppy_tcp", "int", 0],
  ["sloppy_sctp", "int", 0],
  ["expire_quiescent_template", "int", 0],
  ["sync_threshold", "pair", [3, 50]],
  ["sync_refresh_period", "int", 0],
  ["sync_retries", "retries", 0],
  ["nat_icmp_send", "int", 0],
  ["pmtu_disc", "int", 1],
  ["backup_only", "int", 0],
  ["conn_reuse_mode", "int", 1],
  ["schedule_icmp", "int", 0],
  ["ignore_tunneled", "int", 0],
  ["run_estimation", "int", 1],
  ["lblc_expiration", "int", 86400],
  ["lblcr_expiration", "int", 86400],
];

const INT_MIN = -2147483648;
const INT_MAX = 2147483647;

function isInt(x: unknown): x is number {
  return typeof x === "number" && Number.isInteger(x) && x >= INT_MIN && x <= INT_MAX;
}

/**
 * The live values. The packet path reads the public fields directly (no lookup per packet);
 * `get`/`set` serve the control plane by name.
 */
export class Sysctls {
  amemthresh = 1024;
  am_droprate = 10;
  drop_entry = 0;
  drop_packet = 0;
  secure_tcp = 0;
  conntrack = 0;
  snat_reroute = 1;
  sync_version = 1;
  sync_ports = 1;
  sync_persist_mode = 0;
  cache_bypass = 0;
  expire_nodest_conn = 0;
  sloppy_tcp = 0;
  sloppy_sctp = 0;
  expire_quiescent_template = 0;
  sync_threshold: readonly [number, number] = [3, 50];
  sync_refresh_period = 0;
  sync_retries = 0;
  nat_icmp_send = 0;
  pmtu_disc = 1;
  backup_only = 0;
  conn_reuse_mode = 1;
  schedule_icmp = 0;
  ignore_tunneled = 0;
  run_estimation = 1;
  lblc_expiration = 86400;
  lblcr_expiration = 86400;

  /** Every sysctl name, in the kernel's table order. */
  static names(): string[] {
    return DEFS.map((d) => d[0]);
  }

  static defaultOf(name: string): SysctlValue {
    const d = DEFS.find((x) => x[0] === name);
    if (!d) throw new IpvsError("ENOENT", `no such IPVS sysctl: ${name}`);
    return d[2];
  }

  get(name: string): SysctlValue {
    if (!DEFS.some((d) => d[0] === name)) throw new IpvsError("ENOENT", `no such IPVS sysctl: ${name}`);
    return (this as unknown as Record<string, SysctlValue>)[name]!;
  }

  /** All values by name. */
  all(): Record<string, SysctlValue> {
    const out: Record<string, SysctlValue> = {};
    for (const [n] of DEFS) out[n] = this.get(n);
    return out;
  }

  /** Set by name with the kernel's checks; throws ENOENT for an unknown name, EINVAL for a bad value. */
  set(name: string, value: SysctlValue): void {
    const d = DEFS.find((x) => x[0] === name);
    if (!d) throw new IpvsError("ENOENT", `no such IPVS sysctl: ${name}`);
    const kind = d[1];
    const bad = (why: string) => new IpvsError("EINVAL", `${name}: ${why}`);
    if (kind === "pair") {
      if (!Array.isArray(value) || value.length !== 2 || !isInt(value[0]) || !isInt(value[1]))
        throw bad("needs two integers: threshold period");
      const [t, p] = value as readonly [number, number];
      // Kernel proc_do_sync_threshold: both >= 0 and threshold < period unless period is 0.
      if (t < 0 || p < 0 || (t >= p && p !== 0)) throw bad("threshold must be below the period");
      this.sync_threshold = [t, p];
      return;
    }
    if (!isInt(value)) throw bad("needs an integer");
    if (kind === "defense" && (value < 0 || value > 3)) throw bad("must be 0..3");
    if (kind === "bool01" && (value < 0 || value > 1)) throw bad("must be 0 or 1");
    if (kind === "retries" && (value < 0 || value > 3)) throw bad("must be 0..3");
    if (kind === "ports" && (value < 1 || (value & (value - 1)) !== 0)) throw bad("must be a power of two");
    (this as unknown as Record<string, number>)[name] = value;
    // Kernel proc_do_defense_mode: a new mode takes effect at once, not at the next second.
    if (kind === "defense" || name === "amemthresh" || name === "am_droprate") this.onDefenseChange?.();
  }

  /** Called after a defence sysctl (or its thresholds) is written: the director re-evaluates. */
  onDefenseChange: (() => void) | null = null;
}
