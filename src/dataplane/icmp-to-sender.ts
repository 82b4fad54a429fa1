import { get32, put16 } from "../net/bytes.js";
import { ETHERTYPE_IPV4, ETHERTYPE_IPV6, writeMac } from "../net/ethernet.js";
import { buildIcmpError, icmpErrorAllowed } from "../net/icmp.js";
import { buildIcmpv6Error, icmpv6ErrorAllowed } from "../net/icmpv6.js";
import { IPV4_SRC_OFF } from "../net/ipv4.js";
import type { ParsedFrame } from "../net/parse.js";
import type { NextHop } from "./next-hops.js";
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
  const hop = env.nextHops.get(get32(bytes, l3Off + IPV4_SRC_OFF));
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
  return sendBuilt(env, bytes, out, ipLen, hop, ETHERTYPE_IPV4);
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
  return sendBuilt(env, bytes, out, ipLen, hop, ETHERTYPE_IPV6);
}

/**
 * Frames the error built at out + 14 (`ipLen` bytes; 0 when none could be built) toward `hop` and
 * queues it; the frame goes back to the UMEM when it cannot be sent.
 */
function sendBuilt(
  env: XmitEnv,
  bytes: Uint8Array,
  out: number,
  ipLen: number,
  hop: NextHop,
  etherType: number,
): boolean {
  if (ipLen > 0) {
    writeMac(bytes, out, hop.dstMac);
    writeMac(bytes, out + 6, hop.srcMac);
    put16(bytes, out + 12, etherType);
    if (env.transmit(hop.ifindex, out, 14 + ipLen)) return true;
  }
  env.umem.free(out);
  return false;
}
