/**
 * TEST DOUBLE of the tslvs daemon, for tslvsadm's parser and formatter tests only: it keeps
 * ServiceEntry values in memory and refuses requests with the errno the kernel's ip_vs_ctl.c
 * returns in the same situation (EEXIST, ESRCH, ENOENT, ERANGE, EINVAL, ENODEV). It forwards no
 * packets and schedules nothing; end-to-end tests use the real daemon.
 */

import { type IpvsClient, IpvsError } from "../../src/cli/ipvsadm/client.js";
import type {
  ConnEntry,
  DaemonConfig,
  DestConfig,
  DestEntry,
  InfoEntry,
  LaddrEntry,
  Request,
  ServiceConfig,
  ServiceEntry,
  ServiceId,
  TimeoutValues,
} from "../../src/control/api.js";
import { IpAddr } from "../../src/core/address.js";

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
const INTERFACES = new Set(["lo", "eth0", "eth1"]);

function zeroCounters() {
  return { conns: 0, inPkts: 0, outPkts: 0, inBytes: 0, outBytes: 0 };
}
function zeroRates() {
  return { cps: 0, inPps: 0, outPps: 0, inBps: 0, outBps: 0 };
}

export function keyOf(id: ServiceId): string {
  return id.fwmark !== undefined ? `fwm/${id.af}/${id.fwmark}` : `${id.protocol}/${id.addr}/${id.port}`;
}

/** Kernel ip_vs_add_dest's unicast check, for the addresses tests use. */
function usableDest(addr: string): boolean {
  const a = IpAddr.parse(addr);
  if (!a) return false;
  if (a.family === 4) {
    const v = a.v4Value;
    return v >>> 24 !== 0 && v !== 0xffffffff && v >>> 28 !== 0xe;
  }
  const w0 = a.words[0]!;
  if (w0 >>> 24 === 0xff) return false;
  if (w0 >>> 22 === 0x3fa) return false;
  return !a.isUnspecified();
}

export class TestIpvsDaemon {
  /** Dump order: address services then firewall-mark services, each in insertion order. */
  readonly services = new Map<string, ServiceEntry>();
  readonly laddrs = new Map<string, LaddrEntry[]>();
  timeouts: TimeoutValues = { tcp: 900, tcpfin: 120, udp: 300 };
  daemons: DaemonConfig[] = [];
  conns: ConnEntry[] = [];
  /** Whether getConns answers in pages when asked (daemons before paging did not). */
  connPaging = true;
  /** The largest page getConns answers. */
  connPageSize = 4;
  info: InfoEntry = {
    version: "1.2.1",
    versionCode: 0x010201,
    connTabSize: 4096,
    ready: true,
    dataPlane: null,
    connections: 0,
    connCapacity: 1 << 20,
    connRefusedFull: 0,
  };
  /** Every request received, in order. */
  readonly requests: Request[] = [];

  client(): IpvsClient {
    return {
      call: async <T>(req: Request): Promise<T> => {
        // Through JSON as over the socket, so nothing shares objects with the CLI.
        const r = JSON.parse(JSON.stringify(req)) as Request;
        this.requests.push(r);
        return JSON.parse(JSON.stringify(this.handle(r) ?? null)) as T;
      },
      close: () => {},
    };
  }

  private svc(id: ServiceId): ServiceEntry {
    const s = this.services.get(keyOf(id));
    if (!s) throw new IpvsError("ESRCH");
    return s;
  }

  /** Service keys in the order the dump returns them (else address services, then marks). */
  dumpOrder: string[] | undefined;

  private dump(): ServiceEntry[] {
    if (this.dumpOrder)
      return this.dumpOrder.map((k) => this.services.get(k)!).filter((s) => s !== undefined);
    const all = [...this.services.values()];
    return [...all.filter((s) => s.id.fwmark === undefined), ...all.filter((s) => s.id.fwmark !== undefined)];
  }

  private checkService(c: ServiceConfig): void {
    if (!SCHEDULERS.has(c.scheduler)) throw new IpvsError("ENOENT");
    if (c.pe !== "" && c.pe !== "sip") throw new IpvsError("ENOENT");
    const af = c.id.fwmark !== undefined ? c.id.af : c.id.addr.includes(":") ? 6 : 4;
    if (af === 6) {
      const p = Number(c.netmask);
      if (!(p >= 1 && p <= 128)) throw new IpvsError("EINVAL");
    }
  }

  /** ip_vs_add_dest / ip_vs_edit_dest check these before looking the destination up. */
  private checkDestValues(d: DestConfig): void {
    if (d.weight < 0 || d.lThreshold > d.uThreshold) throw new IpvsError("ERANGE");
    if (d.method === "tunnel" && d.tunType === "gue" && d.tunPort === 0) throw new IpvsError("EINVAL");
  }

  private handle(r: Request): unknown {
    switch (r.op) {
      case "getInfo":
        return this.info;
      case "getServices":
        return this.dump();
      case "getService":
        return this.svc(r.service);
      case "addService": {
        const k = keyOf(r.config.id);
        if (this.services.has(k)) throw new IpvsError("EEXIST");
        this.checkService(r.config);
        const af = r.config.id.fwmark !== undefined ? r.config.id.af : r.config.id.addr.includes(":") ? 6 : 4;
        this.services.set(k, { ...r.config, af, stats: zeroCounters(), rates: zeroRates(), dests: [] });
        return null;
      }
      case "editService": {
        const s = this.svc(r.config.id);
        this.checkService(r.config);
        Object.assign(s, { ...r.config });
        return null;
      }
      case "delService":
        this.svc(r.service);
        this.services.delete(keyOf(r.service));
        return null;
      case "flush":
        this.services.clear();
        return null;
      case "addDest": {
        const s = this.svc(r.service);
        this.checkDestValues(r.dest);
        if (s.dests.some((d) => d.addr === r.dest.addr && d.port === r.dest.port))
          throw new IpvsError("EEXIST");
        if (!usableDest(r.dest.addr)) throw new IpvsError("EINVAL");
        const af = r.dest.addr.includes(":") ? 6 : 4;
        s.dests.unshift({
          ...r.dest,
          af,
          activeConns: 0,
          inactConns: 0,
          persistConns: 0,
          flags: 1,
          stats: zeroCounters(),
          rates: zeroRates(),
        });
        return null;
      }
      case "editDest": {
        const s = this.svc(r.service);
        this.checkDestValues(r.dest);
        const d = s.dests.find((x) => x.addr === r.dest.addr && x.port === r.dest.port);
        if (!d) throw new IpvsError("ENOENT");
        Object.assign(d, r.dest);
        return null;
      }
      case "delDest": {
        const s = this.svc(r.service);
        const i = s.dests.findIndex((x) => x.addr === r.addr && x.port === r.port);
        if (i < 0) throw new IpvsError("ENOENT");
        s.dests.splice(i, 1);
        return null;
      }
      case "zero": {
        const list = r.service ? [this.svc(r.service)] : [...this.services.values()];
        for (const s of list) {
          s.stats = zeroCounters();
          s.rates = zeroRates();
          for (const d of s.dests) {
            d.stats = zeroCounters();
            d.rates = zeroRates();
          }
        }
        return null;
      }
      case "setTimeout":
        if (r.timeout.tcp) this.timeouts.tcp = r.timeout.tcp;
        if (r.timeout.tcpfin) this.timeouts.tcpfin = r.timeout.tcpfin;
        if (r.timeout.udp) this.timeouts.udp = r.timeout.udp;
        return null;
      case "getTimeout":
        return this.timeouts;
      case "startDaemon": {
        const c = r.config;
        if (this.daemons.some((d) => d.state === c.state)) throw new IpvsError("EEXIST");
        if (!INTERFACES.has(c.mcastIfn)) throw new IpvsError("ENODEV");
        const v6 = c.mcastGroup.includes(":");
        this.daemons.push({
          ...c,
          mcastGroup: c.mcastGroup || "224.0.0.81",
          mcastPort: c.mcastPort || 8848,
          mcastTtl: c.mcastTtl || 1,
          syncMaxLen: c.syncMaxLen || (v6 ? 1500 - 48 : 1500 - 28),
        });
        return null;
      }
      case "stopDaemon": {
        const i = this.daemons.findIndex((d) => d.state === r.state);
        if (i < 0) throw new IpvsError("ESRCH");
        this.daemons.splice(i, 1);
        return null;
      }
      case "getDaemons":
        return this.daemons;
      case "getConns": {
        // Paged as the daemon pages (cursor: the position in `conns`), in pages of at most
        // `connPageSize` so that a short table already takes several; an older daemon's whole
        // table when `connPaging` is off or no paging was asked for.
        if (!this.connPaging || (r.after === undefined && r.limit === undefined)) return this.conns;
        const from = r.after ?? 0;
        const size = Math.min(r.limit ?? this.connPageSize, this.connPageSize);
        const conns = this.conns.slice(from, from + size);
        return { conns, next: from + size < this.conns.length ? from + size : null };
      }
      case "addLaddr": {
        this.svc(r.service);
        const list = this.laddrs.get(keyOf(r.service)) ?? [];
        if (list.some((l) => l.addr === r.addr)) throw new IpvsError("EEXIST");
        list.push({ addr: r.addr, ifname: r.ifname, portConflicts: 0, conns: 0 });
        this.laddrs.set(keyOf(r.service), list);
        return null;
      }
      case "delLaddr": {
        this.svc(r.service);
        const list = this.laddrs.get(keyOf(r.service)) ?? [];
        const i = list.findIndex((l) => l.addr === r.addr);
        if (i < 0) throw new IpvsError("ENOENT");
        list.splice(i, 1);
        return null;
      }
      case "getLaddrs":
        this.svc(r.service);
        return this.laddrs.get(keyOf(r.service)) ?? [];
      default:
        throw new IpvsError("EOPNOTSUPP");
    }
  }
}

export type { DestEntry };
