/** IP-level numbers shared by the IPv4 and IPv6 code. */

export const PROTO_HOPOPTS = 0;
export const PROTO_ICMP = 1;
export const PROTO_IPIP = 4;
export const PROTO_TCP = 6;
export const PROTO_UDP = 17;
export const PROTO_IPV6 = 41;
export const PROTO_ROUTING = 43;
export const PROTO_FRAGMENT = 44;
export const PROTO_GRE = 47;
export const PROTO_ESP = 50;
export const PROTO_AH = 51;
export const PROTO_ICMPV6 = 58;
export const PROTO_SCTP = 132;
export const PROTO_NONE = 59;
export const PROTO_DSTOPTS = 60;

/** Fragment status of a packet. Only a first fragment (or an unfragmented packet) carries the L4 header. */
export const FRAG_NONE = 0;
export const FRAG_FIRST = 1;
export const FRAG_LATER = 2;
export type FragStatus = typeof FRAG_NONE | typeof FRAG_FIRST | typeof FRAG_LATER;

/** Minimum MTUs: a path MTU below these is not accepted (RFC 791 / RFC 8200). */
export const IPV4_MIN_MTU = 68;
export const IPV6_MIN_MTU = 1280;
