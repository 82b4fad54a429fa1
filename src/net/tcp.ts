/** TCP header (RFC 9293): ports, flags, data offset, options walk, MSS read and clamp. */
import { get16, put16 } from "./bytes.js";
import { applyDelta, delta16, delta16Unaligned } from "./checksum.js";

export const TCP_HEADER_LEN = 20;
export const TCP_MAX_HEADER_LEN = 60;
/** Room for options: 60 - 20 bytes. */
export const TCP_MAX_OPTIONS_LEN = 40;
export const TCP_SPORT_OFF = 0;
export const TCP_DPORT_OFF = 2;
export const TCP_SEQ_OFF = 4;
export const TCP_ACK_OFF = 8;
export const TCP_DOFF_OFF = 12;
export const TCP_FLAGS_OFF = 13;
export const TCP_WINDOW_OFF = 14;
export const TCP_CHECKSUM_OFF = 16;
export const TCP_URGENT_OFF = 18;

export const TCP_FIN = 0x01;
export const TCP_SYN = 0x02;
export const TCP_RST = 0x04;
export const TCP_PSH = 0x08;
export const TCP_ACK = 0x10;
export const TCP_URG = 0x20;
export const TCP_ECE = 0x40;
export const TCP_CWR = 0x80;

export const TCPOPT_EOL = 0;
export const TCPOPT_NOP = 1;
export const TCPOPT_MSS = 2;
export const TCPOPT_WSCALE = 3;
export const TCPOPT_SACK_PERMITTED = 4;
export const TCPOPT_SACK = 5;
export const TCPOPT_TIMESTAMP = 8;
export const TCPOPT_MSS_LEN = 4;

/** tcpFindOption results besides an offset. */
export const TCPOPT_ABSENT = -1;
export const TCPOPT_MALFORMED = -2;

/** Header length in bytes from the data offset field (not validated). */
export function tcpHeaderLen(buf: Uint8Array, tcpOff: number): number {
  return (buf[tcpOff + TCP_DOFF_OFF]! >>> 4) * 4;
}

/** True when the data offset is at least 5 words and the header fits in `segLen` bytes. */
export function tcpDataOffsetValid(buf: Uint8Array, tcpOff: number, segLen: number): boolean {
  if (segLen < TCP_HEADER_LEN) return false;
  const hl = tcpHeaderLen(buf, tcpOff);
  return hl >= TCP_HEADER_LEN && hl <= segLen;
}

export function tcpFlags(buf: Uint8Array, tcpOff: number): number {
  return buf[tcpOff + TCP_FLAGS_OFF]!;
}

export function tcpSport(buf: Uint8Array, tcpOff: number): number {
  return get16(buf, tcpOff + TCP_SPORT_OFF);
}

export function tcpDport(buf: Uint8Array, tcpOff: number): number {
  return get16(buf, tcpOff + TCP_DPORT_OFF);
}

/**
 * Offset of the first option of `kind` in the header at `tcpOff` (data offset already validated),
 * TCPOPT_ABSENT, or TCPOPT_MALFORMED when an option's length is < 2 or runs past the header.
 */
export function tcpFindOption(buf: Uint8Array, tcpOff: number, kind: number): number {
  const end = tcpOff + tcpHeaderLen(buf, tcpOff);
  let at = tcpOff + TCP_HEADER_LEN;
  while (at < end) {
    const k = buf[at]!;
    if (k === TCPOPT_EOL) return TCPOPT_ABSENT;
    if (k === TCPOPT_NOP) {
      at++;
      continue;
    }
    if (at + 2 > end) return TCPOPT_MALFORMED;
    const len = buf[at + 1]!;
    if (len < 2 || at + len > end) return TCPOPT_MALFORMED;
    if (k === kind) return at;
    at += len;
  }
  return TCPOPT_ABSENT;
}

/** The MSS option's value, or -1 when there is no well-formed MSS option. */
export function tcpMss(buf: Uint8Array, tcpOff: number): number {
  const at = tcpFindOption(buf, tcpOff, TCPOPT_MSS);
  if (at < 0 || buf[at + 1] !== TCPOPT_MSS_LEN) return -1;
  return get16(buf, at + 2);
}

/**
 * Lowers the MSS option to `maxMss` when it is larger, patching the TCP checksum incrementally (the
 * field may sit at an odd offset within the segment). Returns the MSS now in the header, or -1 when
 * there is no MSS option.
 */
export function tcpClampMss(buf: Uint8Array, tcpOff: number, maxMss: number): number {
  const at = tcpFindOption(buf, tcpOff, TCPOPT_MSS);
  if (at < 0 || buf[at + 1] !== TCPOPT_MSS_LEN) return -1;
  const mss = get16(buf, at + 2);
  if (mss <= maxMss) return mss;
  const d = (at + 2 - tcpOff) & 1 ? delta16Unaligned(mss, maxMss) : delta16(mss, maxMss);
  put16(buf, at + 2, maxMss);
  put16(buf, tcpOff + TCP_CHECKSUM_OFF, applyDelta(get16(buf, tcpOff + TCP_CHECKSUM_OFF), d));
  return maxMss;
}

/** Writes a 20-byte TCP header with checksum 0 (compute it with transportChecksum afterwards). */
export function writeTcpHeader(
  buf: Uint8Array,
  off: number,
  sport: number,
  dport: number,
  seq: number,
  ack: number,
  flags: number,
  window: number,
): number {
  put16(buf, off + TCP_SPORT_OFF, sport);
  put16(buf, off + TCP_DPORT_OFF, dport);
  put16(buf, off + TCP_SEQ_OFF, seq >>> 16);
  put16(buf, off + TCP_SEQ_OFF + 2, seq & 0xffff);
  put16(buf, off + TCP_ACK_OFF, ack >>> 16);
  put16(buf, off + TCP_ACK_OFF + 2, ack & 0xffff);
  buf[off + TCP_DOFF_OFF] = 5 << 4;
  buf[off + TCP_FLAGS_OFF] = flags;
  put16(buf, off + TCP_WINDOW_OFF, window);
  put16(buf, off + TCP_CHECKSUM_OFF, 0);
  put16(buf, off + TCP_URGENT_OFF, 0);
  return off + TCP_HEADER_LEN;
}
