import { writeMac } from "../net/ethernet.js";
import { buildIcmpError, icmpErrorAllowed } from "../net/icmp.js";
import { buildIcmpv6Error, icmpv6ErrorAllowed } from "../net/icmpv6.js";
import type { ParsedFrame } from "../net/parse.js";
import type { XmitEnv } from "./xmit-env.js";

/**
 * Sends an ICMPv4 error about the packet in frame `f` back to its sender, from `src`, in a fresh UMEM
 * frame routed like any packet toward the sender (the kernel's icmp_send). The offending frame is left
 * untouched. Returns true when the error was queued; false when it may not be sent (RFC 1812: not about
 * an error, a later fragment or a non-unicast source), no frame is free, or the sender has no next hop
 * yet.
 */
export function sendIcmpToSender(
  env: XmitEnv,
  bytes: Uint8Array,
  f: ParsedFrame,
  type: number,
  code: number,
  rest: number,
  src: number,
): boolean {
  if (f.family !== 4) return false;
  return sendIcmpAbout(env, bytes, f.l3Off, f.ipLen, type, code, rest, src);
}

/**
 * The same for an IPv4 packet at bytes[l3Off..l3Off+len) that is not a received frame — e.g. the
 * client's packet quoted inside an ICMP error a router sent about a tunnel packet (`len` is then
 * what the quote holds). The error goes to the packet's source address.
 */
export function sendIcmpAbout(
  env: XmitEnv,
  bytes: Uint8Array,
  l3Off: number,
  len: number,
  type: number,
  code: number,
  rest: number,
  src: number,
): boolean {
  if (len < 20 || l3Off + len > bytes.length || !icmpErrorAllowed(bytes, l3Off, len)) return false;
  const dst =
    ((bytes[l3Off + 12]! << 24) |
      (bytes[l3Off + 13]! << 16) |
      (bytes[l3Off + 14]! << 8) |
      bytes[l3Off + 15]!) >>>
    0;
  const hop = env.nextHops.get(dst);
  if (!hop) return false;
  const out = env.umem.alloc();
  if (out < 0) return false;
  const ipLen = buildIcmpError(
    bytes,
    out + 14,
    env.umem.frameSize - 14,
    bytes,
    l3Off,
    len,
    type,
    code,
    rest,
    src,
    env.nextIpId(),
  );
  if (ipLen > 0) {
    writeMac(bytes, out, hop.dstMac);
    writeMac(bytes, out + 6, hop.srcMac);
    bytes[out + 12] = 0x08;
    bytes[out + 13] = 0x00;
    if (env.transmit(hop.ifindex, out, 14 + ipLen)) return true;
  }
  env.umem.free(out);
  return false;
}

/** Scratch for the ICMPv6 builder (the sender's address words); the packet path is single-threaded. */
const scratch6 = new Uint32Array(4);

/**
 * Sends an ICMPv6 error about the IPv6 packet in frame `f` back to its sender, from the address words
 * src[srcAt..srcAt+4), in a fresh UMEM frame routed toward the sender (the kernel's icmpv6_send). The
 * offending frame is left untouched. Returns true when the error was queued; false when it may not be
 * sent (RFC 4443 §2.4(e): about an ICMPv6 error, to an unspecified or multicast source), no frame is
 * free, or the sender has no next hop yet.
 */
export function sendIcmpv6ToSender(
  env: XmitEnv,
  bytes: Uint8Array,
  f: ParsedFrame,
  type: number,
  code: number,
  rest: number,
  src: Uint32Array,
  srcAt: number,
): boolean {
  const end = f.l3Off + f.ipLen;
  if (f.family !== 6 || !icmpv6ErrorAllowed(bytes, f.l3Off, f.protocol, f.l4Off, end, type)) return false;
  const hop = env.nextHops.get6(f.saddr, 0);
  if (!hop) return false;
  const out = env.umem.alloc();
  if (out < 0) return false;
  const ipLen = buildIcmpv6Error(
    bytes,
    out + 14,
    env.umem.frameSize - 14,
    bytes,
    f.l3Off,
    f.ipLen,
    type,
    code,
    rest,
    src,
    srcAt,
    scratch6,
  );
  if (ipLen > 0) {
    writeMac(bytes, out, hop.dstMac);
    writeMac(bytes, out + 6, hop.srcMac);
    bytes[out + 12] = 0x86;
    bytes[out + 13] = 0xdd;
    if (env.transmit(hop.ifindex, out, 14 + ipLen)) return true;
  }
  env.umem.free(out);
  return false;
}
