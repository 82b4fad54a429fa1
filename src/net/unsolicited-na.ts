/**
 * An unsolicited Neighbor Advertisement (RFC 4861 §4.4, §7.2.6) as a whole Ethernet frame: what a
 * new VRRP master sends for each IPv6 address it takes over (RFC 5798 §6.4.1), so that neighbours
 * update their caches to its MAC at once. To all-nodes (ff02::1, 33:33:00:00:00:01), hop limit
 * 255, Override set, Solicited clear, with the Target Link-Layer Address option.
 */
import { put16, put32 } from "./bytes.js";
import { finishSum, sumRange } from "./checksum.js";
import { ETHERTYPE_IPV6, writeEthernetHeader, writeMac } from "./ethernet.js";
import { ICMPV6_NEIGHBOR_ADVERT } from "./icmpv6.js";

const IPPROTO_ICMPV6 = 58;
const ALL_NODES_MAC = 0x333300000001;
const ALL_NODES = Uint8Array.from([0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
const NA_OVERRIDE = 0x20000000;
const NA_ROUTER = 0x80000000;
/** ICMPv6 NA (24) + target link-layer address option (8). */
const NA_LEN = 32;
export const UNSOLICITED_NA_FRAME_LEN = 14 + 40 + NA_LEN;

/** Writes the frame at `off` (from `mac`, source `linkLocal`, for `target`); returns its length. */
export function buildUnsolicitedNa(
  buf: Uint8Array,
  off: number,
  mac: number,
  linkLocal: Uint8Array,
  target: Uint8Array,
  router = false,
): number {
  let at = writeEthernetHeader(buf, off, ALL_NODES_MAC, mac, ETHERTYPE_IPV6);
  const ip = at;
  put32(buf, ip, 0x60000000);
  put16(buf, ip + 4, NA_LEN);
  buf[ip + 6] = IPPROTO_ICMPV6;
  buf[ip + 7] = 255;
  buf.set(linkLocal, ip + 8);
  buf.set(ALL_NODES, ip + 24);
  at = ip + 40;
  buf[at] = ICMPV6_NEIGHBOR_ADVERT;
  buf[at + 1] = 0;
  put16(buf, at + 2, 0);
  put32(buf, at + 4, (NA_OVERRIDE | (router ? NA_ROUTER : 0)) >>> 0);
  buf.set(target, at + 8);
  buf[at + 24] = 2; // Target Link-Layer Address
  buf[at + 25] = 1; // in units of 8 bytes
  writeMac(buf, at + 26, mac);
  const pseudo = sumRange(buf, ip + 8, 32) + NA_LEN + IPPROTO_ICMPV6;
  put16(buf, at + 2, finishSum(sumRange(buf, at, NA_LEN, pseudo)));
  return UNSOLICITED_NA_FRAME_LEN;
}
