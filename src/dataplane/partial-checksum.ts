import { get16, put16 } from "../net/bytes.js";
import { foldSum, pseudoSumV4, pseudoSumV6, transportChecksum, udpWireChecksum } from "../net/checksum.js";
import { FRAG_NONE, PROTO_SCTP, PROTO_TCP, PROTO_UDP } from "../net/ip.js";
import type { ParsedFrame } from "../net/parse.js";
import { sctpChecksumField, writeSctpChecksum } from "../net/sctp.js";

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
 * SCTP's CRC32c offload (NETIF_F_SCTP_CRC, veth among others) leaves the checksum field 0 for the
 * device to fill; a 0 field is taken as such and the CRC computed here (a real CRC of 0 gets its own
 * value back).
 *
 * Returns true when the checksum was completed.
 */
export function completePartialChecksum(buf: Uint8Array, f: ParsedFrame): boolean {
  if (f.fragment !== FRAG_NONE) return false;
  const proto = f.protocol;
  if (proto === PROTO_SCTP) {
    if (f.l4Len < 12 || sctpChecksumField(buf, f.l4Off) !== 0) return false;
    writeSctpChecksum(buf, f.l4Off, f.l4Len);
    return true;
  }
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
