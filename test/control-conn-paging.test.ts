/**
 * The connection listing in pages: `getConns` with `after`/`limit` over the core director (25,500
 * entries made by offering packets), entries that come and go between pages, and `tslvsadm -Lc`
 * printing page by page exactly what the whole table's formatting prints.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { Writable } from "node:stream";
import { after, describe, it } from "node:test";
import { connectSocket } from "../src/cli/ipvsadm/connect.js";
import { streamSink } from "../src/cli/ipvsadm/exit.js";
import { connsJson, connsJsonEnd, connsJsonEntries, connsJsonStart } from "../src/cli/ipvsadm/json-output.js";
import { connAddresses, formatConns } from "../src/cli/ipvsadm/list-conns.js";
import { NUMERIC, resolveNames } from "../src/cli/ipvsadm/names.js";
import { TableResolver } from "../src/cli/ipvsadm/resolver.js";
import { type RunDeps, runIpvsadm } from "../src/cli/ipvsadm/run.js";
import { ServicesDb } from "../src/cli/ipvsadm/services-db.js";
import { type ConnEntry, type ConnPage, MAX_CONN_PAGE, type Request } from "../src/control/api.js";
import { ApiHandler } from "../src/control/api-handler.js";
import { CoreDirectorPort } from "../src/control/core-director-port.js";
import { ControlServer } from "../src/control/server.js";
import { Director } from "../src/core/director.js";
import { IpvsError } from "../src/core/errors.js";
import { FlowPacket, TCP_SYN } from "../src/core/flow.js";
import { destSpec, flow, serviceKey, serviceSpec } from "../src/core/library.js";
import { Verdict } from "../src/core/verdict.js";
import { SERVICES_TEXT } from "./helpers/ipvsadm-run.js";
import { quietLog, tempDir } from "./support/control-fixtures.js";

const WEB = serviceKey("tcp", "10.0.0.1:80");
const DNS = serviceKey("udp", "10.0.0.2:53");
const WEB6 = serviceKey("tcp", "[2001:db8::1]:443");

/** A director with three services and a mutable clock; `offer` makes connections. */
function makeRig() {
  const core = new Director({ connCapacity: 1 << 16, localPorts: { min: 1025, max: 65535 } });
  const port = new CoreDirectorPort(core);
  let now = 0;
  const handler = new ApiHandler(port, { now: () => now });
  core.addService(serviceSpec(WEB, { scheduler: "rr" }));
  for (const rs of ["192.168.1.2:8080", "192.168.1.3:8080", "192.168.1.4:8080"])
    core.addDest(WEB, destSpec(rs, { method: "masq" }));
  core.addService(serviceSpec(DNS, { scheduler: "rr", persistent: 300 }));
  core.addDest(DNS, destSpec("192.168.2.2:53", { method: "masq" }));
  core.addService(serviceSpec(WEB6, { scheduler: "rr" }));
  core.addDest(WEB6, destSpec("[2001:db8::a0]:443", { method: "route" }));
  const pkt = new FlowPacket();
  const v = new Verdict();
  /** `count` TCP SYNs to 10.0.0.1:80 from the clients 20.<tag>.x.y, at the rig's time. */
  const offer = (tag: number, count: number) => {
    for (let i = 0; i < count; i++) {
      core.inbound(
        flow(pkt, "tcp", `20.${tag}.${i >> 8}.${i & 255}:${1024 + i}`, "10.0.0.1:80", TCP_SYN),
        now,
        v,
      );
      assert.equal(v.isNew, true);
    }
  };
  return {
    core,
    port,
    handler,
    offer,
    pkt,
    v,
    setNow(t: number) {
      now = t;
    },
  };
}

/** 20,000 TCP conns, 2,500 UDP conns and their 2,500 persistence templates, 500 IPv6 conns. */
function filledRig() {
  const rig = makeRig();
  rig.offer(1, 20_000);
  for (let i = 0; i < 2_500; i++)
    rig.core.inbound(flow(rig.pkt, "udp", `30.0.${i >> 8}.${i & 255}:5353`, "10.0.0.2:53"), 0, rig.v);
  for (let i = 0; i < 500; i++)
    rig.core.inbound(
      flow(rig.pkt, "tcp", `[2001:db8:1::${i.toString(16)}]:40000`, "[2001:db8::1]:443", TCP_SYN),
      0,
      rig.v,
    );
  assert.equal(rig.core.connCount, 25_500);
  return rig;
}

const keyOf = (c: ConnEntry) =>
  `${c.protocol} ${c.caddr}:${c.cport} ${c.vaddr}:${c.vport} ${c.daddr}:${c.dport}`;

/** Asks page after page; checks each page's size against `limit`. */
function pageThrough(handler: ApiHandler, limit: number | undefined, between?: (pageNo: number) => void) {
  const pages: ConnEntry[][] = [];
  let cursor: number | null = null;
  for (;;) {
    const req: Record<string, unknown> = { op: "getConns", after: cursor };
    if (limit !== undefined) req.limit = limit;
    const page = handler.handle(req) as ConnPage;
    assert.ok(
      page.conns.length <= Math.min(limit ?? MAX_CONN_PAGE, MAX_CONN_PAGE),
      "a page within the limit",
    );
    pages.push(page.conns);
    if (page.next === null) break;
    assert.equal(typeof page.next, "number");
    cursor = page.next;
    between?.(pages.length);
    assert.ok(pages.length < 100_000, "the listing ends");
  }
  return pages;
}

describe("getConns in pages", () => {
  const rig = filledRig();
  const whole = rig.handler.handle({ op: "getConns" }) as ConnEntry[];

  it("without after and limit answers the whole table, as before paging", () => {
    assert.ok(Array.isArray(whole));
    assert.equal(whole.length, 25_500);
    assert.equal(new Set(whole.map(keyOf)).size, 25_500);
  });

  it("the core lists from any record on, each entry with its record, as its whole listing does", () => {
    const indexed = [...rig.core.connectionsFrom(0)];
    assert.deepEqual(
      indexed.map((e) => e.conn),
      rig.core.connections(0),
    );
    for (let k = 1; k < indexed.length; k++) assert.ok(indexed[k]!.index > indexed[k - 1]!.index);
    const from = indexed[12_345]!.index;
    assert.deepEqual([...rig.core.connectionsFrom(0, from)], indexed.slice(12_345));
    assert.deepEqual([...rig.core.connectionsFrom(0, from + 1)], indexed.slice(12_346));
    assert.deepEqual([...rig.port.connections(0, from)].length, 25_500 - 12_345);
  });

  it("lists every entry exactly once across pages, in table order, no page above the limit", () => {
    for (const limit of [undefined, 1_000, 4_096, 7]) {
      const pages = pageThrough(rig.handler, limit);
      const size = Math.min(limit ?? MAX_CONN_PAGE, MAX_CONN_PAGE);
      assert.equal(pages.length, Math.ceil(25_500 / size), `pages of ${size}`);
      for (const p of pages.slice(0, -1)) assert.equal(p.length, size);
      assert.deepEqual(pages.flat(), whole, `limit ${limit}`);
    }
  });

  it("a limit above the maximum gets pages of the maximum; a page past the end is empty and last", () => {
    const first = rig.handler.handle({ op: "getConns", limit: 1_000_000 }) as ConnPage;
    assert.equal(first.conns.length, MAX_CONN_PAGE);
    assert.deepEqual(first.conns, whole.slice(0, MAX_CONN_PAGE));
    assert.deepEqual(rig.handler.handle({ op: "getConns", after: 1 << 30 }), { conns: [], next: null });
  });

  it("refuses a malformed cursor or limit with EINVAL", () => {
    for (const bad of [
      { after: -1 },
      { after: 1.5 },
      { after: "10" },
      { limit: 0 },
      { limit: -5 },
      { limit: "100" },
      { after: 0, limit: 2.5 },
    ])
      assert.throws(
        () => rig.handler.handle({ op: "getConns", ...bad }),
        { errno: "EINVAL" },
        JSON.stringify(bad),
      );
  });
});

describe("entries that come and go between pages", () => {
  it("are listed at most once; those that live throughout exactly once", () => {
    const rig = makeRig();
    rig.offer(1, 8_000); // A: SYN_RECV at t=0, expires at t=60
    rig.setNow(30);
    rig.offer(2, 8_000); // B: expires at t=90, lives throughout the listing
    const a = new Set(
      (rig.handler.handle({ op: "getConns" }) as ConnEntry[])
        .filter((c) => c.caddr.startsWith("20.1."))
        .map(keyOf),
    );
    let c = new Set<string>();
    const pages = pageThrough(rig.handler, 1_000, (pageNo) => {
      if (pageNo !== 3) return;
      // Mid-listing: A expires, C (as many as A) takes the records A left, below and above the cursor.
      rig.setNow(61);
      rig.port.tick(61);
      rig.offer(3, 8_000);
      c = new Set(
        (rig.handler.handle({ op: "getConns" }) as ConnEntry[])
          .filter((e) => e.caddr.startsWith("20.3."))
          .map(keyOf),
      );
    });
    const listed = pages.flat().map(keyOf);
    assert.equal(new Set(listed).size, listed.length, "no entry listed twice");
    const count = (prefix: string) => listed.filter((k) => k.startsWith(`TCP ${prefix}`)).length;
    assert.equal(count("20.2."), 8_000, "every entry that lived throughout, once");
    assert.equal(c.size, 8_000);
    for (const k of listed) assert.ok(a.has(k) || c.has(k) || k.startsWith("TCP 20.2."), k);
    // The A entries listed are those of the first three pages; of C, those past the cursor.
    assert.equal(count("20.1."), 3_000);
    assert.ok(count("20.3.") > 0 && count("20.3.") < 8_000, `C listed: ${count("20.3.")}`);
  });
});

describe("tslvsadm -Lc page by page", () => {
  const tmp = tempDir("conn-paging");
  const socket = join(tmp.dir, "tslvs.sock");
  const rig = filledRig();
  const replies: number[] = [];
  const serverP = ControlServer.listen({
    socketPath: socket,
    handle: (req) => {
      const r = rig.handler.handle(req);
      if (req.op === "getConns") replies.push(Array.isArray(r) ? -1 : (r as ConnPage).conns.length);
      return r;
    },
    log: quietLog,
  });
  after(async () => {
    await (await serverP).close();
    tmp.cleanup();
  });
  const whole = rig.handler.handle({ op: "getConns" }) as ConnEntry[];
  const services = new ServicesDb(SERVICES_TEXT);
  const resolver = new TableResolver(
    new Map([
      ["10.0.0.1", "www.example"],
      ["192.168.1.3", "rs3.example"],
      ["20.1.0.7", "client7.example"],
      ["20.1.77.7", "client-on-a-later-page.example"],
    ]),
  );

  /** Runs tslvsadm against the daemon, collecting what it writes as it goes. */
  async function run(args: string[], deps: Partial<RunDeps> = {}) {
    await serverP;
    const chunks: string[] = [];
    replies.length = 0;
    const r = await runIpvsadm("tslvsadm", args, {
      connect: () => connectSocket(socket),
      readStdin: async () => "",
      resolver,
      services: () => services,
      stdout: async (text) => {
        chunks.push(text);
      },
      ...deps,
    });
    return { ...r, chunks, text: chunks.join("") + r.stdout };
  }

  it("-Lnc and --persistent-conn print what the whole table's formatting prints, a page at a time", async () => {
    for (const pe of [false, true]) {
      const expected: string[] = [];
      formatConns(whole, pe, NUMERIC, expected);
      const r = await run(pe ? ["-Lnc", "--persistent-conn"] : ["-Lnc"]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stderr, "");
      assert.equal(r.text, expected.join(""));
      assert.deepEqual(replies, [10_000, 10_000, 5_500], "pages of 10,000");
      assert.equal(r.chunks.length, 3, "written as each page arrived");
      assert.equal(r.stdout, "");
    }
  });

  it("-Lc resolves names page by page and prints the same", async () => {
    const namer = await resolveNames(connAddresses(whole), resolver, services);
    const expected: string[] = [];
    formatConns(whole, false, namer, expected);
    const r = await run(["-Lc"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.text, expected.join(""));
    // 20.1.77.7 is the client of conn 19,719: on the second page.
    assert.match(r.text, /\nTCP .* client-on-a-later-page\.example:20743 +www\.example:http /);
  });

  it("--json writes one valid document incrementally, byte for byte the whole table's", async () => {
    const r = await run(["-Lnc", "--json"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.text, connsJson(whole));
    assert.ok(r.chunks.length >= 3);
    assert.equal((JSON.parse(r.text) as { connections: unknown[] }).connections.length, 25_500);
  });

  it("a reader that goes away ends the listing with status 141, asking for no more pages", async () => {
    let writes = 0;
    const gone = new Writable({
      write(_chunk, _enc, done) {
        writes++;
        done(Object.assign(new Error("write EPIPE"), { code: "EPIPE" }));
      },
    });
    const r = await run(["-Lnc"], { stdout: streamSink(gone) });
    assert.deepEqual([r.code, r.stderr, writes], [141, "", 1]);
    assert.ok(replies.length <= 2, `pages asked for: ${replies.length}`);
  });

  it("without a sink, the whole listing comes back as stdout", async () => {
    const r = await run(["-Lnc"], { stdout: undefined });
    const expected: string[] = [];
    formatConns(whole, false, NUMERIC, expected);
    assert.deepEqual([r.chunks.length, r.stdout], [0, expected.join("")]);
  });
});

describe("tslvsadm -Lc against other daemons", () => {
  const conns = (n: number): ConnEntry[] =>
    Array.from({ length: n }, (_, i) => ({
      protocol: "TCP",
      af: 4,
      caddr: `198.18.${i >> 8}.${i & 255}`,
      cport: 30000 + i,
      vaddr: "198.18.0.10",
      vport: 80,
      daddr: "198.19.10.20",
      dport: 80,
      state: "ESTABLISHED",
      expires: 899 - i,
      peName: "",
      peData: "",
    }));
  /**
   * A daemon that answers getConns only, from canned entries: paged in pages of 4 as the daemon
   * pages (cursor: the position), or as a daemon older than paging does (the whole array). It
   * stands for other daemon versions, not for the daemon's rules: nothing else is answered.
   */
  class CannedConns {
    readonly requests: Request[] = [];
    constructor(
      readonly conns: ConnEntry[],
      readonly paging = true,
    ) {}
    reply(r: Request): unknown {
      this.requests.push(r);
      if (r.op !== "getConns") throw new IpvsError("EINVAL", `${r.op}: not answered here`);
      if (!this.paging || (r.after === undefined && r.limit === undefined)) return this.conns;
      const from = typeof r.after === "number" ? r.after : 0;
      const size = Math.min(r.limit ?? 4, 4);
      return {
        conns: this.conns.slice(from, from + size),
        next: from + size < this.conns.length ? from + size : null,
      };
    }
  }
  const deps = (daemon: CannedConns, fail?: (after: unknown) => boolean): RunDeps => ({
    connect: async () => ({
      call: async <T>(req: Request): Promise<T> => {
        if (req.op === "getConns" && fail?.(req.after)) throw new IpvsError("EIO");
        return JSON.parse(JSON.stringify(daemon.reply(JSON.parse(JSON.stringify(req)) as Request))) as T;
      },
      close: () => {},
    }),
    readStdin: async () => "",
    resolver: new TableResolver(new Map()),
    services: () => new ServicesDb(SERVICES_TEXT),
  });

  it("a daemon that answers the whole table (no paging) gets the same listing", async () => {
    for (const paging of [true, false]) {
      const daemon = new CannedConns(conns(11), paging);
      const expected: string[] = [];
      formatConns(daemon.conns, false, NUMERIC, expected);
      const r = await runIpvsadm("ipvsadm", ["-Lnc"], deps(daemon));
      assert.deepEqual([r.code, r.stdout, r.stderr], [0, expected.join(""), ""]);
      const j = await runIpvsadm("ipvsadm", ["-Lnc", "--json"], deps(daemon));
      assert.equal(j.stdout, connsJson(daemon.conns));
      const gets = daemon.requests.filter((q) => q.op === "getConns").length;
      assert.equal(gets, paging ? 6 : 2, "pages of 4 asked for, or the whole table once");
    }
  });

  it("a failure on a later page ends the listing with ipvsadm's message and status 1", async () => {
    const daemon = new CannedConns(conns(10));
    const r = await runIpvsadm(
      "ipvsadm",
      ["-Lnc"],
      deps(daemon, (cursor) => cursor === 8),
    );
    const expected: string[] = [];
    formatConns(daemon.conns.slice(0, 8), false, NUMERIC, expected);
    assert.deepEqual(
      [r.code, r.stdout, r.stderr],
      [1, expected.join(""), "cannot open file /proc/net/ip_vs_conn\n"],
    );
    const first = await runIpvsadm(
      "ipvsadm",
      ["-Lnc", "--json"],
      deps(daemon, () => true),
    );
    assert.deepEqual([first.code, first.stdout], [1, ""], "nothing printed when the first page fails");
  });
});

describe("-Lc --json in pieces", () => {
  it("start + each page's entries + end equals the whole document, for any split", () => {
    const rig = makeRig();
    rig.offer(1, 9);
    const all = rig.handler.handle({ op: "getConns" }) as ConnEntry[];
    for (const splits of [[], [0], [9], [1, 4], [0, 3, 3, 9], [2, 5, 8]]) {
      const n = all.length;
      const bounds = [0, ...splits, n];
      let text = connsJsonStart();
      for (let k = 0; k + 1 < bounds.length; k++)
        text += connsJsonEntries(all.slice(bounds[k], bounds[k + 1]), bounds[k] === 0);
      text += connsJsonEnd(n > 0);
      assert.equal(text, connsJson(all), `split at ${splits}`);
    }
    assert.equal(connsJsonStart() + connsJsonEntries([], true) + connsJsonEnd(false), connsJson([]));
  });
});
