/**
 * The VRRP instance state machine (src/control/vrrp/vrrp-instance.ts) with time passed in: RFC
 * 5798's timers (Master_Down_Interval = 3 * Advertisement_Interval + Skew_time), preemption,
 * nopreempt, preempt_delay, the owner, priority 0 on shutdown, and FAULT.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { VRRP_DEFAULTS, type VrrpInstanceConfig } from "../src/control/vrrp/vrrp-config.js";
import { VrrpInstance, type VrrpState } from "../src/control/vrrp/vrrp-instance.js";
import { IpAddr } from "../src/core/address.js";

function config(over: Partial<VrrpInstanceConfig> = {}): VrrpInstanceConfig {
  return {
    name: "VI_1",
    initialState: "BACKUP",
    interface: "eth0",
    vrid: 51,
    priority: 100,
    advertInt: 1,
    version: 2,
    family: 4,
    preempt: true,
    preemptDelay: 0,
    vips: [{ addr: IpAddr.mustParse("198.18.5.100"), prefixLen: 24, scope: 0 }],
    unicastPeers: [],
    trackInterfaces: [],
    trackScripts: [],
    dontTrackPrimary: false,
    notify: {},
    garpMasterDelay: VRRP_DEFAULTS.garpMasterDelay,
    garpMasterRepeat: VRRP_DEFAULTS.garpMasterRepeat,
    garpMasterRefresh: 0,
    ...over,
  };
}

function make(over: Partial<VrrpInstanceConfig> = {}, local = "198.18.5.2") {
  const log: string[] = [];
  const sent: number[] = [];
  let vips = false;
  const inst = new VrrpInstance(config(over), IpAddr.mustParse(local).toBytes(), {
    sendAdvert: (p) => sent.push(p),
    takeVips: () => {
      vips = true;
    },
    releaseVips: () => {
      vips = false;
    },
    stateChanged: (from: VrrpState, to: VrrpState) => log.push(`${from}>${to}`),
  });
  return { inst, log, sent, hasVips: () => vips };
}

const from = (ip: string) => IpAddr.mustParse(ip).toBytes();
const adv = (priority: number, src = "198.18.5.1", interval = 100) => ({
  priority,
  interval,
  source: from(src),
});

describe("VRRP instance", () => {
  it("a backup takes over after 3 * advert_int + skew without adverts, not before", () => {
    const { inst, hasVips, sent } = make({ priority: 100 });
    inst.start(0);
    assert.equal(inst.state, "BACKUP");
    const down = 3 * 1 + (256 - 100) / 256;
    assert.equal(inst.masterDownInterval, down);
    inst.tick(down - 0.001);
    assert.equal(inst.state, "BACKUP");
    inst.tick(down);
    assert.equal(inst.state, "MASTER");
    assert.ok(hasVips());
    assert.deepEqual(sent, [100], "an advert goes out on taking over");
    inst.tick(down + 1);
    assert.deepEqual(sent, [100, 100], "and every advert_int after");
  });

  it("adverts from a higher master keep it backup; a lower one is preempted", () => {
    const { inst } = make({ priority: 100 });
    inst.start(0);
    for (let t = 1; t < 10; t++) {
      inst.receive(adv(150), t);
      inst.tick(t + 0.5);
    }
    assert.equal(inst.state, "BACKUP");
    // A lower master: its adverts are ignored, so the timer runs out.
    for (let t = 10; t < 14; t++) {
      inst.receive(adv(50), t);
      inst.tick(t + 0.5);
    }
    assert.equal(inst.state, "MASTER");
  });

  it("nopreempt keeps a lower master; preempt_delay waits before preempting", () => {
    const np = make({ priority: 200, preempt: false });
    np.inst.start(0);
    for (let t = 1; t < 20; t++) {
      np.inst.receive(adv(50), t);
      np.inst.tick(t + 0.5);
    }
    assert.equal(np.inst.state, "BACKUP");
    const pd = make({ priority: 200, preemptDelay: 8 });
    pd.inst.start(0);
    let took = -1;
    for (let t = 1; t < 20; t += 0.25) {
      if (Number.isInteger(t)) pd.inst.receive(adv(50), t);
      pd.inst.tick(t);
      if (pd.inst.state === "MASTER" && took < 0) took = t;
    }
    // Lower adverts from t=1: the delay runs to t=9, then the down interval without a counted advert.
    assert.ok(took >= 9 && took <= 9 + pd.inst.masterDownInterval + 0.5, `took over at ${took}`);
  });

  it("a master meeting a higher priority steps back; equal priorities go to the higher address", () => {
    const { inst, hasVips } = make({ priority: 100 }, "198.18.5.2");
    inst.start(0);
    inst.tick(10);
    assert.equal(inst.state, "MASTER");
    inst.receive(adv(100, "198.18.5.1"), 10.5);
    assert.equal(inst.state, "MASTER", "equal priority from a lower address");
    inst.receive(adv(100, "198.18.5.3"), 11);
    assert.equal(inst.state, "BACKUP", "equal priority from a higher address");
    assert.equal(hasVips(), false);
  });

  it("priority 0: a backup takes over after skew time; a stopping master sends it", () => {
    const { inst } = make({ priority: 100 });
    inst.start(0);
    inst.receive(adv(150), 1);
    inst.receive(adv(0), 2);
    inst.tick(2 + inst.skewTime);
    assert.equal(inst.state, "MASTER");
    const m = make({ priority: 255 });
    m.inst.start(0);
    assert.equal(m.inst.state, "MASTER", "the owner takes over at once");
    m.inst.stop(1);
    assert.deepEqual(m.sent, [255, 0]);
    assert.equal(m.hasVips(), false);
  });

  it("v3 learns the master's interval; a fault gives the VIPs up and nothing is sent", () => {
    const { inst, sent, hasVips } = make({ version: 3, priority: 100 });
    inst.start(0);
    inst.receive(adv(200, "198.18.5.1", 300), 1);
    assert.equal(inst.masterAdverInterval, 3);
    assert.equal(inst.deadline, 1 + 9 + ((256 - 100) * 3) / 256);
    inst.tick(20);
    assert.equal(inst.state, "MASTER");
    inst.setFault("tracked interface eth1 is down", 21);
    assert.equal(inst.state, "FAULT");
    assert.equal(hasVips(), false);
    assert.equal(sent.at(-1), 0, "a master going to FAULT tells the others at once");
    const n = sent.length;
    inst.tick(30);
    assert.equal(sent.length, n);
    inst.setFault(null, 31);
    assert.equal(inst.state, "BACKUP");
  });
});
