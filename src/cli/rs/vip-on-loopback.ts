import type { UndoableHostChanges } from "./undoable-host-changes.js";

/**
 * The classic LVS real-server script (DR and TUN): each VIP on lo as a host address (/32, /128), so
 * the host accepts and answers packets for it, and for IPv4 VIPs ARP suppressed — arp_ignore=1 (answer
 * ARP only for addresses on the interface asked) and arp_announce=2 (never use a loopback address as
 * the ARP source) on lo and all — so only the director answers ARP for the VIP. IPv6 needs no
 * counterpart: Linux answers a neighbour solicitation only for an address of the interface it arrived
 * on (ndisc_recv_ns looks the target up on that device alone), so a VIP on lo is never announced on
 * the host's other interfaces (docs/decisions/0790-ipv6-tunnel.md).
 */
export function putVipsOnLoopback(host: UndoableHostChanges, vips: readonly string[]): void {
  if (vips.some((v) => !v.includes(":"))) {
    for (const dev of ["all", "lo"]) {
      host.sysctl(`net.ipv4.conf.${dev}.arp_ignore`, 1);
      host.sysctl(`net.ipv4.conf.${dev}.arp_announce`, 2);
    }
  }
  for (const vip of vips) host.addAddress(vip, "lo");
}
