/**
 * The health state machine without a network: keepalived's checker rules (spec A.9), the runner's
 * timing on a fake clock, quorum with hysteresis and the sorry server (A.10), inhibit_on_failure,
 * MISC_CHECK's dynamic weight, and which checkers a reload carries over (A.12).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { DesiredDest, DesiredService, DesiredState } from "../src/control/desired-state.js";
import type {
  CheckerSpec,
  CheckTiming,
  Probe,
  ProbeResult,
  ServiceHealth,
} from "../src/control/health/check-spec.js";
import { type CheckerReport, CheckerRunner, type RunnerClock } from "../src/control/health/checker-runner.js";
import { initialStatus, recordAttempt } from "../src/control/health/checker-state.js";
import { HealthBook } from "../src/control/health/health-book.js";
import { planHealth } from "../src/control/health/health-plan.js";
import { IpAddr } from "../src/core/address.js";
import { IPPROTO_TCP } from "../src/core/flow.js";

const T: CheckTiming = {
  delayLoop: 6,
  connectTimeout: 3,
  retry: 2,
  delayBeforeRetry: 1,
  warmup: 0,
  alpha: false,
  logAllFailures: false,
};

function tcp(ip: string, port: number, timing: Partial<CheckTiming> = {}): CheckerSpec {
  return {
    probe: { kind: "TCP_CHECK", target: { connectIp: ip, connectPort: port } },
    timing: { ...T, ...timing },
  };
}

function dest(ip: string, weight: number, checkers: CheckerSpec[], inhibit = false): DesiredDest {
  return {
    addr: IpAddr.parse(ip)!,
    port: 80,
    method: "masq",
    weight,
    uThreshold: 0,
    lThreshold: 0,
    tunType: "ipip",
    tunPort: 0,
    tunCsum: "nocsum",
    health: { checkers, inhibitOnFailure: inhibit },
  };
}

function service(dests: DesiredDest[], health: Partial<ServiceHealth> = {}): DesiredService {
  return {
    spec: {
      key: { kind: "addr", protocol: IPPROTO_TCP, addr: IpAddr.parse("198.18.0.10")!, port: 80 },
      scheduler: "wlc",
      flags: 0,
      timeout: 0,
      netmask: 0xffffffff,
      pe: "",
    },
    dests,
    laddrs: [],
    health: { quorum: 1, hysteresis: 0, omega: false, haSuspend: false, ...health },
  };
}

function state(services: DesiredService[]): DesiredState {
  return { timeouts: null, sysctls: {}, syncDaemons: [], services };
}

function report(
  id: string,
  ok: boolean,
  status: CheckerReport["status"],
  extra: Partial<ProbeResult> = {},
): CheckerReport {
  return { id, ok, reason: ok ? "ok" : "refused", latencyMs: 1, status, changed: false, at: 0, ...extra };
}

describe("checker state (keepalived's rules)", () => {
  it("a first failure marks a checker down at once; later ones only after retry attempts", () => {
    const s = initialStatus(T);
    assert.equal(s.up, true);
    assert.deepEqual(recordAttempt(s, false, T), { changed: true, next: 6 });
    assert.equal(s.up, false);
    assert.deepEqual(
      recordAttempt(s, false, T),
      { changed: false, next: 6 },
      "failing while down changes nothing",
    );
    assert.deepEqual(recordAttempt(s, true, T), { changed: true, next: 6 }, "one success restores it");
    assert.deepEqual(
      recordAttempt(s, false, T),
      { changed: false, next: 1 },
      "1st retry, delay_before_retry later",
    );
    assert.deepEqual(recordAttempt(s, false, T), { changed: false, next: 1 }, "2nd retry");
    assert.deepEqual(recordAttempt(s, false, T), { changed: true, next: 6 }, "retry + 1 failures: down");
    assert.equal(s.retryIt, 0);
  });

  it("a success between failures resets the retries", () => {
    const s = initialStatus(T);
    recordAttempt(s, true, T);
    recordAttempt(s, false, T);
    recordAttempt(s, true, T);
    assert.equal(s.retryIt, 0);
    recordAttempt(s, false, T);
    assert.equal(s.up, true);
  });

  it("alpha starts down", () => {
    assert.equal(initialStatus({ ...T, alpha: true }).up, false);
  });
});

/** Timers on a clock the test moves. */
class FakeClock implements RunnerClock {
  t = 0;
  private timers: { at: number; fn: () => void; id: number }[] = [];
  private next = 1;
  setTimeout(fn: () => void, ms: number): unknown {
    const id = this.next++;
    this.timers.push({ at: this.t + ms, fn, id });
    return id;
  }
  clearTimeout(h: unknown): void {
    this.timers = this.timers.filter((x) => x.id !== h);
  }
  now(): number {
    return this.t;
  }
  wallNow(): number {
    return this.t;
  }
  /** Moves time to `ms`, firing due timers in order (and letting their promises settle). */
  async advance(ms: number): Promise<void> {
    const end = this.t + ms;
    for (;;) {
      this.timers.sort((a, b) => a.at - b.at);
      const first = this.timers[0];
      if (!first || first.at > end) break;
      this.timers.shift();
      this.t = first.at;
      first.fn();
      for (let i = 0; i < 5; i++) await Promise.resolve();
    }
    this.t = end;
  }
}

describe("checker runner", () => {
  it("runs first after 1 s, then every delay_loop; retries delay_before_retry apart; reports each change", async () => {
    const clock = new FakeClock();
    const outcomes = [true, false, false, false, true];
    const starts: number[] = [];
    const probe: Probe = async () => {
      starts.push(clock.t);
      const ok = outcomes.shift() ?? true;
      return { ok, reason: ok ? "ok" : "refused", latencyMs: 0 };
    };
    const reports: CheckerReport[] = [];
    const runner = new CheckerRunner(
      probe,
      (r) => reports.push(r),
      clock,
      () => 0,
    );
    runner.setPlan([{ id: "a", spec: tcp("198.19.0.1", 80) }]);
    await clock.advance(30_000);
    // 1 s, +6 s (ok), +1 s (fail 1), +1 s (fail 2), +6 s (fail 3: down), +6 s (ok: up)
    assert.deepEqual(starts.slice(0, 6), [1000, 7000, 8000, 9000, 15000, 21000]);
    assert.deepEqual(
      reports.filter((r) => r.changed).map((r) => [r.ok, r.status.up]),
      [
        [false, false],
        [true, true],
      ],
    );
    runner.stop();
  });

  it("a new plan keeps a checker's state and timer; a trigger runs it at once", async () => {
    const clock = new FakeClock();
    let runs = 0;
    const probe: Probe = async () => {
      runs++;
      return { ok: false, reason: "refused", latencyMs: 0 };
    };
    const runner = new CheckerRunner(
      probe,
      () => {},
      clock,
      () => 0,
    );
    runner.setPlan([{ id: "a", spec: tcp("198.19.0.1", 80) }]);
    await clock.advance(1000);
    assert.equal(runs, 1);
    runner.setPlan([{ id: "a", spec: tcp("198.19.0.1", 80, { retry: 5 }) }]);
    await clock.advance(1000);
    assert.equal(runs, 1, "the kept checker did not start over");
    runner.trigger(["a"]);
    await clock.advance(0);
    assert.equal(runs, 2);
    runner.setPlan([]);
    assert.equal(runner.size, 0);
    await clock.advance(60_000);
    assert.equal(runs, 2, "a removed checker never runs again");
  });
});

describe("health book", () => {
  it("quorum with hysteresis and the sorry server (spec A.10's example)", () => {
    const rs = ["198.19.0.1", "198.19.0.2", "198.19.0.3"].map((ip) => dest(ip, 2, [tcp(ip, 80)], true));
    const desired = state([
      service(rs, {
        quorum: 4,
        hysteresis: 1,
        sorryServer: { addr: "198.18.0.99", port: 0, method: "masq", inhibit: false },
      }),
    ]);
    const book = new HealthBook();
    const planned = book.setPlan(planHealth(desired));
    assert.equal(planned.length, 3);
    const [a, b, c] = planned.map((p) => p.id);
    const down = { up: false, hasRun: true, retryIt: 0 };
    const up = { up: true, hasRun: true, retryIt: 0 };
    const weights = () => book.effective(desired).services[0]!.dests.map((d) => `${d.addr}:${d.weight}`);
    assert.deepEqual(weights(), ["198.19.0.1:2", "198.19.0.2:2", "198.19.0.3:2"]);
    assert.deepEqual(
      book.record(report(a!, false, down)).events.map((e) => e.kind),
      ["rs-down"],
    );
    assert.deepEqual(
      weights(),
      ["198.19.0.1:0", "198.19.0.2:2", "198.19.0.3:2"],
      "inhibited: weight 0; W=4 >= 3",
    );
    assert.deepEqual(
      book.record(report(b!, false, down)).events.map((e) => e.kind),
      ["rs-down", "quorum-down"],
    );
    assert.deepEqual(
      weights(),
      ["198.19.0.1:0", "198.19.0.2:0", "198.19.0.3:0", "198.18.0.99:1"],
      "sorry server in",
    );
    assert.deepEqual(
      book.record(report(a!, true, up)).events.map((e) => e.kind),
      ["rs-up"],
      "W=4 < 5: still lost",
    );
    assert.equal(book.effective(desired).services[0]!.dests.at(-1)!.addr.toString(), "198.18.0.99");
    assert.deepEqual(
      book.record(report(b!, true, up)).events.map((e) => e.kind),
      ["rs-up", "quorum-up"],
    );
    assert.deepEqual(weights(), ["198.19.0.1:2", "198.19.0.2:2", "198.19.0.3:2"], "sorry server out");
    void c;
  });

  it("a failed real server without inhibit_on_failure leaves; MISC_CHECK misc_dynamic sets the weight", () => {
    const misc: CheckerSpec = {
      probe: { kind: "MISC_CHECK", script: { argv: ["/bin/true"] }, timeout: 5, dynamic: true },
      timing: T,
    };
    const desired = state([
      service([dest("198.19.0.1", 50, [misc]), dest("198.19.0.2", 1, [tcp("198.19.0.2", 80)])]),
    ]);
    const book = new HealthBook();
    const [m, t] = book.setPlan(planHealth(desired)).map((p) => p.id);
    const up = { up: true, hasRun: true, retryIt: 0 };
    const r = book.record(report(m!, true, up, { dynamicWeight: 7 }));
    assert.equal(r.reprogram, true, "a new weight is programmed");
    assert.deepEqual(r.events, []);
    book.record(report(t!, false, { up: false, hasRun: true, retryIt: 0 }));
    assert.deepEqual(
      book.effective(desired).services[0]!.dests.map((d) => `${d.addr}:${d.weight}`),
      ["198.19.0.1:7"],
    );
  });

  it("a reload keeps the state of an unchanged checker and of one whose retry changed; a changed target is new and runs at once", () => {
    const book = new HealthBook();
    const first = state([service([dest("198.19.0.1", 1, [tcp("198.19.0.1", 80)])])]);
    const [id] = book.setPlan(planHealth(first)).map((p) => p.id);
    book.record(report(id!, false, { up: false, hasRun: true, retryIt: 0 }));
    const retried = state([service([dest("198.19.0.1", 1, [tcp("198.19.0.1", 80, { retry: 9 })])])]);
    const again = book.setPlan(planHealth(retried));
    assert.equal(again[0]!.id, id);
    assert.equal(again[0]!.status?.up, false, "still down after the reload");
    assert.equal(again[0]!.runNow, false);
    const moved = state([service([dest("198.19.0.1", 1, [tcp("198.19.0.1", 8080)])])]);
    const next = book.setPlan(planHealth(moved));
    assert.notEqual(next[0]!.id, id);
    assert.equal(next[0]!.status?.up, true);
    assert.equal(next[0]!.runNow, true, "a changed checker runs at once (a fixed script brings its RS back)");
  });
});
