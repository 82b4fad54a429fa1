/**
 * The kernel's `hsiphash()` of one u32 on 64-bit machines: SipHash-1-3 (one compression round,
 * three finalisation rounds) over the 4-byte little-endian message, with the 128-bit key given as
 * two 64-bit words, truncated to the low 32 bits. Only mh uses it (lib/siphash.c, ip_vs_mh.c).
 *
 * 64-bit lanes are kept as (hi, lo) pairs of u32 in a scratch array so a hash allocates nothing.
 */
const s = new Uint32Array(8); // v0 hi,lo  v1 hi,lo  v2 hi,lo  v3 hi,lo

// vN += vM (64-bit wrap-around)
function add(n: number, m: number): void {
  const lo = (s[n + 1]! + s[m + 1]!) >>> 0;
  const carry = lo < s[n + 1]! ? 1 : 0;
  s[n] = (s[n]! + s[m]! + carry) >>> 0;
  s[n + 1] = lo;
}

// vN = rotl64(vN, r) for 0 < r < 32
function rotl(n: number, r: number): void {
  const hi = s[n]!;
  const lo = s[n + 1]!;
  s[n] = ((hi << r) | (lo >>> (32 - r))) >>> 0;
  s[n + 1] = ((lo << r) | (hi >>> (32 - r))) >>> 0;
}

// vN = rotl64(vN, 32)
function swap(n: number): void {
  const hi = s[n]!;
  s[n] = s[n + 1]!;
  s[n + 1] = hi;
}

// vN ^= vM
function xor(n: number, m: number): void {
  s[n] = (s[n]! ^ s[m]!) >>> 0;
  s[n + 1] = (s[n + 1]! ^ s[m + 1]!) >>> 0;
}

const V0 = 0;
const V1 = 2;
const V2 = 4;
const V3 = 6;

function sipRound(): void {
  add(V0, V1);
  rotl(V1, 13);
  xor(V1, V0);
  swap(V0);
  add(V2, V3);
  rotl(V3, 16);
  xor(V3, V2);
  add(V0, V3);
  rotl(V3, 21);
  xor(V3, V0);
  add(V2, V1);
  rotl(V1, 17);
  xor(V1, V2);
  swap(V2);
}

/**
 * hsiphash(&v, 4, key) with key = {k0, k1}, each a 64-bit word given as (hi, lo) u32 halves.
 * Returns an unsigned 32-bit number.
 */
export function hsiphashU32(v: number, k0hi: number, k0lo: number, k1hi: number, k1lo: number): number {
  // "somepseudorandomlygeneratedbytes"
  s[0] = (0x736f6d65 ^ k0hi) >>> 0;
  s[1] = (0x70736575 ^ k0lo) >>> 0;
  s[2] = (0x646f7261 ^ k1hi) >>> 0;
  s[3] = (0x6e646f6d ^ k1lo) >>> 0;
  s[4] = (0x6c796765 ^ k0hi) >>> 0;
  s[5] = (0x6e657261 ^ k0lo) >>> 0;
  s[6] = (0x74656462 ^ k1hi) >>> 0;
  s[7] = (0x79746573 ^ k1lo) >>> 0;
  // The only block is the final one: length (4) in the top byte, the message in the low bytes.
  const bhi = 0x04000000;
  const blo = v >>> 0;
  s[6] = (s[6]! ^ bhi) >>> 0;
  s[7] = (s[7]! ^ blo) >>> 0;
  sipRound();
  s[0] = (s[0]! ^ bhi) >>> 0;
  s[1] = (s[1]! ^ blo) >>> 0;
  s[5] = (s[5]! ^ 0xff) >>> 0;
  sipRound();
  sipRound();
  sipRound();
  return (s[1]! ^ s[3]! ^ s[5]! ^ s[7]!) >>> 0;
}
