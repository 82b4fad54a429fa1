/**
 * TOA ("TCP option address", DPVS / Alibaba LVS FULLNAT): TCP option kind 254 carrying the client's
 * port and address, so a real server with the toa module sees the client although FULLNAT replaced the
 * source. IPv4: 8 bytes (kind, length, port, address); IPv6: 20 bytes (kind, length, port, address).
 * Inserted right after the existing TCP header; the payload moves up by the option's size.
 */
import { get16, put16, put32 } from "./bytes.js";
import { applyDelta, delta16, sumRange } from "./checksum.js";
import { FRAG_NONE, PROTO_TCP } from "./ip.js";
import { IPV4_CHECKSUM_OFF, IPV4_TOTAL_LEN_OFF } from "./ipv4.js";
import { IPV6_PAYLOAD_LEN_OFF } from "./ipv6.js";
import type { ParsedFrame } from "./parse.js";
import { PARSE_OK } from "./reason.js";
import { TCP_CHECKSUM_OFF, TCP_DOFF_OFF, TCP_MAX_HEADER_LEN } from "./tcp.js";

export const TCPOPT_TOA = 254;
export const TOA_LEN_V4 = 8;
export const TOA_LEN_V6 = 20;

/** insertToa results (a non-negative result is the new frame length). */
export const TOA_NOT_TCP = -1;
export const TOA_NO_OPTION_SPACE = -2;
export const TOA_NO_TAILROOM = -3;
export const TOA_TOO_BIG = -4;

/** The option's length for a client of `family`. */
export function toaLength(family: 4 | 6): number {
  return family === 4 ? TOA_LEN_V4 : TOA_LEN_V6;
}

/**
 * Inserts a TOA option carrying clientPort and the client address (words client[clientAt..], family
 * `clientFamily`) after the TCP header of the classified frame `f`, moving the payload up. Fixes the data
 * offset, the IP total length / IPv6 payload length, the IPv4 header checksum and the TCP checksum
 * (incrementally: the payload moves by an even count, so its sum is unchanged). The frame must end
 * at least toaLength() bytes before `slotEnd` (tailroom, headroom.ts); link padding after the IP packet
 * is overwritten. Returns the new frame length (and updates `f`), or a TOA_* error changing nothing.
 */
export function insertToa(
  buf: Uint8Array,
  f: ParsedFrame,
  slotEnd: number,
  clientFamily: 4 | 6,
  client: Uint32Array,
  clientAt: number,
  clientPort: number,
): number {
  if (f.reason !== PARSE_OK || f.protocol !== PROTO_TCP || f.fragment !== FRAG_NONE) return TOA_NOT_TCP;
  if (f.family !== 4 && f.family !== 6) return TOA_NOT_TCP;
  const n = toaLength(clientFamily);
  const tcp = f.l4Off;
  const hl = f.l4HeaderLen;
  if (hl + n > TCP_MAX_HEADER_LEN) return TOA_NO_OPTION_SPACE;
  const ipEnd = f.l3Off + f.ipLen;
  if (ipEnd + n > Math.min(slotEnd, buf.length)) return TOA_NO_TAILROOM;
  if (f.ipLen + n > 0xffff) return TOA_TOO_BIG;

  const optAt = tcp + hl;
  buf.copyWithin(optAt + n, optAt, ipEnd);
  buf[optAt] = TCPOPT_TOA;
  buf[optAt + 1] = n;
  put16(buf, optAt + 2, clientPort);
  put32(buf, optAt + 4, client[clientAt]!);
  if (n === TOA_LEN_V6) {
    put32(buf, optAt + 8, client[clientAt + 1]!);
    put32(buf, optAt + 12, client[clientAt + 2]!);
    put32(buf, optAt + 16, client[clientAt + 3]!);
  }

  // TCP checksum: the new option bytes, the data-offset word and the pseudo-header length change.
  const oldDoffWord = get16(buf, tcp + TCP_DOFF_OFF);
  buf[tcp + TCP_DOFF_OFF] = (((hl + n) >>> 2) << 4) | (buf[tcp + TCP_DOFF_OFF]! & 0x0f);
  const l4Len = f.l4Len;
  let delta = sumRange(buf, optAt, n);
  delta += delta16(oldDoffWord, get16(buf, tcp + TCP_DOFF_OFF));
  delta += delta16(l4Len, l4Len + n);
  const ck = tcp + TCP_CHECKSUM_OFF;
  put16(buf, ck, applyDelta(get16(buf, ck), delta));

  if (f.family === 4) {
    put16(buf, f.l3Off + IPV4_TOTAL_LEN_OFF, f.ipLen + n);
    const ick = f.l3Off + IPV4_CHECKSUM_OFF;
    put16(buf, ick, applyDelta(get16(buf, ick), delta16(f.ipLen, f.ipLen + n)));
  } else {
    const pl = get16(buf, f.l3Off + IPV6_PAYLOAD_LEN_OFF);
    put16(buf, f.l3Off + IPV6_PAYLOAD_LEN_OFF, pl + n);
  }

  f.ipLen += n;
  f.l4Len += n;
  f.l4HeaderLen += n;
  f.payloadOff += n;
  f.frameLen = ipEnd + n - f.frameOff;
  return f.frameLen;
}
