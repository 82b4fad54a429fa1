import fc from "fast-check";

/**
 * Frame construction for the net tests, written independently of src/net (plain byte pushing and a
 * naive reference checksum), so the code under test is checked against something it did not produce.
 */

export interface FrameSpec {
  family: 4 | 6;
  protocol: number;
  /** Four words; IPv4 uses word 0. */
  src: ArrayLike<number>;
  dst: ArrayLike<number>;
  sport?: number;
  dport?: number;
  payload?: ArrayLike<number>;
  ttl?: number;
  tos?: number;
  /** 802.1Q tags, outermost first. */
  vlans?: number[];
  /** IPv4 options bytes (padded to 4 here). */
  ipOptions?: ArrayLike<number>;
  /** TCP options bytes (padded to 4 here). */
  tcpOptions?: ArrayLike<number>;
  tcpFlags?: number;
  seq?: number;
  ack?: number;
  /** IPv4 flags/fragment word. */
  frag?: number;
  id?: number;
  /** UDP: send checksum 0 ("none"). */
  udpNoChecksum?: boolean;
  /** Raw bytes placed between the IPv6 header and L4 (extension headers), with their first next-header. */
  ipv6Ext?: { first: number; bytes: ArrayLike<number> };
  dstMac?: number[];
  srcMac?: number[];
}

/** Naive one's-complement sum of bytes (pairs from index 0, odd tail padded), folded. */
export function refSum(bytes: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < bytes.length; i += 2) {
    s += bytes[i]! * 256 + (i + 1 < bytes.length ? bytes[i + 1]! : 0);
    while (s > 0xffff) s = (s & 0xffff) + Math.floor(s / 0x10000);
  }
  return s;
}

export function refChecksum(bytes: ArrayLike<number>): number {
  return ~refSum(bytes) & 0xffff;
}

function be16(v: number): number[] {
  return [(v >>> 8) & 255, v & 255];
}

function be32(v: number): number[] {
  return [(v >>> 24) & 255, (v >>> 16) & 255, (v >>> 8) & 255, v & 255];
}

function pad4(b: ArrayLike<number> | undefined): number[] {
  const out = Array.from(b ?? []);
  while (out.length % 4) out.push(0);
  return out;
}

export function addrBytes(family: 4 | 6, w: ArrayLike<number>): number[] {
  return family === 4 ? be32(w[0]!) : [...be32(w[0]!), ...be32(w[1]!), ...be32(w[2]!), ...be32(w[3]!)];
}

/** The pseudo-header bytes for an L4 checksum. */
export function pseudoHeader(
  family: 4 | 6,
  src: ArrayLike<number>,
  dst: ArrayLike<number>,
  protocol: number,
  l4Len: number,
): number[] {
  return family === 4
    ? [...addrBytes(4, src), ...addrBytes(4, dst), 0, protocol, ...be16(l4Len)]
    : [...addrBytes(6, src), ...addrBytes(6, dst), ...be32(l4Len), 0, 0, 0, protocol];
}

/** The L4 segment (TCP or UDP or raw) with a correct checksum. */
function l4Segment(s: FrameSpec): number[] {
  const payload = Array.from(s.payload ?? []);
  let seg: number[];
  let csumAt = -1;
  if (s.protocol === 6) {
    const opts = pad4(s.tcpOptions);
    seg = [
      ...be16(s.sport ?? 0),
      ...be16(s.dport ?? 0),
      ...be32(s.seq ?? 1),
      ...be32(s.ack ?? 0),
      ((20 + opts.length) / 4) << 4,
      s.tcpFlags ?? 0x18,
      ...be16(65535),
      0,
      0,
      0,
      0,
      ...opts,
      ...payload,
    ];
    csumAt = 16;
  } else if (s.protocol === 17) {
    seg = [...be16(s.sport ?? 0), ...be16(s.dport ?? 0), ...be16(8 + payload.length), 0, 0, ...payload];
    csumAt = s.udpNoChecksum ? -1 : 6;
  } else {
    seg = payload;
  }
  if (csumAt >= 0) {
    let c = refChecksum([...pseudoHeader(s.family, s.src, s.dst, s.protocol, seg.length), ...seg]);
    if (s.protocol === 17 && c === 0) c = 0xffff;
    seg[csumAt] = c >>> 8;
    seg[csumAt + 1] = c & 255;
  }
  return seg;
}

/** A whole Ethernet frame (protocol 132: the payload is the SCTP packet, see sctpPacket). */
export function buildFrame(s: FrameSpec): Uint8Array {
  const seg = l4Segment(s);
  const out: number[] = [...(s.dstMac ?? [2, 0, 0, 0, 0, 2]), ...(s.srcMac ?? [2, 0, 0, 0, 0, 1])];
  for (const v of s.vlans ?? []) out.push(0x81, 0x00, ...be16(v));
  if (s.family === 4) {
    const opts = pad4(s.ipOptions);
    const hl = 20 + opts.length;
    const hdr = [
      0x40 | (hl / 4),
      s.tos ?? 0,
      ...be16(hl + seg.length),
      ...be16(s.id ?? 0x1234),
      ...be16(s.frag ?? 0x4000),
      s.ttl ?? 64,
      s.protocol,
      0,
      0,
      ...addrBytes(4, s.src),
      ...addrBytes(4, s.dst),
      ...opts,
    ];
    const c = refChecksum(hdr);
    hdr[10] = c >>> 8;
    hdr[11] = c & 255;
    out.push(0x08, 0x00, ...hdr, ...seg);
  } else {
    const ext = Array.from(s.ipv6Ext?.bytes ?? []);
    const tc = s.tos ?? 0;
    out.push(
      0x86,
      0xdd,
      0x60 | (tc >>> 4),
      (tc & 15) << 4,
      0,
      0,
      ...be16(ext.length + seg.length),
      s.ipv6Ext ? s.ipv6Ext.first : s.protocol,
      s.ttl ?? 64,
      ...addrBytes(6, s.src),
      ...addrBytes(6, s.dst),
      ...ext,
      ...seg,
    );
  }
  return Uint8Array.from(out);
}

/** Copies `frame` into a larger buffer at `off`, filling the rest with a guard pattern. */
export function inGuardedBuffer(frame: Uint8Array, off: number, tail: number): Uint8Array {
  const buf = new Uint8Array(off + frame.length + tail);
  for (let i = 0; i < buf.length; i++) buf[i] = (i * 131 + 7) & 255;
  buf.set(frame, off);
  return buf;
}

/** True when every byte outside [off, off+len) still holds the guard pattern. */
export function guardIntact(buf: Uint8Array, off: number, len: number): boolean {
  for (let i = 0; i < buf.length; i++) {
    if (i >= off && i < off + len) continue;
    if (buf[i] !== ((i * 131 + 7) & 255)) return false;
  }
  return true;
}

export const V4 = (a: number, b: number, c: number, d: number): number[] => [
  ((a << 24) | (b << 16) | (c << 8) | d) >>> 0,
  0,
  0,
  0,
];

const u32 = fc.integer({ min: 0, max: 0xffffffff });
const port = fc.integer({ min: 0, max: 0xffff });

/** Random TCP/UDP frames over IPv4 (with or without IP options) and IPv6, VLAN or not. */
export const frameSpec = fc
  .record({
    family: fc.constantFrom<4 | 6>(4, 6),
    protocol: fc.constantFrom(6, 17),
    s: fc.array(u32, { minLength: 4, maxLength: 4 }),
    d: fc.array(u32, { minLength: 4, maxLength: 4 }),
    sport: port,
    dport: port,
    payload: fc.uint8Array({ maxLength: 120 }),
    ttl: fc.integer({ min: 2, max: 255 }),
    ipOptions: fc.constantFrom<number[]>([], [1, 1, 1, 1], [0x94, 4, 0, 0]),
    tcpOptions: fc.constantFrom<number[]>([], [2, 4, 5, 0xb4], [1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2]),
    vlans: fc.constantFrom<number[]>([], [42]),
    udpNoChecksum: fc.boolean(),
    v6DstOpts: fc.boolean(),
  })
  .map(
    (r): FrameSpec => ({
      family: r.family,
      protocol: r.protocol,
      src: r.family === 4 ? [r.s[0]!, 0, 0, 0] : r.s,
      dst: r.family === 4 ? [r.d[0]!, 0, 0, 0] : r.d,
      sport: r.sport,
      dport: r.dport,
      payload: r.payload,
      ttl: r.ttl,
      ipOptions: r.family === 4 ? r.ipOptions : [],
      tcpOptions: r.tcpOptions,
      vlans: r.vlans,
      udpNoChecksum: r.protocol === 17 && r.udpNoChecksum,
      // IPv6: sometimes an 8-byte Destination Options header (PadN) before the L4 header.
      ...(r.family === 6 && r.v6DstOpts
        ? { ipv6Ext: { first: 60, bytes: [r.protocol, 0, 1, 4, 0, 0, 0, 0] } }
        : {}),
    }),
  );

/**
 * Independent check: the IPv4 header checksum at `l3` and its TCP/UDP checksum are valid (a UDP
 * checksum of 0 means none); an IPIP packet's inner packet is checked the same way.
 */
export function ipv4ChecksumsValid(frame: Uint8Array, l3 = 14): boolean {
  const ihl = (frame[l3]! & 15) * 4;
  if (refSum(frame.subarray(l3, l3 + ihl)) !== 0xffff) return false;
  const total = (frame[l3 + 2]! << 8) | frame[l3 + 3]!;
  const proto = frame[l3 + 9]!;
  if (proto === 4) return ipv4ChecksumsValid(frame, l3 + ihl);
  const seg = frame.subarray(l3 + ihl, l3 + total);
  if (proto === 17 && seg[6] === 0 && seg[7] === 0) return true;
  if (proto === 132) {
    // SCTP: CRC32c over the packet with its field zeroed, sent least significant byte first.
    const z = Array.from(seg);
    z.fill(0, 8, 12);
    const c = refCrc32c(z);
    return (
      seg[8] === (c & 255) &&
      seg[9] === ((c >>> 8) & 255) &&
      seg[10] === ((c >>> 16) & 255) &&
      seg[11] === c >>> 24
    );
  }
  const word = (at: number) =>
    ((frame[at]! << 24) | (frame[at + 1]! << 16) | (frame[at + 2]! << 8) | frame[at + 3]!) >>> 0;
  return refChecksum([...pseudoHeader(4, [word(l3 + 12)], [word(l3 + 16)], proto, seg.length), ...seg]) === 0;
}

/** CRC32c bit at a time, from the definition (reflected polynomial 0x82F63B78). */
export function refCrc32c(b: ArrayLike<number>): number {
  let c = 0xffffffff;
  for (let i = 0; i < b.length; i++) {
    c ^= b[i]!;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
  }
  return ~c >>> 0;
}

/** One SCTP chunk: type, flags, value bytes (length field from them, padded to 4). */
export function sctpChunkBytes(type: number, flags: number, value: ArrayLike<number>): number[] {
  const v = Array.from(value);
  const len = 4 + v.length;
  return pad4([type, flags, ...be16(len), ...v]);
}

/** An SCTP packet (RFC 9260): common header and chunks, its CRC32c written least significant byte first. */
export function sctpPacket(sport: number, dport: number, vtag: number, chunks: number[][]): number[] {
  const p = [...be16(sport), ...be16(dport), ...be32(vtag), 0, 0, 0, 0, ...chunks.flat()];
  const c = refCrc32c(p);
  p[8] = c & 255;
  p[9] = (c >>> 8) & 255;
  p[10] = (c >>> 16) & 255;
  p[11] = c >>> 24;
  return p;
}
