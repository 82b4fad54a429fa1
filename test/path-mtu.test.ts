import assert from "node:assert/strict";
import { test } from "node:test";
import { MIN_PMTU, PathMtuCache, PMTU_EXPIRES } from "../src/dataplane/path-mtu.js";

const RS = 0xc6131414;
const OTHER = 0xc613141e;

test("a learnt path MTU only lowers the route's, never below min_pmtu, and expires", () => {
  let now = 100;
  const c = new PathMtuCache(() => now);
  assert.equal(c.get(RS, 1500), 1500, "nothing learnt: the route's MTU");
  assert.equal(c.learn(RS, 1400, 1500), 1400);
  assert.equal(c.get(RS, 1500), 1400);
  assert.equal(c.get(RS, 1300), 1300, "a route MTU lower still wins");
  assert.equal(c.get(OTHER, 1500), 1500, "other destinations are untouched");
  assert.equal(c.learn(RS, 1450, 1500), 1400, "a larger value changes nothing");
  assert.equal(c.learn(RS, 68, 1500), MIN_PMTU, "clamped to min_pmtu");
  assert.equal(c.lowered, 2);
  now += PMTU_EXPIRES - 1;
  assert.equal(c.get(RS, 1500), MIN_PMTU);
  now += 1;
  assert.equal(c.get(RS, 1500), 1500, "forgotten after mtu_expires");
  assert.equal(c.size, 0);
});
