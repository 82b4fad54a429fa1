import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { IpAddr } from "../src/core/address.js";
import { CONN_F_TEMPLATE, ConnTable } from "../src/core/conn-table.js";
import { IPPROTO_TCP, IPPROTO_UDP } from "../src/core/flow.js";
import { TimerWheel } from "../src/core/timer-wheel.js";

const w = (s: string) => IpAddr.mustParse(s).words;

test("entries are found from the client side and from the real-server side, IPv4 and IPv6", () => {
  const t = new ConnTable({ capacity: 8, bucketBits: 4 });
  const a = t.alloc(IPPROTO_TCP, 4, w("1.2.3.4"), 5000, w("10.0.0.1"), 80, 4, w("192.168.1.2"), 8080, 0);
  t.hashIn(a);
  t.hashOut(a);
  const b = t.alloc(
    IPPROTO_TCP,
    6,
    w("2001:db8::1"),
    5000,
    w("2001:db8::80"),
    80,
    6,
    w("2001:db8::a"),
    80,
    0,
  );
  t.hashIn(b);
  t.setLocal(b, w("2001:db8::100"), 4000);
  t.hashOut(b);
  assert.equal(t.lookupIn(IPPROTO_TCP, 4, w("1.2.3.4"), 5000, w("10.0.0.1"), 80, false), a);
  assert.equal(t.lookupIn(IPPROTO_UDP, 4, w("1.2.3.4"), 5000, w("10.0.0.1"), 80, false), -1);
  assert.equal(t.lookupIn(IPPROTO_TCP, 4, w("1.2.3.4"), 5000, w("10.0.0.1"), 80, true), -1);
  assert.equal(t.lookupOut(IPPROTO_TCP, 4, w("192.168.1.2"), 8080, w("1.2.3.4"), 5000), a);
  assert.equal(t.lookupOut(IPPROTO_TCP, 4, w("192.168.1.2"), 8080, w("1.2.3.5"), 5000), -1);
  assert.equal(t.lookupIn(IPPROTO_TCP, 6, w("2001:db8::1"), 5000, w("2001:db8::80"), 80, false), b);
  assert.equal(t.lookupIn(IPPROTO_TCP, 6, w("2001:db9::1"), 5000, w("2001:db8::80"), 80, false), -1);
  assert.equal(t.lookupOut(IPPROTO_TCP, 6, w("2001:db8::a"), 80, w("2001:db8::100"), 4000), b);
  const out = new Uint32Array(4);
  assert.equal(IpAddr.fromWords(6, t.readLaddr(b, out)).toString(), "2001:db8::100");
  assert.equal(IpAddr.fromWords(6, t.readCaddr(b, out)).toString(), "2001:db8::1");
  assert.equal(IpAddr.fromWords(4, t.readDaddr(a, out)).toString(), "192.168.1.2");
  t.remove(a);
  assert.equal(t.lookupIn(IPPROTO_TCP, 4, w("1.2.3.4"), 5000, w("10.0.0.1"), 80, false), -1);
  assert.equal(t.lookupOut(IPPROTO_TCP, 4, w("192.168.1.2"), 8080, w("1.2.3.4"), 5000), -1);
  assert.equal(t.size, 1);
});

test("templates and conns with the same tuple are told apart by the TEMPLATE bit", () => {
  const t = new ConnTable({ capacity: 8, bucketBits: 1 });
  const c = t.alloc(IPPROTO_TCP, 4, w("1.2.3.0"), 0, w("10.0.0.1"), 80, 4, w("192.168.1.2"), 80, 0);
  t.hashIn(c);
  const tp = t.alloc(
    IPPROTO_TCP,
    4,
    w("1.2.3.0"),
    0,
    w("10.0.0.1"),
    80,
    4,
    w("192.168.1.2"),
    80,
    CONN_F_TEMPLATE,
  );
  t.hashIn(tp);
  assert.equal(t.lookupIn(IPPROTO_TCP, 4, w("1.2.3.0"), 0, w("10.0.0.1"), 80, true), tp);
  assert.equal(t.lookupIn(IPPROTO_TCP, 4, w("1.2.3.0"), 0, w("10.0.0.1"), 80, false), c);
});

test("a full table refuses new entries and counts the refusals", () => {
  const t = new ConnTable({ capacity: 2, bucketBits: 8 });
  const mk = (p: number) =>
    t.alloc(IPPROTO_TCP, 4, w("1.2.3.4"), p, w("10.0.0.1"), 80, 4, w("192.168.1.2"), 80, 0);
  const a = mk(1);
  mk(2);
  assert.equal(mk(3), -1);
  assert.equal(t.refusedFull, 1);
  t.free(a);
  assert.ok(mk(4) >= 0);
  assert.equal(t.refusedFull, 1);
  assert.equal(t.bucketCount, 256);
});

test("bytes per IPv4 entry stay within 128", () => {
  assert.ok(ConnTable.bytesPerEntry() <= 120, `${ConnTable.bytesPerEntry()}`);
});

test("timer wheel: due entries only, across revolutions and before the first collect", () => {
  const wh = new TimerWheel(16, 3); // 8 one-second slots
  wh.arm(0, 5);
  wh.arm(1, 20); // more than one revolution away
  wh.arm(2, 2.5);
  assert.equal(wh.collect(3), 1);
  assert.equal(wh.due()[0], 2);
  wh.disarm(2);
  assert.equal(wh.collect(6), 1);
  wh.disarm(0);
  assert.equal(wh.collect(13), 0);
  assert.equal(wh.collect(20), 1);
  assert.equal(wh.due()[0], 1);
  // Armed in the past: filed at the cursor, so the next collect finds it.
  wh.arm(3, 1);
  assert.equal(wh.collect(20), 2);
});

interface ModelEntry {
  idx: number;
  outKey: string;
  expireAt: number;
}

test("property: random insert / lookup / delete / expire against a Map model", () => {
  const op = fc.oneof(
    fc.record({
      k: fc.constant("ins" as const),
      c: fc.integer({ min: 0, max: 15 }),
      p: fc.integer({ min: 1, max: 6 }),
      v6: fc.boolean(),
      ttl: fc.integer({ min: 0, max: 40 }),
    }),
    fc.record({
      k: fc.constant("get" as const),
      c: fc.integer({ min: 0, max: 15 }),
      p: fc.integer({ min: 1, max: 6 }),
      v6: fc.boolean(),
    }),
    fc.record({
      k: fc.constant("del" as const),
      c: fc.integer({ min: 0, max: 15 }),
      p: fc.integer({ min: 1, max: 6 }),
      v6: fc.boolean(),
    }),
    fc.record({ k: fc.constant("tick" as const), dt: fc.integer({ min: 0, max: 30 }) }),
  );
  fc.assert(
    fc.property(fc.array(op, { maxLength: 200 }), (ops) => {
      const t = new ConnTable({ capacity: 24, bucketBits: 2, wheelBits: 3 });
      const model = new Map<string, ModelEntry>();
      let now = 0;
      const addr = (v6: boolean, c: number) => (v6 ? w(`2001:db8::${c + 1}`) : w(`10.1.0.${c + 1}`));
      const vip = (v6: boolean) => (v6 ? w("2001:db8::80") : w("10.0.0.1"));
      const rs = (v6: boolean, c: number) => (v6 ? w(`2001:db8:1::${c % 3}`) : w(`192.168.0.${c % 3}`));
      for (const o of ops) {
        if (o.k === "tick") {
          now += o.dt;
          const n = t.wheel.collect(now);
          const due = Array.from(t.wheel.due().subarray(0, n)).filter((i) => t.wheel.isDue(i, now));
          const expected = [...model.values()].filter((e) => e.expireAt <= now).map((e) => e.idx);
          assert.deepEqual(due.sort(), expected.sort());
          for (const i of due) t.remove(i);
          for (const [key, e] of model) if (e.expireAt <= now) model.delete(key);
          continue;
        }
        const af = o.v6 ? 6 : 4;
        const key = `${af}/${o.c}/${o.p}`;
        const found = t.lookupIn(IPPROTO_TCP, af, addr(o.v6, o.c), 1000 + o.p, vip(o.v6), 80, false);
        const m = model.get(key);
        assert.equal(found, m ? m.idx : -1, `lookup ${key}`);
        if (m) {
          const back = t.lookupOut(IPPROTO_TCP, af, rs(o.v6, o.c), 8000 + o.p, addr(o.v6, o.c), 1000 + o.p);
          assert.equal(back, m.idx, `reply lookup ${key}`);
        }
        if (o.k === "ins" && !m) {
          const i = t.alloc(
            IPPROTO_TCP,
            af,
            addr(o.v6, o.c),
            1000 + o.p,
            vip(o.v6),
            80,
            af,
            rs(o.v6, o.c),
            8000 + o.p,
            0,
          );
          if (model.size >= 24) {
            assert.equal(i, -1);
            continue;
          }
          assert.ok(i >= 0);
          t.hashIn(i);
          t.hashOut(i);
          t.wheel.arm(i, now + o.ttl);
          model.set(key, { idx: i, outKey: key, expireAt: now + o.ttl });
        } else if (o.k === "del" && m) {
          t.remove(m.idx);
          model.delete(key);
        }
        assert.equal(t.size, model.size);
      }
    }),
    { numRuns: 300 },
  );
});

test("the hash indexes grow with the entries: every entry still found from both sides, newest of equal keys first", () => {
  const t = new ConnTable({ capacity: 50000, bucketBits: 4 });
  const key = (n: number) => [0xc6120000 + (n >>> 8), 0xc6130000 + (n & 0xff)];
  // Two entries with one key, before any growth: the newer must stay first.
  const older = t.alloc(IPPROTO_TCP, 4, [0xc6120001], 1, [0xc612000a], 80, 4, [0xc6130001], 80, 0);
  t.hashIn(older);
  const newer = t.alloc(IPPROTO_TCP, 4, [0xc6120001], 1, [0xc612000a], 80, 4, [0xc6130001], 80, 0);
  t.hashIn(newer);
  const ids: number[] = [];
  for (let n = 0; n < 40000; n++) {
    const [c, d] = key(n);
    const i = t.alloc(IPPROTO_UDP, 4, [c!], 1000 + (n % 5000), [0xc612000a], 53, 4, [d!], 53, 0);
    t.hashIn(i);
    t.hashOut(i);
    ids.push(i);
  }
  assert.ok(t.bucketCount >= t.size, `${t.bucketCount} buckets for ${t.size} entries`);
  assert.equal(t.bucketCount, 65536, "doubled up to the capacity's power of two");
  for (let n = 0; n < 40000; n++) {
    const [c, d] = key(n);
    assert.equal(t.lookupIn(IPPROTO_UDP, 4, [c!], 1000 + (n % 5000), [0xc612000a], 53, false), ids[n]);
    assert.equal(t.lookupOut(IPPROTO_UDP, 4, [d!], 53, [c!], 1000 + (n % 5000)), ids[n]);
  }
  assert.equal(t.lookupIn(IPPROTO_TCP, 4, [0xc6120001], 1, [0xc612000a], 80, false), newer);
  t.remove(newer);
  assert.equal(t.lookupIn(IPPROTO_TCP, 4, [0xc6120001], 1, [0xc612000a], 80, false), older);
});
