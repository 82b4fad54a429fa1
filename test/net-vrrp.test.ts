/**
 * The VRRP advertisement codec (src/net/vrrp.ts) against byte vectors computed outside it (the
 * RFC 1071 sum over the RFC 3768 / RFC 5798 layouts, made once by hand with Python's struct), and
 * every reason a forged or broken advertisement is dropped for.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { IpAddr } from "../src/core/address.js";
import {
  emptyAdvert,
  passBytes,
  readAdvert,
  VRRP_AUTH_PASS,
  type VrrpAdvert,
  writeAdvert,
} from "../src/net/vrrp.js";

const b = (ip: string) => IpAddr.mustParse(ip).toBytes();
const hex = (u: Uint8Array) => Buffer.from(u).toString("hex");

/** v2, vrid 51, priority 150, 1 s, PASS "s3cret", VIP 198.18.5.100. */
const V2 = "2133960101014039c61205647333637265740000";
/** v3 over IPv4 from 198.18.5.1 to 224.0.0.18, vrid 51, priority 150, 100 cs, VIP 198.18.5.100. */
const V3_V4 = "313396010064c14dc6120564";
/** v3 over IPv6 from fe80::1 to ff02::12, vrid 7, priority 200, 100 cs, VIP 2001:2::100. */
const V3_V6 = "3107c8010064e77020010002000000000000000000000100";

function write(a: Partial<VrrpAdvert> & { version: 2 | 3 }, src: string, dst: string): Uint8Array {
  const buf = new Uint8Array(128);
  const len = writeAdvert(
    buf,
    0,
    { vrid: 0, priority: 100, interval: 100, authType: 0, addresses: [], ...a },
    b(src),
    b(dst),
  );
  return buf.slice(0, len);
}

function read(bytes: Uint8Array, src: string, dst: string, ttl = 255) {
  const out = emptyAdvert();
  const why = readAdvert(bytes, 0, bytes.length, b(src), b(dst), ttl, out);
  return { why, out };
}

describe("VRRP advertisements", () => {
  it("writes v2 (RFC 3768) with PASS auth byte for byte", () => {
    const m = write(
      {
        version: 2,
        vrid: 51,
        priority: 150,
        interval: 100,
        authType: VRRP_AUTH_PASS,
        auth: passBytes("s3cret"),
        addresses: [b("198.18.5.100")],
      },
      "198.18.5.1",
      "224.0.0.18",
    );
    assert.equal(hex(m), V2);
  });

  it("writes v3 (RFC 5798) over IPv4 and IPv6, the pseudo-header in the checksum", () => {
    assert.equal(
      hex(
        write(
          { version: 3, vrid: 51, priority: 150, addresses: [b("198.18.5.100")] },
          "198.18.5.1",
          "224.0.0.18",
        ),
      ),
      V3_V4,
    );
    assert.equal(
      hex(
        write({ version: 3, vrid: 7, priority: 200, addresses: [b("2001:2::100")] }, "fe80::1", "ff02::12"),
      ),
      V3_V6,
    );
  });

  it("reads them back", () => {
    const v2 = read(Buffer.from(V2, "hex"), "198.18.5.1", "224.0.0.18");
    assert.equal(v2.why, null);
    assert.deepEqual(
      [v2.out.version, v2.out.vrid, v2.out.priority, v2.out.interval, v2.out.authType],
      [2, 51, 150, 100, 1],
    );
    assert.equal(Buffer.from(v2.out.auth).toString("latin1"), "s3cret\0\0");
    assert.equal(IpAddr.fromBytes(v2.out.addresses[0]!).toString(), "198.18.5.100");
    const v6 = read(Buffer.from(V3_V6, "hex"), "fe80::1", "ff02::12");
    assert.equal(v6.why, null);
    assert.deepEqual([v6.out.version, v6.out.vrid, v6.out.priority, v6.out.interval], [3, 7, 200, 100]);
    assert.equal(IpAddr.fromBytes(v6.out.addresses[0]!).toString(), "2001:2::100");
  });

  it("drops what RFC 5798 §7.1 says to drop, each for its reason", () => {
    const v2 = Buffer.from(V2, "hex");
    assert.equal(
      read(v2, "198.18.5.1", "224.0.0.18", 254).why,
      "bad-ttl",
      "TTL 254: sent from beyond the link",
    );
    assert.equal(read(v2, "198.18.5.1", "224.0.0.18", 1).why, "bad-ttl");
    assert.equal(read(v2.subarray(0, 7), "198.18.5.1", "224.0.0.18").why, "truncated");
    assert.equal(read(v2.subarray(0, 15), "198.18.5.1", "224.0.0.18").why, "truncated", "auth data cut");
    const flipped = Uint8Array.from(v2);
    flipped[2] = 254; // a forged priority without fixing the checksum
    assert.equal(read(flipped, "198.18.5.1", "224.0.0.18").why, "bad-checksum");
    const v4 = Uint8Array.from(v2);
    v4[0] = 0x41;
    assert.equal(read(v4, "198.18.5.1", "224.0.0.18").why, "bad-version");
    const type2 = Uint8Array.from(v2);
    type2[0] = 0x22;
    assert.equal(read(type2, "198.18.5.1", "224.0.0.18").why, "bad-type");
    // v3's checksum binds the addresses: the same bytes from another source fail it.
    assert.equal(read(Buffer.from(V3_V4, "hex"), "198.18.5.9", "224.0.0.18").why, "bad-checksum");
    const count = Uint8Array.from(Buffer.from(V3_V4, "hex"));
    count[3] = 2; // claims two addresses, carries one
    assert.equal(read(count, "198.18.5.1", "224.0.0.18").why, "truncated");
    assert.equal(read(new Uint8Array(0), "198.18.5.1", "224.0.0.18").why, "truncated");
  });

  it("never throws on random bytes (every outcome is a reason or an advert)", () => {
    let seed = 12345;
    const rnd = () => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed & 0xff;
    };
    for (let i = 0; i < 5000; i++) {
      const len = rnd() % 64;
      const bytes = Uint8Array.from({ length: len }, rnd);
      if (len > 0) bytes[0] = i % 2 ? 0x21 : 0x31;
      const r = read(bytes, i % 3 ? "198.18.5.1" : "fe80::1", i % 3 ? "224.0.0.18" : "ff02::12");
      assert.ok(r.why !== null || r.out.vrid >= 0);
    }
  });
});
