/**
 * The kernel's neighbour table over rtnetlink: a dump of it (RTM_GETNEIGH), and a request that the
 * kernel resolve an address (RTM_NEWNEIGH with NTF_USE, what `ip neigh replace ADDR dev DEV use`
 * sends: the kernel sends the ARP request or neighbour solicitation, and the answer lands in its
 * table and comes as a notification).
 */
import { IpAddr } from "../core/address.js";
import {
  forEachAttr,
  NLM_F_CREATE,
  NLM_F_REPLACE,
  NlMessageBuilder,
  type RtnetlinkClient,
} from "./rtnetlink-client.js";

const AF_UNSPEC = 0;
const AF_INET = 2;
const AF_INET6 = 10;
const RTM_NEWNEIGH = 28;
const RTM_GETNEIGH = 30;
const NDA_DST = 1;
const NDA_LLADDR = 2;
const NTF_USE = 0x01;
const NUD_INCOMPLETE = 0x01;
const NUD_FAILED = 0x20;
/** sizeof(struct ndmsg) */
const NDMSG_LEN = 12;

/** One usable neighbour: an address on an interface and its link-layer address. */
export interface NeighbourEntry {
  ifindex: number;
  addr: IpAddr;
  mac: Uint8Array;
}

/** Every neighbour the kernel has a link-layer address for (not INCOMPLETE, not FAILED). */
export function dumpNeighbours(nl: RtnetlinkClient): NeighbourEntry[] {
  const out: NeighbourEntry[] = [];
  const header = new NlMessageBuilder().u8(AF_UNSPEC).u8(0).u16(0).u32(0).u16(0).u8(0).u8(0).build();
  nl.dump(RTM_GETNEIGH, header, (type, b, v, body, end) => {
    if (type !== RTM_NEWNEIGH || body + NDMSG_LEN > end) return;
    const family = b[body]!;
    const ifindex = v.getInt32(body + 4, true);
    if (v.getUint16(body + 8, true) & (NUD_INCOMPLETE | NUD_FAILED)) return;
    let addr: IpAddr | null = null;
    let mac: Uint8Array | null = null;
    forEachAttr(v, body + NDMSG_LEN, end, (t, at, len) => {
      if (t === NDA_DST && family === AF_INET && len === 4) addr = IpAddr.v4(v.getUint32(at));
      else if (t === NDA_DST && family === AF_INET6 && len === 16)
        addr = IpAddr.fromWords(6, [
          v.getUint32(at),
          v.getUint32(at + 4),
          v.getUint32(at + 8),
          v.getUint32(at + 12),
        ]);
      else if (t === NDA_LLADDR && len === 6) mac = b.slice(at, at + 6);
    });
    if (addr && mac) out.push({ ifindex, addr, mac });
  });
  return out;
}

/**
 * Asks the kernel to resolve `addr` on interface `ifindex` now. Throws with the kernel's errno (an
 * interface that vanished: ENODEV).
 */
export function solicitNeighbour(nl: RtnetlinkClient, ifindex: number, addr: IpAddr): void {
  const dst = addr.family === 4 ? be32(addr.v4Value) : Array.from(addr.words).flatMap((w) => be32(w));
  const body = new NlMessageBuilder()
    .u8(addr.family === 4 ? AF_INET : AF_INET6)
    .u8(0)
    .u16(0)
    .u32(ifindex)
    .u16(0) // ndm_state: the kernel ignores it with NTF_USE
    .u8(NTF_USE)
    .u8(0)
    .attr(NDA_DST, dst)
    .build();
  nl.request(RTM_NEWNEIGH, NLM_F_CREATE | NLM_F_REPLACE, body);
}

function be32(v: number): number[] {
  return [(v >>> 24) & 0xff, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff];
}
