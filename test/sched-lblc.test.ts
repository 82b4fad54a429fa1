import assert from "node:assert/strict";
import { test } from "node:test";
import type { LocalityLeastConn } from "../src/core/schedulers/lblc.js";
import type { LocalityLeastConnReplicated } from "../src/core/schedulers/lblcr.js";
import { Fixture, ip, label, TestContext } from "./sched-fixture.js";

const A = "10.0.0.1";
const B = "10.0.0.2";
const C = "10.0.0.3";
const CLIENT = "203.0.113.5";

test("lblc: a destination address sticks to its dest; new addresses get the wlc pick", () => {
  const f = new Fixture("lblc");
  const a = f.add(A, 1);
  const b = f.add(B, 1);
  assert.equal(f.pick(CLIENT, "192.0.2.1"), b, "all idle: wlc picks the newest");
  b.activeConns = 1;
  assert.equal(f.pick(CLIENT, "192.0.2.2"), a);
  a.activeConns = 1;
  assert.equal(f.pick(CLIENT, "192.0.2.1"), b, "cached, although now a tie");
  assert.equal(f.pick("198.51.100.1", "192.0.2.2"), a, "the client does not matter, the destination does");
});

test("lblc: a cached dest is left when quiesced, deleted, or over its weight while another is under half", () => {
  const f = new Fixture("lblc");
  const a = f.add(A, 4);
  const b = f.add(B, 4);
  assert.equal(f.pick(CLIENT, "192.0.2.1"), b);
  f.setWeight(b, 0);
  assert.equal(f.pick(CLIENT, "192.0.2.1"), a);
  f.setWeight(b, 4);
  assert.equal(f.pick(CLIENT, "192.0.2.1"), a, "the entry was replaced by a");
  a.activeConns = 5; // over weight 4 …
  b.activeConns = 2; // … but nobody is under half (2·2 = 4, not < 4)
  assert.equal(f.pick(CLIENT, "192.0.2.1"), a);
  b.activeConns = 1; // b is under half now
  assert.equal(f.pick(CLIENT, "192.0.2.1"), b);
  f.del(b);
  assert.equal(f.pick(CLIENT, "192.0.2.1"), a, "a deleted dest is not AVAILABLE");
  f.setOverload(a, true);
  assert.equal(f.pick(CLIENT, "192.0.2.9"), null, "no usable dest for a new address");
});

test("lblc: full sweeps every 30 minutes drop entries idle for lblc_expiration (default 24 h)", () => {
  const ctx = new TestContext(); // t = 1000 at creation: collector ticks at 1060, 1120, …
  const f = new Fixture("lblc", ctx);
  f.add(A, 1);
  const s = f.sched as LocalityLeastConn;
  f.pick(CLIENT, "192.0.2.1");
  assert.equal(s.size, 1);
  // Full sweeps run on every 30th tick: t = 1000 + 1800k. Entry idle since 1000, expires at 87400.
  s.expire(87399);
  assert.equal(s.size, 1);
  s.expire(87400);
  assert.equal(s.size, 0);
});

test("lblc: lblc_expiration comes from the context; the sweep grid survives a long idle gap", () => {
  const ctx = new TestContext();
  let expiration = 100;
  ctx.lblcExpiration = () => expiration;
  const f = new Fixture("lblc", ctx);
  f.add(A, 1);
  const s = f.sched as LocalityLeastConn;
  f.pick(CLIENT, "192.0.2.1");
  s.expire(2799);
  assert.equal(s.size, 1);
  s.expire(2800); // the first full sweep
  assert.equal(s.size, 0);
  // A year later (the empty table's ticks are skipped arithmetically), sweeps stay on the grid.
  const later = 1000 + 1800 * 17520 + 5;
  ctx.t = later;
  f.pick(CLIENT, "192.0.2.1");
  assert.equal(s.size, 1);
  s.expire(1000 + 1800 * 17521 - 1);
  assert.equal(s.size, 1);
  s.expire(1000 + 1800 * 17521);
  assert.equal(s.size, 0);
  expiration = 86400;
  ctx.t = 1000 + 1800 * 17521 + 1;
  f.pick(CLIENT, "192.0.2.1");
  s.expire(1000 + 1800 * 17522);
  assert.equal(s.size, 1, "a longer expiration keeps it");
});

test("lblc: above 16384 entries, each minute evicts entries idle ≥ 6 min, about (n − 16384)·4/3 of them", () => {
  const ctx = new TestContext();
  const f = new Fixture("lblc", ctx);
  f.add(A, 1);
  const s = f.sched as LocalityLeastConn;
  const n = 17000;
  for (let i = 0; i < n; i++) f.pickRaw(ip(CLIENT), (0xc0000000 + i) >>> 0);
  assert.equal(s.size, n);
  s.expire(1359); // ticks at 1060 … 1300 find nobody idle for 6 minutes
  assert.equal(s.size, n);
  s.expire(1360);
  const goal = Math.trunc(((n - 16384) * 4) / 3);
  assert.ok(s.size <= n - goal, `evicted ${n - s.size}, goal ${goal}`);
  assert.ok(s.size > n - goal - 100, `evicted ${n - s.size}: stops after the bucket that reached the goal`);
});

test("lblcr: a destination address maps to a set; the set's least loaded member serves", () => {
  const f = new Fixture("lblcr");
  const a = f.add(A, 1);
  const b = f.add(B, 1);
  const s = f.sched as LocalityLeastConnReplicated;
  const dst = "192.0.2.1";
  assert.equal(f.pick(CLIENT, dst), b);
  assert.deepEqual(s.members(4, [ip(dst), 0, 0, 0]), [b]);
  b.activeConns = 3; // over weight 1, and a is under half (0 < 1)
  assert.equal(f.pick(CLIENT, dst), a, "b is overloaded in the lblc sense: wlc pick a joins");
  assert.deepEqual(s.members(4, [ip(dst), 0, 0, 0]), [a, b]);
  a.activeConns = 1;
  b.activeConns = 1;
  assert.equal(f.pick(CLIENT, dst), a, "both 257/1: the earlier member (a, newest first) wins");
});

test("lblcr: a set unchanged for lblcr_expiration loses its most loaded member", () => {
  const ctx = new TestContext();
  ctx.lblcrExpiration = () => 100;
  const f = new Fixture("lblcr", ctx);
  const a = f.add(A, 1);
  const b = f.add(B, 1);
  const c = f.add(C, 1);
  const s = f.sched as LocalityLeastConnReplicated;
  const dst = "192.0.2.1";
  const key = [ip(dst), 0, 0, 0];
  assert.equal(f.pick(CLIENT, dst), c);
  c.activeConns = 2;
  assert.equal(f.pick(CLIENT, dst), b);
  assert.deepEqual(s.members(4, key), [b, c]);
  a.activeConns = 1;
  b.activeConns = 1;
  ctx.t += 100;
  assert.equal(label(f.pick(CLIENT, dst)), B, "not yet: now must be after lastmod + expiration");
  assert.deepEqual(s.members(4, key), [b, c]);
  ctx.t += 1;
  assert.equal(f.pick(CLIENT, dst), b);
  assert.deepEqual(s.members(4, key), [b], "c (514) was the most loaded");
});
