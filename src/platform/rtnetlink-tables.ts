/**
 * The host's links, addresses and main-table routes as rtnetlink dumps (RTM_GETLINK, RTM_GETADDR,
 * RTM_GETROUTE), decoded into plain records: what `ip -j -d addr show` and `ip -j route show table
 * main` print, without a process. Layouts: <linux/rtnetlink.h>, <linux/if_link.h>,
 * <linux/if_addr.h>.
 */
import { IpAddr } from "../core/address.js";
import { forEachAttr, NlMessageBuilder, type RtnetlinkClient } from "./rtnetlink-client.js";

const AF_UNSPEC = 0;
const AF_INET = 2;
const AF_INET6 = 10;

const RTM_NEWLINK = 16;
const RTM_GETLINK = 18;
const RTM_NEWADDR = 20;
const RTM_GETADDR = 22;
const RTM_NEWROUTE = 24;
const RTM_GETROUTE = 26;

const IFLA_ADDRESS = 1;
const IFLA_IFNAME = 3;
const IFLA_MTU = 4;
const IFLA_LINKINFO = 18;
const IFLA_INFO_KIND = 1;
const IFF_UP = 0x1;
const IFF_LOOPBACK = 0x8;
const IFF_LOWER_UP = 0x10000;
const ARPHRD_ETHER = 1;
/** sizeof(struct ifinfomsg) */
const IFINFOMSG_LEN = 16;

const IFA_ADDRESS = 1;
const IFA_LOCAL = 2;
/** sizeof(struct ifaddrmsg) */
const IFADDRMSG_LEN = 8;

const RTA_DST = 1;
const RTA_OIF = 4;
const RTA_GATEWAY = 5;
const RTA_PRIORITY = 6;
const RTA_PREFSRC = 7;
const RTA_METRICS = 8;
const RTA_TABLE = 15;
const RTAX_MTU = 2;
const RT_TABLE_MAIN = 254;
const RTN_UNICAST = 1;
/** sizeof(struct rtmsg) */
const RTMSG_LEN = 12;

export interface LinkRecord {
  ifindex: number;
  name: string;
  /** The link-layer address of an Ethernet link; 6 zero bytes otherwise. */
  mac: Uint8Array;
  mtu: number;
  flags: { up: boolean; lowerUp: boolean; loopback: boolean };
  /** IFLA_INFO_KIND (`veth`, `bridge`...); null for a device with a driver of its own. */
  kind: string | null;
}

export interface AddressRecord {
  ifindex: number;
  addr: IpAddr;
  prefixLen: number;
}

export interface RouteRecord {
  dst: IpAddr;
  prefixLen: number;
  ifindex: number;
  gateway: IpAddr | null;
  prefsrc: IpAddr | null;
  metric: number;
  /** The route's MTU metric; 0 when it has none. */
  mtu: number;
}

function addrAt(v: DataView, family: number, at: number, len: number): IpAddr | null {
  if (family === AF_INET && len === 4) return IpAddr.v4(v.getUint32(at));
  if (family === AF_INET6 && len === 16)
    return IpAddr.fromWords(6, [
      v.getUint32(at),
      v.getUint32(at + 4),
      v.getUint32(at + 8),
      v.getUint32(at + 12),
    ]);
  return null;
}

function cString(b: Uint8Array, at: number, len: number): string {
  let end = at;
  while (end < at + len && b[end] !== 0) end++;
  return Buffer.from(b.subarray(at, end)).toString("utf8");
}

export function dumpLinks(nl: RtnetlinkClient): LinkRecord[] {
  const out: LinkRecord[] = [];
  const header = new NlMessageBuilder().u8(AF_UNSPEC).u8(0).u16(0).u32(0).u32(0).u32(0).build();
  nl.dump(RTM_GETLINK, header, (type, b, v, body, end) => {
    if (type !== RTM_NEWLINK || body + IFINFOMSG_LEN > end) return;
    const arphrd = v.getUint16(body + 2, true);
    const ifindex = v.getInt32(body + 4, true);
    const flags = v.getUint32(body + 8, true);
    const rec: LinkRecord = {
      ifindex,
      name: "",
      mac: new Uint8Array(6),
      mtu: 0,
      flags: {
        up: (flags & IFF_UP) !== 0,
        lowerUp: (flags & IFF_LOWER_UP) !== 0,
        loopback: (flags & IFF_LOOPBACK) !== 0,
      },
      kind: null,
    };
    forEachAttr(v, body + IFINFOMSG_LEN, end, (t, at, len) => {
      if (t === IFLA_IFNAME) rec.name = cString(b, at, len);
      else if (t === IFLA_MTU && len >= 4) rec.mtu = v.getUint32(at, true);
      else if (t === IFLA_ADDRESS && len === 6 && arphrd === ARPHRD_ETHER) rec.mac = b.slice(at, at + 6);
      else if (t === IFLA_LINKINFO)
        forEachAttr(v, at, at + len, (it, iat, ilen) => {
          if (it === IFLA_INFO_KIND) rec.kind = cString(b, iat, ilen);
        });
    });
    out.push(rec);
  });
  return out;
}

export function dumpAddresses(nl: RtnetlinkClient): AddressRecord[] {
  const out: AddressRecord[] = [];
  const header = new NlMessageBuilder().u8(AF_UNSPEC).u8(0).u8(0).u8(0).u32(0).build();
  nl.dump(RTM_GETADDR, header, (type, b, v, body, end) => {
    if (type !== RTM_NEWADDR || body + IFADDRMSG_LEN > end) return;
    const family = b[body]!;
    const prefixLen = b[body + 1]!;
    const ifindex = v.getUint32(body + 4, true);
    let local: IpAddr | null = null;
    let address: IpAddr | null = null;
    forEachAttr(v, body + IFADDRMSG_LEN, end, (t, at, len) => {
      if (t === IFA_LOCAL) local = addrAt(v, family, at, len);
      else if (t === IFA_ADDRESS) address = addrAt(v, family, at, len);
    });
    // IFA_LOCAL is the interface's own address (IFA_ADDRESS is the peer's on point-to-point links).
    const addr = local ?? address;
    if (addr) out.push({ ifindex, addr, prefixLen });
  });
  return out;
}

/** The main table's unicast routes with an output interface (multipath routes are left out). */
export function dumpRoutes(nl: RtnetlinkClient): RouteRecord[] {
  const out: RouteRecord[] = [];
  for (const family of [AF_INET, AF_INET6]) {
    const header = new NlMessageBuilder().u8(family).u8(0).u8(0).u8(0).u8(0).u8(0).u8(0).u8(0).u32(0).build();
    nl.dump(RTM_GETROUTE, header, (type, b, v, body, end) => {
      if (type !== RTM_NEWROUTE || body + RTMSG_LEN > end || b[body] !== family) return;
      const dstLen = b[body + 1]!;
      let table = b[body + 4]!;
      if (b[body + 7] !== RTN_UNICAST) return;
      const rec: RouteRecord = {
        dst: family === AF_INET ? IpAddr.v4(0) : IpAddr.fromWords(6, [0, 0, 0, 0]),
        prefixLen: dstLen,
        ifindex: 0,
        gateway: null,
        prefsrc: null,
        metric: 0,
        mtu: 0,
      };
      forEachAttr(v, body + RTMSG_LEN, end, (t, at, len) => {
        if (t === RTA_DST) rec.dst = addrAt(v, family, at, len) ?? rec.dst;
        else if (t === RTA_OIF && len === 4) rec.ifindex = v.getUint32(at, true);
        else if (t === RTA_GATEWAY) rec.gateway = addrAt(v, family, at, len);
        else if (t === RTA_PREFSRC) rec.prefsrc = addrAt(v, family, at, len);
        else if (t === RTA_PRIORITY && len === 4) rec.metric = v.getUint32(at, true);
        else if (t === RTA_TABLE && len === 4) table = v.getUint32(at, true);
        else if (t === RTA_METRICS)
          forEachAttr(v, at, at + len, (mt, mat, mlen) => {
            if (mt === RTAX_MTU && mlen === 4) rec.mtu = v.getUint32(mat, true);
          });
      });
      if (table === RT_TABLE_MAIN && rec.ifindex > 0) out.push(rec);
    });
  }
  return out;
}
