import { IpAddr } from "../core/address.js";
import type { Dest, DestSpec, FwdMethod, TunCsum, TunType } from "../core/dest.js";
import { IpvsError } from "../core/errors.js";
import { IPPROTO_IP, IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP } from "../core/flow.js";
import type { ServiceKey, ServiceSpec, VirtualService } from "../core/service.js";
import {
  SVC_F_HASHED,
  SVC_F_ONEPACKET,
  SVC_F_PERSISTENT,
  SVC_F_SCHED1,
  SVC_F_SCHED2,
  SVC_F_SCHED3,
  SVC_F_TOA,
} from "../core/service.js";
import type { Counters } from "../core/stats.js";
import type {
  CounterValues,
  DestConfig,
  DestEntry,
  Protocol,
  RateValues,
  ServiceConfig,
  ServiceEntry,
  ServiceId,
} from "./api.js";
import { destNotActedOn, serviceNotActedOn } from "./not-acted-on.js";

/**
 * The mapping between the control API's JSON shapes (string addresses, protocol names) and the
 * core's model (IpAddr, protocol numbers, the netmask as the kernel stores it). Anything that does
 * not fit is refused with EINVAL, as the kernel refuses a malformed netlink attribute.
 */

/** The flag bits a client may set on a service (HASHED is the kernel's own bookkeeping). */
export const SVC_USER_FLAGS =
  SVC_F_PERSISTENT | SVC_F_ONEPACKET | SVC_F_SCHED1 | SVC_F_SCHED2 | SVC_F_SCHED3 | SVC_F_TOA;

const PROTO_NUMBER: Record<Protocol, number> = { tcp: IPPROTO_TCP, udp: IPPROTO_UDP, sctp: IPPROTO_SCTP };
const FWD_METHODS: readonly FwdMethod[] = ["masq", "local", "tunnel", "route", "fullnat"];
const TUN_TYPES: readonly TunType[] = ["ipip", "gue", "gre"];
const TUN_CSUMS: readonly TunCsum[] = ["nocsum", "csum", "remcsum"];
const INT_MAX = 2147483647;

export function protocolName(proto: number): Protocol | null {
  if (proto === IPPROTO_TCP) return "tcp";
  if (proto === IPPROTO_UDP) return "udp";
  if (proto === IPPROTO_SCTP) return "sctp";
  return null;
}

function invalid(message: string): never {
  throw new IpvsError("EINVAL", message);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

export function parseAddr(v: unknown, what: string): IpAddr {
  if (typeof v !== "string") invalid(`${what} must be an address string`);
  const a = IpAddr.parse(v);
  if (!a) invalid(`${what} is not an IPv4 or IPv6 address: ${JSON.stringify(v)}`);
  return a;
}

export function intIn(v: unknown, min: number, max: number, what: string): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max)
    invalid(`${what} must be an integer in ${min}..${max}, not ${JSON.stringify(v)}`);
  return v;
}

function oneOf<T extends string>(v: unknown, allowed: readonly T[], what: string): T {
  if (typeof v !== "string" || !(allowed as readonly string[]).includes(v))
    invalid(`${what} must be one of ${allowed.join(", ")}, not ${JSON.stringify(v)}`);
  return v as T;
}

function str(v: unknown, what: string, maxLen: number): string {
  if (typeof v !== "string") invalid(`${what} must be a string`);
  if (v.length > maxLen) invalid(`${what} is longer than ${maxLen} characters`);
  return v;
}

export function serviceIdToKey(id: unknown): ServiceKey {
  if (!isObject(id)) invalid("service must be an object {protocol, addr, port} or {fwmark, af}");
  if (id.fwmark !== undefined) {
    const fwmark = intIn(id.fwmark, 1, 0xffffffff, "fwmark");
    const af = id.af === undefined ? 4 : id.af;
    if (af !== 4 && af !== 6) invalid("af must be 4 or 6");
    return { kind: "fwmark", family: af, fwmark };
  }
  const protocol = oneOf(id.protocol, ["tcp", "udp", "sctp"] as const, "protocol");
  return {
    kind: "addr",
    protocol: PROTO_NUMBER[protocol],
    addr: parseAddr(id.addr, "service address"),
    port: intIn(id.port, 0, 65535, "port"),
  };
}

export function keyToServiceId(key: ServiceKey): ServiceId {
  if (key.kind === "fwmark") return { fwmark: key.fwmark, af: key.family };
  return { protocol: protocolName(key.protocol) ?? "tcp", addr: key.addr.toString(), port: key.port };
}

export function keysEqual(a: ServiceKey, b: ServiceKey): boolean {
  if (a.kind === "fwmark") return b.kind === "fwmark" && a.fwmark === b.fwmark && a.family === b.family;
  return b.kind === "addr" && a.protocol === b.protocol && a.port === b.port && a.addr.equals(b.addr);
}

/** A stable text identity of a service, as ipvsadm would name it: "tcp 10.0.0.1:80", "fwmark 7 ipv6". */
export function keyText(key: ServiceKey): string {
  if (key.kind === "fwmark") return `fwmark ${key.fwmark}${key.family === 6 ? " ipv6" : ""}`;
  return `${protocolName(key.protocol) ?? `proto ${key.protocol}`} ${hostPort(key.addr, key.port)}`;
}

export function hostPort(addr: IpAddr, port: number): string {
  return addr.family === 6 ? `[${addr}]:${port}` : `${addr}:${port}`;
}

/** The persistence netmask from its text form: IPv4 mask as dotted quad, IPv6 prefix length. */
export function parseNetmask(text: unknown, family: 4 | 6): number {
  if (typeof text !== "string") invalid("netmask must be a string");
  if (family === 4) {
    const m = IpAddr.parse(text);
    if (m?.family !== 4) invalid(`IPv4 netmask must be a dotted quad, not ${JSON.stringify(text)}`);
    return m.v4Value;
  }
  if (!/^\d{1,3}$/.test(text)) invalid(`IPv6 netmask must be a prefix length, not ${JSON.stringify(text)}`);
  const n = Number(text);
  if (n < 1 || n > 128) invalid(`IPv6 netmask must be within 1..128, not ${n}`);
  return n;
}

export function netmaskText(netmask: number, family: 4 | 6): string {
  return family === 4 ? IpAddr.v4(netmask).toString() : String(netmask);
}

export function familyOfKey(key: ServiceKey): 4 | 6 {
  return key.kind === "addr" ? key.addr.family : key.family;
}

export function serviceConfigToSpec(config: unknown): ServiceSpec {
  if (!isObject(config)) invalid("config must be an object");
  const key = serviceIdToKey(config.id);
  const flags = intIn(config.flags ?? 0, 0, 0xffffffff, "flags");
  if ((flags & ~(SVC_USER_FLAGS | SVC_F_HASHED)) !== 0)
    invalid(`unknown service flag bits 0x${flags.toString(16)}`);
  const family = familyOfKey(key);
  return {
    key,
    scheduler: str(config.scheduler ?? "wlc", "scheduler", 15),
    flags: flags & SVC_USER_FLAGS,
    timeout: intIn(config.timeout ?? 0, 0, 0xffffffff, "timeout"),
    netmask: parseNetmask(config.netmask ?? (family === 4 ? "255.255.255.255" : "128"), family),
    pe: str(config.pe ?? "", "pe", 15),
  };
}

export function destConfigToSpec(dest: unknown): DestSpec {
  if (!isObject(dest)) invalid("dest must be an object");
  return {
    addr: parseAddr(dest.addr, "real server address"),
    port: intIn(dest.port, 0, 65535, "real server port"),
    method: oneOf(dest.method ?? "route", FWD_METHODS, "method"),
    weight: intIn(dest.weight ?? 1, 0, INT_MAX, "weight"),
    uThreshold: intIn(dest.uThreshold ?? 0, 0, INT_MAX, "uThreshold"),
    lThreshold: intIn(dest.lThreshold ?? 0, 0, INT_MAX, "lThreshold"),
    tunType: oneOf(dest.tunType ?? "ipip", TUN_TYPES, "tunType"),
    tunPort: intIn(dest.tunPort ?? 0, 0, 65535, "tunPort"),
    tunCsum: oneOf(dest.tunCsum ?? "nocsum", TUN_CSUMS, "tunCsum"),
  };
}

export function serviceToConfig(svc: VirtualService): ServiceConfig {
  return {
    id: keyToServiceId(svc.key),
    scheduler: svc.schedName,
    flags: svc.flags & SVC_USER_FLAGS,
    timeout: svc.timeout,
    netmask: netmaskText(svc.netmask, svc.family),
    pe: svc.pe,
  };
}

export function destToConfig(d: Dest): DestConfig {
  return {
    addr: d.addr.toString(),
    port: d.port,
    method: d.method,
    weight: d.weight,
    uThreshold: d.uThreshold,
    lThreshold: d.lThreshold,
    tunType: d.tunType,
    tunPort: d.tunPort,
    tunCsum: d.tunCsum,
  };
}

export function counterValues(c: Counters): CounterValues {
  return { conns: c.conns, inPkts: c.inPkts, outPkts: c.outPkts, inBytes: c.inBytes, outBytes: c.outBytes };
}

/** Where the rate estimator's figures come from; the estimator lives in the core. */
export type RateSource = (of: VirtualService | Dest) => RateValues;

export const ZERO_RATES: RateSource = () => ({ cps: 0, inPps: 0, outPps: 0, inBps: 0, outBps: 0 });

/** Entry fields a listing without counters leaves out (JSON.stringify drops undefined). */
const OMITTED = undefined as unknown as CounterValues & RateValues;

export function destToEntry(d: Dest, rates: RateSource, counters = true): DestEntry {
  // One literal with every field (no spread): listings build 100,000s of these.
  const entry: DestEntry = {
    addr: d.addr.toString(),
    port: d.port,
    method: d.method,
    weight: d.weight,
    uThreshold: d.uThreshold,
    lThreshold: d.lThreshold,
    tunType: d.tunType,
    tunPort: d.tunPort,
    tunCsum: d.tunCsum,
    af: d.addr.family,
    activeConns: d.activeConns,
    inactConns: d.inactConns,
    persistConns: d.persistConns,
    flags: d.flags,
    stats: counters ? counterValues(d.stats) : OMITTED,
    rates: counters ? rates(d) : OMITTED,
    notActedOn: undefined,
  };
  const notActed = destNotActedOn(entry);
  if (notActed.length) entry.notActedOn = notActed;
  return entry;
}

export function serviceToEntry(svc: VirtualService, rates: RateSource, counters = true): ServiceEntry {
  const dests = new Array<DestEntry>(svc.dests.length);
  for (let i = 0; i < dests.length; i++) dests[i] = destToEntry(svc.dests[i]!, rates, counters);
  const entry: ServiceEntry = {
    id: keyToServiceId(svc.key),
    scheduler: svc.schedName,
    flags: svc.flags & SVC_USER_FLAGS,
    timeout: svc.timeout,
    netmask: netmaskText(svc.netmask, svc.family),
    pe: svc.pe,
    af: svc.family,
    stats: counters ? counterValues(svc.stats) : OMITTED,
    rates: counters ? rates(svc) : OMITTED,
    dests,
    notActedOn: undefined,
  };
  const notActed = serviceNotActedOn(entry);
  if (notActed.length) entry.notActedOn = notActed;
  return entry;
}

/** Protocol label of /proc/net/ip_vs_conn. */
export function connProtocolLabel(proto: number): string {
  if (proto === IPPROTO_IP) return "IP";
  return protocolName(proto)?.toUpperCase() ?? String(proto);
}
