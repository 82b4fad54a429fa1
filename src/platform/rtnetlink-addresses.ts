/**
 * Interface addresses added and removed over rtnetlink (RTM_NEWADDR / RTM_DELADDR), as `ip addr
 * add|del ADDR/LEN dev IF [scope S] [label L] [brd B]` does, without a process: a VRRP master
 * puts its virtual addresses on as plain kernel addresses. Layout: <linux/if_addr.h>.
 */
import type { IpAddr } from "../core/address.js";
import { errnoCodes, SysError } from "./libc.js";
import { NLM_F_CREATE, NLM_F_EXCL, NlMessageBuilder, type RtnetlinkClient } from "./rtnetlink-client.js";

const AF_INET = 2;
const AF_INET6 = 10;
const RTM_NEWADDR = 20;
const RTM_DELADDR = 21;
const IFA_ADDRESS = 1;
const IFA_LOCAL = 2;
const IFA_LABEL = 3;
const IFA_BROADCAST = 4;
const IFA_F_NODAD = 0x02;
const EADDRNOTAVAIL = 99;

export interface InterfaceAddress {
  ifindex: number;
  addr: IpAddr;
  prefixLen: number;
  /** rt_scope: 0 global, 253 link, 254 host. */
  scope: number;
  label?: string;
  broadcast?: IpAddr;
}

function message(a: InterfaceAddress): NlMessageBuilder {
  const v6 = a.addr.family === 6;
  // IPv6: no duplicate address detection, so the address is usable at once (keepalived does the same).
  const b = new NlMessageBuilder()
    .u8(v6 ? AF_INET6 : AF_INET)
    .u8(a.prefixLen)
    .u8(v6 ? IFA_F_NODAD : 0)
    .u8(a.scope)
    .u32(a.ifindex);
  const bytes = a.addr.toBytes();
  b.attr(IFA_LOCAL, bytes).attr(IFA_ADDRESS, bytes);
  if (a.label !== undefined && !v6) b.attrString(IFA_LABEL, a.label);
  if (a.broadcast && !v6) b.attr(IFA_BROADCAST, a.broadcast.toBytes());
  return b;
}

/** Adds the address; returns false when it was already there. Throws the kernel's errno otherwise. */
export function addAddress(nl: RtnetlinkClient, a: InterfaceAddress): boolean {
  try {
    nl.request(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, message(a).build());
    return true;
  } catch (e) {
    if (e instanceof SysError && e.errno === errnoCodes.EEXIST) return false;
    throw e;
  }
}

/** Removes the address; returns false when it was not there. Throws the kernel's errno otherwise. */
export function deleteAddress(nl: RtnetlinkClient, a: InterfaceAddress): boolean {
  try {
    nl.request(RTM_DELADDR, 0, message(a).build());
    return true;
  } catch (e) {
    if (e instanceof SysError && (e.errno === EADDRNOTAVAIL || e.errno === errnoCodes.ENOENT)) return false;
    throw e;
  }
}
