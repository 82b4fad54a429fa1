import { get16, put16 } from "../net/bytes.js";
import { foldSum, pseudoSumV4, pseudoSumV6, transportChecksum, udpWireChecksum } from "../net/checksum.js";
import { FRAG_NONE, PROTO_TCP, PROTO_UDP } from "../net/ip.js";
import type { ParsedFrame } from "../net/parse.js";

/**
 * Finishes a partial TCP/UDP checksum before a rewrite.
 *
 * A sender with checksum offload (veth, virtio) hands over CHECKSUM_PARTIAL packets: the checksum field
 * holds only the folded pseudo-header sum and the NIC is meant to finish it. When such a frame reaches
 * tslvs through AF_XDP that never happens, and an incremental update of it would be wrong. The field of
 * a partial packet equals the folded pseudo-header sum exactly; when it does, the whole checksum is
 * computed here. A packet with a correct full checksum that happens to hold the same value gets the
 * same value back, so this never harms a valid packet.
 *
 * Returns true when the checksum was completed.
 */
export function completePartialChecksum(buf: Uint8Array, f: ParsedFrame): boolean {
  if (f.fragment !== FRAG_NONE) return false;
  const proto = f.protocol;
  let at: number;
  if (proto === PROTO_TCP) at = f.l4Off + 16;
  else if (proto === PROTO_UDP) at = f.l4Off + 6;
  else return false;
  const field = get16(buf, at);
  if (proto === PROTO_UDP && field === 0 && f.family === 4) return false;
  const v6 = f.family === 6;
  const pseudo = v6 ? pseudoSumV6(buf, f.l3Off, proto, f.l4Len) : pseudoSumV4(buf, f.l3Off, proto, f.l4Len);
  if (field !== foldSum(pseudo)) return false;
  const full = transportChecksum(buf, f.l3Off, v6, proto, f.l4Off, f.l4Len, at - f.l4Off);
  put16(buf, at, proto === PROTO_UDP ? udpWireChecksum(full) : full);
  return true;
}
