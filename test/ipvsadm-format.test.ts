/** tslvsadm's pure formatting pieces: print_largenum, 32-bit reads, glibc's merge-sort order. */
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { formatServices } from "../src/cli/ipvsadm/list-services.js";
import { NUMERIC } from "../src/cli/ipvsadm/names.js";
import { largeNum, low32 } from "../src/cli/ipvsadm/printf.js";
import { glibcMergeSort } from "../src/cli/ipvsadm/sort.js";
import type { ServiceEntry } from "../src/control/api.js";

test("largeNum: scaling boundaries, 9-column field, decimal units, truncating division", () => {
  const cases: [number, string][] = [
    [0, "        0"],
    [99999999, " 99999999"],
    [100000000, "  100000K"],
    [123456789, "  123456K"],
    [999999999, "  999999K"],
    [1e9, "    1000M"],
    [99999999999, "   99999M"],
    [1e11, "     100G"],
    [99999999999999, "   99999G"],
    [1e14, "     100T"],
    [2 ** 53, "    9007T"],
  ];
  for (const [v, s] of cases) assert.equal(largeNum(v, false), s, String(v));
  assert.equal(largeNum(2n ** 64n - 1n, false), "18446744T");
});

test("largeNum exact: width max(9, digits + 1), every digit (bigint beyond 2^53)", () => {
  assert.equal(largeNum(5, true), "        5");
  assert.equal(largeNum(99999999, true), " 99999999");
  assert.equal(largeNum(100000000, true), " 100000000");
  assert.equal(largeNum(2 ** 53, true), " 9007199254740992");
  assert.equal(largeNum(2n ** 64n - 1n, true), " 18446744073709551615");
});

test("low32: what a 32-bit getter reads from a 64-bit counter", () => {
  assert.equal(low32(4294967295), 4294967295);
  assert.equal(low32(2 ** 32), 0);
  assert.equal(low32(5e9), 705032704);
  assert.equal(low32(2 ** 53), 0);
});

test("glibcMergeSort equals a stable sort whenever the comparator is a total order", () => {
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: 20 }), fc.nat())), (items) => {
      const cmp = (a: [number, number], b: [number, number]) => a[0] - b[0];
      assert.deepEqual(glibcMergeSort(items, cmp), [...items].sort(cmp));
    }),
  );
});

test("glibcMergeSort reproduces glibc's order under the wrapping int32 comparator", () => {
  // The services of the spec's wrap-around case, in the order they were added.
  const addrs = [0x0a000001, 0xc8000001, 0x64000001, 0x96000001, 0x09000001];
  const sorted = glibcMergeSort(addrs, (a, b) => (a - b) | 0);
  assert.deepEqual(sorted, [0x64000001, 0x96000001, 0xc8000001, 0x09000001, 0x0a000001]);
});

test("formatter on ServiceEntry data: counters up to 2^53 in --stats, real-server rows modulo 2^32", () => {
  const z = { conns: 0, inPkts: 0, outPkts: 0, inBytes: 0, outBytes: 0 };
  const r0 = { cps: 0, inPps: 0, outPps: 0, inBps: 0, outBps: 0 };
  const svc: ServiceEntry = {
    id: { protocol: "tcp", addr: "10.0.0.1", port: 80 },
    scheduler: "wlc",
    flags: 0,
    timeout: 0,
    netmask: "255.255.255.255",
    pe: "",
    af: 4,
    stats: { conns: 2 ** 53, inPkts: 1, outPkts: 2, inBytes: 3, outBytes: 2 ** 53 },
    rates: r0,
    dests: [
      {
        addr: "10.0.0.2",
        port: 80,
        method: "route",
        weight: 1,
        uThreshold: 0,
        lThreshold: 0,
        tunType: "ipip",
        tunPort: 0,
        tunCsum: "nocsum",
        af: 4,
        activeConns: 0,
        inactConns: 0,
        persistConns: 0,
        flags: 1,
        stats: { ...z, conns: 2 ** 32 + 7, inBytes: 2 ** 40 },
        rates: r0,
      },
    ],
  };
  const out: string[] = [];
  const f = {
    numeric: true,
    stats: true,
    rate: false,
    thresholds: false,
    persistentConn: false,
    nosort: false,
    exact: true,
    tunInfo: false,
    json: false,
  };
  formatServices([svc], f, NUMERIC, out);
  assert.deepEqual(out.join("").split("\n").slice(2), [
    "TCP  10.0.0.1:80                  9007199254740992        1        2        3 9007199254740992",
    "  -> 10.0.0.2:80                         7        0        0 1099511627776        0",
    "",
  ]);
});
