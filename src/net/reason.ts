/**
 * Why a frame could not be handled. 0 means the frame was parsed completely; PARSE_NOT_IP is not an
 * error (ARP and other EtherTypes); every other code names the first malformation found. The data
 * plane counts drops by these codes, so they are stable numbers.
 */
export const PARSE_OK = 0;
export const PARSE_NOT_IP = 1;
export const PARSE_ETH_TRUNCATED = 2;
export const PARSE_VLAN_TRUNCATED = 3;
export const PARSE_IP_TRUNCATED = 4;
export const PARSE_IP_BAD_VERSION = 5;
export const PARSE_IP_BAD_IHL = 6;
export const PARSE_IP_BAD_TOTAL_LENGTH = 7;
export const PARSE_IP_BAD_CHECKSUM = 8;
export const PARSE_IP_BAD_FRAGMENT = 9;
export const PARSE_IP6_BAD_PAYLOAD_LENGTH = 10;
export const PARSE_IP6_BAD_EXTENSION = 11;
export const PARSE_L4_TRUNCATED = 12;
export const PARSE_TCP_BAD_DATA_OFFSET = 13;
export const PARSE_UDP_BAD_LENGTH = 14;
export const PARSE_ICMP_TRUNCATED = 15;

const NAMES = [
  "ok",
  "not-ip",
  "eth-truncated",
  "vlan-truncated",
  "ip-truncated",
  "ip-bad-version",
  "ip-bad-ihl",
  "ip-bad-total-length",
  "ip-bad-checksum",
  "ip-bad-fragment",
  "ip6-bad-payload-length",
  "ip6-bad-extension",
  "l4-truncated",
  "tcp-bad-data-offset",
  "udp-bad-length",
  "icmp-truncated",
] as const;

/** Number of distinct reason codes (for sizing counter arrays). */
export const PARSE_REASON_COUNT = NAMES.length;

export function parseReasonName(code: number): string {
  return NAMES[code] ?? `unknown-${code}`;
}
