import type { IpAddr } from "../core/address.js";
import { IpAddr as Addr } from "../core/address.js";
import type { Dest, DestSpec } from "../core/dest.js";
import type { Director } from "../core/director.js";
import type { ServiceKey, ServiceSpec, VirtualService } from "../core/service.js";
import type { SyncedConn, SyncedResult, SyncMasterState } from "../core/sync.js";
import { Sysctls } from "../core/sysctls.js";
import type { RateSource } from "./api-mapping.js";
import type {
  ConnInfo,
  CounterValuesLike,
  DirectorPort,
  LaddrInfo,
  RateValuesLike,
  SysctlPort,
  TableFill,
  TimeoutSet,
  TracePortResult,
  TraceRequest,
} from "./director-port.js";

const PROTO_BY_NAME: Record<string, number> = { TCP: 6, UDP: 17, SCTP: 132, IP: 0 };

/**
 * The core Director seen through the control plane's port. Management calls pass straight through;
 * the few shapes that differ (sysctl values, connection entries) are converted here.
 */
export class CoreDirectorPort implements DirectorPort {
  readonly sysctls: SysctlPort;

  constructor(readonly core: Director) {
    const s = core.sysctls;
    const names = Sysctls.names();
    this.sysctls = {
      names: () => names,
      get: (name) => s.get(name),
      set: (name, value) => s.set(name, value),
    };
  }

  /** Rates of a service or dest from the core's estimator. */
  readonly rates: RateSource = (of: VirtualService | Dest) => this.core.rates(of.stats);

  addService(spec: ServiceSpec): VirtualService {
    return this.core.addService(spec);
  }
  editService(spec: ServiceSpec): void {
    this.core.editService(spec);
  }
  delService(key: ServiceKey): void {
    this.core.delService(key);
  }
  flush(): void {
    this.core.flush();
  }
  findService(key: ServiceKey): VirtualService | undefined {
    return this.core.findService(key);
  }
  services(): readonly VirtualService[] {
    return this.core.services();
  }
  setSyncMaster(m: SyncMasterState | null): void {
    this.core.setSyncMaster(m);
  }
  syncRecord(i: number): SyncedConn {
    return this.core.syncRecord(i);
  }
  applySynced(c: SyncedConn, now: number): SyncedResult {
    return this.core.applySynced(c, now);
  }
  get connCapacity(): number {
    return this.core.connCapacity;
  }
  addDest(key: ServiceKey, spec: DestSpec): Dest {
    return this.core.addDest(key, spec);
  }
  editDest(key: ServiceKey, spec: DestSpec): void {
    this.core.editDest(key, spec);
  }
  delDest(key: ServiceKey, addr: IpAddr, port: number): void {
    this.core.delDest(key, addr, port);
  }
  zero(key?: ServiceKey): void {
    this.core.zero(key);
  }
  setTimeouts(t: TimeoutSet): void {
    this.core.setTimeouts(t);
  }
  getTimeouts(): TimeoutSet {
    return this.core.getTimeouts();
  }
  addLaddr(key: ServiceKey, addr: IpAddr, ifname: string): void {
    this.core.addLaddr(key, addr, ifname);
  }
  delLaddr(key: ServiceKey, addr: IpAddr): void {
    this.core.delLaddr(key, addr);
  }
  getLaddrs(key: ServiceKey): readonly LaddrInfo[] {
    return this.core.getLaddrs(key).map((l) => ({ addr: l.addr, ifname: l.ifname, conns: l.portsInUse }));
  }
  *connections(now: number, from = 0): Iterable<ConnInfo> {
    // Services and real servers repeat from entry to entry: their addresses are parsed once.
    const parsed = new Map<string, IpAddr>();
    const addr = (text: string): IpAddr => {
      let a = parsed.get(text);
      if (a === undefined) {
        a = Addr.mustParse(text);
        if (parsed.size >= 1024) parsed.clear();
        parsed.set(text, a);
      }
      return a;
    };
    for (const { index, conn: c } of this.core.connectionsFrom(now, from)) {
      yield {
        index,
        protocol: PROTO_BY_NAME[c.protocol] ?? 0,
        caddr: Addr.mustParse(c.caddr),
        cport: c.cport,
        vaddr: addr(c.vaddr),
        vport: c.vport,
        daddr: addr(c.daddr),
        dport: c.dport,
        state: c.state,
        expires: c.expires,
        peName: c.peName,
        peData: c.peData,
        ...(c.laddr !== undefined ? { laddr: addr(c.laddr), lport: c.lport ?? 0 } : {}),
      };
    }
  }
  get bucketCount(): number {
    return this.core.bucketCount;
  }
  tableFill(): TableFill {
    return this.core.tableFill();
  }
  connStates(): { byState: Record<string, number>; templates: number } {
    return this.core.connStates();
  }
  totals(): { stats: CounterValuesLike; rates: RateValuesLike } {
    return { stats: this.core.displayed(this.core.totals), rates: this.core.rates(this.core.totals) };
  }
  tick(now: number): void {
    this.core.tick(now);
  }
  trace(q: TraceRequest, now: number): TracePortResult {
    return this.core.trace(q, now);
  }
}
