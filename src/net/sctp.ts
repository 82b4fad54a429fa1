/**
 * SCTP common header and chunks (RFC 9260, formerly RFC 4960), and its checksum: CRC32c (the
 * Castagnoli polynomial, RFC 3309), computed over the whole SCTP packet with the checksum field taken
 * as zero. SCTP has no pseudo-header: NAT changes only the ports inside the packet, but the CRC covers
 * every byte, so a port change means a recomputation (the kernel's sctp_nat_csum does the same).
 */
import { get16, get32 } from "./bytes.js";

export const SCTP_HEADER_LEN = 12;
export const SCTP_SPORT_OFF = 0;
export const SCTP_DPORT_OFF = 2;
export const SCTP_VTAG_OFF = 4;
export const SCTP_CHECKSUM_OFF = 8;
export const SCTP_CHUNK_HEADER_LEN = 4;

/** Chunk types (RFC 9260 §3.2) that IPVS tells apart. */
export const SCTP_CID_DATA = 0;
export const SCTP_CID_INIT = 1;
export const SCTP_CID_INIT_ACK = 2;
export const SCTP_CID_SACK = 3;
export const SCTP_CID_HEARTBEAT = 4;
export const SCTP_CID_HEARTBEAT_ACK = 5;
export const SCTP_CID_ABORT = 6;
export const SCTP_CID_SHUTDOWN = 7;
export const SCTP_CID_SHUTDOWN_ACK = 8;
export const SCTP_CID_ERROR = 9;
export const SCTP_CID_COOKIE_ECHO = 10;
export const SCTP_CID_COOKIE_ACK = 11;
export const SCTP_CID_ECN_ECNE = 12;
export const SCTP_CID_ECN_CWR = 13;
export const SCTP_CID_SHUTDOWN_COMPLETE = 14;

/** CRC32c's polynomial, bit-reversed (the SCTP/iSCSI CRC is computed least significant bit first). */
const CASTAGNOLI_REFLECTED = 0x82f63b78;

/**
 * Slicing-by-4 tables: T[0] is the classic byte table; T[k][b] is the CRC of byte b followed by k
 * zero bytes, so four bytes are folded in with four lookups. Built once at load (4 KiB).
 */
const T = new Uint32Array(4 * 256);
for (let b = 0; b < 256; b++) {
  let c = b;
  for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ CASTAGNOLI_REFLECTED : c >>> 1;
  T[b] = c >>> 0;
}
for (let b = 0; b < 256; b++) {
  for (let k = 1; k < 4; k++) {
    const prev = T[(k - 1) * 256 + b]!;
    T[k * 256 + b] = ((prev >>> 8) ^ T[prev & 0xff]!) >>> 0;
  }
}

/**
 * Folds buf[off..off+len) into a running CRC32c register `crc` (start with 0xFFFFFFFF; the CRC is the
 * final register inverted). Reads nothing outside the range.
 */
export function crc32cUpdate(crc: number, buf: Uint8Array, off: number, len: number): number {
  let c = crc >>> 0;
  let i = off;
  const end = off + len;
  for (; i + 4 <= end; i += 4) {
    c ^= buf[i]! | (buf[i + 1]! << 8) | (buf[i + 2]! << 16) | (buf[i + 3]! << 24);
    c = T[768 + (c & 0xff)]! ^ T[512 + ((c >>> 8) & 0xff)]! ^ T[256 + ((c >>> 16) & 0xff)]! ^ T[c >>> 24]!;
  }
  for (; i < end; i++) c = (c >>> 8) ^ T[(c ^ buf[i]!) & 0xff]!;
  return c >>> 0;
}

/** CRC32c of buf[off..off+len), as a number (RFC 3720 §B.4: 32 zero bytes give 0x8A9136AA). */
export function crc32c(buf: Uint8Array, off: number, len: number): number {
  return ~crc32cUpdate(0xffffffff, buf, off, len) >>> 0;
}

const ZERO4 = new Uint8Array(4);

/**
 * The checksum the SCTP packet buf[l4Off..l4Off+l4Len) should carry: CRC32c over the packet with the
 * checksum field as zero (the packet itself is not modified). l4Len must be at least 12.
 */
export function sctpChecksum(buf: Uint8Array, l4Off: number, l4Len: number): number {
  let c = crc32cUpdate(0xffffffff, buf, l4Off, SCTP_CHECKSUM_OFF);
  c = crc32cUpdate(c, ZERO4, 0, 4);
  c = crc32cUpdate(c, buf, l4Off + SCTP_HEADER_LEN, l4Len - SCTP_HEADER_LEN);
  return ~c >>> 0;
}

/**
 * The checksum field's value. The CRC is sent least significant byte first (RFC 9260 Appendix A:
 * the register's bits go out in transmission order), so the field is read little-endian.
 */
export function sctpChecksumField(buf: Uint8Array, l4Off: number): number {
  const o = l4Off + SCTP_CHECKSUM_OFF;
  return (buf[o]! | (buf[o + 1]! << 8) | (buf[o + 2]! << 16) | (buf[o + 3]! << 24)) >>> 0;
}

/** Writes the CRC32c of the packet into its checksum field. */
export function writeSctpChecksum(buf: Uint8Array, l4Off: number, l4Len: number): void {
  const c = sctpChecksum(buf, l4Off, l4Len);
  const o = l4Off + SCTP_CHECKSUM_OFF;
  buf[o] = c;
  buf[o + 1] = c >>> 8;
  buf[o + 2] = c >>> 16;
  buf[o + 3] = c >>> 24;
}

/** True when the packet's checksum field holds its CRC32c. */
export function sctpChecksumValid(buf: Uint8Array, l4Off: number, l4Len: number): boolean {
  return l4Len >= SCTP_HEADER_LEN && sctpChecksum(buf, l4Off, l4Len) === sctpChecksumField(buf, l4Off);
}

/** The verification tag (for listings and tests; IPVS itself does not look at it). */
export function sctpVerificationTag(buf: Uint8Array, l4Off: number): number {
  return get32(buf, l4Off + SCTP_VTAG_OFF);
}

/** The type of the chunk at byte `at` of an SCTP packet ending at `end`, -1 when no chunk header fits. */
export function sctpChunkTypeAt(buf: Uint8Array, at: number, end: number): number {
  return at + SCTP_CHUNK_HEADER_LEN <= end ? buf[at]! : -1;
}

/**
 * Where the chunk after the one at `at` starts (its length rounded up to 4, RFC 9260 §3.2), or -1 when
 * the chunk's length field is below the chunk header's size.
 */
export function sctpNextChunkAt(buf: Uint8Array, at: number): number {
  const clen = get16(buf, at + 2);
  if (clen < SCTP_CHUNK_HEADER_LEN) return -1;
  return at + ((clen + 3) & ~3);
}
