import type { HostChanges } from "./host-changes.js";

/**
 * The classic LVS real-server script (DR and TUN): the VIP on lo as a /32, so the host accepts and
 * answers packets for it, and ARP for it suppressed — arp_ignore=1 (answer ARP only for addresses on
 * the interface asked) and arp_announce=2 (never use a loopback address as the ARP source) on lo and
 * all — so only the director answers ARP for the VIP.
 */
export function putVipsOnLoopback(host: HostChanges, vips: readonly string[]): void {
  for (const dev of ["all", "lo"]) {
    host.sysctl(`net.ipv4.conf.${dev}.arp_ignore`, 1);
    host.sysctl(`net.ipv4.conf.${dev}.arp_announce`, 2);
  }
  for (const vip of vips) host.addAddress(vip, "lo");
}
