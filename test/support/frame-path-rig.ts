/**
 * A frame path with a real Director and fake next hops, for tests and the fuzzer: one NAT service
 * (TCP and UDP on VIP:80 and VIP:53 -> RS 198.19.10.20), one DR service (TCP VIP2:80 -> 198.18.0.21),
 * and UDP VIP:54 with no real server.
 */
import { IpAddr } from "../../src/core/address.js";
import type { Director } from "../../src/core/director.js";
import { FramePath } from "../../src/dataplane/frame-path.js";
import type { NextHop } from "../../src/dataplane/next-hops.js";
import { destSpec, makeDirector, svcSpec, tcpKey, udpKey } from "../director-fixtures.js";

export const VIP = "198.18.0.10";
export const VIP2 = "198.18.0.11";
export const RS = "198.19.10.20";
export const DR_RS = "198.18.0.21";
export const CLIENT = "198.18.0.100";
export const IF_OUT = 2;
export const IF_IN = 3;
export const MAC_DIRECTOR_OUT = 0x02000000aa01;
export const MAC_DIRECTOR_IN = 0x02000000aa02;
export const MAC_CLIENT = 0x02000000cc01;
export const MAC_RS = 0x02000000bb01;

const v4 = (s: string) => IpAddr.mustParse(s).v4Value;

export interface Rig {
  director: Director;
  path: FramePath;
  hops: Map<number, NextHop>;
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
  const vips = new Set([v4(VIP), v4(VIP2)]);
  const path = new FramePath(
    director,
    { get: (a) => hops.get(a) ?? null },
    { isVirtualAddress: (a) => vips.has(a) },
  );
  return { director, path, hops };
}
