/**
 * Number and IPv4 text parsing with the C library's rules, because ipvsadm's accepted inputs are
 * defined by them: strtol (base 10), atoi, and inet_aton's 1-4 part dotted forms.
 */

const SPACE = new Set([" ", "\t", "\n", "\v", "\f", "\r"]);

/**
 * ipvsadm's string_to_number: strtol base 10 over the whole string (leading blanks and a sign
 * allowed), then a range check. Returns null when the text is not such a number or out of range.
 */
export function stringToNumber(s: string, min: number, max: number): number | null {
  let i = 0;
  while (i < s.length && SPACE.has(s[i]!)) i++;
  let neg = false;
  if (s[i] === "+" || s[i] === "-") {
    neg = s[i] === "-";
    i++;
  }
  const start = i;
  while (i < s.length && s.charCodeAt(i) >= 48 && s.charCodeAt(i) <= 57) i++;
  if (i === start || i !== s.length) return null;
  // Long digit strings are out of every range ipvsadm uses; BigInt keeps the comparison exact.
  const big = BigInt(s.slice(start, i)) * (neg ? -1n : 1n);
  if (big < BigInt(min) || big > BigInt(max)) return null;
  return Number(big);
}

/** C atoi: leading blanks, optional sign, then as many digits as there are; 0 when none. */
export function atoi(s: string): number {
  let i = 0;
  while (i < s.length && SPACE.has(s[i]!)) i++;
  let neg = false;
  if (s[i] === "+" || s[i] === "-") {
    neg = s[i] === "-";
    i++;
  }
  let v = 0;
  while (i < s.length && s.charCodeAt(i) >= 48 && s.charCodeAt(i) <= 57 && v < 1e12) {
    v = v * 10 + (s.charCodeAt(i) - 48);
    i++;
  }
  // atoi of an out-of-int value is undefined in C; clamp so range checks reject it.
  return neg ? -v : v;
}

function isDigit(c: string | undefined): boolean {
  return c !== undefined && c >= "0" && c <= "9";
}

function hexValue(c: string | undefined): number {
  if (c === undefined) return -1;
  if (c >= "0" && c <= "9") return c.charCodeAt(0) - 48;
  if (c >= "a" && c <= "f") return c.charCodeAt(0) - 87;
  if (c >= "A" && c <= "F") return c.charCodeAt(0) - 55;
  return -1;
}

/**
 * glibc inet_aton: "a.b.c.d", "a.b.c" (c fills 16 bits), "a.b" (b fills 24 bits) or "a" (32 bits);
 * each part decimal, 0x-hex or 0-octal. Text after a blank is ignored, as glibc does.
 * Returns the address as an unsigned 32-bit number, or null.
 */
export function inetAton(text: string): number | null {
  const parts: number[] = [];
  let i = 0;
  let c = text[i];
  for (;;) {
    if (!isDigit(c)) return null;
    let val = 0;
    let base = 10;
    let digit = false;
    if (c === "0") {
      c = text[++i];
      if (c === "x" || c === "X") {
        base = 16;
        c = text[++i];
      } else {
        base = 8;
        digit = true;
      }
    }
    for (;;) {
      if (isDigit(c)) {
        if (base === 8 && (c === "8" || c === "9")) return null;
        val = val * base + (c!.charCodeAt(0) - 48);
        c = text[++i];
        digit = true;
      } else if (base === 16 && hexValue(c) >= 0) {
        val = val * 16 + hexValue(c);
        c = text[++i];
        digit = true;
      } else break;
      if (val > 0xffffffff) return null;
    }
    if (!digit) return null;
    if (c === ".") {
      if (parts.length > 2 || val > 0xff) return null;
      parts.push(val);
      c = text[++i];
    } else {
      parts.push(val);
      break;
    }
  }
  if (c !== undefined && !SPACE.has(c)) return null;
  const n = parts.length;
  const last = parts[n - 1]!;
  const limits = [0xffffffff, 0xffffff, 0xffff, 0xff];
  if (last > limits[n - 1]!) return null;
  let v = last;
  for (let k = 0; k < n - 1; k++) v += parts[k]! * 2 ** (24 - 8 * k);
  return v >>> 0;
}

/** Dotted-quad text of an unsigned 32-bit IPv4 value (inet_ntoa). */
export function v4Text(v: number): string {
  return `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
}

/** Unsigned 32-bit value of a dotted quad (the daemon's canonical text); NaN when malformed. */
export function v4Value(text: string): number {
  let v = 0;
  let part = 0;
  let dots = 0;
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    if (ch === 46) {
      v = v * 256 + part;
      part = 0;
      dots++;
    } else part = part * 10 + (ch - 48);
  }
  return dots === 3 ? v * 256 + part : Number.NaN;
}
