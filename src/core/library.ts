/**
 * Conveniences for using the IPVS model as a library: build services, real servers and packets
 * from text the way ipvsadm users write them, and describe a verdict. The Director itself is the
 * engine; these only save typing. Defaults follow ipvsadm: scheduler wlc, method DR ("route"),
 * weight 1, persistence timeout 360 s, IPv4 mask 255.255.255.255 / IPv6 prefix 128.
 */
import { IpAddr, parseHostPort } from "./address.js";
import { CONN_F_DROUTE, CONN_F_FWD_MASK, CONN_F_TUNNEL } from "./conn-table.js";
import type { DestSpec, FwdMethod, TunCsum, TunType } from "./dest.js";
import { type FlowPacket, IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP } from "./flow.js";
import { type ServiceKey, type ServiceSpec, SVC_F_ONEPACKET, SVC_F_PERSISTENT } from "./service.js";
import { ACTION_NAMES, type Verdict } from "./verdict.js";

export type ProtocolName = "tcp" | "udp" | "sctp";

const PROTOCOLS: Record<ProtocolName, number> = { tcp: IPPROTO_TCP, udp: IPPROTO_UDP, sctp: IPPROTO_SCTP };

/** "10.0.0.1:80" or "[2001:db8::1]:80" (a port is required). */
export function parseEndpoint(text: string): { addr: IpAddr; port: number } {
  const r = parseHostPort(text);
  if (!r || r.port === null) throw new RangeError(`not an address:port: ${JSON.stringify(text)}`);
  return { addr: r.addr, port: r.port };
}

/** The key of a (protocol, address, port) service: `serviceKey("tcp", "10.0.0.1:80")`. */
export function serviceKey(protocol: ProtocolName, endpoint: string): ServiceKey {
  const p = PROTOCOLS[protocol];
  if (p === undefined) throw new RangeError(`protocol must be tcp, udp or sctp, not ${protocol}`);
  const { addr, port } = parseEndpoint(endpoint);
  return { kind: "addr", protocol: p, addr, port };
}

/** The key of a firewall-mark service. */
export function fwmarkKey(fwmark: number, family: 4 | 6 = 4): ServiceKey {
  return { kind: "fwmark", family, fwmark };
}

export interface ServiceOptions {
  scheduler?: string;
  /** Persistence timeout in seconds (like `-p`); absent = not persistent. */
  persistent?: number;
  /** `-M`: IPv4 mask text ("255.255.255.0") or IPv6 prefix length. */
  netmask?: string | number;
  /** `-o`: one-packet scheduling (UDP). */
  ops?: boolean;
  pe?: string;
  /** Extra SVC_F_SCHED1..3 bits (sh/mh flags). */
  schedFlags?: number;
}

export function serviceSpec(key: ServiceKey, o: ServiceOptions = {}): ServiceSpec {
  const v6 = key.kind === "addr" ? key.addr.family === 6 : key.family === 6;
  let netmask = v6 ? 128 : 0xffffffff;
  if (typeof o.netmask === "number") netmask = o.netmask;
  else if (typeof o.netmask === "string") {
    const m = IpAddr.parse(o.netmask);
    if (m?.family !== 4) throw new RangeError(`not an IPv4 netmask: ${o.netmask}`);
    netmask = m.v4Value;
  }
  let flags = o.schedFlags ?? 0;
  if (o.persistent !== undefined) flags |= SVC_F_PERSISTENT;
  if (o.ops) flags |= SVC_F_ONEPACKET;
  return { key, scheduler: o.scheduler ?? "wlc", flags, timeout: o.persistent ?? 0, netmask, pe: o.pe ?? "" };
}

export interface DestOptions {
  method?: FwdMethod;
  weight?: number;
  uThreshold?: number;
  lThreshold?: number;
  tunType?: TunType;
  tunPort?: number;
  tunCsum?: TunCsum;
}

/** A real server: `destSpec("192.168.1.2:80", { method: "masq" })`. */
export function destSpec(endpoint: string, o: DestOptions = {}): DestSpec {
  const { addr, port } = parseEndpoint(endpoint);
  return {
    addr,
    port,
    method: o.method ?? "route",
    weight: o.weight ?? 1,
    uThreshold: o.uThreshold ?? 0,
    lThreshold: o.lThreshold ?? 0,
    tunType: o.tunType ?? "ipip",
    tunPort: o.tunPort ?? 0,
    tunCsum: o.tunCsum ?? "nocsum",
  };
}

/** Fill a reusable packet record: `flow(pkt, "tcp", "1.2.3.4:5000", "10.0.0.1:80", TCP_SYN)`. */
export function flow(
  pkt: FlowPacket,
  protocol: ProtocolName,
  src: string,
  dst: string,
  tcpFlags = 0,
  length = 60,
  fwmark = 0,
): FlowPacket {
  const s = parseEndpoint(src);
  const d = parseEndpoint(dst);
  if (s.addr.family !== d.addr.family) throw new RangeError("source and destination families differ");
  pkt.family = s.addr.family;
  pkt.protocol = PROTOCOLS[protocol];
  pkt.saddr.set(s.addr.words);
  pkt.daddr.set(d.addr.words);
  pkt.sport = s.port;
  pkt.dport = d.port;
  pkt.tcpFlags = tcpFlags;
  // SCTP's chunk types are set by the caller after this (pkt.sctpChunk = 1 for an INIT).
  pkt.sctpChunk = -1;
  pkt.sctpNextChunk = -1;
  pkt.length = length;
  pkt.fwmark = fwmark;
  // A new tuple carries no payload until `setPayload` gives one (no stale Call-ID).
  pkt.payload = null;
  return pkt;
}

const FWD = ["masq", "local", "tunnel", "route", "bypass", "fullnat"];

/** One line saying what the director decided, e.g. "FORWARD masq 1.2.3.4:5000 -> 192.168.1.2:80". */
export function describeVerdict(v: Verdict): string {
  const name = ACTION_NAMES[v.action];
  if (name !== "FORWARD") return v.reason ? `${name} (${v.reason})` : name;
  const ep = (w: Uint32Array, port: number) => {
    const a = IpAddr.fromWords(v.family, w).toString();
    return v.family === 6 ? `[${a}]:${port}` : `${a}:${port}`;
  };
  const fwd = v.fwd & CONN_F_FWD_MASK;
  // DR and tunnel packets keep their addresses: name the real server they go to.
  const via = v.dest && (fwd === CONN_F_DROUTE || fwd === CONN_F_TUNNEL) ? ` via ${v.dest.addr}` : "";
  return `${name} ${FWD[fwd]} ${ep(v.srcAddr, v.srcPort)} -> ${ep(v.dstAddr, v.dstPort)}${via}`;
}
