/**
 * SteeringSync keeps the host's own addresses in local_ports / local_ports6 beside the FULLNAT LIPs:
 * a LIP with the director's port range, every other host address with an empty range (min 1, max 0),
 * so that the steering program passes real servers' replies to the host's own sockets (health
 * checks). Checked on real maps, read back entry by entry.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { IpAddr } from "../src/core/address.js";
import { SteeringSync } from "../src/dataplane/steering-sync.js";
import { SteeringMaps } from "../src/dataplane/xdp/steering-maps.js";
import { mapGetNextKey, mapLookup } from "../src/platform/bpf.js";
import { destSpec, ip, makeDirector, svcSpec, tcpKey } from "./director-fixtures.js";
import { haveRoot } from "./support/privileged.js";

/** Every entry of local_ports and local_ports6 as address -> "min-max". */
function locals(maps: SteeringMaps): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [fd, size] of [
    [maps.fds.localPorts, 4],
    [maps.fds.localPorts6, 16],
  ] as const) {
    let prev: Uint8Array | null = null;
    const value = new Uint8Array(4);
    for (;;) {
      const key = new Uint8Array(size);
      if (!mapGetNextKey(fd, prev, key)) break;
      assert.ok(mapLookup(fd, key, value));
      const v = new DataView(value.buffer);
      out[IpAddr.fromBytes(key).toString()] = `${v.getUint16(0, true)}-${v.getUint16(2, true)}`;
      prev = key;
    }
  }
  return out;
}

test("host addresses sit in local_ports with an empty range, LIPs with the range; both follow their changes", (t) => {
  if (!haveRoot(t)) return;
  const maps = SteeringMaps.create();
  try {
    const d = makeDirector({ localPorts: { min: 2000, max: 2999 } });
    const key = tcpKey("198.18.0.10", 80);
    d.addService(svcSpec(key));
    d.addDest(key, destSpec("198.19.0.20", 80, "fullnat"));
    d.addLaddr(key, ip("198.19.0.5"), "eth1");
    const sync = new SteeringSync(maps);
    sync.sync(d);
    assert.deepEqual(locals(maps), { "198.19.0.5": "2000-2999" });

    // The host's addresses: the LIP keeps its range, the others have none.
    sync.setHostAddresses([ip("198.19.0.1"), ip("198.19.0.5"), ip("2001:2::1"), ip("127.0.0.1")]);
    assert.deepEqual(locals(maps), {
      "198.19.0.1": "1-0",
      "198.19.0.5": "2000-2999",
      "127.0.0.1": "1-0",
      "2001:2::1": "1-0",
    });

    // A host address becomes a LIP (the default LIP of a FULLNAT service without a pool), and back.
    sync.sync(d, [ip("198.19.0.1")]);
    assert.equal(locals(maps)["198.19.0.1"], "2000-2999");
    sync.sync(d);
    assert.equal(locals(maps)["198.19.0.1"], "1-0");

    // Addresses removed from the host leave the maps; a LIP that is no host address stays a LIP.
    sync.setHostAddresses([ip("198.19.0.1")]);
    assert.deepEqual(locals(maps), { "198.19.0.1": "1-0", "198.19.0.5": "2000-2999" });

    // The LIP leaves the rules: it goes, unless the host still has it (then it is host-only).
    sync.setHostAddresses([ip("198.19.0.1"), ip("198.19.0.5")]);
    d.delLaddr(key, ip("198.19.0.5"));
    sync.sync(d);
    assert.deepEqual(locals(maps), { "198.19.0.1": "1-0", "198.19.0.5": "1-0" });
    sync.setHostAddresses([]);
    assert.deepEqual(locals(maps), {});
  } finally {
    maps.close();
  }
});
