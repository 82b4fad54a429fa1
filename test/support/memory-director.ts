/**
 * TEST DOUBLE of the core Director: an in-memory implementation of the control plane's
 * DirectorPort with the kernel's refusals (EEXIST, ESRCH, ENOENT, ERANGE, EINVAL) and list order
 * (newest dest first), but no schedulers, connections or packets. The daemon runs on it until the
 * core Director is wired in src/control/director-factory.ts.
 */

import type {
  ConnInfo,
  DirectorPort,
  LaddrInfo,
  SysctlPort,
  TimeoutSet,
} from "../../src/control/director-port.js";
import type { IpAddr } from "../../src/core/address.js";
import { Dest, type DestSpec } from "../../src/core/dest.js";
import { type ServiceKey, type ServiceSpec, VirtualService } from "../../src/core/service.js";

export class DoubleError extends Error {
  constructor(
    readonly errno: string,
    message: string,
  ) {
    super(message);
  }
}

const SCHEDULERS = new Set([
  "rr",
  "wrr",
  "lc",
  "wlc",
  "lblc",
  "lblcr",
  "dh",
  "sh",
  "sed",
  "nq",
  "fo",
  "ovf",
  "mh",
  "twos",
  "none",
]);

/** Kernel names and defaults of /proc/sys/net/ipv4/vs (numeric ones), with their accepted ranges. */
const SYSCTLS: readonly [string, number, number, number][] = [
  ["am_droprate", 10, 0, 2147483647],
  ["amemthresh", 1024, 0, 2147483647],
  ["backup_only", 0, 0, 1],
  ["cache_bypass", 0, 0, 1],
  ["conn_reuse_mode", 1, 0, 3],
  ["conntrack", 0, 0, 1],
  ["drop_entry", 0, 0, 3],
  ["drop_packet", 0, 0, 3],
  ["expire_nodest_conn", 0, 0, 1],
  ["expire_quiescent_template", 0, 0, 1],
  ["ignore_tunneled", 0, 0, 1],
  ["lblc_expiration", 86400, 0, 2147483647],
  ["lblcr_expiration", 86400, 0, 2147483647],
  ["nat_icmp_send", 0, 0, 1],
  ["pmtu_disc", 1, 0, 1],
  ["run_estimation", 1, 0, 1],
  ["schedule_icmp", 0, 0, 1],
  ["secure_tcp", 0, 0, 3],
  ["sloppy_sctp", 0, 0, 1],
  ["sloppy_tcp", 0, 0, 1],
  ["snat_reroute", 1, 0, 1],
  ["sync_persist_mode", 0, 0, 1],
  ["sync_ports", 1, 1, 2147483647],
  ["sync_refresh_period", 0, 0, 2147483647],
  ["sync_retries", 0, 0, 3],
  ["sync_version", 1, 0, 1],
];

class DoubleSysctls implements SysctlPort {
  private readonly values = new Map<string, number>(SYSCTLS.map(([n, d]) => [n, d]));
  names(): readonly string[] {
    return [...this.values.keys()];
  }
  get(name: string): number {
    const v = this.values.get(name);
    if (v === undefined) throw new DoubleError("ENOENT", `no such sysctl: ${name}`);
    return v;
  }
  set(name: string, value: number): void {
    const def = SYSCTLS.find((s) => s[0] === name);
    if (!def) throw new DoubleError("ENOENT", `no such sysctl: ${name}`);
    if (!Number.isInteger(value) || value < def[2] || value > def[3])
      throw new DoubleError("EINVAL", `${name} must be within ${def[2]}..${def[3]}`);
    this.values.set(name, value);
  }
}

function keyId(k: ServiceKey): string {
  return k.kind === "fwmark" ? `f${k.family}/${k.fwmark}` : `${k.protocol}/${k.addr}/${k.port}`;
}

export class MemoryDirector implements DirectorPort {
  private readonly svcs: VirtualService[] = [];
  private readonly byKey = new Map<string, VirtualService>();
  private readonly laddrs = new Map<VirtualService, LaddrInfo[]>();
  private nextSvcId = 1;
  private nextDestId = 1;
  private timeouts: TimeoutSet = { tcp: 900, tcpfin: 120, udp: 300 };
  readonly sysctls = new DoubleSysctls();
  readonly bucketCount = 4096;
  tableFill() {
    return { entries: 0, capacity: 1 << 20, refusedFull: 0 };
  }
  /** The `now` values tick() was called with. */
  readonly ticks: number[] = [];

  private checkSpec(spec: ServiceSpec): void {
    if (!SCHEDULERS.has(spec.scheduler)) throw new DoubleError("ENOENT", `no scheduler ${spec.scheduler}`);
    if (spec.pe !== "" && spec.pe !== "sip")
      throw new DoubleError("ENOENT", `no persistence engine ${spec.pe}`);
    const fam = spec.key.kind === "addr" ? spec.key.addr.family : spec.key.family;
    if (fam === 6 && (spec.netmask < 1 || spec.netmask > 128)) throw new DoubleError("EINVAL", "bad netmask");
  }

  private svc(key: ServiceKey, errno = "ESRCH"): VirtualService {
    const s = this.findService(key);
    if (!s) throw new DoubleError(errno, "no such service");
    return s;
  }

  addService(spec: ServiceSpec): VirtualService {
    if (this.findService(spec.key)) throw new DoubleError("EEXIST", "service exists");
    this.checkSpec(spec);
    const s = new VirtualService(this.nextSvcId++, spec);
    this.svcs.push(s);
    this.byKey.set(keyId(spec.key), s);
    return s;
  }
  editService(spec: ServiceSpec): void {
    const s = this.svc(spec.key);
    this.checkSpec(spec);
    s.schedName = spec.scheduler;
    s.flags = spec.flags;
    s.timeout = spec.timeout;
    s.netmask = spec.netmask;
    s.pe = spec.pe;
  }
  delService(key: ServiceKey): void {
    const s = this.svc(key);
    this.svcs.splice(this.svcs.indexOf(s), 1);
    this.byKey.delete(keyId(key));
    this.laddrs.delete(s);
  }
  flush(): void {
    this.svcs.length = 0;
    this.byKey.clear();
    this.laddrs.clear();
  }
  findService(key: ServiceKey): VirtualService | undefined {
    return this.byKey.get(keyId(key));
  }
  services(): readonly VirtualService[] {
    return this.svcs;
  }
  addDest(key: ServiceKey, spec: DestSpec): Dest {
    const s = this.svc(key);
    if (spec.lThreshold > spec.uThreshold) throw new DoubleError("ERANGE", "lower threshold above upper");
    if (s.dests.some((d) => d.addr.equals(spec.addr) && d.port === spec.port))
      throw new DoubleError("EEXIST", "dest exists");
    const d = new Dest(this.nextDestId++, spec);
    s.dests.unshift(d);
    return d;
  }
  editDest(key: ServiceKey, spec: DestSpec): void {
    const s = this.svc(key);
    if (spec.lThreshold > spec.uThreshold) throw new DoubleError("ERANGE", "lower threshold above upper");
    const d = s.dests.find((x) => x.addr.equals(spec.addr) && x.port === spec.port);
    if (!d) throw new DoubleError("ENOENT", "no such dest");
    Object.assign(d, {
      method: spec.method,
      weight: spec.weight,
      uThreshold: spec.uThreshold,
      lThreshold: spec.lThreshold,
      tunType: spec.tunType,
      tunPort: spec.tunPort,
      tunCsum: spec.tunCsum,
    });
  }
  delDest(key: ServiceKey, addr: IpAddr, port: number): void {
    const s = this.svc(key);
    const i = s.dests.findIndex((x) => x.addr.equals(addr) && x.port === port);
    if (i < 0) throw new DoubleError("ENOENT", "no such dest");
    s.dests.splice(i, 1);
  }
  zero(key?: ServiceKey): void {
    for (const s of key ? [this.svc(key)] : this.svcs) {
      Object.assign(s.stats, { conns: 0, inPkts: 0, outPkts: 0, inBytes: 0, outBytes: 0 });
      for (const d of s.dests)
        Object.assign(d.stats, { conns: 0, inPkts: 0, outPkts: 0, inBytes: 0, outBytes: 0 });
    }
  }
  setTimeouts(t: TimeoutSet): void {
    if (t.tcp) this.timeouts.tcp = t.tcp;
    if (t.tcpfin) this.timeouts.tcpfin = t.tcpfin;
    if (t.udp) this.timeouts.udp = t.udp;
  }
  getTimeouts(): TimeoutSet {
    return { ...this.timeouts };
  }
  addLaddr(key: ServiceKey, addr: IpAddr, ifname: string): void {
    const s = this.svc(key);
    const list = this.laddrs.get(s) ?? [];
    if (list.some((l) => l.addr.equals(addr))) throw new DoubleError("EEXIST", "laddr exists");
    list.push({ addr, ifname });
    this.laddrs.set(s, list);
  }
  delLaddr(key: ServiceKey, addr: IpAddr): void {
    const list = this.laddrs.get(this.svc(key)) ?? [];
    const i = list.findIndex((l) => l.addr.equals(addr));
    if (i < 0) throw new DoubleError("ENOENT", "no such laddr");
    list.splice(i, 1);
  }
  getLaddrs(key: ServiceKey): readonly LaddrInfo[] {
    return this.laddrs.get(this.svc(key)) ?? [];
  }
  connections(_now: number): Iterable<ConnInfo> {
    return [];
  }
  tick(now: number): void {
    if (this.ticks.length < 1000) this.ticks.push(now);
  }
}
