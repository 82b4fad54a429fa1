/**
 * Management (the kernel's ip_vs_ctl.c): virtual services and real servers with the kernel's checks
 * and refusals (errnos), the dest trash, counters and their zeroing, timeouts, FULLNAT local
 * addresses. Functions over the director's state (director-state.ts); `Director` is the facade.
 */
import type { IpAddr } from "./address.js";
import { DEST_F_AVAILABLE, Dest, type DestSpec } from "./dest.js";
import { type CounterValues, checkInt, type DirectorState, FWD_CODES } from "./director-state.js";
import { IpvsError } from "./errors.js";
import { LocalAddress, ServiceLaddrs } from "./laddr-pool.js";
import type { SchedulerModule } from "./scheduler.js";
import { type ServiceKey, type ServiceSpec, SVC_F_HASHED, VirtualService } from "./service.js";
import { serviceKeyEquals } from "./service-table.js";
import type { Counters } from "./stats.js";
import { overloadOnUpdate } from "./thresholds.js";
import type { TimeoutValues } from "./timeouts.js";

export function findService(ds: DirectorState, key: ServiceKey): VirtualService | undefined {
  return ds.svcs.find(key);
}

/** Services in a stable order (the order they were added). */
export function services(ds: DirectorState): VirtualService[] {
  return [...ds.svcs.all()];
}

export function validateServiceSpec(_ds: DirectorState, spec: ServiceSpec): void {
  const k = spec.key;
  if (k.kind === "addr") {
    if (!checkInt(k.protocol, 0, 255) || !checkInt(k.port, 0, 65535))
      throw new IpvsError("EINVAL", "service protocol must be 0..255 and port 0..65535");
  } else {
    if (k.family !== 4 && k.family !== 6) throw new IpvsError("EAFNOSUPPORT", "family must be 4 or 6");
    if (!checkInt(k.fwmark, 1, 0xffffffff)) throw new IpvsError("EINVAL", "fwmark must be 1..4294967295");
  }
  if (!checkInt(spec.timeout, 0, 0xffffffff)) throw new IpvsError("EINVAL", "bad persistence timeout");
  if (!checkInt(spec.flags, 0, 0xffffffff)) throw new IpvsError("EINVAL", "bad service flags");
}

/** Kernel order of checks after the existence check: scheduler, PE, IPv6 netmask. */
export function checkSchedPeMask(ds: DirectorState, spec: ServiceSpec): SchedulerModule | null {
  let mod: SchedulerModule | null = null;
  if (spec.scheduler !== "none") {
    mod = ds.lookupScheduler(spec.scheduler) ?? null;
    if (!mod) throw new IpvsError("ENOENT", `scheduler ${JSON.stringify(spec.scheduler)} not found`);
  }
  if (spec.pe && !ds.pes.includes(spec.pe))
    throw new IpvsError("ENOENT", `persistence engine ${JSON.stringify(spec.pe)} not found`);
  const family = spec.key.kind === "addr" ? spec.key.addr.family : spec.key.family;
  if (family === 6 && !checkInt(spec.netmask, 1, 128))
    throw new IpvsError("EINVAL", `IPv6 prefix length must be 1..128, not ${spec.netmask}`);
  if (family === 4 && !checkInt(spec.netmask, 0, 0xffffffff)) throw new IpvsError("EINVAL", "bad netmask");
  return mod;
}

export function addService(ds: DirectorState, spec: ServiceSpec): VirtualService {
  validateServiceSpec(ds, spec);
  if (ds.svcs.find(spec.key)) throw new IpvsError("EEXIST", "service already exists");
  const mod = checkSchedPeMask(ds, spec);
  const svc = new VirtualService(ds.nextSvcId++, { ...spec, flags: spec.flags & ~SVC_F_HASHED });
  if (mod) svc.scheduler = mod.create(svc, ds.ctx);
  ds.svcs.add(svc);
  ds.hooks.added?.(svc.stats);
  return svc;
}

/** `-E`: replaces scheduler, flags, timeout, netmask and PE; rebinds the scheduler if its name changed. */
export function editService(ds: DirectorState, spec: ServiceSpec): VirtualService {
  validateServiceSpec(ds, spec);
  const svc = ds.svcs.find(spec.key);
  if (!svc) throw new IpvsError("ESRCH", "no such service");
  const mod = checkSchedPeMask(ds, spec);
  if (spec.scheduler !== svc.schedName) {
    const old = svc.scheduler;
    svc.scheduler = null;
    old?.done?.(svc);
    svc.schedName = spec.scheduler;
    if (mod) svc.scheduler = mod.create(svc, ds.ctx);
  }
  svc.flags = spec.flags & ~SVC_F_HASHED;
  svc.timeout = spec.timeout;
  svc.netmask = spec.netmask;
  svc.pe = spec.pe;
  return svc;
}

export function delService(ds: DirectorState, key: ServiceKey): void {
  const svc = ds.svcs.find(key);
  if (!svc) throw new IpvsError("ESRCH", "no such service");
  removeService(ds, svc);
}

export function removeService(ds: DirectorState, svc: VirtualService): void {
  const sched = svc.scheduler;
  svc.scheduler = null;
  sched?.done?.(svc);
  for (const d of svc.dests.splice(0)) trashDest(ds, d);
  const la = ds.svcLaddrs.get(svc.id);
  if (la) {
    for (const lip of la.list) releaseLip(ds, lip);
    ds.svcLaddrs.delete(svc.id);
  }
  ds.svcs.remove(svc);
  ds.hooks.removed?.(svc.stats);
}

/** `-C`: every service and its real servers. */
export function flush(ds: DirectorState): void {
  for (const svc of services(ds)) removeService(ds, svc);
}

export function checkDestSpec(
  _ds: DirectorState,
  svc: VirtualService,
  spec: DestSpec,
  forAdd: boolean,
): void {
  if (!checkInt(spec.port, 0, 65535)) throw new IpvsError("EINVAL", "port must be 0..65535");
  if (!(spec.method in FWD_CODES)) throw new IpvsError("EINVAL", `unknown forwarding method ${spec.method}`);
  if (!checkInt(spec.uThreshold, 0, 0x7fffffff) || !checkInt(spec.lThreshold, 0, 0x7fffffff))
    throw new IpvsError("EINVAL", "thresholds must be 0..2147483647");
  if (spec.addr.family !== svc.family && spec.method !== "tunnel")
    throw new IpvsError("EINVAL", "a real server of another family must use tunnelling");
  if (!Number.isInteger(spec.weight) || spec.weight < 0 || spec.weight > 0x7fffffff)
    throw new IpvsError("ERANGE", "weight must be 0..2147483647");
  if (spec.lThreshold > spec.uThreshold)
    throw new IpvsError("ERANGE", "lower threshold is above the upper threshold");
  if (spec.method === "tunnel" && spec.tunType === "gue" && spec.tunPort === 0)
    throw new IpvsError("EINVAL", "GUE tunnels need a port");
  void forAdd;
}

export function findDest(
  _ds: DirectorState,
  svc: VirtualService,
  addr: IpAddr,
  port: number,
): Dest | undefined {
  return svc.dests.find((d) => d.port === port && d.addr.equals(addr));
}

/** `-a`: the new dest goes to the head of svc.dests; a matching dest from the trash is reused. */
export function addDest(ds: DirectorState, key: ServiceKey, spec: DestSpec): Dest {
  const svc = ds.svcs.find(key);
  if (!svc) throw new IpvsError("ESRCH", "service not defined");
  checkDestSpec(ds, svc, spec, true);
  if (findDest(ds, svc, spec.addr, spec.port)) throw new IpvsError("EEXIST", "destination already exists");
  let dest: Dest | undefined;
  for (const d of ds.trash.keys()) {
    const owner = ds.destSvc[d.id];
    if (d.port === spec.port && d.addr.equals(spec.addr) && owner && serviceKeyEquals(owner.key, svc.key)) {
      dest = d;
      break;
    }
  }
  if (dest) {
    ds.trash.delete(dest);
  } else {
    const t = ds.addrType(spec.addr);
    if (t !== "local" && t !== "unicast")
      throw new IpvsError("EINVAL", `${spec.addr} is not a unicast address a real server can have`);
    const id = ds.freeDestIds.length > 0 ? ds.freeDestIds.pop()! : ds.destById.length;
    dest = new Dest(id, spec);
    ds.destById[id] = dest;
    ds.hooks.added?.(dest.stats);
  }
  updateDest(ds, svc, dest, spec, true);
  return dest;
}

export function editDest(ds: DirectorState, key: ServiceKey, spec: DestSpec): Dest {
  const svc = ds.svcs.find(key);
  if (!svc) throw new IpvsError("ESRCH", "service not defined");
  checkDestSpec(ds, svc, spec, false);
  const dest = findDest(ds, svc, spec.addr, spec.port);
  if (!dest) throw new IpvsError("ENOENT", "no such destination");
  updateDest(ds, svc, dest, spec, false);
  return dest;
}

export function updateDest(
  ds: DirectorState,
  svc: VirtualService,
  dest: Dest,
  spec: DestSpec,
  add: boolean,
): void {
  dest.weight = spec.weight;
  // Kernel __ip_vs_update_dest: every add sets last_weight, 0 included (mh builds its table from it);
  // an edit to 0 keeps the previous one, so quiescing does not reshuffle mh's table.
  if (add) dest.lastWeight = spec.weight;
  dest.method = spec.method;
  dest.tunType = spec.tunType;
  dest.tunPort = spec.tunPort;
  dest.tunCsum = spec.tunCsum;
  const owner = ds.destSvc[dest.id];
  if (owner !== svc) {
    // Rebound to another service object (a re-created service reusing a trashed dest): fresh counters.
    if (owner) zeroCounters(ds, dest.stats);
    ds.destSvc[dest.id] = svc;
  }
  dest.flags |= DEST_F_AVAILABLE;
  overloadOnUpdate(dest, spec.uThreshold);
  dest.uThreshold = spec.uThreshold;
  dest.lThreshold = spec.lThreshold;
  if (add) {
    svc.dests.unshift(dest);
    svc.scheduler?.addDest?.(svc, dest);
  } else {
    svc.scheduler?.updDest?.(svc, dest);
  }
}

/** `-d`: the dest stops being AVAILABLE and lingers in the trash while conns reference it. */
export function delDest(ds: DirectorState, key: ServiceKey, addr: IpAddr, port: number): void {
  const svc = ds.svcs.find(key);
  if (!svc) throw new IpvsError("ESRCH", "service not defined");
  const dest = findDest(ds, svc, addr, port);
  if (!dest) throw new IpvsError("ENOENT", "no such destination");
  svc.dests.splice(svc.dests.indexOf(dest), 1);
  trashDest(ds, dest);
  svc.scheduler?.delDest?.(svc, dest);
}

export function trashDest(ds: DirectorState, dest: Dest): void {
  dest.flags &= ~DEST_F_AVAILABLE;
  ds.trash.set(dest, Number.NaN);
  if (ds.sysctls.expire_nodest_conn) ds.nodestSweepPending = true;
}

/** Dests deleted but still referenced (or recently unreferenced), kernel "dest trash". */
export function trashedDests(ds: DirectorState): Dest[] {
  return [...ds.trash.keys()];
}

/** The dest a conn's `destId` names (live or trashed). */
export function destOfId(ds: DirectorState, id: number): Dest | undefined {
  return ds.destById[id];
}

/** The service a dest belongs to (or last belonged to). */
export function serviceOf(ds: DirectorState, dest: Dest): VirtualService | undefined {
  return ds.destSvc[dest.id];
}

export function zeroCounters(ds: DirectorState, c: Counters): void {
  ds.baselines.set(c, {
    conns: c.conns,
    inPkts: c.inPkts,
    outPkts: c.outPkts,
    inBytes: c.inBytes,
    outBytes: c.outBytes,
  });
  ds.hooks.zeroed?.(c);
}

/** `-Z`: one service and its dests, or everything including the totals. Listed = current - baseline. */
export function zero(ds: DirectorState, key?: ServiceKey): void {
  if (key) {
    const svc = ds.svcs.find(key);
    if (!svc) throw new IpvsError("ESRCH", "no such service");
    zeroService(ds, svc);
    return;
  }
  for (const svc of ds.svcs.all()) zeroService(ds, svc);
  zeroCounters(ds, ds.totals);
}

export function zeroService(ds: DirectorState, svc: VirtualService): void {
  zeroCounters(ds, svc.stats);
  for (const d of svc.dests) zeroCounters(ds, d.stats);
}

/** The values `ipvsadm --stats` lists: raw counters minus the last zeroing's baseline. */
export function displayed(ds: DirectorState, c: Counters): CounterValues {
  const b = ds.baselines.get(c);
  return {
    conns: c.conns - (b?.conns ?? 0),
    inPkts: c.inPkts - (b?.inPkts ?? 0),
    outPkts: c.outPkts - (b?.outPkts ?? 0),
    inBytes: c.inBytes - (b?.inBytes ?? 0),
    outBytes: c.outBytes - (b?.outBytes ?? 0),
  };
}

/** Every counters object that is listed: totals, services, their dests. For the rate estimator. */
export function* statsObjects(ds: DirectorState): Generator<Counters> {
  yield ds.totals;
  for (const svc of ds.svcs.all()) {
    yield svc.stats;
    for (const d of svc.dests) yield d.stats;
  }
}

export function setTimeouts(ds: DirectorState, v: TimeoutValues): void {
  ds.timeouts.set(v);
}

export function getTimeouts(ds: DirectorState): TimeoutValues {
  return ds.timeouts.get();
}

/** Add a local address to a service's FULLNAT pool (DPVS `dpip laddr add`). */
export function addLaddr(ds: DirectorState, key: ServiceKey, addr: IpAddr, ifname: string): void {
  const svc = ds.svcs.find(key);
  if (!svc) throw new IpvsError("ESRCH", "no such service");
  if (addr.family !== svc.family && svc.key.kind === "addr")
    throw new IpvsError("EINVAL", "local address family differs from the service's");
  let la = ds.svcLaddrs.get(svc.id);
  if (!la) {
    la = new ServiceLaddrs();
    ds.svcLaddrs.set(svc.id, la);
  }
  if (la.list.some((l) => l.addr.equals(addr))) throw new IpvsError("EEXIST", "local address already exists");
  let lip = ds.localAddrs.find((l) => l?.addr.equals(addr));
  if (!lip) {
    let id = ds.localAddrs.indexOf(undefined);
    if (id < 0) id = ds.localAddrs.length;
    lip = new LocalAddress(id, addr, ifname, ds.localPorts);
    ds.localAddrs[id] = lip;
  }
  lip.ifname = ifname;
  lip.services++;
  la.list.push(lip);
}

/** Remove a local address from a service; conns using it keep their ports until they expire. */
export function delLaddr(ds: DirectorState, key: ServiceKey, addr: IpAddr): void {
  const svc = ds.svcs.find(key);
  if (!svc) throw new IpvsError("ESRCH", "no such service");
  const la = ds.svcLaddrs.get(svc.id);
  const at = la ? la.list.findIndex((l) => l.addr.equals(addr)) : -1;
  if (!la || at < 0) throw new IpvsError("ENOENT", "no such local address");
  const [lip] = la.list.splice(at, 1);
  if (la.cursor >= la.list.length) la.cursor = 0;
  releaseLip(ds, lip!);
}

export function getLaddrs(
  ds: DirectorState,
  key: ServiceKey,
): { addr: IpAddr; ifname: string; portsInUse: number }[] {
  const svc = ds.svcs.find(key);
  if (!svc) throw new IpvsError("ESRCH", "no such service");
  return (ds.svcLaddrs.get(svc.id)?.list ?? []).map((l) => ({
    addr: l.addr,
    ifname: l.ifname,
    portsInUse: l.portsInUse,
  }));
}

export function releaseLip(ds: DirectorState, lip: LocalAddress): void {
  lip.services--;
  if (lip.services === 0 && lip.portsInUse === 0 && !lip.pinned) ds.localAddrs[lip.id] = undefined;
}
