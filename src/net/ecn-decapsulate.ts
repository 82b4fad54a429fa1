/**
 * ECN at a tunnel's exit (RFC 6040, as the kernel's `INET_ECN_decapsulate`): congestion marked on
 * the outer header (CE) is carried into the inner packet, and a CE outer around a packet that does
 * not speak ECN (Not-ECT inner) is dropped — the mark cannot be passed on, and losing it would hide
 * the congestion. Everything else leaves the inner packet as it is.
 */
import { get16, put16 } from "./bytes.js";
import { updateChecksum16 } from "./checksum.js";

const ECN_NOT_ECT = 0;
const ECN_CE = 3;

/** Result of ecnDecapsulate: deliver the inner packet (maybe re-marked), or drop the packet. */
export const ECN_DELIVER = 0;
export const ECN_DROP = 1;

/** The ECN field of the IPv4 or IPv6 header at `off`. */
export function ecnOf(b: Uint8Array, off: number, v4: boolean): number {
  return v4 ? b[off + 1]! & 3 : (b[off + 1]! >>> 4) & 3;
}

/**
 * Applies the outer header's ECN (at `outerOff`) to the inner header (at `innerOff`), in place;
 * an inner IPv4 header's checksum is updated. Returns ECN_DELIVER or ECN_DROP.
 */
export function ecnDecapsulate(
  b: Uint8Array,
  outerOff: number,
  outerV4: boolean,
  innerOff: number,
  innerV4: boolean,
): number {
  if (ecnOf(b, outerOff, outerV4) !== ECN_CE) return ECN_DELIVER;
  const inner = ecnOf(b, innerOff, innerV4);
  if (inner === ECN_NOT_ECT) return ECN_DROP;
  if (inner === ECN_CE) return ECN_DELIVER;
  if (innerV4) {
    const before = get16(b, innerOff);
    b[innerOff + 1] = b[innerOff + 1]! | ECN_CE;
    put16(b, innerOff + 10, updateChecksum16(get16(b, innerOff + 10), before, get16(b, innerOff)));
  } else {
    b[innerOff + 1] = b[innerOff + 1]! | (ECN_CE << 4);
  }
  return ECN_DELIVER;
}
