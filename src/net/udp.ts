/** UDP header (RFC 768). */
import { get16, put16 } from "./bytes.js";

export const UDP_HEADER_LEN = 8;
export const UDP_SPORT_OFF = 0;
export const UDP_DPORT_OFF = 2;
export const UDP_LEN_OFF = 4;
export const UDP_CHECKSUM_OFF = 6;

export function udpLength(buf: Uint8Array, udpOff: number): number {
  return get16(buf, udpOff + UDP_LEN_OFF);
}

/**
 * True when the UDP length field is at least 8 and within the `segLen` bytes the IP header gives
 * (a shorter UDP length than the IP payload is allowed: the rest is ignored, as Linux trims it).
 */
export function udpLengthValid(buf: Uint8Array, udpOff: number, segLen: number): boolean {
  if (segLen < UDP_HEADER_LEN) return false;
  const ulen = get16(buf, udpOff + UDP_LEN_OFF);
  return ulen >= UDP_HEADER_LEN && ulen <= segLen;
}

export function udpChecksum(buf: Uint8Array, udpOff: number): number {
  return get16(buf, udpOff + UDP_CHECKSUM_OFF);
}

/** Writes the header with checksum 0 (compute it with transportChecksum + udpWireChecksum afterwards). */
export function writeUdpHeader(
  buf: Uint8Array,
  off: number,
  sport: number,
  dport: number,
  length: number,
): number {
  put16(buf, off + UDP_SPORT_OFF, sport);
  put16(buf, off + UDP_DPORT_OFF, dport);
  put16(buf, off + UDP_LEN_OFF, length);
  put16(buf, off + UDP_CHECKSUM_OFF, 0);
  return off + UDP_HEADER_LEN;
}
