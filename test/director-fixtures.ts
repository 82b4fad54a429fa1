/** Shared test fixtures: tiny inline schedulers and builders for specs and packets. */
import { IpAddr } from "../src/core/address.js";
import type { Dest, DestSpec, FwdMethod } from "../src/core/dest.js";
import { Director, type DirectorOptions } from "../src/core/director.js";
import { FlowPacket, IPPROTO_TCP, IPPROTO_UDP } from "../src/core/flow.js";
import type { SchedulerModule } from "../src/core/scheduler.js";
import type { ServiceKey, ServiceSpec, VirtualService } from "../src/core/service.js";

/** Round robin as the kernel's rr: next usable dest after the last pick, in list order. */
export const rr: SchedulerModule = {
  name: "rr",
  create() {
    let last: Dest | null = null;
    return {
      name: "rr",
      schedule(svc: VirtualService) {
        const n = svc.dests.length;
        if (n === 0) return null;
        let start = last ? svc.dests.indexOf(last) + 1 : 0;
        if (start < 0) start = 0;
        for (let k = 0; k < n; k++) {
          const d = svc.dests[(start + k) % n]!;
          if (d.weight > 0 && !d.overloaded) {
            last = d;
            return d;
          }
        }
        return null;
      },
      delDest(_svc: VirtualService, d: Dest) {
        if (last === d) last = null;
      },
    };
  },
};

/** Records hook calls, for checking the director drives the scheduler as the kernel does. */
export function recordingModule(name: string, log: string[]): SchedulerModule {
  return {
    name,
    create(svc) {
      log.push(`create ${name} ${svc.dests.length}`);
      return {
        name,
        schedule: (s) => s.dests.find((d) => d.weight > 0 && !d.overloaded) ?? null,
        addDest: (_s, d) => log.push(`add ${name} ${d.addr}:${d.port}`),
        delDest: (_s, d) => log.push(`del ${name} ${d.addr}:${d.port}`),
        updDest: (_s, d) => log.push(`upd ${name} ${d.addr}:${d.port}`),
        destChanged: (_s, d) =>
          log.push(`changed ${name} ${d.addr}:${d.port} ${d.activeConns}/${d.inactConns}`),
        done: () => log.push(`done ${name}`),
      };
    },
  };
}

export function makeDirector(extra: Partial<DirectorOptions> = {}, mods: SchedulerModule[] = [rr]): Director {
  return new Director({
    schedulers: (n) => mods.find((m) => m.name === n),
    connCapacity: 4096,
    random: () => 0.5,
    ...extra,
  });
}

export const ip = (s: string): IpAddr => IpAddr.mustParse(s);

export function tcpKey(addr: string, port: number): ServiceKey {
  return { kind: "addr", protocol: IPPROTO_TCP, addr: ip(addr), port };
}

export function udpKey(addr: string, port: number): ServiceKey {
  return { kind: "addr", protocol: IPPROTO_UDP, addr: ip(addr), port };
}

export function svcSpec(key: ServiceKey, o: Partial<Omit<ServiceSpec, "key">> = {}): ServiceSpec {
  const v6 = key.kind === "addr" ? key.addr.family === 6 : key.family === 6;
  return { key, scheduler: "rr", flags: 0, timeout: 0, netmask: v6 ? 128 : 0xffffffff, pe: "", ...o };
}

export function destSpec(
  addr: string,
  port: number,
  method: FwdMethod = "masq",
  o: Partial<DestSpec> = {},
): DestSpec {
  return {
    addr: ip(addr),
    port,
    method,
    weight: 1,
    uThreshold: 0,
    lThreshold: 0,
    tunType: "ipip",
    tunPort: 0,
    tunCsum: "nocsum",
    ...o,
  };
}

/** A packet from `src` to `dst` ("a.b.c.d:port" or "[v6]:port"). */
export function packet(
  pkt: FlowPacket,
  protocol: number,
  src: string,
  dst: string,
  tcpFlags = 0,
  length = 60,
  fwmark = 0,
): FlowPacket {
  const [sa, sp] = split(src);
  const [da, dp] = split(dst);
  pkt.family = sa.family;
  pkt.protocol = protocol;
  pkt.saddr.set(sa.words);
  pkt.daddr.set(da.words);
  pkt.sport = sp;
  pkt.dport = dp;
  pkt.tcpFlags = tcpFlags;
  pkt.length = length;
  pkt.fwmark = fwmark;
  return pkt;
}

function split(s: string): [IpAddr, number] {
  const m = /^\[(.+)\]:(\d+)$/.exec(s) ?? /^([^:]+):(\d+)$/.exec(s);
  if (!m) throw new Error(`bad endpoint ${s}`);
  return [ip(m[1]!), Number(m[2])];
}

export function words(a: Uint32Array, family: 4 | 6): string {
  return IpAddr.fromWords(family, a).toString();
}

export { FlowPacket };
