/**
 * IPv4 fragmentation of a packet the director built itself (the outer header of an LVS-TUN packet
 * whose client did not set DF), as the kernel's ip_fragment does on output: every fragment carries
 * a copy of the header (no options here) with the same identification, a payload that is a
 * multiple of 8 bytes except in the last, the offset in 8-byte units, MF on all but the last, and
 * its own header checksum.
 */
import { get16, put16 } from "./bytes.js";
import {
  IPV4_FLAG_MF,
  IPV4_FRAG_OFF,
  IPV4_FRAG_OFFSET_MASK,
  IPV4_TOTAL_LEN_OFF,
  ipv4HeaderLen,
  ipv4SetChecksum,
} from "./ipv4.js";

/** Payload bytes per fragment for an MTU and header length (a multiple of 8); 0 when none fit. */
export function fragmentPayloadSize(mtu: number, headerLen: number): number {
  return Math.max(0, ((mtu - headerLen) >> 3) << 3);
}

/** How many fragments a packet of `totalLen` bytes needs under `mtu`; 0 when it cannot be split. */
export function fragmentCount(totalLen: number, headerLen: number, mtu: number): number {
  const chunk = fragmentPayloadSize(mtu, headerLen);
  if (chunk === 0) return 0;
  return Math.ceil((totalLen - headerLen) / chunk);
}

/**
 * Writes fragment `index` of the packet at buf[ipOff..ipOff+totalLen) to out[outOff..]: header copy
 * and that slice of the payload. Returns the fragment's length. Fragment 0 may be written over the
 * packet itself (outOff === ipOff, same buffer): only its header changes — write it last, since the
 * others read the original header and payload. Fragments are written at
 * the packet's own offset, so a packet that is itself a fragment keeps its place (and MF).
 */
export function writeFragment(
  buf: Uint8Array,
  ipOff: number,
  totalLen: number,
  mtu: number,
  index: number,
  out: Uint8Array,
  outOff: number,
): number {
  const hl = ipv4HeaderLen(buf, ipOff);
  const chunk = fragmentPayloadSize(mtu, hl);
  const payload = totalLen - hl;
  const start = index * chunk;
  const len = Math.min(chunk, payload - start);
  if (chunk === 0 || len <= 0)
    throw new RangeError(`no fragment ${index} of ${totalLen} bytes at MTU ${mtu}`);
  const field = get16(buf, ipOff + IPV4_FRAG_OFF);
  const baseOffset = (field & IPV4_FRAG_OFFSET_MASK) * 8;
  const last = start + len >= payload;
  const flags =
    (field & ~(IPV4_FRAG_OFFSET_MASK | IPV4_FLAG_MF)) | (last ? field & IPV4_FLAG_MF : IPV4_FLAG_MF);
  if (out === buf) {
    // The usual case (one UMEM): copy within the buffer, no view object per fragment.
    if (outOff !== ipOff) {
      buf.copyWithin(outOff, ipOff, ipOff + hl);
      buf.copyWithin(outOff + hl, ipOff + hl + start, ipOff + hl + start + len);
    }
  } else {
    out.set(buf.subarray(ipOff, ipOff + hl), outOff);
    out.set(buf.subarray(ipOff + hl + start, ipOff + hl + start + len), outOff + hl);
  }
  put16(out, outOff + IPV4_TOTAL_LEN_OFF, hl + len);
  put16(out, outOff + IPV4_FRAG_OFF, flags | ((baseOffset + start) >> 3));
  ipv4SetChecksum(out, outOff);
  return hl + len;
}
