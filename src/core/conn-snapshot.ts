/**
 * The connection table as plain data, for handing it from a stopping director to the next one (a
 * restart or upgrade of the daemon): every conn and persistence template with its state, timers,
 * real-server binding and controlling template, and the counters of the services and real servers.
 * Times are relative (seconds left), since each director runs on its own clock. Everything is JSON
 * ready; `checkConnRecord` validates a record read back from a file before the director trusts it.
 */
import { IpAddr } from "./address.js";
import { CONN_F_TEMPLATE } from "./conn-table.js";
import type { ServiceKey } from "./service.js";

/** A service key as plain data. */
export type ServiceKeyRecord =
  | { kind: "addr"; protocol: number; addr: string; port: number }
  | { kind: "fwmark"; family: 4 | 6; fwmark: number };

export interface ConnRecord {
  protocol: number;
  af: 4 | 6;
  caddr: string;
  cport: number;
  vaddr: string;
  vport: number;
  daf: 4 | 6;
  daddr: string;
  dport: number;
  /** FULLNAT: the local address and port the director chose. */
  laddr?: string;
  lport?: number;
  /** Connection flags (CONN_F_*), the hash bits excluded. */
  flags: number;
  /** TCP state, or the template's ASSURED bit. */
  state: number;
  /** Idle timeout of the current state, seconds. */
  timeout: number;
  /** Seconds until the entry expires. */
  expiresIn: number;
  fwmark: number;
  inPkts: number;
  /** Index in the snapshot's `conns` of the controlling template; -1 for none. */
  control: number;
  /** A SIP persistence template's Call-ID, one character per byte (absent for other entries). */
  peData?: string;
  /** The real server the entry is bound to (absent for bypass entries): its service and address. */
  service?: ServiceKeyRecord;
  dest?: { addr: string; port: number };
}

export interface CounterRecord {
  /** Absent: the director's totals. */
  service?: ServiceKeyRecord;
  /** With `service`: one of its real servers. */
  dest?: { addr: string; port: number };
  conns: number;
  inPkts: number;
  outPkts: number;
  inBytes: number;
  outBytes: number;
}

export interface ConnSnapshot {
  version: 1;
  conns: ConnRecord[];
  counters: CounterRecord[];
}

/** What `importConnections` did with a snapshot. */
export interface ImportResult {
  /** Entries now in the table. */
  imported: number;
  /** Entries whose real server (or service, or FULLNAT local address) no longer exists. */
  noDest: number;
  /** Entries already in the table, or refused by a full table. */
  refused: number;
  /** Records that are not valid entries. */
  invalid: number;
}

export function serviceKeyRecord(key: ServiceKey): ServiceKeyRecord {
  return key.kind === "addr"
    ? { kind: "addr", protocol: key.protocol, addr: key.addr.toString(), port: key.port }
    : { kind: "fwmark", family: key.family, fwmark: key.fwmark };
}

/** The service key of a record, or null when the record is not a valid key. */
export function serviceKeyOf(r: unknown): ServiceKey | null {
  if (!isObject(r)) return null;
  if (r.kind === "addr") {
    const addr = typeof r.addr === "string" ? IpAddr.parse(r.addr) : null;
    if (!addr || !isInt(r.protocol, 0, 255) || !isInt(r.port, 0, 65535)) return null;
    return { kind: "addr", protocol: r.protocol, addr, port: r.port };
  }
  if (r.kind === "fwmark") {
    if ((r.family !== 4 && r.family !== 6) || !isInt(r.fwmark, 1, 0xffffffff)) return null;
    return { kind: "fwmark", family: r.family, fwmark: r.fwmark };
  }
  return null;
}

/** A validated entry: addresses parsed, every number in range. */
export interface CheckedConn {
  rec: ConnRecord;
  caddr: IpAddr;
  vaddr: IpAddr;
  daddr: IpAddr;
  laddr: IpAddr | null;
  service: ServiceKey | null;
  destAddr: IpAddr | null;
}

/** Validates one record read back from a snapshot; null when anything is off. */
export function checkConnRecord(r: unknown, count: number): CheckedConn | null {
  if (!isObject(r)) return null;
  const rec = r as unknown as ConnRecord;
  const addr = (v: unknown, family: unknown): IpAddr | null => {
    const a = typeof v === "string" ? IpAddr.parse(v) : null;
    return a && a.family === family ? a : null;
  };
  if (!isInt(rec.protocol, 0, 255) || (rec.af !== 4 && rec.af !== 6) || (rec.daf !== 4 && rec.daf !== 6))
    return null;
  const caddr = addr(rec.caddr, rec.af);
  const vaddr = addr(rec.vaddr, rec.af);
  const daddr = addr(rec.daddr, rec.daf);
  if (!caddr || !vaddr || !daddr) return null;
  if (!isInt(rec.cport, 0, 65535) || !isInt(rec.vport, 0, 65535) || !isInt(rec.dport, 0, 65535)) return null;
  if (!isInt(rec.flags, 0, 0xffffffff) || !isInt(rec.state, 0, 255)) return null;
  if (!isInt(rec.timeout, 0, 0xffffffff) || !isInt(rec.fwmark, 0, 0xffffffff)) return null;
  if (!isInt(rec.inPkts, 0, 0xffffffff) || !isInt(rec.control, -1, count - 1)) return null;
  if (typeof rec.expiresIn !== "number" || !Number.isFinite(rec.expiresIn) || rec.expiresIn < 0) return null;
  let laddr: IpAddr | null = null;
  if (rec.laddr !== undefined || rec.lport !== undefined) {
    laddr = addr(rec.laddr, rec.daf);
    if (!laddr || !isInt(rec.lport, 1, 65535)) return null;
  }
  if (rec.peData !== undefined && !isPeData(rec.peData, rec.flags)) return null;
  let service: ServiceKey | null = null;
  let destAddr: IpAddr | null = null;
  if (rec.service !== undefined || rec.dest !== undefined) {
    service = serviceKeyOf(rec.service);
    const d = rec.dest as unknown;
    if (!service || !isObject(d) || !isInt(d.port, 0, 65535)) return null;
    destAddr = typeof d.addr === "string" ? IpAddr.parse(d.addr) : null;
    if (!destAddr) return null;
  }
  return { rec, caddr, vaddr, daddr, laddr, service, destAddr };
}

/** A template's Call-ID: 1..255 characters, each a byte. */
function isPeData(v: unknown, flags: number): boolean {
  if (typeof v !== "string" || v.length < 1 || v.length > 255 || !(flags & CONN_F_TEMPLATE)) return false;
  for (let k = 0; k < v.length; k++) if (v.charCodeAt(k) > 0xff) return false;
  return true;
}

/** Bytes as a string of one character each (Latin-1), the way /proc prints pe_data's bytes. */
export function bytesToLatin1(b: Uint8Array): string {
  let s = "";
  for (let k = 0; k < b.length; k++) s += String.fromCharCode(b[k]!);
  return s;
}

export function latin1ToBytes(s: string): Uint8Array {
  const b = new Uint8Array(s.length);
  for (let k = 0; k < s.length; k++) b[k] = s.charCodeAt(k);
  return b;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

export function isInt(v: unknown, lo: number, hi: number): v is number {
  return typeof v === "number" && Number.isInteger(v) && v >= lo && v <= hi;
}
