/**
 * Links made, brought up and removed over rtnetlink (RTM_NEWLINK / RTM_DELLINK), as `ip link add
 * ... type veth peer ...`, `ip link set ... up` and `ip link del` do, without a process: the tc mode
 * makes a slow-path veth whenever an interface appears, on the packet thread. Layouts:
 * <linux/if_link.h>, <linux/veth.h>.
 */
import { NLM_F_CREATE, NLM_F_EXCL, NlMessageBuilder, type RtnetlinkClient } from "./rtnetlink-client.js";

const AF_UNSPEC = 0;
const RTM_NEWLINK = 16;
const RTM_DELLINK = 17;
const IFLA_IFNAME = 3;
const IFLA_MTU = 4;
const IFLA_LINKINFO = 18;
const IFLA_GSO_MAX_SEGS = 40;
const IFLA_INFO_KIND = 1;
const IFLA_INFO_DATA = 2;
const VETH_INFO_PEER = 1;
const IFF_UP = 0x1;

/** struct ifinfomsg for interface `index` (0: a new one), with `flags` changed under `change`. */
function ifinfomsg<T extends NlMessageBuilder>(b: T, index = 0, flags = 0, change = 0): T {
  return b.u8(AF_UNSPEC).u8(0).u16(0).u32(index).u32(flags).u32(change);
}

export interface VethEnd {
  name: string;
  mtu: number;
  /** The most segments a GSO packet may carry through it (1: every aggregate is segmented). */
  gsoMaxSegs?: number;
}

/** Creates a veth pair `a` / `b` (both down). Throws the kernel's errno (EEXIST, ...). */
export function createVethPair(nl: RtnetlinkClient, a: VethEnd, b: VethEnd): void {
  const end = (m: NlMessageBuilder, e: VethEnd) => {
    m.attrString(IFLA_IFNAME, e.name).attrU32(IFLA_MTU, e.mtu);
    if (e.gsoMaxSegs !== undefined) m.attrU32(IFLA_GSO_MAX_SEGS, e.gsoMaxSegs);
  };
  const msg = ifinfomsg(new NlMessageBuilder());
  end(msg, a);
  msg.nest(IFLA_LINKINFO, (li) => {
    li.attrString(IFLA_INFO_KIND, "veth").nest(IFLA_INFO_DATA, (data) => {
      // VETH_INFO_PEER holds the peer's own ifinfomsg followed by its attributes.
      data.nest(VETH_INFO_PEER, (peer) => {
        ifinfomsg(peer);
        end(peer, b);
      });
    });
  });
  nl.request(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, msg.build());
}

/** Sets interface `index` administratively up. */
export function setLinkUp(nl: RtnetlinkClient, index: number): void {
  nl.request(RTM_NEWLINK, 0, ifinfomsg(new NlMessageBuilder(), index, IFF_UP, IFF_UP).build());
}

/** Removes the interface named `name` (a veth takes its peer with it). Throws ENODEV when there is none. */
export function deleteLink(nl: RtnetlinkClient, name: string): void {
  nl.request(RTM_DELLINK, 0, ifinfomsg(new NlMessageBuilder()).attrString(IFLA_IFNAME, name).build());
}
