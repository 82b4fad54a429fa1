/**
 * The IPVS connection-synchronisation message, version 1, as the kernel lays it out
 * (net/netfilter/ipvs/ip_vs_sync.c: struct ip_vs_sync_mesg, struct ip_vs_sync_v4 / _v6, the
 * IPVS_OPT_* options; sent by the master to 224.0.0.81:8848 over UDP, one message per datagram).
 * Big-endian throughout.
 *
 *   message header (8 bytes): reserved (0), syncid, size (the whole message), nr_conns,
 *     version (1), spare (0)
 *   then nr_conns entries, each starting on a 4-byte boundary:
 *     type (bit 0: IPv6), protocol, ver_size (version in the top 4 bits, 0; size of the entry with
 *     its options in the low 12), flags (IP_VS_CONN_F_*), state, cport, vport, dport, fwmark,
 *     timeout (seconds), caddr, vaddr, daddr (4 bytes each for IPv4: 36 bytes; 16 for IPv6: 72),
 *     then options as type, length, value: IPVS_OPT_SEQ_DATA (1, 24 bytes: the in and out TCP
 *     sequence adjustments), IPVS_OPT_PE_DATA (2), IPVS_OPT_PE_NAME (3).
 *
 * The decoder checks what the kernel's ip_vs_process_message and ip_vs_proc_sync_conn check and
 * says why it refuses; it never reads outside the buffer.
 */
import { get16, get32, put16, put32 } from "./bytes.js";

export const SYNC_PORT = 8848;
/** 224.0.0.81, the kernel's default sync group (IP_VS_SYNC_GROUP). */
export const SYNC_GROUP_V4 = "224.0.0.81";
export const SYNC_PROTO_VER = 1;
export const SYNC_HEADER_LEN = 8;
export const SYNC_V4_LEN = 36;
export const SYNC_V6_LEN = 72;
const STYPE_F_INET6 = 1;
const SVER_SHIFT = 12;
const SVER_MASK = 0x0fff;
export const IPVS_OPT_SEQ_DATA = 1;
export const IPVS_OPT_PE_DATA = 2;
export const IPVS_OPT_PE_NAME = 3;
/** An option with this bit set may be ignored by a receiver that does not know it. */
export const IPVS_OPT_F_PARAM = 0x80;
/** struct ip_vs_sync_conn_options: two struct ip_vs_seq of three u32. */
const SEQ_DATA_LEN = 24;
/** IP_VS_PENAME_MAXLEN and IP_VS_PEDATA_MAXLEN (ip_vs.h). */
const PE_NAME_MAXLEN = 16;
const PE_DATA_MAXLEN = 255;

/** One connection (or persistence template) as a sync message carries it. */
export interface SyncConn {
  family: 4 | 6;
  protocol: number;
  /** IP_VS_CONN_F_* as the master holds them (the receiver keeps IP_VS_CONN_F_BACKUP_MASK). */
  flags: number;
  state: number;
  cport: number;
  vport: number;
  dport: number;
  fwmark: number;
  /** Seconds. */
  timeout: number;
  /** Network-order bytes: 4 for IPv4, 16 for IPv6. */
  caddr: Uint8Array;
  vaddr: Uint8Array;
  daddr: Uint8Array;
  /** The TCP sequence adjustments (application helpers); absent without. */
  seq?: Uint8Array;
  /** The persistence engine's name and data (`--pe sip`: "sip" and the Call-ID). */
  peName?: string;
  peData?: Uint8Array;
}

export interface SyncMessage {
  syncid: number;
  conns: SyncConn[];
}

/** Why a message, or the rest of it, was refused (counted by reason). */
export type SyncRefusal =
  | "short-header"
  | "bad-size"
  | "other-syncid"
  | "version-0"
  | "entry-truncated"
  | "entry-overruns"
  | "entry-version"
  | "entry-too-small"
  | "option-overruns"
  | "bad-option";

export interface SyncDecoded {
  syncid: number;
  /** The entries read, in order, up to the first that refused the rest. */
  conns: SyncConn[];
  /** Entries passed over (an unknown mandatory option, PE data without its name). */
  skipped: number;
  /** Why the message, or its rest after `conns`, was refused; null when read whole. */
  refused: SyncRefusal | null;
}

/** Bytes an entry takes, options included, before padding to 4. */
export function syncConnSize(c: SyncConn): number {
  let n = c.family === 6 ? SYNC_V6_LEN : SYNC_V4_LEN;
  if (c.seq) n += 2 + SEQ_DATA_LEN;
  if (c.peData && c.peName) n += 2 + c.peData.length + 2 + Buffer.byteLength(c.peName, "latin1");
  return n;
}

/**
 * Builds messages of at most `maxLen` bytes (the sync daemon's maxlen), one connection after
 * another: `add` says whether it fitted; `finish` closes the message and starts the next.
 */
export class SyncMessageWriter {
  private readonly buf: Uint8Array;
  private at = SYNC_HEADER_LEN;
  private count = 0;

  constructor(
    private readonly syncid: number,
    readonly maxLen: number,
  ) {
    if (maxLen < SYNC_HEADER_LEN + SYNC_V6_LEN) throw new RangeError(`sync maxlen ${maxLen} is too small`);
    this.buf = new Uint8Array(maxLen);
  }

  get conns(): number {
    return this.count;
  }

  /** Appends `c`; false when the message is full (or holds 255 entries, nr_conns's limit). */
  add(c: SyncConn): boolean {
    const size = syncConnSize(c);
    const padded = (size + 3) & ~3;
    if (this.count === 255 || this.at + padded > this.maxLen) return false;
    const b = this.buf;
    const p = this.at;
    b.fill(0, p, p + padded);
    b[p] = c.family === 6 ? STYPE_F_INET6 : 0;
    b[p + 1] = c.protocol;
    put16(b, p + 2, size & SVER_MASK);
    put32(b, p + 4, c.flags >>> 0);
    put16(b, p + 8, c.state);
    put16(b, p + 10, c.cport);
    put16(b, p + 12, c.vport);
    put16(b, p + 14, c.dport);
    put32(b, p + 16, c.fwmark >>> 0);
    put32(b, p + 20, c.timeout >>> 0);
    const alen = c.family === 6 ? 16 : 4;
    b.set(c.caddr.subarray(0, alen), p + 24);
    b.set(c.vaddr.subarray(0, alen), p + 24 + alen);
    b.set(c.daddr.subarray(0, alen), p + 24 + 2 * alen);
    let o = p + 24 + 3 * alen;
    if (c.seq) {
      b[o] = IPVS_OPT_SEQ_DATA;
      b[o + 1] = SEQ_DATA_LEN;
      b.set(c.seq.subarray(0, SEQ_DATA_LEN), o + 2);
      o += 2 + SEQ_DATA_LEN;
    }
    if (c.peData && c.peName) {
      b[o] = IPVS_OPT_PE_DATA;
      b[o + 1] = c.peData.length;
      b.set(c.peData, o + 2);
      o += 2 + c.peData.length;
      const name = Buffer.from(c.peName, "latin1");
      b[o] = IPVS_OPT_PE_NAME;
      b[o + 1] = name.length;
      b.set(name, o + 2);
    }
    this.at = p + padded;
    this.count++;
    return true;
  }

  /** The message's bytes (a copy), and a fresh message begun; null when it holds nothing. */
  finish(): Uint8Array | null {
    if (this.count === 0) return null;
    const b = this.buf;
    b[0] = 0;
    b[1] = this.syncid;
    put16(b, 2, this.at);
    b[4] = this.count;
    b[5] = SYNC_PROTO_VER;
    put16(b, 6, 0);
    const out = b.slice(0, this.at);
    this.at = SYNC_HEADER_LEN;
    this.count = 0;
    return out;
  }
}

/**
 * Reads a message as the kernel's backup does: the header's size must be the datagram's, a
 * syncid must match unless `syncid` is 0, version 1 with reserved and spare 0 (anything else is
 * the old version-0 format, refused here). Entries are read in order; the first malformed one
 * refuses the rest, and those before it stand (as the kernel applies each as it goes).
 */
export function decodeSyncMessage(b: Uint8Array, syncid = 0): SyncDecoded {
  const conns: SyncConn[] = [];
  let skipped = 0;
  const out = (syncid: number, refused: SyncRefusal | null): SyncDecoded => ({
    syncid,
    conns,
    skipped,
    refused,
  });
  if (b.length < SYNC_HEADER_LEN) return out(0, "short-header");
  const id = b[1]!;
  if (get16(b, 2) !== b.length) return out(id, "bad-size");
  if (syncid !== 0 && id !== syncid) return out(id, "other-syncid");
  if (b[5] !== SYNC_PROTO_VER || b[0] !== 0 || get16(b, 6) !== 0) return out(id, "version-0");
  const n = b[4]!;
  let end = SYNC_HEADER_LEN;
  for (let i = 0; i < n; i++) {
    const p = end;
    if (p + SYNC_V4_LEN > b.length) return out(id, "entry-truncated");
    const verSize = get16(b, p + 2);
    const size = verSize & SVER_MASK;
    if (p + size > b.length) return out(id, "entry-overruns");
    if (verSize >> SVER_SHIFT) return out(id, "entry-version");
    const c = decodeConn(b, p, p + size);
    if (c === "skip") skipped++;
    else if (typeof c === "string") return out(id, c);
    else conns.push(c);
    end = p + ((size + 3) & ~3);
  }
  return out(id, null);
}

/** Kernel ip_vs_proc_sync_conn's parsing of one entry in [p, end). */
function decodeConn(b: Uint8Array, p: number, end: number): SyncConn | SyncRefusal | "skip" {
  const v6 = (b[p]! & STYPE_F_INET6) !== 0;
  const base = v6 ? SYNC_V6_LEN : SYNC_V4_LEN;
  if (end - p < base) return "entry-too-small";
  const alen = v6 ? 16 : 4;
  const c: SyncConn = {
    family: v6 ? 6 : 4,
    protocol: b[p + 1]!,
    flags: get32(b, p + 4),
    state: get16(b, p + 8),
    cport: get16(b, p + 10),
    vport: get16(b, p + 12),
    dport: get16(b, p + 14),
    fwmark: get32(b, p + 16),
    timeout: get32(b, p + 20),
    caddr: b.slice(p + 24, p + 24 + alen),
    vaddr: b.slice(p + 24 + alen, p + 24 + 2 * alen),
    daddr: b.slice(p + 24 + 2 * alen, p + 24 + 3 * alen),
  };
  // Options: type, length, value, until the entry's end. A malformed one refuses the rest of the
  // message (kernel: negative result); an unknown one without the optional bit (0x80) skips this
  // entry only; an unknown optional one is passed over.
  let o = p + base;
  let seen = 0;
  let skip = false;
  while (o < end) {
    if (o + 2 > end) return "option-overruns";
    const type = b[o]!;
    const len = b[o + 1]!;
    if (len === 0 || o + 2 + len > end) return "option-overruns";
    const value = b.subarray(o + 2, o + 2 + len);
    const kind = type & ~IPVS_OPT_F_PARAM;
    if (kind === IPVS_OPT_SEQ_DATA || kind === IPVS_OPT_PE_DATA || kind === IPVS_OPT_PE_NAME) {
      const bit = 1 << kind;
      if (seen & bit) return "bad-option";
      seen |= bit;
      if (kind === IPVS_OPT_SEQ_DATA) {
        if (len !== SEQ_DATA_LEN) return "bad-option";
        c.seq = value.slice();
      } else if (kind === IPVS_OPT_PE_DATA) {
        if (len > PE_DATA_MAXLEN) return "bad-option";
        c.peData = value.slice();
      } else {
        if (len > PE_NAME_MAXLEN) return "bad-option";
        c.peName = Buffer.from(value).toString("latin1");
      }
    } else if (!(type & IPVS_OPT_F_PARAM)) skip = true;
    o += 2 + len;
  }
  // PE data without a PE name cannot be used (kernel ip_vs_conn_fill_param_sync): this entry only.
  if (skip || (c.peData !== undefined && c.peName === undefined)) return "skip";
  return c;
}
