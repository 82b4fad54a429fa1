import type { Family } from "./address.js";

/** IP protocol numbers used by IPVS. */
export const IPPROTO_IP = 0;
export const IPPROTO_ICMP = 1;
export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;
export const IPPROTO_ICMPV6 = 58;
export const IPPROTO_SCTP = 132;

/** TCP flag bits as in the TCP header's flags byte. */
export const TCP_FIN = 0x01;
export const TCP_SYN = 0x02;
export const TCP_RST = 0x04;
export const TCP_PSH = 0x08;
export const TCP_ACK = 0x10;

/**
 * What the core needs to know about one packet: a mutable, reusable record that the data plane
 * (or a test) fills before each call, so offering a packet allocates nothing. Addresses are four
 * unsigned 32-bit words in network word order (IPv4: word 0 only, the rest 0).
 */
export class FlowPacket {
  family: Family = 4;
  protocol = IPPROTO_TCP;
  readonly saddr = new Uint32Array(4);
  readonly daddr = new Uint32Array(4);
  sport = 0;
  dport = 0;
  /** TCP flags byte (TCP_SYN | TCP_ACK ...); 0 for other protocols. */
  tcpFlags = 0;
  /** SCTP: the first chunk's type, -1 when none (SCTP_CID_* in net/sctp.ts). */
  sctpChunk = -1;
  /** SCTP: the chunk type after a first COOKIE ECHO / COOKIE ACK (a bundled ABORT), -1 otherwise. */
  sctpNextChunk = -1;
  /** Length of the whole IP packet in bytes, as received (for byte counters). */
  length = 0;
  /** Firewall mark of the packet (0: none). */
  fwmark = 0;
  /**
   * The UDP payload, payload[payloadOff .. payloadOff+payloadLen), when the data plane hands it
   * over (a reference into its frame, not a copy); null when not given. Only a persistence
   * engine reads it (`--pe sip`: the Call-ID), and only when a new conn is scheduled.
   */
  payload: Uint8Array | null = null;
  payloadOff = 0;
  payloadLen = 0;

  /** Hand over a UDP payload (see `payload`); null to clear. */
  setPayload(payload: Uint8Array | null, off = 0, len = payload ? payload.length - off : 0): this {
    this.payload = payload;
    this.payloadOff = off;
    this.payloadLen = len;
    return this;
  }

  /** Convenience for tests and the control plane: fill from numbers. */
  setV4(protocol: number, saddr: number, sport: number, daddr: number, dport: number): this {
    this.family = 4;
    this.protocol = protocol;
    this.saddr.fill(0);
    this.daddr.fill(0);
    this.saddr[0] = saddr >>> 0;
    this.daddr[0] = daddr >>> 0;
    this.sport = sport;
    this.dport = dport;
    this.payload = null;
    return this;
  }
}
