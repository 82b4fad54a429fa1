import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { ServiceEntry } from "../src/control/api.js";
import { ApiHandler } from "../src/control/api-handler.js";
import { IPPROTO_SCTP } from "../src/core/flow.js";
import { RealDirector } from "./support/real-director.js";

function setup() {
  const director = new RealDirector();
  const rates = () => ({ cps: 1, inPps: 2, outPps: 3, inBps: 4, outBps: 5 });
  const h = new ApiHandler(director, { now: () => 0, rates });
  return { director, h };
}

const errno = (fn: () => unknown) => {
  try {
    fn();
  } catch (e) {
    return (e as { errno: string }).errno;
  }
  return "no error";
};

describe("API handler", () => {
  it("stores the netmask as the kernel does: IPv4 a u32 mask, IPv6 a prefix", () => {
    const { director, h } = setup();
    h.handle({
      op: "addService",
      config: {
        id: { protocol: "tcp", addr: "10.0.0.1", port: 80 },
        scheduler: "rr",
        flags: 1,
        timeout: 60,
        netmask: "255.255.0.0",
        pe: "",
      },
    });
    h.handle({
      op: "addService",
      config: { id: { fwmark: 5, af: 6 }, scheduler: "rr", flags: 1, timeout: 60, netmask: "64", pe: "" },
    });
    assert.equal(director.services()[0]!.netmask, 0xffff0000);
    assert.equal(director.services()[1]!.netmask, 64);
    const list = h.handle({ op: "getServices" }) as ServiceEntry[];
    assert.deepEqual(
      list.map((s) => [s.netmask, s.af, s.id]),
      [
        ["255.255.0.0", 4, { protocol: "tcp", addr: "10.0.0.1", port: 80 }],
        ["64", 6, { fwmark: 5, af: 6 }],
      ],
    );
    assert.deepEqual(list[0]!.rates, { cps: 1, inPps: 2, outPps: 3, inBps: 4, outBps: 5 });
    assert.equal(
      errno(() =>
        h.handle({
          op: "addService",
          config: {
            id: { fwmark: 6, af: 6 },
            scheduler: "rr",
            flags: 1,
            timeout: 60,
            netmask: "129",
            pe: "",
          },
        }),
      ),
      "EINVAL",
    );
    assert.equal(
      errno(() =>
        h.handle({
          op: "addService",
          config: {
            id: { protocol: "tcp", addr: "10.0.0.2", port: 80 },
            scheduler: "rr",
            flags: 0,
            timeout: 0,
            netmask: "24",
            pe: "",
          },
        }),
      ),
      "EINVAL",
    );
  });

  it("marks options that are stored but not acted on", () => {
    const { director, h } = setup();
    const sctp = { protocol: "sctp", addr: "10.0.0.1", port: 9 };
    h.handle({
      op: "addService",
      config: { id: sctp, scheduler: "rr", flags: 1, timeout: 60, netmask: "255.255.255.255", pe: "sip" },
    });
    const key = director.services()[0]!.key;
    assert.equal(key.kind === "addr" ? key.protocol : -1, IPPROTO_SCTP);
    h.handle({
      op: "addDest",
      service: sctp,
      dest: { addr: "10.1.0.1", port: 9, method: "tunnel", tunType: "gre", tunCsum: "csum" },
    });
    h.handle({ op: "addDest", service: sctp, dest: { addr: "10.1.0.2", port: 9, method: "masq" } });
    const [s] = h.handle({ op: "getServices" }) as ServiceEntry[];
    assert.equal(s!.notActedOn, undefined, "an SCTP service and pe sip are acted on");
    assert.deepEqual(
      s!.dests.map((d) => d.notActedOn),
      [undefined, undefined],
      "gre tunnels are acted on",
    );
  });

  it("refuses malformed arguments with EINVAL and passes the director's refusals through", () => {
    const { h } = setup();
    const svc = { protocol: "tcp", addr: "10.0.0.1", port: 80 };
    assert.equal(
      errno(() => h.handle({ op: "getService", service: { protocol: "icmp", addr: "1.2.3.4", port: 1 } })),
      "EINVAL",
    );
    assert.equal(
      errno(() => h.handle({ op: "getService", service: svc })),
      "ESRCH",
    );
    assert.equal(
      errno(() => h.handle({ op: "delDest", service: svc, addr: "x", port: 1 })),
      "EINVAL",
    );
    assert.equal(
      errno(() => h.handle({ op: "delDest", service: svc, addr: "10.1.0.1", port: 70000 })),
      "EINVAL",
    );
    assert.equal(
      errno(() => h.handle({ op: "addDest", service: svc, dest: { addr: "10.1.0.1", port: 80 } })),
      "ESRCH",
    );
    assert.equal(
      errno(() => h.handle({ op: "setTimeout", timeout: { tcp: -1, tcpfin: 0, udp: 0 } })),
      "EINVAL",
    );
    assert.equal(
      errno(() => h.handle({ op: "setSysctl", name: "nope", value: 1 })),
      "ENOENT",
    );
    assert.equal(
      errno(() => h.handle({ op: "stopDaemon", state: "master" })),
      "ESRCH",
    );
    assert.equal(
      errno(() => h.handle({ op: "whatever" })),
      "ENOSYS",
    );
  });

  it("fills the kernel's sync daemon defaults and refuses a second one of a state", () => {
    const { h } = setup();
    h.handle({ op: "startDaemon", config: { state: "master", mcastIfn: "lo", syncId: 1 } });
    assert.equal(
      errno(() => h.handle({ op: "startDaemon", config: { state: "master", mcastIfn: "lo" } })),
      "EEXIST",
    );
    assert.equal(
      errno(() => h.handle({ op: "startDaemon", config: { state: "backup", mcastIfn: "nosuchif0" } })),
      "ENODEV",
    );
    assert.deepEqual(h.handle({ op: "getDaemons" }), [
      {
        state: "master",
        mcastIfn: "lo",
        syncId: 1,
        syncMaxLen: 1472,
        mcastGroup: "224.0.0.81",
        mcastPort: 8848,
        mcastTtl: 1,
        notActedOn: ["sync daemon"],
      },
    ]);
    h.handle({ op: "stopDaemon", state: "master" });
    assert.deepEqual(h.handle({ op: "getDaemons" }), []);
  });
});
