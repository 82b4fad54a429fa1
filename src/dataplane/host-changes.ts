/**
 * What an rtnetlink notification says changed on the host, as a bit set of kinds. Only the netlink
 * header's message type is read (plus a neighbour's address and link-layer address, see
 * NeighbourLladdrs); the engine re-reads the tables it needs itself. Buffers that are not well-formed
 * netlink (truncated, garbage) never throw: they count as "everything may have changed".
 */
import type { NeighbourLladdrs } from "./neighbour-lladdrs.js";

export const HostChange = {
  NONE: 0,
  LINK: 1,
  ADDR: 2,
  ROUTE: 4,
  NEIGH: 8,
  /** Messages were lost or unreadable: any table may have changed. */
  ALL: 15,
} as const;

/** Names of the kinds set in `kinds` ("link", "route", ...), for logs. */
export function hostChangeNames(kinds: number): string[] {
  const names: string[] = [];
  if (kinds & HostChange.LINK) names.push("link");
  if (kinds & HostChange.ADDR) names.push("addr");
  if (kinds & HostChange.ROUTE) names.push("route");
  if (kinds & HostChange.NEIGH) names.push("neigh");
  return names;
}

const NLMSG_HDRLEN = 16;
const NLMSG_ERROR = 2;
const NLMSG_OVERRUN = 4;
const RTM_NEWLINK = 16;
const RTM_DELLINK = 17;
const RTM_NEWADDR = 20;
const RTM_DELADDR = 21;
const RTM_NEWROUTE = 24;
const RTM_DELROUTE = 25;
const RTM_NEWNEIGH = 28;
const RTM_DELNEIGH = 29;

/** sizeof(struct ndmsg) */
const NDMSG_LEN = 12;
const NDA_DST = 1;
const NDA_LLADDR = 2;
/** Neighbour states in which the entry has no usable link-layer address. */
const NUD_INCOMPLETE = 0x01;
const NUD_FAILED = 0x20;

const align4 = (n: number): number => (n + 3) & ~3;

/**
 * Reads the netlink messages in bytes[0, len) and returns the kinds of change they report.
 * `neighbours` remembers each neighbour's link-layer address, so that the frequent notifications of a
 * neighbour's reachability state (REACHABLE, STALE, DELAY, PROBE) with an unchanged address report
 * nothing.
 */
export function readHostChanges(bytes: Uint8Array, len: number, neighbours: NeighbourLladdrs): number {
  const end = Math.min(len, bytes.length);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let kinds = 0;
  let off = 0;
  while (off < end) {
    if (end - off < NLMSG_HDRLEN) return kinds | HostChange.ALL;
    const msgLen = view.getUint32(off, true);
    const type = view.getUint16(off + 4, true);
    if (msgLen < NLMSG_HDRLEN || msgLen > end - off) return kinds | HostChange.ALL;
    switch (type) {
      case RTM_NEWLINK:
      case RTM_DELLINK:
        kinds |= HostChange.LINK;
        break;
      case RTM_NEWADDR:
      case RTM_DELADDR:
        kinds |= HostChange.ADDR;
        break;
      case RTM_NEWROUTE:
      case RTM_DELROUTE:
        kinds |= HostChange.ROUTE;
        break;
      case RTM_NEWNEIGH:
      case RTM_DELNEIGH:
        if (neighbourChanged(view, off + NLMSG_HDRLEN, off + msgLen, type === RTM_DELNEIGH, neighbours))
          kinds |= HostChange.NEIGH;
        break;
      case NLMSG_OVERRUN:
        kinds |= HostChange.ALL;
        break;
      case NLMSG_ERROR:
        // Not expected on a socket that only listens; if one comes, nothing is known to have changed.
        break;
      default:
        break;
    }
    off += align4(msgLen);
  }
  return kinds;
}

/** Whether a neighbour message changes the usable link-layer address known for its entry. */
function neighbourChanged(
  view: DataView,
  start: number,
  end: number,
  deleted: boolean,
  neighbours: NeighbourLladdrs,
): boolean {
  if (end - start < NDMSG_LEN) return true; // unreadable: assume it matters
  const family = view.getUint8(start);
  const ifindex = view.getInt32(start + 4, true);
  const state = view.getUint16(start + 8, true);
  let dst: string | null = null;
  let lladdr: string | null = null;
  let at = start + NDMSG_LEN;
  while (end - at >= 4) {
    const rtaLen = view.getUint16(at, true);
    const rtaType = view.getUint16(at + 2, true) & 0x3fff; // without NLA_F_NESTED / NLA_F_NET_BYTEORDER
    if (rtaLen < 4 || rtaLen > end - at) return true;
    if (rtaType === NDA_DST) dst = hexOf(view, at + 4, rtaLen - 4);
    else if (rtaType === NDA_LLADDR) lladdr = hexOf(view, at + 4, rtaLen - 4);
    at += align4(rtaLen);
  }
  if (dst === null) return true;
  const usable = (state & (NUD_INCOMPLETE | NUD_FAILED)) === 0 ? lladdr : null;
  return neighbours.update(`${family}|${ifindex}|${dst}`, usable, deleted);
}

function hexOf(view: DataView, at: number, len: number): string {
  let s = "";
  for (let i = 0; i < len; i++)
    s += view
      .getUint8(at + i)
      .toString(16)
      .padStart(2, "0");
  return s;
}
