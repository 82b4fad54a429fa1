/**
 * printf conversions ipvsadm's listings use. JavaScript's padStart/padEnd never truncate, like
 * `%-Ns` / `%Nu`; explicit cuts happen before padding where ipvsadm makes them.
 */

const TWO_32 = 4294967296;

/** A 64-bit counter read through a 32-bit getter (ipvsadm 1.31 does so for real-server counters). */
export function low32(v: number): number {
  return v >= 0 && v < TWO_32 ? v : ((v % TWO_32) + TWO_32) % TWO_32;
}

function toBig(v: number | bigint): bigint {
  if (typeof v === "bigint") return v;
  return Number.isFinite(v) && v > 0 ? BigInt(Math.trunc(v)) : 0n;
}

const K = 1000n;
const M = 1000000n;
const G = 1000000000n;
const T = 1000000000000n;

/**
 * ipvsadm's print_largenum: 9 columns (a leading blank when it fits), scaled by decimal K/M/G/T
 * units unless exact. Values above 2^53 can be passed as bigint to print every digit.
 */
export function largeNum(value: number | bigint, exact: boolean): string {
  if (typeof value === "number" && value >= 0 && value < 1e8 && Number.isInteger(value))
    return String(value).padStart(9);
  const v = toBig(value);
  if (exact) {
    const s = v.toString();
    return s.padStart(s.length <= 8 ? 9 : s.length + 1);
  }
  if (v < 100000000n) return v.toString().padStart(9);
  if (v < 1000000000n) return `${(v / K).toString().padStart(8)}K`;
  if (v < 100000000000n) return `${(v / M).toString().padStart(8)}M`;
  if (v < 100000000000000n) return `${(v / G).toString().padStart(8)}G`;
  return `${(v / T).toString().padStart(8)}T`;
}
