/**
 * The Director: an IPVS core without packet I/O, as the library's users and the daemon see it.
 * Time is passed in as seconds; nothing here reads a clock. The work is done where the kernel does
 * it, in files named after its net/netfilter/ipvs ones, over one shared state (director-state.ts):
 *   ctl.ts            ip_vs_ctl.c   services, real servers, counters, timeouts, local addresses
 *   conn.ts           ip_vs_conn.c  conns and templates bound to dests, expiry, the dest trash
 *   packet-path.ts    ip_vs_core.c  a client's packet in, a real server's reply out, ICMP, scheduling
 *   proto*.ts         ip_vs_proto*.c the per-protocol state machines and rules (TCP, UDP)
 *   conn-listing.ts   /proc/net/ip_vs_conn and the restart handover's export and import
 * The connection table itself is conn-table.ts; schedulers are in schedulers/.
 */
import type { IpAddr } from "./address.js";
import * as conn from "./conn.js";
import * as listing from "./conn-listing.js";
import type { ConnSnapshot, ImportResult } from "./conn-snapshot.js";
import type { ConnTable } from "./conn-table.js";
import * as ctl from "./ctl.js";
import type { Dest, DestSpec } from "./dest.js";
import {
  type ConnEvents,
  type ConnInfo,
  type CounterValues,
  type DirectorOptions,
  DirectorState,
  type IndexedConnInfo,
} from "./director-state.js";
import type { Rates } from "./estimator.js";
import type { FlowPacket } from "./flow.js";
import type { LocalAddress, LocalPortRange } from "./laddr-pool.js";
import * as packetPath from "./packet-path.js";
import type { ServiceKey, ServiceSpec, VirtualService } from "./service.js";
import type { Counters } from "./stats.js";
import {
  applySynced,
  type SyncedConn,
  type SyncedResult,
  type SyncMasterState,
  syncNeeded,
  syncRecordOf,
} from "./sync.js";
import type { Sysctls } from "./sysctls.js";
import type { Timeouts, TimeoutValues } from "./timeouts.js";
import { type TraceQuery, type TraceResult, trace } from "./trace.js";
import type { Verdict } from "./verdict.js";

export {
  type AddrType,
  CONN_EVENT_FREED,
  CONN_EVENT_LEFT_ESTABLISHED,
  type ConnEvents,
  type ConnInfo,
  type CounterValues,
  type DirectorOptions,
  defaultAddrType,
  type IndexedConnInfo,
  type StatsHooks,
} from "./director-state.js";
export type { TraceDest, TraceQuery, TraceResult } from "./trace.js";

export class Director {
  /** The state the files above share; not part of the API. */
  private readonly s: DirectorState;

  constructor(opts: DirectorOptions) {
    this.s = new DirectorState(opts);
  }

  get conns(): ConnTable {
    return this.s.conns;
  }

  get timeouts(): Timeouts {
    return this.s.timeouts;
  }

  get sysctls(): Sysctls {
    return this.s.sysctls;
  }

  /** Global counters (/proc/net/ip_vs_stats). */
  get totals(): Counters {
    return this.s.totals;
  }

  /** Packets dropped because a new conn could not get a FULLNAT local port. */
  get noLocalPort(): number {
    return this.s.noLocalPort;
  }

  /** Observer of conn events (a fast path's offload); null when none. */
  get connEvents(): ConnEvents | null {
    return this.s.connEvents;
  }

  set connEvents(observer: ConnEvents | null) {
    this.s.connEvents = observer;
  }

  /** Current rates of a counters object (kernel estimator); zeros when custom statsHooks replace it. */
  rates(c: Counters): Rates {
    return this.s.rateBook ? this.s.rateBook.rates(c) : { cps: 0, inPps: 0, outPps: 0, inBps: 0, outBps: 0 };
  }

  /** The connection hash's bucket count ("size=" of `ipvsadm -L`). */
  get bucketCount(): number {
    return this.s.conns.bucketCount;
  }

  findService(key: ServiceKey): VirtualService | undefined {
    return ctl.findService(this.s, key);
  }

  /** Services in a stable order (the order they were added). */
  services(): VirtualService[] {
    return ctl.services(this.s);
  }

  addService(spec: ServiceSpec): VirtualService {
    return ctl.addService(this.s, spec);
  }

  /** `-E`: replaces scheduler, flags, timeout, netmask and PE; rebinds the scheduler if its name changed. */
  editService(spec: ServiceSpec): VirtualService {
    return ctl.editService(this.s, spec);
  }

  delService(key: ServiceKey): void {
    ctl.delService(this.s, key);
  }

  /** `-C`: every service and its real servers. */
  flush(): void {
    ctl.flush(this.s);
  }

  /** `-a`: the new dest goes to the head of svc.dests; a matching dest from the trash is reused. */
  addDest(key: ServiceKey, spec: DestSpec): Dest {
    return ctl.addDest(this.s, key, spec);
  }

  editDest(key: ServiceKey, spec: DestSpec): Dest {
    return ctl.editDest(this.s, key, spec);
  }

  /** `-d`: the dest stops being AVAILABLE and lingers in the trash while conns reference it. */
  delDest(key: ServiceKey, addr: IpAddr, port: number): void {
    ctl.delDest(this.s, key, addr, port);
  }

  /** Dests deleted but still referenced (or recently unreferenced), kernel "dest trash". */
  trashedDests(): Dest[] {
    return ctl.trashedDests(this.s);
  }

  /** The dest a conn's `destId` names (live or trashed). */
  destOfId(id: number): Dest | undefined {
    return ctl.destOfId(this.s, id);
  }

  /** The service a dest belongs to (or last belonged to). */
  serviceOf(dest: Dest): VirtualService | undefined {
    return ctl.serviceOf(this.s, dest);
  }

  /** `-Z`: one service and its dests, or everything including the totals. Listed = current - baseline. */
  zero(key?: ServiceKey): void {
    ctl.zero(this.s, key);
  }

  /** The values `ipvsadm --stats` lists: raw counters minus the last zeroing's baseline. */
  displayed(c: Counters): CounterValues {
    return ctl.displayed(this.s, c);
  }

  /** Every counters object that is listed: totals, services, their dests. For the rate estimator. */
  *statsObjects(): Generator<Counters> {
    yield* ctl.statsObjects(this.s);
  }

  setTimeouts(v: TimeoutValues): void {
    ctl.setTimeouts(this.s, v);
  }

  getTimeouts(): TimeoutValues {
    return ctl.getTimeouts(this.s);
  }

  /** Add a local address to a service's FULLNAT pool (DPVS `dpip laddr add`). */
  addLaddr(key: ServiceKey, addr: IpAddr, ifname: string): void {
    ctl.addLaddr(this.s, key, addr, ifname);
  }

  /** Remove a local address from a service; conns using it keep their ports until they expire. */
  delLaddr(key: ServiceKey, addr: IpAddr): void {
    ctl.delLaddr(this.s, key, addr);
  }

  getLaddrs(key: ServiceKey): { addr: IpAddr; ifname: string; portsInUse: number }[] {
    return ctl.getLaddrs(this.s, key);
  }

  /** The FULLNAT local port range every LIP allocates from. */
  get localPortRange(): LocalPortRange {
    return this.s.localPorts;
  }

  /**
   * Where a FULLNAT service without a local-address pool takes its source address: the data plane
   * supplies the director's own address toward the real server (its route's preferred source). With
   * no supplier, or when it returns null, such a service refuses new connections (counted).
   */
  setDefaultLocalAddress(supplier: ((dest: Dest) => IpAddr | null) | null): void {
    this.s.defaultLaddr = supplier;
  }

  /** Every local address conns may use now or still hold ports on (pools and defaults). */
  localAddresses(): IpAddr[] {
    return this.s.localAddrs.filter((l): l is LocalAddress => l !== undefined).map((l) => l.addr);
  }

  /**
   * Credits packets of conn i that a fast path forwarded without the director (kernel: the packets
   * IPVS would have counted in ip_vs_in/ip_vs_out): the dest, service and global in/out counters,
   * and the idle timer re-armed from `lastSeen` (seconds, the director's clock) when that is later
   * than what it was armed from. Only live, non-template conns are credited; returns false otherwise.
   */
  creditFlow(
    i: number,
    inPkts: number,
    inBytes: number,
    outPkts: number,
    outBytes: number,
    lastSeen: number,
  ): boolean {
    return packetPath.creditFlow(this.s, i, inPkts, inBytes, outPkts, outBytes, lastSeen);
  }

  /** The packet-path service lookup: fwmark, then (proto, addr, port), FTP's port 21, the port-0 service. */
  findServiceFor(pkt: FlowPacket): VirtualService | undefined {
    return packetPath.findServiceFor(this.s, pkt);
  }

  /**
   * A client -> virtual service packet (kernel ip_vs_in, §2.6). Fills and returns `out`.
   * `now` is the time in seconds.
   */
  inbound(pkt: FlowPacket, now: number, out: Verdict): Verdict {
    return packetPath.inbound(this.s, pkt, now, out);
  }

  /** A real server -> client packet (kernel ip_vs_out, §2.7): NAT and FULLNAT replies. */
  outbound(pkt: FlowPacket, now: number, out: Verdict): Verdict {
    return packetPath.outbound(this.s, pkt, now, out);
  }

  /**
   * An ICMP error about a connection (kernel ip_vs_in_icmp / ip_vs_out_icmp, §7.4). `quoted` is the
   * packet the error quotes; `length` the error's own IP length (counted in the conn's stats).
   * - `fromClientSide` (the error is addressed to a VIP): the quote is a packet the service sent to
   *   a client, VIP:vport -> client; its conn is looked up reversed. The verdict says where the
   *   error goes on to: the real server (dstAddr/dstPort: RS:rport, as `inbound` fills them).
   * - otherwise (from a NAT/FULLNAT real server): the quote is client -> RS:rport as the RS
   *   received it; the verdict's srcAddr/srcPort are VIP:vport (and for FULLNAT dstAddr/dstPort
   *   the client), as `outbound` fills them.
   * Only TCP and UDP quotes with ports; the conn's state is not changed, its timer is re-armed.
   * No conn: ACTION_PASS ("not-ours").
   */
  icmpRelated(
    fromClientSide: boolean,
    quoted: FlowPacket,
    length: number,
    now: number,
    out: Verdict,
  ): Verdict {
    return packetPath.icmpRelated(this.s, fromClientSide, quoted, length, now, out);
  }

  /**
   * Advance time to `now` (seconds): expire due conns and templates, sweep conns of deleted dests
   * (expire_nodest_conn), free unreferenced trashed dests after 120 s, and call the rate hook every 2 s.
   */
  tick(now: number): void {
    conn.tick(this.s, now);
  }

  /**
   * How a new packet of the tuple would be handled (`tslvs trace`): the matching service, an
   * existing conn, a persistence template, or the scheduler's inputs and a dry run of its pick.
   * Changes nothing. Throws ESRCH when no service matches, EINVAL for a malformed query.
   */
  trace(q: TraceQuery, now: number): TraceResult {
    return trace(this.s, q, now);
  }

  /**
   * Connection sync, master side (sync.ts): whether conn `i` is to be sent now, after a packet in
   * (`m` keeps the states last sent), and what is sent of it.
   */
  syncNeeded(m: SyncMasterState, i: number): boolean {
    return syncNeeded(this.s, m, i, this.s.conns.inPkts[i]!);
  }

  syncRecord(i: number): SyncedConn {
    return syncRecordOf(this.s, i);
  }

  /** Connection sync, backup side: a received connection into the table (kernel ip_vs_proc_conn). */
  applySynced(c: SyncedConn, now: number): SyncedResult {
    this.s.nowValue = now;
    return applySynced(this.s, c, now);
  }

  /** Every conn and template, as `ipvsadm -Lc` lists them (table order, never sorted). */
  connections(now: number): ConnInfo[] {
    return listing.connections(this.s, now);
  }

  /**
   * The conns and templates of `connections`, from table record `from` on, each with its record
   * number, produced one at a time: a listing can stop after any entry and resume at its
   * `index + 1`. An entry keeps its record while it lives, so one that lives throughout such a
   * listing is seen exactly once; an entry created or expired meanwhile may be missed, never seen
   * twice (the way readers of /proc/net/ip_vs_conn see the kernel's table).
   */
  *connectionsFrom(now: number, from = 0): Generator<IndexedConnInfo, void, undefined> {
    yield* listing.connectionsFrom(this.s, now, from);
  }

  /** Number of live conns + templates. */
  get connCount(): number {
    return this.s.conns.size;
  }

  /** Live entries, the table's capacity, and the new entries refused because it was full. */
  tableFill(): {
    entries: number;
    capacity: number;
    refusedFull: number;
    defense: {
      dropEntry: boolean;
      dropRate: number;
      secureTcp: boolean;
      packetsDropped: number;
      entriesDropped: number;
    };
  } {
    const d = this.s.defense;
    return {
      entries: this.s.conns.size,
      capacity: this.s.conns.capacity,
      refusedFull: this.s.conns.refusedFull,
      defense: {
        dropEntry: d.dropEntry,
        dropRate: d.dropRate,
        secureTcp: d.secureTcp,
        packetsDropped: d.packetsDropped,
        entriesDropped: d.entriesDropped,
      },
    };
  }

  /** Live connections by state name and the persistence templates, from running counts. */
  connStates(): { byState: Record<string, number>; templates: number } {
    return listing.connsByStateName(this.s.conns);
  }

  /**
   * Every conn and template (one-packet conns excepted: they never stay) and the listed counters,
   * as plain data a next director can take over with `importConnections` (a daemon restart).
   */
  exportConnections(now: number): ConnSnapshot {
    return listing.exportConnections(this.s, now);
  }

  /**
   * Takes over the conns and templates of a snapshot from `exportConnections` (possibly read back
   * from a file: every record is validated). Only entries whose real server is still a live dest of
   * its service are taken (and bound to it, counted active or inactive as their flags say); their
   * timers run on from `now`; controlling templates are relinked. Counters of services and dests
   * that still exist are set to the snapshot's values (their rates restart). Throws only when
   * `snapshot` is not a snapshot at all.
   */
  importConnections(snapshot: unknown, now: number): ImportResult {
    return listing.importConnections(this.s, snapshot, now);
  }
}
