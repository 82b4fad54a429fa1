/**
 * The SIP persistence engine's Call-ID extraction (kernel ip_vs_pe_sip.c get_callid, with
 * nf_conntrack_sip's header search). Reads the bytes of one UDP payload in place and reports where
 * the Call-ID value is; allocates nothing. The kernel's quirks are kept on purpose, so that a
 * message is taken or refused exactly as the kernel takes or refuses it:
 * - a header is only recognised at the start of a line (after CR, LF or CRLF), so the request or
 *   status line never is, and lines after the blank line (the body) are searched too;
 * - "Call-ID" is matched as a case-insensitive prefix of the line, the compact "i" only when the
 *   next byte is not a letter; a matched name not followed by optional spaces and ':' ends the
 *   search (no Call-ID);
 * - the value is a word (the kernel's word characters), optionally "@" and a second word; it must
 *   be at most 255 bytes and be followed directly by CR or LF;
 * - an empty value makes the search go on further in the message, from an offset computed as the
 *   kernel computes it.
 * Letters are the kernel's ctype letters: ASCII and the Latin-1 letters (0xC0-0xFF but 0xD7, 0xF7).
 */

/** Longest Call-ID kept (kernel IP_VS_PEDATA_MAXLEN). */
export const SIP_CALLID_MAX = 255;

const CR = 0x0d;
const LF = 0x0a;
const SP = 0x20;
const TAB = 0x09;
const COLON = 0x3a;
const AT = 0x40;

const ALPHA = new Uint8Array(256);
const WORD = new Uint8Array(256);
for (let c = 0; c < 256; c++) {
  const alpha =
    (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || (c >= 0xc0 && c !== 0xd7 && c !== 0xf7);
  ALPHA[c] = alpha ? 1 : 0;
  const digit = c >= 0x30 && c <= 0x39;
  const ch = String.fromCharCode(c);
  const punct = '!"%:<>?_`{}~'.includes(ch) || (c >= 0x28 && c <= 0x2f) || (c >= 0x5b && c <= 0x5d);
  WORD[c] = alpha || digit || (c < 0x80 && punct) ? 1 : 0;
}

/** "call-id" in lower case. */
const CALL_ID = [0x63, 0x61, 0x6c, 0x6c, 0x2d, 0x69, 0x64];

function lower(c: number): number {
  return c >= 0x41 && c <= 0x5a ? c + 0x20 : c;
}

/** Where the last successful `sipCallId` found the value: payload-relative offset and length. */
export class SipMatch {
  off = 0;
  len = 0;
}

/** Past a line end at `p` and the whitespace of a continuation line; -1 when none follows. */
function followContinuation(b: Uint8Array, p: number, end: number): number {
  if (++p >= end) return -1;
  if (b[p - 1] === CR && b[p] === LF && ++p >= end) return -1;
  if (b[p] !== SP && b[p] !== TAB) return -1;
  while (p < end && (b[p] === SP || b[p] === TAB)) p++;
  return p;
}

/** Skips spaces and continuation lines; -1 at a line end that does not continue. */
function skipWhitespace(b: Uint8Array, p: number, end: number): number {
  for (; p < end; p++) {
    const c = b[p]!;
    if (c === SP) continue;
    if (c !== CR && c !== LF) break;
    p = followContinuation(b, p, end);
    if (p < 0) return -1;
    // The kernel's loop steps once more past the continuation's first byte: kept.
  }
  return p;
}

function wordLen(b: Uint8Array, p: number, end: number): number {
  let n = 0;
  while (p + n < end && WORD[b[p + n]!] === 1) n++;
  return n;
}

function callIdLen(b: Uint8Array, p: number, end: number): number {
  const len = wordLen(b, p, end);
  const q = p + len;
  if (len === 0 || q >= end || b[q] !== AT) return len;
  const domain = wordLen(b, q + 1, end);
  return domain === 0 ? 0 : len + 1 + domain;
}

/**
 * One header search from `from` (relative to `start`): 1 with m.off/m.len set, 0 when there is no
 * Call-ID header, -1 when one has an empty value (m.off: where the value would start).
 */
function findHeader(b: Uint8Array, start: number, end: number, from: number, m: SipMatch): number {
  for (let p = start + from; p < end; p++) {
    if (b[p] !== CR && b[p] !== LF) continue;
    if (++p >= end) break;
    if (b[p - 1] === CR && b[p] === LF && ++p >= end) break;
    if (b[p] === SP || b[p] === TAB) continue;
    if (end - p >= CALL_ID.length && matchesCallId(b, p)) p += CALL_ID.length;
    else if (end - p >= 2 && lower(b[p]!) === 0x69 && ALPHA[b[p + 1]!] === 0) p += 1;
    else continue;
    p = skipWhitespace(b, p, end);
    if (p < 0 || p >= end || b[p] !== COLON || ++p >= end) break;
    p = skipWhitespace(b, p, end);
    if (p < 0) break;
    m.off = p - start;
    const len = p < end ? callIdLen(b, p, end) : 0;
    if (len === 0) return -1;
    m.len = len;
    return 1;
  }
  return 0;
}

function matchesCallId(b: Uint8Array, p: number): boolean {
  for (let k = 0; k < CALL_ID.length; k++) if (lower(b[p + k]!) !== CALL_ID[k]) return false;
  return true;
}

/**
 * The Call-ID of the SIP message b[off .. off+len): true with `m` (offsets relative to `off`)
 * when the kernel would take it, false otherwise. Never reads outside the range.
 */
export function sipCallId(b: Uint8Array, off: number, len: number, m: SipMatch): boolean {
  if (len <= 0 || off < 0 || off + len > b.length) return false;
  const end = off + len;
  let from = 0;
  for (;;) {
    const r = findHeader(b, off, end, from, m);
    if (r > 0) break;
    if (r === 0) return false;
    // As the kernel: the empty value's offset (from the start) is added to the search's offset.
    from += m.off;
  }
  if (m.len > SIP_CALLID_MAX) return false;
  const after = m.off + m.len;
  if (after >= len) return false;
  const c = b[off + after];
  return c === CR || c === LF;
}
