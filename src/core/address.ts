/**
 * IP addresses in the IPVS model. An address is its family plus four 32-bit words in network
 * (big-endian) word order: IPv4 uses word 0 only, the rest are zero. Words are unsigned.
 * Parsing here is strict (dotted quad, RFC 4291 text); ipvsadm's looser inet_aton rules live in the CLI.
 */
export type Family = 4 | 6;

export class IpAddr {
  private constructor(
    readonly family: Family,
    /** Four unsigned 32-bit words, network word order. IPv4: [addr, 0, 0, 0]. */
    readonly words: Readonly<Uint32Array>,
  ) {}

  static v4(value: number): IpAddr {
    return new IpAddr(4, Uint32Array.of(value >>> 0, 0, 0, 0));
  }

  static v6(w0: number, w1: number, w2: number, w3: number): IpAddr {
    return new IpAddr(6, Uint32Array.of(w0 >>> 0, w1 >>> 0, w2 >>> 0, w3 >>> 0));
  }

  /** From the wire: 4 or 16 bytes. */
  static fromBytes(bytes: Uint8Array): IpAddr {
    const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (bytes.length === 4) return IpAddr.v4(dv.getUint32(0));
    if (bytes.length === 16)
      return IpAddr.v6(dv.getUint32(0), dv.getUint32(4), dv.getUint32(8), dv.getUint32(12));
    throw new RangeError(`an IP address is 4 or 16 bytes, not ${bytes.length}`);
  }

  static fromWords(family: Family, words: ArrayLike<number>): IpAddr {
    return family === 4 ? IpAddr.v4(words[0]!) : IpAddr.v6(words[0]!, words[1]!, words[2]!, words[3]!);
  }

  /** Strict parse of "a.b.c.d" or an IPv6 literal (no brackets, no zone). Returns null when invalid. */
  static parse(text: string): IpAddr | null {
    return text.includes(":") ? parseV6(text) : parseV4(text);
  }

  static mustParse(text: string): IpAddr {
    const a = IpAddr.parse(text);
    if (!a) throw new RangeError(`not an IP address: ${JSON.stringify(text)}`);
    return a;
  }

  /** IPv4 as an unsigned 32-bit number (host arithmetic on the network-order value). */
  get v4Value(): number {
    return this.words[0]!;
  }

  equals(o: IpAddr): boolean {
    const a = this.words;
    const b = o.words;
    return this.family === o.family && a[0] === b[0] && a[1] === b[1] && a[2] === b[2] && a[3] === b[3];
  }

  /** -1, 0, 1 by family then numeric value (unsigned). */
  compare(o: IpAddr): number {
    if (this.family !== o.family) return this.family - o.family;
    for (let i = 0; i < 4; i++) {
      const d = this.words[i]! - o.words[i]!;
      if (d !== 0) return d < 0 ? -1 : 1;
    }
    return 0;
  }

  toBytes(): Uint8Array {
    const n = this.family === 4 ? 4 : 16;
    const out = new Uint8Array(n);
    const dv = new DataView(out.buffer);
    for (let i = 0; i < n / 4; i++) dv.setUint32(i * 4, this.words[i]!);
    return out;
  }

  /** Canonical text: dotted quad, or RFC 5952 compressed IPv6 (as inet_ntop prints it). */
  toString(): string {
    if (this.family === 4) {
      const v = this.words[0]!;
      return `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
    }
    return formatV6(this.words);
  }

  /** The address masked to `prefix` leading bits. */
  masked(prefix: number): IpAddr {
    const bits = this.family === 4 ? 32 : 128;
    const w = new Uint32Array(4);
    for (let i = 0; i < (this.family === 4 ? 1 : 4); i++) {
      const keep = Math.max(0, Math.min(32, prefix - i * 32));
      const mask = keep === 0 ? 0 : keep === 32 ? 0xffffffff : (0xffffffff << (32 - keep)) >>> 0;
      w[i] = (this.words[i]! & mask) >>> 0;
    }
    void bits;
    return IpAddr.fromWords(this.family, w);
  }

  isUnspecified(): boolean {
    return this.words[0] === 0 && this.words[1] === 0 && this.words[2] === 0 && this.words[3] === 0;
  }
}

function parseV4(text: string): IpAddr | null {
  const parts = text.split(".");
  if (parts.length !== 4) return null;
  let v = 0;
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p)) return null;
    const n = Number(p);
    if (n > 255) return null;
    v = v * 256 + n;
  }
  return IpAddr.v4(v);
}

function parseV6(text: string): IpAddr | null {
  let s = text;
  const tail: number[] = [];
  // An embedded IPv4 tail ("::ffff:1.2.3.4").
  const lastColon = s.lastIndexOf(":");
  if (s.slice(lastColon + 1).includes(".")) {
    const v4 = parseV4(s.slice(lastColon + 1));
    if (!v4) return null;
    tail.push(v4.v4Value >>> 16, v4.v4Value & 0xffff);
    s = `${s.slice(0, lastColon + 1)}${tail.length ? "0:0" : ""}`;
  }
  const halves = s.split("::");
  if (halves.length > 2) return null;
  const group = (h: string): number[] | null => {
    if (h === "") return [];
    const out: number[] = [];
    for (const g of h.split(":")) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return null;
      out.push(Number.parseInt(g, 16));
    }
    return out;
  };
  const head = group(halves[0]!);
  const rest = halves.length === 2 ? group(halves[1]!) : [];
  if (!head || !rest) return null;
  let groups: number[];
  if (halves.length === 2) {
    const missing = 8 - head.length - rest.length;
    if (missing < 1) return null;
    groups = [...head, ...new Array<number>(missing).fill(0), ...rest];
  } else {
    groups = head;
  }
  if (groups.length !== 8) return null;
  if (tail.length) {
    groups[6] = tail[0]!;
    groups[7] = tail[1]!;
  }
  return IpAddr.v6(
    groups[0]! * 65536 + groups[1]!,
    groups[2]! * 65536 + groups[3]!,
    groups[4]! * 65536 + groups[5]!,
    groups[6]! * 65536 + groups[7]!,
  );
}

function formatV6(w: Readonly<Uint32Array>): string {
  const g: number[] = [];
  for (let i = 0; i < 4; i++) g.push(w[i]! >>> 16, w[i]! & 0xffff);
  // IPv4-mapped addresses print with a dotted tail, as inet_ntop does.
  if (g[0] === 0 && g[1] === 0 && g[2] === 0 && g[3] === 0 && g[4] === 0 && g[5] === 0xffff) {
    return `::ffff:${g[6]! >>> 8}.${g[6]! & 255}.${g[7]! >>> 8}.${g[7]! & 255}`;
  }
  // Longest run of zero groups (length >= 2), first one on ties.
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (a: number[]) => a.map((x) => x.toString(16)).join(":");
  if (bestStart < 0) return hex(g);
  return `${hex(g.slice(0, bestStart))}::${hex(g.slice(bestStart + bestLen))}`;
}
/**
 * "a.b.c.d:port", "[v6]:port", or an address alone (port null), strict address syntax: the one
 * host:port parser of configuration files and the library (tslvsadm keeps ipvsadm's own, which
 * also takes host and service names).
 */
export function parseHostPort(text: string): { addr: IpAddr; port: number | null } | null {
  let host = text;
  let portText: string | null = null;
  if (text.startsWith("[")) {
    const m = /^\[([^\]]+)\](?::(\d{1,5}))?$/.exec(text);
    if (!m) return null;
    host = m[1]!;
    portText = m[2] ?? null;
    if (!host.includes(":")) return null;
  } else if (!text.includes(":") || text.indexOf(":") !== text.lastIndexOf(":")) {
    // IPv4 without port, or an IPv6 address without brackets (and so without a port).
  } else {
    const i = text.lastIndexOf(":");
    host = text.slice(0, i);
    portText = text.slice(i + 1);
    if (!/^\d{1,5}$/.test(portText)) return null;
  }
  const addr = IpAddr.parse(host);
  if (!addr) return null;
  if (portText === null) return { addr, port: null };
  const port = Number(portText);
  return port <= 65535 ? { addr, port } : null;
}
