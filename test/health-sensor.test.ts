import assert from "node:assert/strict";
import { test } from "node:test";
import { planHealth } from "../src/control/health/health-plan.js";
import { HealthSensor, SENSOR_THRESHOLD, sensorMessage } from "../src/control/health/health-sensor.js";
import { checkExitCode } from "../src/control/keepalived/keepalived-config.js";
import { parseKeepalivedText } from "../src/control/keepalived/read-keepalived-conf.js";
import type { Director } from "../src/core/director.js";
import { IPPROTO_TCP, TCP_ACK, TCP_RST, TCP_SYN } from "../src/core/flow.js";
import { Verdict } from "../src/core/verdict.js";
import { FlowPacket, makeDirector, packet } from "./director-fixtures.js";

const conf = (extra = "", vip = "198.18.0.10") => `
virtual_server ${vip} 80 {
  lvs_sched rr
  lvs_method NAT
  protocol TCP
  delay_loop 30
${extra}
  real_server 198.19.0.2 80 { TCP_CHECK { connect_timeout 1 } }
  real_server 198.19.0.3 80 { TCP_CHECK { connect_timeout 1 } }
  real_server 198.19.0.4 80 { }
}
`;

/** The keepalived.conf's services programmed into a core director, and its health plan. */
function setup(text: string) {
  const c = parseKeepalivedText(text, "/x/k.conf", { configId: "me" });
  const d = makeDirector();
  for (const s of c.state.services) {
    d.addService(s.spec);
    for (const x of s.dests) d.addDest(s.spec.key, x);
  }
  return {
    c,
    d,
    plan: planHealth(c.state),
    find: (k: Parameters<Director["findService"]>[0]) => d.findService(k),
  };
}

const p = new FlowPacket();
const v = new Verdict();
let sport = 10000;

/** `n` connections to real server `rs` (picked by a one-dest scheduler) that it refuses. */
function refusals(d: Director, vip: string, rs: string, n: number): void {
  const svc = d.services().find((s) => s.key.kind === "addr" && String(s.key.addr) === vip)!;
  const dest = svc.dests.find((x) => String(x.addr) === rs)!;
  for (let k = 0; k < n; k++) {
    svc.scheduler = { name: "one", schedule: () => dest };
    const port = sport++;
    d.inbound(packet(p, IPPROTO_TCP, `198.18.1.1:${port}`, `${vip}:80`, TCP_SYN), 0, v);
    d.outbound(packet(p, IPPROTO_TCP, `${rs}:80`, `198.18.1.1:${port}`, TCP_RST | TCP_ACK), 0, v);
  }
}

function silentSyns(d: Director, vip: string, rs: string, retransmits: number): void {
  const svc = d.services().find((s) => s.key.kind === "addr" && String(s.key.addr) === vip)!;
  const dest = svc.dests.find((x) => String(x.addr) === rs)!;
  svc.scheduler = { name: "one", schedule: () => dest };
  const port = sport++;
  for (let k = 0; k <= retransmits; k++)
    d.inbound(packet(p, IPPROTO_TCP, `198.18.1.1:${port}`, `${vip}:80`, TCP_SYN), 0, v);
}

test("RSTs at the threshold in a second name the real server once per holdoff; below it, nothing", () => {
  const { d, plan, find } = setup(conf());
  const s = new HealthSensor();
  assert.deepEqual(s.sample(plan, find, 100), [], "the first look only takes the baselines");
  refusals(d, "198.18.0.10", "198.19.0.2", SENSOR_THRESHOLD - 1);
  assert.deepEqual(s.sample(plan, find, 101), [], "below the threshold");
  refusals(d, "198.18.0.10", "198.19.0.2", SENSOR_THRESHOLD);
  const hits = s.sample(plan, find, 102);
  assert.equal(hits.length, 1);
  const h = hits[0]!;
  assert.equal(h.rs.target, "198.19.0.2:80");
  assert.equal(h.rstReplies, SENSOR_THRESHOLD);
  assert.equal(h.synRetransmits, 0);
  assert.equal(h.rs.checkerIds.length, 1);
  assert.equal(
    sensorMessage(h),
    `sensor: 198.19.0.2:80 of tcp 198.18.0.10:80: 0 SYN retransmits, ${SENSOR_THRESHOLD} RSTs in 1 s: checking now`,
  );
  // Within the holdoff (1 s) the same real server is not named again, even above the rate.
  refusals(d, "198.18.0.10", "198.19.0.2", 10);
  assert.deepEqual(s.sample(plan, find, 102.5), []);
  refusals(d, "198.18.0.10", "198.19.0.2", 10);
  assert.equal(s.sample(plan, find, 103.1).length, 1);
});

test("SYN retransmits and RSTs add up; the other real server is not named", () => {
  const { d, plan, find } = setup(conf());
  const s = new HealthSensor();
  s.sample(plan, find, 0);
  silentSyns(d, "198.18.0.10", "198.19.0.3", 2);
  refusals(d, "198.18.0.10", "198.19.0.3", 1);
  refusals(d, "198.18.0.10", "198.19.0.2", 1);
  const hits = s.sample(plan, find, 1);
  assert.deepEqual(
    hits.map((h) => [h.rs.target, h.synRetransmits, h.rstReplies]),
    [["198.19.0.3:80", 2, 1]],
  );
});

test("a window shorter than a second names a real server as soon as the second's count is reached", () => {
  const { d, plan, find } = setup(conf());
  const s = new HealthSensor();
  s.sample(plan, find, 0);
  refusals(d, "198.18.0.10", "198.19.0.2", 1);
  assert.deepEqual(s.sample(plan, find, 0.2), []);
  refusals(d, "198.18.0.10", "198.19.0.2", 2);
  assert.equal(s.sample(plan, find, 0.4).length, 1, "3 in 0.4 s");
  // A late tick: 4 s of window needs 4 x 3.
  const late = new HealthSensor();
  late.sample(plan, find, 10);
  refusals(d, "198.18.0.10", "198.19.0.3", 11);
  assert.deepEqual(late.sample(plan, find, 14), []);
});

test("a real server without checkers, or a service with tslvs_sensor off, is never named", () => {
  const { d, plan, find, c } = setup(conf("  tslvs_sensor off"));
  assert.equal(c.state.services[0]!.health!.sensor, false);
  assert.deepEqual(c.diagnostics, []);
  const s = new HealthSensor();
  s.sample(plan, find, 0);
  refusals(d, "198.18.0.10", "198.19.0.2", 10);
  assert.deepEqual(s.sample(plan, find, 1), []);
  const on = setup(conf());
  const s2 = new HealthSensor();
  s2.sample(on.plan, on.find, 0);
  refusals(on.d, "198.18.0.10", "198.19.0.4", 10);
  assert.deepEqual(s2.sample(on.plan, on.find, 1), [], "198.19.0.4 has no checker to run");
});

test("tslvs_sensor: on by default (absent), on|off accepted, a bad value is an error", () => {
  assert.equal(setup(conf()).c.state.services[0]!.health!.sensor, undefined);
  assert.equal(setup(conf("  tslvs_sensor on")).c.state.services[0]!.health!.sensor, undefined);
  const bad = parseKeepalivedText(conf("  tslvs_sensor maybe"), "/x/k.conf", { configId: "me" });
  assert.equal(checkExitCode(bad.diagnostics), 5);
  assert.match(bad.diagnostics[0]!.message, /tslvs_sensor value 'maybe' is not a boolean/);
});

test("a virtual_server group's addresses count toward the group's one real server", () => {
  const text = `
virtual_server_group WEB {
  198.18.0.10 80
  198.18.0.11 80
}
virtual_server group WEB {
  lvs_sched rr
  lvs_method NAT
  protocol TCP
  real_server 198.19.0.2 80 { TCP_CHECK { connect_timeout 1 } }
}
`;
  const { d, plan, find } = setup(text);
  const s = new HealthSensor();
  s.sample(plan, find, 0);
  refusals(d, "198.18.0.10", "198.19.0.2", 2);
  refusals(d, "198.18.0.11", "198.19.0.2", 1);
  const hits = s.sample(plan, find, 1);
  assert.equal(hits.length, 1);
  assert.equal(hits[0]!.service, "group WEB");
  assert.equal(hits[0]!.rstReplies, 3);
});

test("established traffic and its ordinary RSTs do not feed the sensor", () => {
  const { d, plan, find } = setup(conf());
  const s = new HealthSensor();
  s.sample(plan, find, 0);
  const svc = d.services()[0]!;
  const dest = svc.dests.find((x) => String(x.addr) === "198.19.0.2")!;
  svc.scheduler = { name: "one", schedule: () => dest };
  for (let k = 0; k < 20; k++) {
    const port = sport++;
    const c = `198.18.1.1:${port}`;
    d.inbound(packet(p, IPPROTO_TCP, c, "198.18.0.10:80", TCP_SYN), 0, v);
    d.outbound(packet(p, IPPROTO_TCP, "198.19.0.2:80", c, TCP_SYN | TCP_ACK), 0, v);
    d.inbound(packet(p, IPPROTO_TCP, c, "198.18.0.10:80", TCP_ACK), 0, v);
    d.outbound(packet(p, IPPROTO_TCP, "198.19.0.2:80", c, TCP_RST), 0, v);
  }
  assert.deepEqual(s.sample(plan, find, 1), []);
});

test("counts that triggered are used up: a window still open at the next look does not count them again", () => {
  const { d, plan, find } = setup(conf());
  const s = new HealthSensor();
  s.sample(plan, find, 0);
  refusals(d, "198.18.0.10", "198.19.0.2", 3);
  assert.equal(s.sample(plan, find, 0.5).length, 1);
  assert.deepEqual(s.sample(plan, find, 1.6), [], "past the holdoff, nothing new");
  // A 1 s timer firing a little early still closes its window.
  refusals(d, "198.18.0.10", "198.19.0.2", 3);
  assert.equal(s.sample(plan, find, 2.59).length, 1);
  assert.deepEqual(s.sample(plan, find, 3.6), []);
});
