/** ARP for IPv4 over Ethernet (RFC 826): parse, and build requests / replies into a caller's buffer. */
import { get16, get32, put16, put32 } from "./bytes.js";
import {
  ETH_HEADER_LEN,
  ETHERTYPE_ARP,
  ETHERTYPE_IPV4,
  MAC_BROADCAST,
  readMac,
  writeEthernetHeader,
  writeMac,
} from "./ethernet.js";

export const ARP_LEN = 28;
/** Ethernet + ARP, before padding to the 60-byte minimum (the NIC or driver pads). */
export const ARP_FRAME_LEN = ETH_HEADER_LEN + ARP_LEN;
export const ARP_OP_REQUEST = 1;
export const ARP_OP_REPLY = 2;
const HTYPE_ETHERNET = 1;

/** A parsed ARP message; reuse one instance. MACs are 48-bit numbers, addresses u32. */
export class ArpMessage {
  op = 0;
  senderMac = 0;
  senderIp = 0;
  targetMac = 0;
  targetIp = 0;
}

/**
 * Parses the ARP message at `off` (after the Ethernet header) with `avail` bytes behind it. Only
 * Ethernet/IPv4 requests and replies are accepted; false for anything else or a short message.
 */
export function parseArp(buf: Uint8Array, off: number, avail: number, out: ArpMessage): boolean {
  if (avail < ARP_LEN || off < 0 || off + ARP_LEN > buf.length) return false;
  if (get16(buf, off) !== HTYPE_ETHERNET || get16(buf, off + 2) !== ETHERTYPE_IPV4) return false;
  if (buf[off + 4] !== 6 || buf[off + 5] !== 4) return false;
  const op = get16(buf, off + 6);
  if (op !== ARP_OP_REQUEST && op !== ARP_OP_REPLY) return false;
  out.op = op;
  out.senderMac = readMac(buf, off + 8);
  out.senderIp = get32(buf, off + 14);
  out.targetMac = readMac(buf, off + 18);
  out.targetIp = get32(buf, off + 24);
  return true;
}

/** Writes a 28-byte ARP body at `off`; returns the offset after it. */
export function writeArp(
  buf: Uint8Array,
  off: number,
  op: number,
  senderMac: number,
  senderIp: number,
  targetMac: number,
  targetIp: number,
): number {
  put16(buf, off, HTYPE_ETHERNET);
  put16(buf, off + 2, ETHERTYPE_IPV4);
  buf[off + 4] = 6;
  buf[off + 5] = 4;
  put16(buf, off + 6, op);
  writeMac(buf, off + 8, senderMac);
  put32(buf, off + 14, senderIp);
  writeMac(buf, off + 18, targetMac);
  put32(buf, off + 24, targetIp);
  return off + ARP_LEN;
}

/**
 * A broadcast "who has targetIp, tell senderIp" frame at `off`; returns its length (42).
 * With targetIp === senderIp it is a gratuitous ARP announcing the sender's address.
 */
export function buildArpRequest(
  buf: Uint8Array,
  off: number,
  senderMac: number,
  senderIp: number,
  targetIp: number,
): number {
  writeEthernetHeader(buf, off, MAC_BROADCAST, senderMac, ETHERTYPE_ARP);
  writeArp(buf, off + ETH_HEADER_LEN, ARP_OP_REQUEST, senderMac, senderIp, 0, targetIp);
  return ARP_FRAME_LEN;
}

/** A unicast "senderIp is at senderMac" reply to the asker; returns its length (42). */
export function buildArpReply(
  buf: Uint8Array,
  off: number,
  senderMac: number,
  senderIp: number,
  targetMac: number,
  targetIp: number,
): number {
  writeEthernetHeader(buf, off, targetMac, senderMac, ETHERTYPE_ARP);
  writeArp(buf, off + ETH_HEADER_LEN, ARP_OP_REPLY, senderMac, senderIp, targetMac, targetIp);
  return ARP_FRAME_LEN;
}
