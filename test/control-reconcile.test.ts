import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { SysctlValue } from "../src/control/api.js";
import { dumpConfig, parseConfig } from "../src/control/config.js";
import { snapshot } from "../src/control/desired-state.js";
import { reconcile } from "../src/control/reconcile.js";
import { SyncDaemons } from "../src/control/sync-daemons.js";
import { RealDirector } from "./support/real-director.js";

const BASE = `
services:
  - tcp: 172.16.0.10:80
    scheduler: wrr
    servers:
      - { address: 192.168.10.2:80, method: masq, weight: 1 }
      - { address: 192.168.10.3:80, method: masq, weight: 1 }
  - udp: 172.16.0.10:53
    scheduler: rr
    servers:
      - { address: 192.168.10.2:53, method: masq }
`;

function setup() {
  const director = new RealDirector();
  const sync = new SyncDaemons(() => 1500);
  const defaults: Record<string, SysctlValue> = {};
  for (const n of director.sysctls.names()) defaults[n] = director.sysctls.get(n);
  const apply = (text: string) => reconcile(director, sync, parseConfig(text, "t.yaml"), defaults);
  return { director, sync, defaults, apply };
}

const summary = (r: ReturnType<ReturnType<typeof setup>["apply"]>) =>
  r.changes.map((c) => `${c.action} ${c.kind} ${c.target}`);

describe("reconcile", () => {
  it("builds a state from nothing, servers in file order giving the kernel's newest-first list", () => {
    const { director, apply } = setup();
    const r = apply(BASE);
    assert.deepEqual(summary(r), [
      "add service tcp 172.16.0.10:80",
      "add dest tcp 172.16.0.10:80 -> 192.168.10.2:80",
      "add dest tcp 172.16.0.10:80 -> 192.168.10.3:80",
      "add service udp 172.16.0.10:53",
      "add dest udp 172.16.0.10:53 -> 192.168.10.2:53",
    ]);
    assert.deepEqual(r.failed, []);
    assert.deepEqual(
      director.services()[0]!.dests.map((d) => d.addr.toString()),
      ["192.168.10.3", "192.168.10.2"],
    );
  });

  it("applies nothing when the running state already matches", () => {
    const { apply } = setup();
    apply(BASE);
    assert.deepEqual(summary(apply(BASE)), []);
  });

  it("applies only the difference and leaves untouched services and servers as they were", () => {
    const { director, apply } = setup();
    apply(BASE);
    const tcp = director.services()[0]!;
    const keep = tcp.dests.find((d) => d.addr.toString() === "192.168.10.2")!;
    keep.activeConns = 5; // stands for the connections a real server has
    const udp = director.services()[1]!;
    const next = `
sysctls:
  expire_nodest_conn: 1
timeouts: { tcp: 600 }
services:
  - tcp: 172.16.0.10:80
    scheduler: wrr
    servers:
      - { address: 192.168.10.2:80, method: masq, weight: 1 }
      - { address: 192.168.10.3:80, method: masq, weight: 3 }
      - { address: 192.168.10.4:80, method: masq, weight: 1 }
  - tcp: 172.16.0.11:80
    scheduler: rr
`;
    const r = apply(next);
    assert.deepEqual(summary(r), [
      "set sysctl expire_nodest_conn",
      "set timeouts tcp tcpfin udp",
      "delete service udp 172.16.0.10:53",
      "edit dest tcp 172.16.0.10:80 -> 192.168.10.3:80",
      "add dest tcp 172.16.0.10:80 -> 192.168.10.4:80",
      "add service tcp 172.16.0.11:80",
    ]);
    assert.equal(director.services()[0], tcp, "the unchanged service is the same object");
    assert.ok(tcp.dests.includes(keep), "the unchanged real server is the same object");
    assert.equal(keep.activeConns, 5);
    assert.ok(!director.services().includes(udp));
    assert.equal(tcp.dests.find((d) => d.addr.toString() === "192.168.10.3")!.weight, 3);
    assert.equal(director.sysctls.get("expire_nodest_conn"), 1);
    assert.deepEqual(director.getTimeouts(), { tcp: 600, tcpfin: 120, udp: 300 });
  });

  it("edits a changed service in place and removes what the desired state lacks, defaults included", () => {
    const { director, apply } = setup();
    apply(`sysctls: { sloppy_tcp: 1 }\ntimeouts: { udp: 10 }\n${BASE}`);
    const tcp = director.services()[0]!;
    const r = apply(`
services:
  - tcp: 172.16.0.10:80
    scheduler: sh
    persistent: 300
    servers:
      - { address: 192.168.10.2:80, method: masq, weight: 1 }
`);
    assert.deepEqual(summary(r), [
      "set sysctl sloppy_tcp",
      "set timeouts tcp tcpfin udp",
      "delete service udp 172.16.0.10:53",
      "edit service tcp 172.16.0.10:80",
      "delete dest tcp 172.16.0.10:80 -> 192.168.10.3:80",
    ]);
    assert.equal(director.services()[0], tcp);
    assert.equal(tcp.schedName, "sh");
    assert.equal(tcp.timeout, 300);
    assert.equal(director.sysctls.get("sloppy_tcp"), 0);
    assert.deepEqual(director.getTimeouts(), { tcp: 900, tcpfin: 120, udp: 300 });
  });

  it("reports what the director refuses and carries on with the rest", () => {
    const { director, apply } = setup();
    const r = apply(`
services:
  - tcp: 172.16.0.10:80
    scheduler: nosuch
    servers:
      - { address: 192.168.10.2:80, method: masq }
  - tcp: 172.16.0.11:80
    scheduler: rr
`);
    assert.deepEqual(
      r.failed.map((f) => [f.action, f.target, f.errno]),
      [["add", "tcp 172.16.0.10:80", "ENOENT"]],
    );
    assert.deepEqual(summary(r), ["add service tcp 172.16.0.11:80"]);
    assert.equal(director.services().length, 1);
  });

  it("reconciles local addresses and sync daemons", () => {
    const { sync, director, apply } = setup();
    apply(`
sync-daemons:
  - { state: master, interface: lo, syncid: 3 }
services:
  - tcp: 198.18.0.1:80
    scheduler: rr
    local-addresses:
      - { address: 198.18.1.1, interface: eth1 }
      - { address: 198.18.1.2, interface: eth1 }
`);
    assert.equal(sync.list()[0]!.syncMaxLen, 1472);
    const r = apply(`
sync-daemons:
  - { state: master, interface: lo, syncid: 3 }
services:
  - tcp: 198.18.0.1:80
    scheduler: rr
    local-addresses:
      - { address: 198.18.1.2, interface: eth2 }
`);
    assert.deepEqual(summary(r), [
      "delete laddr tcp 198.18.0.1:80 laddr 198.18.1.1",
      "delete laddr tcp 198.18.0.1:80 laddr 198.18.1.2",
      "add laddr tcp 198.18.0.1:80 laddr 198.18.1.2",
    ]);
    const key = director.services()[0]!.key;
    assert.deepEqual(
      director.getLaddrs(key).map((l) => [l.addr.toString(), l.ifname]),
      [["198.18.1.2", "eth2"]],
    );
    assert.deepEqual(summary(apply("services: []\n")), [
      "delete service tcp 198.18.0.1:80",
      "delete sync-daemon master",
    ]);
  });

  it("sets sync_threshold, a pair, from the file; back to its default when the file drops it", () => {
    const { director, sync, defaults, apply } = setup();
    const r = apply(`sysctls: { sync_threshold: [5, 60] }\n${BASE}`);
    assert.ok(summary(r).includes("set sysctl sync_threshold"));
    assert.deepEqual(director.sysctls.get("sync_threshold"), [5, 60]);
    // The running state written out and read back is the same state: nothing to apply.
    const dumped = dumpConfig(snapshot(director, sync, defaults));
    assert.match(dumped, /^ {2}sync_threshold: \[5, 60\]$/m);
    assert.deepEqual(reconcile(director, sync, parseConfig(dumped, "s.yaml"), defaults).changes, []);
    apply(BASE);
    assert.deepEqual(director.sysctls.get("sync_threshold"), [3, 50]);
    assert.throws(
      () => parseConfig("sysctls: { sync_threshold: [5] }\n", "t.yaml"),
      /t\.yaml:1: .*two integers/,
    );
  });

  it("a snapshot of the running state reconciles to no change", () => {
    const { director, sync, defaults, apply } = setup();
    apply(`sysctls: { conn_reuse_mode: 2 }\n${BASE}`);
    const again = reconcile(director, sync, snapshot(director, sync, defaults), defaults);
    assert.deepEqual(again.changes, []);
  });
});
