/**
 * Ethernet II framing. A MAC address is a plain number (48 bits fit exactly in a double), so MACs can
 * sit in typed arrays and be compared with ===.
 */
import { get16, put16 } from "./bytes.js";

export const ETH_HEADER_LEN = 14;
export const ETH_ADDR_LEN = 6;
export const ETH_DST_OFF = 0;
export const ETH_SRC_OFF = 6;
export const ETH_TYPE_OFF = 12;
/** Smallest frame on the wire without FCS; shorter frames are padded by the sender. */
export const ETH_MIN_FRAME = 60;
export const VLAN_TAG_LEN = 4;
/** At most this many stacked VLAN tags (802.1ad QinQ + 802.1Q) are skipped. */
export const VLAN_MAX_DEPTH = 2;

export const ETHERTYPE_IPV4 = 0x0800;
export const ETHERTYPE_ARP = 0x0806;
export const ETHERTYPE_VLAN = 0x8100;
export const ETHERTYPE_QINQ = 0x88a8;
export const ETHERTYPE_IPV6 = 0x86dd;

export const MAC_BROADCAST = 0xffffffffffff;
const TWO32 = 0x100000000;

export function isVlanEtherType(t: number): boolean {
  return t === ETHERTYPE_VLAN || t === ETHERTYPE_QINQ;
}

/** The 48-bit MAC at buf[off..off+6) as a number. */
export function readMac(buf: Uint8Array, off: number): number {
  const hi = (buf[off]! << 8) | buf[off + 1]!;
  const lo = ((buf[off + 2]! << 24) | (buf[off + 3]! << 16) | (buf[off + 4]! << 8) | buf[off + 5]!) >>> 0;
  return hi * TWO32 + lo;
}

export function writeMac(buf: Uint8Array, off: number, mac: number): void {
  const hi = Math.floor(mac / TWO32);
  const lo = mac >>> 0;
  buf[off] = hi >>> 8;
  buf[off + 1] = hi;
  buf[off + 2] = lo >>> 24;
  buf[off + 3] = lo >>> 16;
  buf[off + 4] = lo >>> 8;
  buf[off + 5] = lo;
}

/** "aa:bb:cc:dd:ee:ff" (lower case, as `ip link` prints). */
export function formatMac(mac: number): string {
  let s = "";
  for (let i = 5; i >= 0; i--) {
    const byte = Math.floor(mac / 2 ** (8 * i)) % 256;
    s += (i === 5 ? "" : ":") + byte.toString(16).padStart(2, "0");
  }
  return s;
}

/** Parses "aa:bb:cc:dd:ee:ff" or "aa-bb-..."; null when it is not six hex bytes. */
export function parseMac(text: string): number | null {
  const m =
    /^([0-9a-f]{1,2})[:-]([0-9a-f]{1,2})[:-]([0-9a-f]{1,2})[:-]([0-9a-f]{1,2})[:-]([0-9a-f]{1,2})[:-]([0-9a-f]{1,2})$/i.exec(
      text,
    );
  if (!m) return null;
  let v = 0;
  for (let i = 1; i <= 6; i++) v = v * 256 + Number.parseInt(m[i]!, 16);
  return v;
}

export function isMulticastMac(mac: number): boolean {
  return Math.floor(mac / 2 ** 40) % 2 === 1;
}

/** Writes destination, source and EtherType; returns the offset just after the header. */
export function writeEthernetHeader(
  buf: Uint8Array,
  off: number,
  dst: number,
  src: number,
  etherType: number,
): number {
  writeMac(buf, off + ETH_DST_OFF, dst);
  writeMac(buf, off + ETH_SRC_OFF, src);
  put16(buf, off + ETH_TYPE_OFF, etherType);
  return off + ETH_HEADER_LEN;
}

/**
 * Offset of the EtherType field that follows the VLAN tags of the frame at `off` (length `len`), so the
 * network header starts 2 bytes after it. Returns -1 when the frame ends inside the header or the tags
 * nest deeper than VLAN_MAX_DEPTH.
 */
export function innerEtherTypeOffset(buf: Uint8Array, off: number, len: number): number {
  if (len < ETH_HEADER_LEN) return -1;
  let at = off + ETH_TYPE_OFF;
  const end = off + len;
  for (let depth = 0; isVlanEtherType(get16(buf, at)); depth++) {
    if (depth === VLAN_MAX_DEPTH || at + VLAN_TAG_LEN + 2 > end) return -1;
    at += VLAN_TAG_LEN;
  }
  return at;
}

/** VLAN id (12 bits) of the outermost tag, or -1 when the frame is untagged or too short. */
export function outerVlanId(buf: Uint8Array, off: number, len: number): number {
  if (len < ETH_HEADER_LEN + VLAN_TAG_LEN || !isVlanEtherType(get16(buf, off + ETH_TYPE_OFF))) return -1;
  return get16(buf, off + ETH_HEADER_LEN) & 0x0fff;
}
