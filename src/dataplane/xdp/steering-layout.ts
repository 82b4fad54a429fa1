/**
 * Byte layouts of the steering maps, shared by the XDP program that reads them
 * (steering-program.ts) and the TypeScript that fills them (steering-maps.ts). Multi-byte fields
 * marked "network order" hold the bytes exactly as they appear in the packet, so the program
 * copies them from the packet into a key without conversion.
 */

/**
 * Key of the `services` and `replies` hash maps (8 bytes):
 *
 *   offset 0  u32 address   network order (services: destination = VIP; replies: source = RIP)
 *   offset 4  u16 port      network order (services: VIP port; replies: RS port)
 *   offset 6  u8  protocol  IPPROTO_TCP / UDP / SCTP
 *   offset 7  u8  zero
 *
 * Three key forms are used in both maps:
 *   (proto, addr, port)  a virtual service (services) / a real server's port (replies);
 *   (proto, addr, 0)     services only: a port-0 ("any port") service of that protocol;
 *   (0, addr, 0)         "this address is a VIP" (services) / "this is a real server" (replies):
 *                        IPv4 fragments to / from it are steered, since only the first fragment
 *                        carries the ports.
 */
export const STEER_KEY_SIZE = 8;
export const STEER_KEY_ADDR = 0;
export const STEER_KEY_PORT = 4;
export const STEER_KEY_PROTO = 6;

/**
 * Key of the IPv6 twins `services6` and `replies6` (20 bytes), with the same three forms:
 *
 *   offset 0   16 bytes address, network order
 *   offset 16  u16 port, network order
 *   offset 18  u8 protocol
 *   offset 19  u8 zero
 */
export const STEER_KEY6_SIZE = 20;
export const STEER_KEY6_PORT = 16;
export const STEER_KEY6_PROTO = 18;

/**
 * Key of the `marks` hash map (8 bytes): the firewall marks of the firewall-mark services, by family.
 * The program steers a TCP/UDP/SCTP packet whose mark (computed from the host's nftables rules,
 * mark-program.ts) is there with the packet's family.
 *
 *   offset 0  u32 mark    host (little-endian) order
 *   offset 4  u32 family  4 or 6
 */
export const MARK_KEY_SIZE = 8;
export const MARK_KEY_MARK = 0;
export const MARK_KEY_FAMILY = 4;

/** Value of the services and replies maps (4 bytes): an id for the control plane, unused by the program. */
export const STEER_VALUE_SIZE = 4;

/**
 * `local_ports` hash map: the director's local addresses used as FULLNAT source (LIP), with the
 * port range the director allocates on them. A TCP/UDP/SCTP packet to LIP with a destination port
 * in [min, max] is steered; other traffic to that address (ssh to the director) passes.
 *
 * Every other address of the host is there too, with an empty range (min 1, max 0: no port is in
 * it, so it steers nothing by itself). A reply from a real server (a `replies` hit) to a host
 * address on a port outside the range answers one of the host's own sockets — a health checker —
 * and passes: NAT replies go to clients and FULLNAT replies to a LIP port in the range, never there.
 *
 *   key   (4 bytes)  u32 address, network order
 *   value (4 bytes)  offset 0 u16 min port, offset 2 u16 max port — host (little-endian) order
 */
export const LOCAL_KEY_SIZE = 4;
/** `local_ports6`: the same for IPv6 local addresses (16-byte key, same value). */
export const LOCAL6_KEY_SIZE = 16;
export const LOCAL_VALUE_SIZE = 4;
export const LOCAL_VALUE_MIN = 0;
export const LOCAL_VALUE_MAX = 2;
/** The range of a host address that is not a LIP: empty (min > max). */
export const HOST_ONLY_MIN = 1;
export const HOST_ONLY_MAX = 0;

/**
 * `if_macs` hash map: the MAC address of each interface the program is attached to. A frame is
 * steered only when its destination MAC equals the MAC registered for its ingress interface.
 *
 *   key   (4 bytes)  u32 ifindex, host order
 *   value (8 bytes)  the 6 MAC bytes, then 2 zero bytes
 */
export const IFMAC_KEY_SIZE = 4;
export const IFMAC_VALUE_SIZE = 8;

/** Per-CPU u64 counters, indexed by these ids. */
export const SteerCounter = {
  /** TCP/UDP/SCTP to a (VIP, port) service. */
  SERVICE: 0,
  /** TCP/UDP/SCTP to a port-0 service of the VIP. */
  SERVICE_ANY_PORT: 1,
  /** From a real server's (RIP, port): NAT / FULLNAT replies. */
  REPLY: 2,
  /** To a LIP port in the director's FULLNAT range. */
  LOCAL_PORT: 3,
  /** An IPv4 fragment (or IPv6 packet with a fragment header) to a VIP, from a real server, or to a LIP. */
  FRAGMENT: 4,
  /** An ICMP error (types 3, 11, 12; ICMPv6 1-4) whose quoted packet belongs to one of the above. */
  ICMP_ERROR: 5,
  /** Passed: neither IPv4 nor IPv6 (ARP, LLDP, ...). */
  PASS_NOT_IP: 6,
  /** Passed: IP that matched no entry. */
  PASS_NO_MATCH: 7,
  /** Passed: too short for its headers or a bad IP header (the host's stack will count it). */
  PASS_MALFORMED: 8,
  /**
   * Passed: would have been steered, but its destination MAC is not the receiving interface's own
   * (or the interface's MAC is not registered in `if_macs`); the host drops it as PACKET_OTHERHOST.
   */
  PASS_OTHER_HOST: 9,
  /**
   * Passed: from a real server's (RIP, port) to a host address, on a port outside the FULLNAT range
   * (or an ICMP error about such a packet the host sent): a reply to the director's own socket, such
   * as a health checker's; also a fragment from a real server to a host address that is no LIP.
   */
  PASS_TO_HOST: 10,
  /** TCP/UDP/SCTP that the host's nftables rules mark with a firewall-mark service's mark. */
  FWMARK: 11,
} as const;
export const STEER_COUNTERS = 12;
export const STEER_COUNTER_NAMES = Object.keys(SteerCounter) as (keyof typeof SteerCounter)[];

/** Writes a services/replies key for an IPv4 address given as an unsigned 32-bit number. */
export function encodeSteerKey(out: Uint8Array, protocol: number, addrV4: number, port: number): Uint8Array {
  if (out.length < STEER_KEY_SIZE) throw new RangeError("steering key buffer too small");
  checkU8(protocol, "protocol");
  checkU16(port, "port");
  out[0] = addrV4 >>> 24;
  out[1] = (addrV4 >>> 16) & 0xff;
  out[2] = (addrV4 >>> 8) & 0xff;
  out[3] = addrV4 & 0xff;
  out[4] = port >>> 8;
  out[5] = port & 0xff;
  out[6] = protocol;
  out[7] = 0;
  return out;
}

/** Writes a services6/replies6 key for an IPv6 address given as four network-order u32 words. */
export function encodeSteerKey6(
  out: Uint8Array,
  protocol: number,
  words: ArrayLike<number>,
  port: number,
): Uint8Array {
  if (out.length < STEER_KEY6_SIZE) throw new RangeError("steering key buffer too small");
  checkU8(protocol, "protocol");
  checkU16(port, "port");
  writeWords(out, words);
  out[16] = port >>> 8;
  out[17] = port & 0xff;
  out[18] = protocol;
  out[19] = 0;
  return out;
}

export function encodeLocalKey6(out: Uint8Array, words: ArrayLike<number>): Uint8Array {
  writeWords(out, words);
  return out;
}

function writeWords(out: Uint8Array, words: ArrayLike<number>): void {
  for (let w = 0; w < 4; w++) {
    const v = words[w]! >>> 0;
    out[4 * w] = v >>> 24;
    out[4 * w + 1] = (v >>> 16) & 0xff;
    out[4 * w + 2] = (v >>> 8) & 0xff;
    out[4 * w + 3] = v & 0xff;
  }
}

export function encodeLocalKey(out: Uint8Array, addrV4: number): Uint8Array {
  out[0] = addrV4 >>> 24;
  out[1] = (addrV4 >>> 16) & 0xff;
  out[2] = (addrV4 >>> 8) & 0xff;
  out[3] = addrV4 & 0xff;
  return out;
}

export function encodeLocalValue(out: Uint8Array, minPort: number, maxPort: number): Uint8Array {
  checkU16(minPort, "min port");
  checkU16(maxPort, "max port");
  if (minPort > maxPort) throw new RangeError(`local port range ${minPort}-${maxPort} is empty`);
  const v = new DataView(out.buffer, out.byteOffset, out.byteLength);
  v.setUint16(LOCAL_VALUE_MIN, minPort, true);
  v.setUint16(LOCAL_VALUE_MAX, maxPort, true);
  return out;
}

/** The value of a host address that is no LIP: an empty range, so no port is steered by it. */
export function encodeHostOnlyValue(out: Uint8Array): Uint8Array {
  const v = new DataView(out.buffer, out.byteOffset, out.byteLength);
  v.setUint16(LOCAL_VALUE_MIN, HOST_ONLY_MIN, true);
  v.setUint16(LOCAL_VALUE_MAX, HOST_ONLY_MAX, true);
  return out;
}

function checkU8(n: number, what: string): void {
  if (!Number.isInteger(n) || n < 0 || n > 0xff) throw new RangeError(`bad ${what} ${n}`);
}
function checkU16(n: number, what: string): void {
  if (!Number.isInteger(n) || n < 0 || n > 0xffff) throw new RangeError(`bad ${what} ${n}`);
}
