import type { DestEntry, ServiceEntry } from "../../control/api.js";
import { IpAddr } from "../../core/address.js";
import { v4Value } from "./numbers.js";

/**
 * ipvsadm's listing order. Its comparators subtract unsigned 32-bit fields and keep the result as
 * a signed int, so values more than 2^31 apart compare backwards; glibc's qsort is a top-down
 * merge sort. Both are reproduced so the order matches ipvsadm's even where it is surprising.
 */

/** Four unsigned 32-bit words of an address (IPv4 in word 0), as the kernel's union holds it. */
export function addrWords(addr: string): readonly number[] {
  if (!addr.includes(":")) {
    const v = v4Value(addr);
    return [Number.isNaN(v) ? 0 : v, 0, 0, 0];
  }
  const a = IpAddr.parse(addr);
  return a ? Array.from(a.words) : [0, 0, 0, 0];
}

/** Difference of two unsigned 32-bit values, truncated to a signed int as C does. */
function diff32(a: number, b: number): number {
  return (a - b) | 0;
}

const AF_INET = 2;
const AF_INET6 = 10;
const PROTO_NUMBER: Record<string, number> = { tcp: 6, udp: 17, sctp: 132 };

interface ServiceKeyed {
  fwmark: number;
  af: number;
  proto: number;
  words: readonly number[];
  port: number;
}

function serviceKey(s: ServiceEntry): ServiceKeyed {
  const isMark = s.id.fwmark !== undefined;
  return {
    fwmark: isMark ? s.id.fwmark! : 0,
    af: s.af === 6 ? AF_INET6 : AF_INET,
    // ipvsadm sends TCP for firewall-mark services.
    proto: isMark ? 6 : (PROTO_NUMBER[s.id.protocol!] ?? 0),
    words: isMark ? [0, 0, 0, 0] : addrWords(s.id.addr!),
    port: isMark ? 0 : s.id.port!,
  };
}

function compareServiceKeys(a: ServiceKeyed, b: ServiceKeyed): number {
  let r = diff32(a.fwmark, b.fwmark);
  if (r !== 0) return r;
  r = a.af - b.af;
  if (r !== 0) return r;
  r = a.proto - b.proto;
  if (r !== 0) return r;
  if (a.af === AF_INET6) {
    for (let i = 0; r === 0 && i < 4; i++) r = diff32(a.words[i]!, b.words[i]!);
  } else r = diff32(a.words[0]!, b.words[0]!);
  if (r !== 0) return r;
  return a.port - b.port;
}

interface DestKeyed {
  af: number;
  words: readonly number[];
  port: number;
}

function compareDestKeys(a: DestKeyed, b: DestKeyed): number {
  let r = 0;
  // The first entry's family decides how many words are compared (ipvs_cmp_dests).
  if (a.af === 6) {
    for (let i = 0; r === 0 && i < 4; i++) r = diff32(a.words[i]!, b.words[i]!);
  } else r = diff32(a.words[0]!, b.words[0]!);
  if (r !== 0) return r;
  return a.port - b.port;
}

/** glibc msort: split at n/2, sort both halves, merge taking the left item when cmp <= 0. */
export function glibcMergeSort<T>(items: T[], cmp: (a: T, b: T) => number): T[] {
  const n = items.length;
  if (n <= 1) return items.slice();
  const buf = items.slice();
  const tmp = new Array<T>(n);
  const sortRange = (lo: number, len: number): void => {
    if (len <= 1) return;
    const n1 = len >>> 1;
    const n2 = len - n1;
    sortRange(lo, n1);
    sortRange(lo + n1, n2);
    let i = lo;
    let j = lo + n1;
    const iEnd = lo + n1;
    const jEnd = lo + len;
    let k = 0;
    while (i < iEnd && j < jEnd) {
      if (cmp(buf[i]!, buf[j]!) <= 0) tmp[k++] = buf[i++]!;
      else tmp[k++] = buf[j++]!;
    }
    while (i < iEnd) tmp[k++] = buf[i++]!;
    // The rest of the right half is already in place.
    for (let m = 0; m < k; m++) buf[lo + m] = tmp[m]!;
  };
  sortRange(0, n);
  return buf;
}

function sortByKey<T, K>(items: T[], key: (t: T) => K, cmp: (a: K, b: K) => number): T[] {
  const keyed = items.map((item) => ({ item, k: key(item) }));
  return glibcMergeSort(keyed, (a, b) => cmp(a.k, b.k)).map((e) => e.item);
}

export function sortServices(services: ServiceEntry[]): ServiceEntry[] {
  return sortByKey(services, serviceKey, compareServiceKeys);
}

export function sortDests(dests: DestEntry[]): DestEntry[] {
  return sortByKey(dests, (d) => ({ af: d.af, words: addrWords(d.addr), port: d.port }), compareDestKeys);
}
