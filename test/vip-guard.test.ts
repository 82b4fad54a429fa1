/**
 * The VIP guard's rules (src/control/vrrp/vip-guard.ts): one drop per virtual service on a VRRP
 * address, by protocol and port (all ports for a port-0 service); services on other addresses and
 * firewall-mark services get none. The guard's effect on the wire is test/ha-failover-lab.test.ts
 * (DR): without it a killed director's kernel resets the client's connection.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { guardRules } from "../src/control/vrrp/vip-guard.js";
import { IpAddr } from "../src/core/address.js";
import { destSpec, makeDirector, svcSpec, tcpKey, udpKey } from "./director-fixtures.js";

test("vip guard: a drop per service on a VRRP address", () => {
  const d = makeDirector();
  d.addService(svcSpec(tcpKey("198.18.5.100", 80)));
  d.addService(svcSpec(udpKey("198.18.5.100", 0)));
  d.addService(svcSpec(tcpKey("198.18.5.101", 443)));
  d.addService(svcSpec(tcpKey("2001:2::100", 443)));
  d.addService(svcSpec({ kind: "fwmark", family: 4, fwmark: 7 }));
  d.addDest(tcpKey("198.18.5.100", 80), destSpec("198.19.0.1", 80));
  const vips = ["198.18.5.100", "2001:2::100"].map((a) => IpAddr.mustParse(a));
  assert.deepEqual(guardRules(vips, d.services()).sort(), [
    "ip daddr 198.18.5.100 meta l4proto udp drop",
    "ip daddr 198.18.5.100 tcp dport 80 drop",
    "ip6 daddr 2001:2::100 tcp dport 443 drop",
  ]);
  assert.deepEqual(guardRules([], d.services()), []);
});
