/**
 * NextHopCache over IPv6 with the kernel's tables given as data (routes, interfaces) and a neighbour
 * table that answers as told: a miss resolves in the background and reports under its key, a hit is
 * found from words at any index, a failed resolution is reported and forgotten, and refresh() drops
 * hops whose neighbour is gone.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { IpAddr } from "../src/core/address.js";
import { type HostInterface, type Neighbours, RouteTable } from "../src/dataplane/host-net.js";
import {
  IPV6_HOP_KEY_BASE,
  type NextHop,
  NextHopCache,
  preferredSourceV6,
} from "../src/dataplane/next-hops.js";

const ip = (s: string) => IpAddr.mustParse(s);
const MAC_RS = Uint8Array.of(2, 0, 0, 0, 0xbb, 1);
const MAC_GW = Uint8Array.of(2, 0, 0, 0, 0xbb, 2);

const eth1: HostInterface = {
  ifindex: 3,
  name: "eth1",
  mac: Uint8Array.of(2, 0, 0, 0, 0xaa, 2),
  mtu: 1500,
  up: true,
  adminUp: true,
  loopback: false,
  kind: "veth",
  addrs: [
    { addr: ip("fe80::1"), prefixLen: 64 },
    { addr: ip("2001:2:0:2::1"), prefixLen: 64 },
  ],
};

const routes = new RouteTable([
  { dst: ip("2001:2:0:2::"), prefixLen: 64, dev: "eth1", gateway: null, prefsrc: null, metric: 256, mtu: 0 },
  {
    dst: ip("::"),
    prefixLen: 0,
    dev: "eth1",
    gateway: ip("2001:2:0:2::fe"),
    prefsrc: null,
    metric: 1024,
    mtu: 1400,
  },
]);

/** A neighbour table whose entries the test sets; resolve() answers from it after a tick. */
class FakeNeighbours {
  readonly known = new Map<string, Uint8Array>();
  asked: string[] = [];
  async refresh(): Promise<void> {}
  get(addr: IpAddr, dev: string): Uint8Array | undefined {
    return this.known.get(`${dev}|${addr}`);
  }
  async resolve(addr: IpAddr, dev: string): Promise<Uint8Array | undefined> {
    this.asked.push(addr.toString());
    await new Promise((r) => setImmediate(r));
    return this.get(addr, dev);
  }
}

function cache(n: FakeNeighbours): NextHopCache {
  return new NextHopCache(routes, n as unknown as Neighbours, [eth1], () => true);
}

function resolved(c: NextHopCache): Promise<[number, NextHop | null]> {
  return new Promise((r) => {
    c.onResolved = (key, hop) => r([key, hop]);
  });
}

test("an IPv6 miss resolves through the neighbour table and reports under a key above 2^32", async () => {
  const n = new FakeNeighbours();
  n.known.set("eth1|2001:2:0:2::20", MAC_RS);
  const c = cache(n);
  const rs = ip("2001:2:0:2::20");
  const done = resolved(c);
  assert.equal(c.get6(rs.words, 0), null);
  const key = c.key6(rs.words, 0);
  assert.ok(key >= IPV6_HOP_KEY_BASE);
  assert.equal(c.get6(rs.words, 0), null, "still resolving: no second resolution");
  const [k, hop] = await done;
  assert.equal(k, key);
  assert.ok(hop);
  assert.equal(hop.ifindex, 3);
  assert.equal(hop.dstMac, 0x02000000bb01);
  assert.equal(hop.srcMac, 0x02000000aa02);
  assert.deepEqual(n.asked, ["2001:2:0:2::20"]);
  // Looked up from words at another index of a larger array, as the frame path does.
  const words = new Uint32Array(8);
  words.set(rs.words, 4);
  assert.equal(c.get6(words, 4), hop);
  assert.equal(c.key6(words, 4), key, "the key stays the entry's");
});

test("off-link IPv6 destinations resolve the gateway, and take the route's MTU", async () => {
  const n = new FakeNeighbours();
  n.known.set("eth1|2001:2:0:2::fe", MAC_GW);
  const c = cache(n);
  const hop = await c.resolve6(ip("2001:2:9::1"));
  assert.ok(hop);
  assert.equal(hop.dstMac, 0x02000000bb02);
  assert.equal(hop.mtu, 1400);
  assert.equal(c.get6(ip("2001:2:9::1").words, 0), hop);
});

test("a failed IPv6 resolution is reported with no hop and forgotten; refresh drops hops whose neighbour went away", async () => {
  const n = new FakeNeighbours();
  const c = cache(n);
  const rs = ip("2001:2:0:2::30");
  const done = resolved(c);
  assert.equal(c.get6(rs.words, 0), null);
  const key = c.key6(rs.words, 0);
  const [k, hop] = await done;
  assert.equal(k, key);
  assert.equal(hop, null);
  assert.equal(c.key6(rs.words, 0), -1, "the failed entry is gone");

  n.known.set("eth1|2001:2:0:2::30", MAC_RS);
  assert.ok(await c.resolve6(rs));
  await c.refresh(routes, [eth1]);
  assert.ok(c.get6(rs.words, 0), "still there while the neighbour is");
  n.known.clear();
  await c.refresh(routes, [eth1]);
  assert.equal(c.key6(rs.words, 0), -1, "dropped once the neighbour is gone");
});

test("the IPv6 source toward a destination: the address on its prefix, never a link-local one", () => {
  const onLink = routes.lookup(ip("2001:2:0:2::20"))!;
  assert.equal(preferredSourceV6(onLink, eth1, ip("2001:2:0:2::20"))?.toString(), "2001:2:0:2::1");
  const viaGw = routes.lookup(ip("2001:2:9::1"))!;
  assert.equal(preferredSourceV6(viaGw, eth1, ip("2001:2:9::1"))?.toString(), "2001:2:0:2::1");
  const c = cache(new FakeNeighbours());
  assert.equal(c.sourceFor6(ip("2001:2:9::1"))?.toString(), "2001:2:0:2::1");
  const onlyLinkLocal = { ...eth1, addrs: [{ addr: ip("fe80::1"), prefixLen: 64 }] };
  assert.equal(preferredSourceV6(onLink, onlyLinkLocal, ip("2001:2:0:2::20")), null);
});
