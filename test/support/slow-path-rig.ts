/**
 * A frame path with a real Director and fake next hops, for tests and the fuzzer: one NAT service
 * (TCP and UDP on VIP:80 and VIP:53 -> RS 198.19.10.20), one DR service (TCP VIP2:80 -> 198.18.0.21),
 * and UDP VIP:54 with no real server; the same over IPv6 in 2001:2::/48 (RFC 5180's benchmarking
 * prefix): TCP and UDP [VIP6]:80 -> [RS6]:8080 NAT, TCP [VIP6_2]:80 DR, UDP [VIP6]:54 empty.
 */
import { IpAddr } from "../../src/core/address.js";
import type { Director } from "../../src/core/director.js";
import { Ipv6Map } from "../../src/dataplane/ipv6-map.js";
import type { NextHop } from "../../src/dataplane/next-hops.js";
import { SlowPath } from "../../src/dataplane/slow-path.js";
import { destSpec, ip, makeDirector, svcSpec, tcpKey, udpKey } from "../director-fixtures.js";

export const VIP = "198.18.0.10";
export const VIP2 = "198.18.0.11";
export const RS = "198.19.10.20";
export const DR_RS = "198.18.0.21";
export const CLIENT = "198.18.0.100";
export const VIP6 = "2001:2::10";
export const VIP6_2 = "2001:2::11";
export const RS6 = "2001:2:0:1::20";
export const DR_RS6 = "2001:2::21";
export const CLIENT6 = "2001:2::100";
export const IF_OUT = 2;
export const IF_IN = 3;
export const MAC_DIRECTOR_OUT = 0x02000000aa01;
export const MAC_DIRECTOR_IN = 0x02000000aa02;
export const MAC_CLIENT = 0x02000000cc01;
export const MAC_RS = 0x02000000bb01;

const v4 = (s: string) => IpAddr.mustParse(s).v4Value;

export interface Rig {
  director: Director;
  path: SlowPath;
  hops: Map<number, NextHop>;
  hops6: Ipv6Map<NextHop>;
}

export function makeRig(): Rig {
  const director = makeDirector();
  director.addService(svcSpec(tcpKey(VIP, 80)));
  director.addDest(tcpKey(VIP, 80), destSpec(RS, 8080, "masq"));
  director.addService(svcSpec(udpKey(VIP, 53)));
  director.addDest(udpKey(VIP, 53), destSpec(RS, 53, "masq"));
  // A service with no real server: its packets are answered with port unreachable.
  director.addService(svcSpec(udpKey(VIP, 54)));
  director.addService(svcSpec(tcpKey(VIP2, 80)));
  director.addDest(tcpKey(VIP2, 80), destSpec(DR_RS, 80, "route"));
  const hops = new Map<number, NextHop>([
    [v4(RS), { ifindex: IF_IN, dstMac: MAC_RS, srcMac: MAC_DIRECTOR_IN, srcV4: 0, mtu: 1500 }],
    [v4(DR_RS), { ifindex: IF_OUT, dstMac: MAC_RS, srcMac: MAC_DIRECTOR_OUT, srcV4: 0, mtu: 1500 }],
    [v4(CLIENT), { ifindex: IF_OUT, dstMac: MAC_CLIENT, srcMac: MAC_DIRECTOR_OUT, srcV4: 0, mtu: 1500 }],
  ]);
  director.addService(svcSpec(tcpKey(VIP6, 80)));
  director.addDest(tcpKey(VIP6, 80), destSpec(RS6, 8080, "masq"));
  director.addService(svcSpec(udpKey(VIP6, 80)));
  director.addDest(udpKey(VIP6, 80), destSpec(RS6, 8080, "masq"));
  director.addService(svcSpec(udpKey(VIP6, 54)));
  director.addService(svcSpec(tcpKey(VIP6_2, 80)));
  director.addDest(tcpKey(VIP6_2, 80), destSpec(DR_RS6, 80, "route"));
  const hops6 = new Ipv6Map<NextHop>();
  hops6.set(ip(RS6), { ifindex: IF_IN, dstMac: MAC_RS, srcMac: MAC_DIRECTOR_IN, srcV4: 0, mtu: 1500 });
  hops6.set(ip(DR_RS6), { ifindex: IF_OUT, dstMac: MAC_RS, srcMac: MAC_DIRECTOR_OUT, srcV4: 0, mtu: 1500 });
  hops6.set(ip(CLIENT6), {
    ifindex: IF_OUT,
    dstMac: MAC_CLIENT,
    srcMac: MAC_DIRECTOR_OUT,
    srcV4: 0,
    mtu: 1500,
  });
  const vips = new Set([v4(VIP), v4(VIP2)]);
  const vips6 = new Ipv6Map<true>();
  vips6.set(ip(VIP6), true);
  vips6.set(ip(VIP6_2), true);
  const path = new SlowPath(
    director,
    { get: (a) => hops.get(a) ?? null, get6: (w, at) => hops6.get(w, at) ?? null, key6: () => -1 },
    { isVirtualAddress: (a) => vips.has(a), isVirtualAddress6: (w) => vips6.has(w) },
  );
  return { director, path, hops, hops6 };
}
