import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { ConfigError, dumpConfig, parseConfig } from "../src/control/config.js";
import type { DesiredState } from "../src/control/desired-state.js";
import { IpAddr } from "../src/core/address.js";
import { IPPROTO_TCP, IPPROTO_UDP } from "../src/core/flow.js";
import {
  type ServiceKey,
  SVC_F_ONEPACKET,
  SVC_F_PERSISTENT,
  SVC_F_SCHED1,
  SVC_F_SCHED2,
} from "../src/core/service.js";

const GOOD = `# the classic NAT lab
timeouts:
  tcp: 600
sysctls:
  expire_nodest_conn: 1
services:
  - tcp: 172.16.0.10:80
    scheduler: wrr
    servers:
      - address: 192.168.10.2:80
        method: masq
        weight: 1
      - address: 192.168.10.3
        method: masq
        weight: 2
        u-threshold: 100
        l-threshold: 50
  - udp: "[2001:db8::1]:53"
    scheduler: sh
    sched-flags: [sh-fallback, sh-port]
    persistent: true
    netmask: 64
    ops: true
    servers:
      - address: "[2001:db8::10]:53"
        method: masq
  - fwmark: 7
    family: ipv6
    scheduler: rr
    persistent: 600
  - tcp: 198.18.0.1:443
    scheduler: rr
    local-addresses:
      - address: 198.18.1.1
        interface: eth1
    servers:
      - address: 198.18.2.1
        method: tunnel
        tunnel: { type: gue, port: 6080, csum: remcsum }
      - address: 198.18.2.2:443
        method: fullnat
`;

function fails(text: string, line: number, pattern: RegExp): void {
  assert.throws(
    () => parseConfig(text, "tslvs.yaml"),
    (e: unknown) => {
      assert.ok(e instanceof ConfigError, `expected a ConfigError, got ${e}`);
      assert.equal(e.line, line, `wrong line for: ${e.message}`);
      assert.match(e.message, new RegExp(`^tslvs\\.yaml:${line}: `));
      assert.match(e.reason, pattern);
      return true;
    },
  );
}

describe("config parsing", () => {
  it("reads services, servers, flags, local addresses, timeouts and sysctls", () => {
    const s = parseConfig(GOOD, "tslvs.yaml");
    assert.deepEqual(s.timeouts, { tcp: 600, tcpfin: 120, udp: 300 });
    assert.deepEqual(s.sysctls, { expire_nodest_conn: 1 });
    assert.equal(s.services.length, 4);
    const [nat, udp6, fwm, full] = s.services;
    assert.equal(nat!.line, 7);
    assert.deepEqual(nat!.spec, {
      key: { kind: "addr", protocol: IPPROTO_TCP, addr: IpAddr.mustParse("172.16.0.10"), port: 80 },
      scheduler: "wrr",
      flags: 0,
      timeout: 0,
      netmask: 0xffffffff,
      pe: "",
    });
    assert.deepEqual(
      nat!.dests.map((d) => [d.addr.toString(), d.port, d.method, d.weight, d.uThreshold, d.lThreshold]),
      [
        ["192.168.10.2", 80, "masq", 1, 0, 0],
        ["192.168.10.3", 80, "masq", 2, 100, 50],
      ],
    );
    assert.equal(udp6!.spec.key.kind === "addr" && udp6!.spec.key.protocol, IPPROTO_UDP);
    assert.equal(udp6!.spec.flags, SVC_F_PERSISTENT | SVC_F_ONEPACKET | SVC_F_SCHED1 | SVC_F_SCHED2);
    assert.equal(udp6!.spec.timeout, 360);
    assert.equal(udp6!.spec.netmask, 64);
    assert.deepEqual(fwm!.spec.key, { kind: "fwmark", family: 6, fwmark: 7 });
    assert.equal(fwm!.spec.netmask, 128);
    assert.deepEqual(full!.laddrs, [{ addr: IpAddr.mustParse("198.18.1.1"), ifname: "eth1" }]);
    assert.deepEqual(
      full!.dests.map((d) => [d.port, d.method, d.tunType, d.tunPort, d.tunCsum]),
      [
        [443, "tunnel", "gue", 6080, "remcsum"],
        [443, "fullnat", "ipip", 0, "nocsum"],
      ],
    );
  });

  it("an empty file is an empty state", () => {
    assert.deepEqual(parseConfig("", "x").services, []);
    assert.deepEqual(parseConfig("# nothing\n", "x").timeouts, null);
  });

  it("refuses malformed files with file:line: reason", () => {
    fails("services:\n  - tcp: 10.0.0.1:80\n  scheduler: rr\n", 3, /same column/);
    fails("services:\n  - tcp: 10.0.0.1:80\n\tscheduler: rr\n", 3, /Tabs/);
    fails("services:\n  - tcp: 10.0.0.1:80\n  - tcp: 10.0.0.1:80\n", 3, /already defined at line 2/);
    fails("servics:\n  - tcp: 10.0.0.1:80\n", 1, /unknown key "servics"/);
    fails("services:\n  - tcp: 10.0.0.1:80\n    schedular: rr\n", 3, /unknown key "schedular"/);
    fails("services:\n  - scheduler: rr\n", 2, /exactly one of tcp/);
    fails("services:\n  - tcp: 10.0.0.1\n", 2, /address:port/);
    fails("services:\n  - tcp: 10.0.0.300:80\n", 2, /address:port/);
    fails("services:\n  - tcp: 10.0.0.1:0\n", 2, /Zero port specified for non-persistent service/);
    fails("services:\n  - tcp: 10.0.0.1:53\n    ops: true\n", 3, /only for UDP/);
    fails("services:\n  - tcp: 10.0.0.1:80\n    sched-flags: sh-port\n", 3, /incompatible scheduler flag/);
    fails("services:\n  - tcp: 10.0.0.1:80\n    sched-flags: [flag-9]\n", 3, /invalid scheduler flag/);
    fails("services:\n  - tcp: 10.0.0.1:80\n    persistent: 0\n", 3, /persistent/);
    fails("services:\n  - tcp: 10.0.0.1:80\n    netmask: 24\n", 3, /dotted quad/);
    fails('services:\n  - tcp: "[::1]:80"\n    netmask: 129\n', 3, /1\.\.128/);
    fails(
      "services:\n  - tcp: 10.0.0.1:80\n    servers:\n      - address: 10.1.0.1:80\n        weight: -1\n",
      5,
      /weight/,
    );
    fails(
      "services:\n  - tcp: 10.0.0.1:80\n    servers:\n      - address: 10.1.0.1:8080\n        method: route\n",
      4,
      /service port 80/,
    );
    fails(
      "services:\n  - tcp: 10.0.0.1:80\n    servers:\n      - address: 10.1.0.1\n        method: masq\n        u-threshold: 5\n        l-threshold: 9\n",
      7,
      /above u-threshold/,
    );
    fails(
      "services:\n  - tcp: 10.0.0.1:80\n    servers:\n      - address: 10.1.0.1\n        tunnel: { type: gre }\n",
      5,
      /conflict with forward method/,
    );
    fails(
      "services:\n  - tcp: 10.0.0.1:80\n    servers:\n      - address: 10.1.0.1\n        method: tunnel\n        tunnel:\n          type: gue\n",
      6,
      /gue tunnel needs a port/,
    );
    fails(
      'services:\n  - tcp: 10.0.0.1:80\n    servers:\n      - address: "[2001:db8::2]:80"\n        method: masq\n',
      4,
      /Different address family/,
    );
    fails(
      "services:\n  - tcp: 10.0.0.1:80\n    servers:\n      - address: 10.1.0.1:80\n        method: masq\n      - address: 10.1.0.1:80\n        method: masq\n",
      6,
      /already listed at line 4/,
    );
    fails("timeouts:\n  tcp: 99999999\n", 2, /tcp timeout/);
    fails("sysctls:\n  expire_nodest_conn: yes\n", 2, /integer/);
    fails("sync-daemons:\n  - state: primary\n", 2, /master, backup/);
    fails("a: 1\na: 2\n", 2, /unique/);
  });
});

/** Arbitrary states within what the format expresses, to check dump -> parse gives them back. */
const v4 = fc.integer({ min: 0x01000000, max: 0xdfffffff }).map((n) => IpAddr.v4(n));
const v6 = fc
  .tuple(fc.integer({ min: 0x20010000, max: 0x2001ffff }), fc.nat(), fc.nat(), fc.nat())
  .map(([a, b, c, d]) => IpAddr.v6(a, b, c, d));
/** Names that need quoting in YAML as well as plain ones. */
const nameArb = fc.oneof(
  fc.constantFrom(
    "rr",
    "wrr",
    "sh",
    "mh",
    "wlc",
    "yes",
    "null",
    "123",
    "a: b",
    "#x",
    "[q]",
    "it's",
    "1.5",
    "-",
  ),
  fc.string({ minLength: 1, maxLength: 15 }).filter((x) => x.trim() === x && !x.includes("\n")),
);
const tunnelArb = fc.oneof(
  fc.constant({ tunType: "ipip" as const, tunPort: 0, tunCsum: "nocsum" as const }),
  fc.record({
    tunType: fc.constant("gue" as const),
    tunPort: fc.integer({ min: 1, max: 65535 }),
    tunCsum: fc.constantFrom("nocsum" as const, "csum" as const, "remcsum" as const),
  }),
  fc.record({
    tunType: fc.constant("gre" as const),
    tunPort: fc.constant(0),
    tunCsum: fc.constantFrom("nocsum" as const, "csum" as const),
  }),
);
const destArb = (fam: 4 | 6) =>
  fc.record({
    addr: fam === 4 ? v4 : v6,
    port: fc.integer({ min: 0, max: 65535 }),
    method: fc.constantFrom("masq" as const, "fullnat" as const, "route" as const, "tunnel" as const),
    weight: fc.integer({ min: 0, max: 2147483647 }),
    u: fc.integer({ min: 0, max: 100000 }),
    l: fc.integer({ min: 0, max: 100000 }),
    tunnel: tunnelArb,
  });
const serviceArb = fc.oneof(fc.constant(4 as const), fc.constant(6 as const)).chain((fam) =>
  fc.record({
    fam: fc.constant(fam),
    addr: fam === 4 ? v4 : v6,
    port: fc.integer({ min: 1, max: 65535 }),
    fwmark: fc.option(fc.integer({ min: 1, max: 0xffffffff }), { nil: null }),
    proto: fc.constantFrom(IPPROTO_TCP, IPPROTO_UDP),
    sched: nameArb,
    pe: fc.constantFrom("", "sip"),
    persistent: fc.option(fc.integer({ min: 1, max: 2678400 }), { nil: null }),
    netmask: fam === 4 ? fc.integer({ min: 0, max: 0xffffffff }) : fc.integer({ min: 1, max: 128 }),
    sflags: fc.constantFrom(0, SVC_F_SCHED1, SVC_F_SCHED2, SVC_F_SCHED1 | SVC_F_SCHED2),
    laddrs: fc.uniqueArray(fc.record({ addr: fc.oneof(v4, v6), ifname: nameArb }), {
      selector: (l) => l.addr.toString(),
      maxLength: 2,
    }),
    dests: fc.uniqueArray(destArb(fam), { selector: (d) => d.addr.toString(), maxLength: 4 }),
  }),
);
const stateArb = fc
  .record({
    timeouts: fc.option(
      fc.record({
        tcp: fc.integer({ min: 1, max: 2678400 }),
        tcpfin: fc.integer({ min: 1, max: 2678400 }),
        udp: fc.integer({ min: 1, max: 2678400 }),
      }),
      { nil: null },
    ),
    sysctls: fc.dictionary(fc.constantFrom("expire_nodest_conn", "sloppy_tcp", "amemthresh"), fc.integer()),
    daemons: fc.uniqueArray(
      fc.record({
        state: fc.constantFrom("master" as const, "backup" as const),
        mcastIfn: nameArb,
        syncId: fc.integer({ min: 0, max: 255 }),
        syncMaxLen: fc.integer({ min: 0, max: 65507 }),
        mcastGroup: fc.constantFrom("", "224.0.0.81", "239.1.2.3", "ff02::1"),
        mcastPort: fc.integer({ min: 0, max: 65535 }),
        mcastTtl: fc.integer({ min: 0, max: 255 }),
      }),
      { selector: (d) => d.state, maxLength: 2 },
    ),
    services: fc.uniqueArray(serviceArb, {
      selector: (s) => (s.fwmark ? `f${s.fwmark}/${s.fam}` : `${s.proto}${s.addr}:${s.port}`),
      maxLength: 5,
    }),
  })
  .map(
    (x): DesiredState => ({
      timeouts: x.timeouts && { ...x.timeouts },
      sysctls: { ...x.sysctls },
      syncDaemons: x.daemons.map((d) => ({ ...d, mcastIfn: d.mcastIfn.slice(0, 15) })),
      services: x.services.map((s) => {
        const key: ServiceKey = s.fwmark
          ? { kind: "fwmark", family: s.fam, fwmark: s.fwmark }
          : { kind: "addr", protocol: s.proto, addr: s.addr, port: s.port };
        // What the format allows: route/tunnel servers on the service port, sched flags that
        // fit the scheduler, names within 15 characters.
        const sched = s.sched.slice(0, 15);
        const sflags =
          sched === "sh" || sched === "mh" ? s.sflags : s.sflags & SVC_F_SCHED1 ? SVC_F_SCHED1 : 0;
        return {
          spec: {
            key,
            scheduler: sched,
            flags: (s.persistent ? SVC_F_PERSISTENT : 0) | sflags,
            timeout: s.persistent ?? 0,
            netmask: s.netmask,
            pe: s.pe,
          },
          laddrs: s.laddrs.map((l) => ({ addr: l.addr, ifname: l.ifname.slice(0, 15) })),
          dests: s.dests.map((d) => ({
            addr: d.addr,
            port: key.kind === "addr" && (d.method === "route" || d.method === "tunnel") ? key.port : d.port,
            method: d.method,
            weight: d.weight,
            uThreshold: Math.max(d.u, d.l),
            lThreshold: Math.min(d.u, d.l),
            ...(d.method === "tunnel"
              ? d.tunnel
              : { tunType: "ipip" as const, tunPort: 0, tunCsum: "nocsum" as const }),
          })),
        };
      }),
    }),
  );

describe("config dump", () => {
  it("dump then parse gives the same state back", () => {
    fc.assert(
      fc.property(stateArb, (state) => {
        const back = parseConfig(dumpConfig(state), "state.yaml");
        assert.deepEqual(back.timeouts, state.timeouts);
        assert.deepEqual(back.sysctls, state.sysctls);
        assert.deepEqual(back.syncDaemons, state.syncDaemons);
        assert.deepEqual(
          back.services.map(({ line: _l, ...rest }) => rest),
          state.services,
        );
      }),
      { numRuns: 200 },
    );
  });

  it("writes a readable file", () => {
    const text = dumpConfig(parseConfig(GOOD, "tslvs.yaml"));
    assert.match(
      text,
      /^ {2}- tcp: 172\.16\.0\.10:80\n {4}scheduler: wrr\n {4}servers:\n {6}- address: 192\.168\.10\.2:80\n {8}method: masq\n {8}weight: 1\n/m,
    );
    assert.match(text, /sched-flags:\n\s+- sh-fallback\n\s+- sh-port/);
    assert.match(text, /u-threshold: 100\n\s+l-threshold: 50/);
  });
});

describe("docs/configuration.md", () => {
  it("its example parses", async () => {
    const { readFileSync } = await import("node:fs");
    const doc = readFileSync(new URL("../../docs/configuration.md", import.meta.url), "utf8");
    const example = /```yaml\n([\s\S]*?)```/.exec(doc)?.[1];
    assert.ok(example, "the document has a yaml example");
    const s = parseConfig(example, "configuration.md");
    assert.equal(s.services.length, 5);
    assert.equal(s.syncDaemons.length, 1);
  });
});
