/**
 * Connection table benchmark: insert, lookup (client side and reply side) and expiry rates, bytes
 * per connection, and heap growth during a lookup loop (it must be ~0: lookups allocate nothing).
 * Also runs a bare interleaved-record lookup loop (no IPv6, no template bit, no method call) as a
 * floor for what the table's own lookup costs on top of the memory accesses.
 *
 *   node --expose-gc dist/bench/conntable.js [entries...]      (default: 1000000 10000000)
 */
import { ConnTable } from "../src/core/conn-table.js";
import { IPPROTO_TCP } from "../src/core/flow.js";
import { hugePageBuffer, hugePageStats } from "../src/platform/huge-pages.js";

const gc = (globalThis as { gc?: () => void }).gc;

function seconds(start: bigint): number {
  return Number(process.hrtime.bigint() - start) / 1e9;
}

function fmtRate(n: number, s: number): string {
  return `${(n / s / 1e6).toFixed(2)} M/s`;
}

/**
 * Client keys computed from the entry number (no key arrays, so the benchmark's own memory
 * accesses do not add cache misses): 10.0.0.0/8 addresses, ports with some noise, unique per i.
 */
function keyAddr(i: number): number {
  return (0x0a000000 + (i >>> 6)) >>> 0;
}

function keyPort(i: number): number {
  const x = Math.imul(i ^ 0x5bd1e995, 0x9e3779b1);
  return 1024 + ((i & 63) << 9) + ((x >>> 16) & 511);
}

const keys = {
  addr: { at: keyAddr },
  port: { at: keyPort },
};

interface Row {
  entries: number;
  bits: number;
  pages: string;
  insert: string;
  lookupIn: string;
  lookupOut: string;
  expire: string;
  bytesPerConn: string;
  heapPerLookup: string;
}

function tableBytes(t: ConnTable): number {
  let total = 0;
  for (const v of Object.values(t)) if (ArrayBuffer.isView(v)) total += v.byteLength;
  for (const v of Object.values(t.wheel)) if (ArrayBuffer.isView(v)) total += v.byteLength;
  return total;
}

/** Client-side lookups of existing keys in a scattered order; returns the seconds taken. */
function lookupInLoop(t: ConnTable, entries: number, lookups: number): number {
  const c = new Uint32Array(4);
  const vip = Uint32Array.of(0xc6120001, 0, 0, 0);
  const step = 7919;
  const start = process.hrtime.bigint();
  let hits = 0;
  for (let n = 0, i = 0; n < lookups; n++) {
    c[0] = keys.addr.at(i);
    if (t.lookupIn(IPPROTO_TCP, 4, c, keys.port.at(i), vip, 80, false) >= 0) hits++;
    i += step;
    if (i >= entries) i -= entries;
  }
  const s = seconds(start);
  if (hits !== lookups) throw new Error(`lookup misses: ${lookups - hits}`);
  return s;
}

/** Real-server-side lookups of existing keys in a scattered order; returns the seconds taken. */
function lookupOutLoop(t: ConnTable, entries: number, lookups: number): number {
  const c = new Uint32Array(4);
  const rs = new Uint32Array(4);
  const step = 7919;
  const start = process.hrtime.bigint();
  let hits = 0;
  for (let n = 0, i = 0; n < lookups; n++) {
    c[0] = keys.addr.at(i);
    rs[0] = 0xc6130000 + (i & 255);
    if (t.lookupOut(IPPROTO_TCP, 4, rs, 8080, c, keys.port.at(i)) >= 0) hits++;
    i += step;
    if (i >= entries) i -= entries;
  }
  const s = seconds(start);
  if (hits !== lookups) throw new Error(`reply lookup misses: ${lookups - hits}`);
  return s;
}

function run(entries: number, bits: number, lookups: number, huge: boolean): Row {
  const t = new ConnTable({
    capacity: entries,
    bucketBits: bits,
    allocate: huge ? hugePageBuffer : undefined,
  });
  const c = new Uint32Array(4);
  const vip = Uint32Array.of(0xc6120001, 0, 0, 0);
  const rs = new Uint32Array(4);

  let start = process.hrtime.bigint();
  for (let i = 0; i < entries; i++) {
    c[0] = keys.addr.at(i);
    rs[0] = 0xc6130000 + (i & 255);
    const k = t.alloc(IPPROTO_TCP, 4, c, keys.port.at(i), vip, 80, 4, rs, 8080, 0);
    t.hashIn(k);
    t.hashOut(k);
    t.wheel.arm(k, 1 + (i % 900));
  }
  const insertS = seconds(start);

  // A short warm-up pass of each loop first, so that the figure is the optimised code's steady
  // state (a data plane's lookups are hot code), not the first call's on-stack replacement.
  const warm = Math.min(lookups, 200_000);
  lookupInLoop(t, entries, warm);
  lookupOutLoop(t, entries, warm);
  gc?.();
  const heap0 = process.memoryUsage().heapUsed;
  const lookupS = lookupInLoop(t, entries, lookups);
  const heap1 = process.memoryUsage().heapUsed;
  const outS = lookupOutLoop(t, entries, lookups);

  const bytes = tableBytes(t);

  // Expiry: walk time forward in 1 s steps, removing what is due.
  start = process.hrtime.bigint();
  let expired = 0;
  for (let now = 1; now <= 900; now++) {
    const n = t.wheel.collect(now);
    const due = t.wheel.due();
    for (let k = 0; k < n; k++) {
      t.remove(due[k]!);
      expired++;
    }
  }
  const expireS = seconds(start);
  if (expired !== entries || t.size !== 0) throw new Error(`expired ${expired} of ${entries}`);

  return {
    entries,
    bits,
    pages: huge ? "2 MiB" : "4 KiB",
    insert: fmtRate(entries, insertS),
    lookupIn: fmtRate(lookups, lookupS),
    lookupOut: fmtRate(lookups, outS),
    expire: fmtRate(entries, expireS),
    bytesPerConn: (bytes / entries).toFixed(1),
    heapPerLookup: `${((heap1 - heap0) / lookups).toFixed(3)} B`,
  };
}

/**
 * The same client-side lookup over interleaved 32-byte records (one Int32Array, stride 8), to
 * compare layouts: caddr, vaddr, ports, proto|af<<8|flags<<16, next, pad.
 */
function interleaved(entries: number, bits: number, lookups: number): string {
  const rec = new Int32Array(entries * 8);
  const heads = new Int32Array(1 << bits).fill(-1);
  const mask = (1 << bits) - 1;
  const vip = 0xc6120001 | 0;
  const h = (a: number, b: number, ports: number) => {
    let x = Math.imul(a ^ 0x9e3779b9, 0xcc9e2d51);
    x = Math.imul(x ^ b, 0x1b873593);
    x = Math.imul(x ^ ports, 0x85ebca6b);
    return (x ^ (x >>> 15)) & mask;
  };
  for (let i = 0; i < entries; i++) {
    const o = i * 8;
    rec[o] = keys.addr.at(i);
    rec[o + 1] = vip;
    rec[o + 2] = (keys.port.at(i) << 16) | 80;
    rec[o + 3] = IPPROTO_TCP | (4 << 8);
    const b = h(rec[o]!, vip, rec[o + 2]!);
    rec[o + 4] = heads[b]!;
    heads[b] = i;
  }
  const start = process.hrtime.bigint();
  let hits = 0;
  for (let n = 0, i = 0; n < lookups; n++) {
    const a = keys.addr.at(i) | 0;
    const ports = (keys.port.at(i) << 16) | 80;
    for (let j = heads[h(a, vip, ports)]!; j >= 0; j = rec[j * 8 + 4]!) {
      const o = j * 8;
      if (
        rec[o] === a &&
        rec[o + 2] === ports &&
        rec[o + 1] === vip &&
        (rec[o + 3]! & 0xffff) === (IPPROTO_TCP | 1024)
      ) {
        hits++;
        break;
      }
    }
    i += 7919;
    if (i >= entries) i -= entries;
  }
  const s = seconds(start);
  if (hits !== lookups) throw new Error("interleaved misses");
  return fmtRate(lookups, s);
}

const sizes = process.argv
  .slice(2)
  .map(Number)
  .filter((n) => n > 0);
const plan = sizes.length ? sizes : [1_000_000, 10_000_000];
const rows: Row[] = [];
for (const n of plan) {
  const bits = Math.max(12, Math.ceil(Math.log2(n)));
  rows.push(run(n, bits, 10_000_000, false));
  rows.push(run(n, bits, 10_000_000, true));
}
// The kernel default of 4096 buckets with 1 M conns: long chains.
rows.push(run(1_000_000, 12, 1_000_000, true));
console.log(
  `node ${process.version}, ${process.platform} ${process.arch}, gc ${gc ? "exposed" : "not exposed"}, ` +
    `huge-page buffers ${hugePageStats.mapped} (fell back ${hugePageStats.fellBack})`,
);
console.table(rows);
console.log(`bytes per IPv4 conn (records + timer links): ${ConnTable.bytesPerEntry()}`);
const n = plan[0]!;
const bits = Math.max(12, Math.ceil(Math.log2(n)));
console.log(
  `client-side lookup, ${n} entries, 2^${bits} buckets, 4 KiB pages: bare interleaved loop ${interleaved(n, bits, 10_000_000)}`,
);
