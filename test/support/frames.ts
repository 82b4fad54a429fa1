/**
 * Minimal frame builders for the data-plane tests (Ethernet / optional VLAN / IPv4 / TCP, UDP,
 * ICMP). Checksums are left zero: the steering program does not look at them.
 */

export interface Ipv4Spec {
  src: number;
  dst: number;
  protocol: number;
  /** Bytes after the IPv4 header (the L4 header and payload). */
  payload: Uint8Array;
  /** Extra IPv4 option bytes (a multiple of 4). */
  options?: Uint8Array;
  /** The 16-bit flags + fragment offset field (network value, e.g. 0x2000 = MF). */
  fragField?: number;
  ttl?: number;
}

export function ipv4(spec: Ipv4Spec): Uint8Array {
  const opts = spec.options ?? new Uint8Array(0);
  const hl = 20 + opts.length;
  const out = new Uint8Array(hl + spec.payload.length);
  const v = new DataView(out.buffer);
  v.setUint8(0, 0x40 | (hl / 4));
  v.setUint16(2, out.length);
  v.setUint16(6, spec.fragField ?? 0);
  v.setUint8(8, spec.ttl ?? 64);
  v.setUint8(9, spec.protocol);
  v.setUint32(12, spec.src);
  v.setUint32(16, spec.dst);
  out.set(opts, 20);
  out.set(spec.payload, hl);
  return out;
}

export function ports(sport: number, dport: number, length = 20): Uint8Array {
  const out = new Uint8Array(length);
  const v = new DataView(out.buffer);
  v.setUint16(0, sport);
  v.setUint16(2, dport);
  return out;
}

export function icmp(type: number, code: number, rest: Uint8Array): Uint8Array {
  const out = new Uint8Array(8 + rest.length);
  out[0] = type;
  out[1] = code;
  out.set(rest, 8);
  return out;
}

export function ethernet(
  etherType: number,
  payload: Uint8Array,
  vlan?: { tpid: number; vid: number },
): Uint8Array {
  const hl = vlan ? 18 : 14;
  const out = new Uint8Array(hl + payload.length);
  const v = new DataView(out.buffer);
  out.set([0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2]);
  if (vlan) {
    v.setUint16(12, vlan.tpid);
    v.setUint16(14, vlan.vid);
    v.setUint16(16, etherType);
  } else {
    v.setUint16(12, etherType);
  }
  out.set(payload, hl);
  return out;
}

export function ip4(text: string): number {
  const p = text.split(".").map(Number);
  return ((p[0]! << 24) | (p[1]! << 16) | (p[2]! << 8) | p[3]!) >>> 0;
}

export interface Ipv6Spec {
  src: Uint8Array;
  dst: Uint8Array;
  /** Next header of the last extension header (or of the fixed header when there is none). */
  protocol: number;
  payload: Uint8Array;
  /** Extension headers in order: their type and total length (a multiple of 8, at least 8). */
  ext?: { type: number; length: number }[];
}

export function ipv6(spec: Ipv6Spec): Uint8Array {
  const ext = spec.ext ?? [];
  const extLen = ext.reduce((n, e) => n + e.length, 0);
  const out = new Uint8Array(40 + extLen + spec.payload.length);
  const v = new DataView(out.buffer);
  v.setUint32(0, 0x60000000);
  v.setUint16(4, extLen + spec.payload.length);
  v.setUint8(6, ext.length > 0 ? ext[0]!.type : spec.protocol);
  v.setUint8(7, 64);
  out.set(spec.src, 8);
  out.set(spec.dst, 24);
  let at = 40;
  ext.forEach((e, i) => {
    out[at] = i + 1 < ext.length ? ext[i + 1]!.type : spec.protocol;
    // Fragment headers have a fixed 8 bytes and a reserved second byte; the others count 8-byte units.
    out[at + 1] = e.type === 44 ? 0 : e.length / 8 - 1;
    at += e.length;
  });
  out.set(spec.payload, at);
  return out;
}

/** 16 bytes of an IPv6 address in text form. */
export function ip6(text: string): Uint8Array {
  const groups: number[] = [];
  const [head, tail] = text.split("::") as [string, string | undefined];
  const h = head ? head.split(":").map((g) => Number.parseInt(g, 16)) : [];
  const t = tail ? tail.split(":").map((g) => Number.parseInt(g, 16)) : [];
  groups.push(...h, ...new Array(8 - h.length - t.length).fill(0), ...t);
  const out = new Uint8Array(16);
  groups.forEach((g, i) => {
    out[2 * i] = g >>> 8;
    out[2 * i + 1] = g & 0xff;
  });
  return out;
}
