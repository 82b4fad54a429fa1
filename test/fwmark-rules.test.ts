/**
 * The firewall-mark rules: nft's JSON (a ruleset listed by nft 1.0.6, test/fixtures/nft/) compiled
 * and evaluated as netfilter would — base chains by priority, rule order, a mark set before a match
 * that fails, later sets overwriting, accept ending a base chain, drop ending everything, jump /
 * goto / return, policies, families, sets, ranges, negations, `|` and `&` on the mark — and the rules
 * it cannot compile reported by handle. Then the steering program's copy of the same rules (run in
 * the kernel with BPF_PROG_TEST_RUN) steers exactly the packets the TypeScript evaluation marks
 * for a firewall-mark service, over generated packets.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { after, before, describe, test } from "node:test";
import fc from "fast-check";
import { parseConfig } from "../src/control/config.js";
import { fwmarkRules, readFwmarks, withConfigChain } from "../src/control/config-fwmarks.js";
import { renderHealthMetrics } from "../src/control/health-metrics.js";
import { IpAddr } from "../src/core/address.js";
import { fwmarkKey } from "../src/core/library.js";
import { SVC_F_PERSISTENT } from "../src/core/service.js";
import {
  evaluateMarks,
  MARK_DROPPED,
  type MarkPacket,
  type MarkProgram,
} from "../src/dataplane/marks/mark-rules.js";
import { compileNftRuleset } from "../src/dataplane/marks/nft-compile.js";
import { ruleLinesByHandle, ruleLineToExpr } from "../src/dataplane/marks/nft-text-rules.js";
import { SlowPath, TxDecision } from "../src/dataplane/slow-path.js";
import { SteeringMaps } from "../src/dataplane/xdp/steering-maps.js";
import { loadSteeringProgram } from "../src/dataplane/xdp/steering-program.js";
import { readMac } from "../src/net/ethernet.js";
import { closeFd, progTestRun } from "../src/platform/bpf.js";
import { destSpec, makeDirector, svcSpec } from "./director-fixtures.js";
import { buildFrame } from "./net-frames.js";
import { asXdpVerdict, type ProgramHook, XDP_DROP, XDP_PASS } from "./support/fastpath-rig.js";
import { ethernet, ipv4, ipv6, ports } from "./support/frames.js";
import { haveRoot, PRIVILEGED } from "./support/privileged.js";

const RULESET = JSON.parse(
  readFileSync(resolve(import.meta.dirname, "../../test/fixtures/nft/marks-ruleset.json"), "utf8"),
) as unknown;
/** The fixture's `iifname "dum0"`: here interface 1 (BPF_PROG_TEST_RUN's frames arrive on lo, 1). */
const HOST = { ifindexOf: (name: string) => (name === "dum0" ? 1 : null) };
const TCP = 6;
const UDP = 17;

const words = (text: string) => [...IpAddr.parse(text)!.words];
function pkt(
  saddr: string,
  daddr: string,
  protocol: number,
  dport: number,
  opts: { sport?: number; ifindex?: number } = {},
): MarkPacket {
  const family = IpAddr.parse(saddr)!.family;
  return {
    family,
    protocol,
    saddr: words(saddr),
    daddr: words(daddr),
    sport: opts.sport ?? 40000,
    dport,
    ifindex: opts.ifindex ?? 2,
  };
}

describe("nft JSON compiled to mark rules", () => {
  const compiled = compileNftRuleset(RULESET, HOST);
  const mark = (p: MarkPacket) => evaluateMarks(compiled.program, p);
  const C = "198.18.0.100";

  test("the base chains run by priority, the later one of -150 after the earlier; priority 0 is left out", () => {
    assert.deepEqual(
      compiled.program.hooks.map((h) => [
        compiled.program.chains[h.chain]!.name,
        h.priority,
        h.family,
        h.policy,
      ]),
      [
        ["inet lb early", -300, 0, "accept"],
        ["ip guard pre", -160, 4, "accept"],
        ["inet lb pre", -150, 0, "accept"],
        ["ip6 strict pre", -150, 6, "drop"],
      ],
    );
  });

  test("rule order: the first rule sets, a later one overwrites; a rule without a match leaves it", () => {
    assert.equal(mark(pkt(C, "198.18.0.10", TCP, 80)), 1); // tcp dport @webports
    assert.equal(mark(pkt(C, "198.18.0.10", TCP, 443)), 1);
    assert.equal(mark(pkt("198.18.0.200", "198.18.0.10", TCP, 80)), 2); // overwritten by handle 9
    assert.equal(mark(pkt("198.18.0.200", "198.18.0.10", TCP, 443)), 1); // handle 9 is port 80 only
    assert.equal(mark(pkt(C, "198.18.0.10", UDP, 80)), 0); // tcp dport implies TCP
    assert.equal(mark(pkt(C, "198.18.0.10", TCP, 8080)), 0);
  });

  test("a mark set before a failing match stays; accept ends the chain", () => {
    assert.equal(mark(pkt(C, "198.18.0.11", TCP, 8080)), 3); // set 3, dport 8080, accept
    assert.equal(mark(pkt(C, "198.18.0.11", TCP, 9090)), 4); // set 3, no match, handle 11 sets 4
  });

  test("drop in an earlier chain wins over any mark; drop in a jumped-to chain too", () => {
    assert.equal(mark(pkt("198.18.9.5", "198.18.0.10", TCP, 80)), MARK_DROPPED); // raw: saddr drop
    assert.equal(mark(pkt(C, "198.18.0.18", TCP, 25)), MARK_DROPPED); // ip guard at -160
    assert.equal(mark(pkt(C, "198.18.0.19", TCP, 25)), 0xb);
    assert.equal(mark(pkt(C, "198.18.0.12", UDP, 53)), MARK_DROPPED); // sub: set 9, then drop
  });

  test("an accepted mark in an early chain goes on through the later chains", () => {
    assert.equal(mark(pkt(C, "198.18.0.10", UDP, 9999)), 0x63);
  });

  test("jump comes back, return leaves the called chain, goto does not come back", () => {
    assert.equal(mark(pkt(C, "198.18.0.12", TCP, 443)), 0); // sub returns before setting 9
    assert.equal(mark(pkt(C, "198.18.0.12", TCP, 80)), 9);
    assert.equal(mark(pkt(C, "198.18.0.13", TCP, 80)), 9);
  });

  test("iifname, negated sets with ranges, | and & on the mark, < as a range", () => {
    assert.equal(mark(pkt(C, "198.18.0.14", TCP, 80, { ifindex: 1 })), 8);
    assert.equal(mark(pkt(C, "198.18.0.14", TCP, 80, { ifindex: 2 })), 0);
    assert.equal(mark(pkt(C, "198.18.0.15", TCP, 2000)), 0x10); // != {22, 1-10}: mark | 0x10
    assert.equal(mark(pkt(C, "198.18.0.15", TCP, 80)), 0x10); // | 0x10, then < 1024: & ~0xf, accept
    assert.equal(mark(pkt(C, "198.18.0.15", TCP, 5)), 0); // in 1-10: no |, then & and accept
  });

  test("IPv6: prefixes and th dport sets; the ip6 table's drop policy drops what it does not accept", () => {
    assert.equal(mark(pkt("2001:2:0:1::5", "2001:2::1", UDP, 53)), 6);
    assert.equal(mark(pkt("2001:2:0:1::5", "2001:2::1", TCP, 1500)), 6);
    assert.equal(mark(pkt("2001:2:0:1::5", "2001:2::1", UDP, 3000)), 0);
    assert.equal(mark(pkt("2001:2:0:1::5", "2001:2:1::1", UDP, 53)), 0);
    assert.equal(mark(pkt("2001:2:0:2::5", "2001:2::1", UDP, 53)), MARK_DROPPED);
  });

  test("the rules it cannot compile are reported by handle, with why; a counter-only rule is not", () => {
    const byHandle = new Map(compiled.uncompiled.map((u) => [u.handle, u]));
    assert.deepEqual(
      [...byHandle.keys()].sort((a, b) => a - b),
      [16, 21, 26],
    );
    assert.match(byHandle.get(16)!.reason, /"ct"|ct/);
    assert.match(byHandle.get(21)!.reason, /ct/);
    assert.match(byHandle.get(26)!.reason, /priority 0, after mangle/);
    assert.equal(byHandle.get(16)!.chain, "pre");
    assert.equal(byHandle.get(16)!.table, "lb");
    // Left out, they match nothing: ct state invalid's mark 7 is never given.
    assert.equal(mark(pkt(C, "198.18.0.16", TCP, 80)), 0);
  });

  test("iptables-nft's MARK target (an xtables target) is reported, its rule left out", () => {
    const doc = {
      nftables: [
        { table: { family: "ip", name: "mangle", handle: 1 } },
        {
          chain: {
            family: "ip",
            table: "mangle",
            name: "PREROUTING",
            handle: 1,
            type: "filter",
            hook: "prerouting",
            prio: -150,
            policy: "accept",
          },
        },
        {
          rule: {
            family: "ip",
            table: "mangle",
            chain: "PREROUTING",
            handle: 4,
            expr: [
              {
                match: {
                  op: "==",
                  left: { payload: { protocol: "tcp", field: "dport" } },
                  right: 80,
                },
              },
              { counter: { packets: 0, bytes: 0 } },
              { xt: { type: "target", name: "MARK" } },
            ],
          },
        },
      ],
    };
    const c = compileNftRuleset(doc, HOST);
    assert.equal(c.uncompiled.length, 1);
    assert.equal(c.uncompiled[0]!.handle, 4);
    assert.match(c.uncompiled[0]!.reason, /xtables target "MARK"/);
    assert.equal(evaluateMarks(c.program, pkt(C, "198.18.0.10", TCP, 80)), 0);
  });

  test("the config's fwmarks: one chain after the host's at -150; first entry wins; a host drop wins", () => {
    const state = parseConfig(
      [
        "fwmarks:",
        "  - mark: 21",
        "    protocol: tcp",
        "    daddr: [198.18.0.10, 198.18.0.30/31]",
        "    dport: [80, 443, 8000-8080]",
        "  - mark: 22",
        "    daddr: 198.18.0.10",
        "  - mark: 23",
        "    daddr: 2001:2::/64",
        "    dport: 53",
        "services: []",
      ].join("\n"),
      "t.yaml",
    );
    const rules = fwmarkRules(state.fwmarks!, HOST.ifindexOf);
    const p = withConfigChain(compiled.program, rules);
    assert.deepEqual(
      p.hooks.slice(-3).map((h) => [p.chains[h.chain]!.name, h.priority]),
      [
        ["inet lb pre", -150],
        ["ip6 strict pre", -150],
        ["config fwmarks", -150],
      ],
    );
    const only = withConfigChain({ chains: [], hooks: [] }, rules);
    assert.equal(evaluateMarks(only, pkt(C, "198.18.0.31", TCP, 8005)), 21);
    assert.equal(evaluateMarks(only, pkt(C, "198.18.0.10", UDP, 80)), 22);
    assert.equal(evaluateMarks(only, pkt("2001:2::9", "2001:2::1", UDP, 53)), 23);
    assert.equal(evaluateMarks(only, pkt(C, "198.18.0.32", TCP, 80)), 0);
    // With the host's rules: its mark 1 is overwritten by the config's later chain; its drop stays.
    assert.equal(evaluateMarks(p, pkt(C, "198.18.0.10", TCP, 80)), 21);
    assert.equal(evaluateMarks(p, pkt("198.18.9.5", "198.18.0.10", TCP, 80)), MARK_DROPPED);
    assert.throws(
      () => parseConfig("fwmarks:\n  - mark: 1\n    daddr: [198.18.0.1, 2001:2::1]\n", "t.yaml"),
      /t\.yaml:3: daddr: IPv4 and IPv6 in one entry/,
    );
    assert.throws(
      () => parseConfig("fwmarks:\n  - mark: 1\n    dport: 9-1\n", "t.yaml"),
      /not a port or a range/,
    );
    assert.throws(() => parseConfig("fwmarks:\n  - daddr: 198.18.0.1\n", "t.yaml"), /needs mark/);
    assert.ok(readFwmarks);
  });
});

/** The program's verdict for the packet, by BPF_PROG_TEST_RUN, against the TypeScript evaluation. */
function agreement(hook: ProgramHook): void {
  const compiled = compileNftRuleset(RULESET, HOST);
  const program: MarkProgram = compiled.program;
  const serviceMarks = { 4: [1, 2, 3, 4, 8, 9, 0x10, 0xb, 0x63], 6: [6] } as const;
  let maps: SteeringMaps | null = null;
  let prog = -1;
  before(() => {
    if (!PRIVILEGED) return;
    maps = SteeringMaps.create();
    prog = loadSteeringProgram(maps.fds, {
      missAction: "drop",
      hook: hook === "xdp" ? "xdp" : { tc: 1 },
      marks: program,
    });
    maps.setInterfaceMac(1, Uint8Array.from([0x02, 0, 0, 0, 0, 1]));
    for (const m of serviceMarks[4]) maps.addMarkService(4, m);
    for (const m of serviceMarks[6]) maps.addMarkService(6, m);
  });
  after(() => {
    if (prog >= 0) closeFd(prog);
    maps?.close();
  });

  function frame(p: MarkPacket): Uint8Array {
    const payload = ports(p.sport, p.dport, p.protocol === UDP ? 8 : 20);
    const bytes = (w: ArrayLike<number>) => IpAddr.fromWords(p.family, w).toBytes();
    return p.family === 4
      ? ethernet(0x0800, ipv4({ src: p.saddr[0]!, dst: p.daddr[0]!, protocol: p.protocol, payload }))
      : ethernet(0x86dd, ipv6({ src: bytes(p.saddr), dst: bytes(p.daddr), protocol: p.protocol, payload }));
  }

  function check(p: MarkPacket): void {
    const m = evaluateMarks(program, p);
    const steered = m > 0 && (serviceMarks[p.family] as readonly number[]).includes(m);
    const beforeCount = maps!.counters().FWMARK;
    const verdict = asXdpVerdict(hook, progTestRun(prog, frame(p)).retval);
    const moved = maps!.counters().FWMARK - beforeCount;
    const what = `${IpAddr.fromWords(p.family, p.daddr)}:${p.dport}/${p.protocol} from ${IpAddr.fromWords(p.family, p.saddr)} (mark ${m})`;
    assert.equal(verdict, steered ? XDP_DROP : XDP_PASS, what);
    assert.equal(moved, steered ? 1n : 0n, what);
  }

  test("the steering program steers exactly what the evaluation marks for a service", (t) => {
    if (!haveRoot(t)) return;
    // The cases above, through the kernel (frames arrive on ifindex 1).
    for (const [s, d, proto, port] of [
      ["198.18.0.100", "198.18.0.10", TCP, 80],
      ["198.18.0.200", "198.18.0.10", TCP, 80],
      ["198.18.0.100", "198.18.0.11", TCP, 9090],
      ["198.18.9.5", "198.18.0.10", TCP, 80],
      ["198.18.0.100", "198.18.0.12", UDP, 53],
      ["198.18.0.100", "198.18.0.12", TCP, 80],
      ["198.18.0.100", "198.18.0.13", TCP, 80],
      ["198.18.0.100", "198.18.0.14", TCP, 80],
      ["198.18.0.100", "198.18.0.15", TCP, 2000],
      ["198.18.0.100", "198.18.0.10", UDP, 9999],
      ["2001:2:0:1::5", "2001:2::1", UDP, 53],
      ["2001:2:0:2::5", "2001:2::1", UDP, 53],
    ] as const)
      check({ ...pkt(s, d, proto, port), ifindex: 1 });
    const v4 = fc.constantFrom(
      "198.18.0.10",
      "198.18.0.11",
      "198.18.0.12",
      "198.18.0.13",
      "198.18.0.14",
      "198.18.0.15",
      "198.18.0.18",
      "198.18.0.19",
      "198.18.0.100",
      "198.18.0.200",
      "198.18.9.5",
    );
    const v6 = fc.constantFrom("2001:2::1", "2001:2:0:1::5", "2001:2:0:2::5", "2001:2:1::1");
    const port = fc.constantFrom(
      0,
      5,
      10,
      11,
      22,
      25,
      53,
      80,
      443,
      999,
      1000,
      1023,
      1024,
      1500,
      2000,
      2001,
      8080,
      9999,
      65535,
    );
    const proto = fc.constantFrom(TCP, UDP);
    fc.assert(
      fc.property(fc.boolean(), v4, v4, v6, v6, proto, port, port, (six, s4, d4, s6, d6, pr, sp, dp) => {
        check({ ...pkt(six ? s6 : s4, six ? d6 : d4, pr, dp, { sport: sp }), ifindex: 1 });
      }),
      { numRuns: 400 },
    );
  });
}

for (const hook of ["xdp", "tc"] as const)
  describe(`the steering program's mark rules at ${hook}`, () => agreement(hook));

describe("iptables-nft's rules (xtables extensions read from nft's text listing)", () => {
  const fixture = (name: string) =>
    readFileSync(resolve(import.meta.dirname, "../../test/fixtures/nft", name), "utf8");
  const doc = JSON.parse(fixture("iptables-nft.json")) as unknown;
  const lines = ruleLinesByHandle(fixture("iptables-nft.txt"));
  const C = "198.18.0.100";

  test("multiport, MARK --set-mark and --set-xmark, -i, ranges, ! --dport are compiled; conntrack is reported", () => {
    const c = compileNftRuleset(doc, { ifindexOf: (n) => (n === "lo" ? 1 : null), ruleLines: lines });
    const mark = (p: MarkPacket) => evaluateMarks(c.program, p);
    assert.deepEqual(
      c.uncompiled.map((u) => [u.table, u.chain, u.handle]),
      [["mangle", "PREROUTING", 4]],
    );
    assert.match(c.uncompiled[0]!.reason, /"ct"/);
    assert.equal(mark(pkt(C, "198.18.0.10", TCP, 443)), 1);
    assert.equal(mark(pkt(C, "198.18.0.10", TCP, 8443)), 0);
    assert.equal(mark(pkt(C, "198.18.0.10", UDP, 443)), 0);
    // --set-xmark 0x2/0xff: (mark & ~0xff) ^ 0x2, only from 198.18.1.0/24 on lo, UDP 1000-2000.
    assert.equal(mark(pkt("198.18.1.7", "198.18.0.20", UDP, 1500, { ifindex: 1 })), 2);
    assert.equal(mark(pkt("198.18.1.7", "198.18.0.20", UDP, 1500, { ifindex: 2 })), 0);
    assert.equal(mark(pkt("198.18.2.7", "198.18.0.20", UDP, 1500, { ifindex: 1 })), 0);
    assert.equal(mark(pkt(C, "198.18.0.13", TCP, 80)), 4);
    assert.equal(mark(pkt(C, "198.18.0.13", TCP, 22)), 0);
  });

  test("without the text listing the same rules are reported as xtables extensions", () => {
    const c = compileNftRuleset(doc, { ifindexOf: () => null });
    assert.deepEqual(
      c.uncompiled.map((u) => u.handle),
      [2, 3, 4, 5],
    );
    assert.match(c.uncompiled[0]!.reason, /xtables/);
  });

  test("a rule line is read back into nft's expressions, or refused with the word it stopped at", () => {
    assert.deepEqual(ruleLineToExpr("tcp dport { 80, 443 } counter packets 1 bytes 60 meta mark set 0x1"), [
      {
        match: {
          op: "==",
          left: { payload: { protocol: "tcp", field: "dport" } },
          right: { set: [80, 443] },
        },
      },
      { counter: null },
      { mangle: { key: { meta: { key: "mark" } }, value: 1 } },
    ]);
    assert.deepEqual(ruleLineToExpr("ip daddr 198.18.0.12 ct state new meta mark set 0x3"), {
      error: '"ct" in "ip daddr 198.18.0.12 ct state new meta mark set 0x3"',
    });
  });
});

test("the rules left out are a metric family, one series per handle", () => {
  const c = compileNftRuleset(RULESET, HOST);
  const text = renderHealthMetrics([], {
    reloads: { applied: 0, refused: 0 },
    lastReloadAt: 0,
    notActedOn: [],
    fwmarkNotCompiled: c.uncompiled,
  }).join("");
  const series = text.split("\n").filter((l) => l.startsWith("tslvs_fwmark_rule_not_compiled{"));
  assert.deepEqual(series, [
    'tslvs_fwmark_rule_not_compiled{family="inet",table="lb",chain="pre",handle="16"} 1',
    'tslvs_fwmark_rule_not_compiled{family="inet",table="lb",chain="pre",handle="21"} 1',
    'tslvs_fwmark_rule_not_compiled{family="inet",table="lb",chain="later",handle="26"} 1',
  ]);
  assert.match(text, /# TYPE tslvs_fwmark_rule_not_compiled gauge/);
});

test("the slow path gives the core the mark: a marked packet to no VIP is a persistent fwmark service's", () => {
  const director = makeDirector();
  const key = fwmarkKey(5);
  director.addService(svcSpec(key, { flags: SVC_F_PERSISTENT, timeout: 60 }));
  director.addDest(key, destSpec("198.18.0.21", 0, "route"));
  director.addDest(key, destSpec("198.18.0.22", 0, "route"));
  const macOf = (a: number) => 0x020000000000 + (a & 0xff);
  const path = new SlowPath(
    director,
    {
      get: (a) => ({ ifindex: 2, dstMac: macOf(a), srcMac: 0x02000000aa01, srcV4: 0, mtu: 1500 }),
      get6: () => null,
      key6: () => -1,
    },
    {
      isVirtualAddress: () => false,
      isVirtualAddress6: () => false,
      isMarkService: (family, mark) => family === 4 && mark === 5,
    },
  );
  const decls = parseConfig(
    "fwmarks:\n  - mark: 5\n    protocol: tcp\n    daddr: 198.18.0.12\n    dport: [80, 443]\n",
    "t.yaml",
  ).fwmarks!;
  path.marks.program = withConfigChain(
    { chains: [], hooks: [] },
    fwmarkRules(decls, () => null),
  );
  const send = (client: string, dport: number): number | null => {
    const frame = buildFrame({
      family: 4,
      protocol: TCP,
      src: [IpAddr.parse(client)!.v4Value, 0, 0, 0],
      dst: [IpAddr.parse("198.18.0.12")!.v4Value, 0, 0, 0],
      sport: 40000 + dport,
      dport,
      tcpFlags: 0x02,
    });
    const buf = new Uint8Array(2048);
    buf.set(frame, 256);
    const d = new TxDecision();
    if (!path.process(buf, 256, frame.length, 2048 - 256, { ifindex: 2, mac: 0x02000000aa01 }, 10, d))
      return null;
    return readMac(buf, d.offset) & 0xff; // DR: the real server's MAC names it
  };
  const byClient = new Map<string, number | null>();
  for (const c of ["198.18.0.100", "198.18.0.101", "198.18.0.102"]) {
    const http = send(c, 80);
    assert.ok(http === 21 || http === 22, `client ${c}: forwarded to a real server`);
    assert.equal(send(c, 443), http, `client ${c}: HTTPS to HTTP's real server`);
    byClient.set(c, http);
  }
  assert.deepEqual(new Set(byClient.values()), new Set([21, 22]));
  // Not marked (port 8080): no VIP, no mark, not the director's to forward.
  assert.equal(send("198.18.0.100", 8080), null);
  assert.equal(path.counters.passedAndDropped, 1);
});
