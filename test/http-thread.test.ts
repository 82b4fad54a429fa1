/**
 * The HTTP endpoint on its own thread (http-thread.ts, http-worker.ts), in process: /metrics is
 * rendered there from a packed snapshot of the table (metrics-snapshot.ts) and says what the
 * renderer says of the table itself — after the table changed shape, after a weight changed, and
 * when several scrapes arrive at once; a killed HTTP thread is started again on the same socket.
 * The endpoint listens on a Unix socket, so no address of the test machine is used.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { pino } from "pino";
import { serviceToEntry, ZERO_RATES } from "../src/control/api-mapping.js";
import { Daemon } from "../src/control/daemon.js";
import { renderIpvsMetrics } from "../src/control/ipvs-metrics.js";
import { MetricsSnapshotter, unpackSnapshot } from "../src/control/metrics-snapshot.js";
import { RealDirector } from "./support/real-director.js";
import { unixFetch } from "./support/unix-http.js";

const dir = mkdtempSync(join(tmpdir(), "tslvs-http-thread-"));
after(() => rmSync(dir, { recursive: true, force: true }));

/** `services` services of `dests` real servers each, weights all different. */
function config(services: number, dests: number, weightBase = 1): string {
  const lines = ["services:"];
  for (let i = 0; i < services; i++) {
    lines.push(`  - tcp: 198.18.${1 + (i >> 8)}.${i & 255}:80`, "    scheduler: wrr", "    servers:");
    for (let j = 0; j < dests; j++)
      lines.push(
        `      - address: 198.19.${j}.${1 + (i % 250)}:8080`,
        "        method: masq",
        `        weight: ${weightBase + i * dests + j}`,
      );
  }
  return `${lines.join("\n")}\n`;
}

/** What the renderer says of the director's table now (the node_ipvs_* families). */
function expected(director: RealDirector): string {
  const entries = director
    .services()
    .map((s) => ({ ...serviceToEntry(s, ZERO_RATES, true), noDestination: s.noDestination }));
  return renderIpvsMetrics(entries, director.totals().stats);
}

async function scrape(sock: string): Promise<string> {
  const r = await unixFetch(sock, "/metrics");
  assert.equal(r.status, 200);
  return r.text();
}

const fresh = () => new Promise((r) => setTimeout(r, 1100));

describe("metrics snapshot", () => {
  it("unpacks to what the renderer reads of the table, and sends the layout only when the shape changed", async () => {
    const file = join(dir, "snap.yaml");
    writeFileSync(file, config(12, 3));
    const director = new RealDirector();
    const daemon = await Daemon.start(
      {
        socketPath: join(dir, "s.sock"),
        statePath: join(dir, "s-state.yaml"),
        configFile: file,
        logLevel: "silent",
        interfaces: [],
      },
      { director, logger: pino({ level: "silent" }) },
    );
    try {
      const snapshots = new MetricsSnapshotter();
      const first = snapshots.take(director.services(), director.totals().stats);
      assert.ok(first.layout, "the first snapshot carries the layout");
      const unpacked = [...unpackSnapshot(first.layout, first.values, 10)].flat();
      assert.equal(renderIpvsMetrics(unpacked, first.totals), expected(director));
      const again = snapshots.take(director.services(), director.totals().stats);
      assert.equal(again.layout, null, "same shape: no layout");
      assert.equal(again.generation, first.generation);
      writeFileSync(file, config(12, 4));
      assert.equal(daemon.reload().applied, true);
      const grown = snapshots.take(director.services(), director.totals().stats);
      assert.ok(grown.layout, "a real server more: the layout again");
      assert.notEqual(grown.generation, first.generation);
      assert.equal(
        renderIpvsMetrics([...unpackSnapshot(grown.layout, grown.values)].flat(), grown.totals),
        expected(director),
      );
      snapshots.forget();
      assert.ok(snapshots.take(director.services(), director.totals().stats).layout, "after forget()");
    } finally {
      await daemon.stop("test");
    }
  });
});

describe("http thread: /metrics rendered off the packet loop's thread", () => {
  it("equals the renderer's text of the table through shape and weight changes; concurrent scrapes share a body", async () => {
    const file = join(dir, "config.yaml");
    writeFileSync(file, config(30, 4));
    const director = new RealDirector();
    const daemon = await Daemon.start(
      {
        socketPath: join(dir, "a.sock"),
        statePath: join(dir, "a-state.yaml"),
        configFile: file,
        logLevel: "silent",
        interfaces: [],
        http: { host: "", port: 0, path: join(dir, "a-http.sock") },
      },
      { director, logger: pino({ level: "silent" }) },
    );
    try {
      const sock = daemon.httpAddress!.path!;
      let body = await scrape(sock);
      assert.ok(body.startsWith(expected(director)), "first scrape: the table as the renderer says it");
      assert.match(
        body,
        /node_ipvs_backend_weight\{local_address="198\.18\.1\.29",local_port="80",remote_address="198\.19\.3\.30",remote_port="8080",proto="TCP",local_mark=""\} 120\n/,
      );

      // More services, other weights: a new layout and new values.
      writeFileSync(file, config(45, 3, 1000));
      assert.equal(daemon.reload().applied, true);
      await fresh();
      body = await scrape(sock);
      assert.ok(body.startsWith(expected(director)), "after the table grew");
      assert.match(
        body,
        /remote_address="198\.19\.2\.45",remote_port="8080",proto="TCP",local_mark=""\} 1134\n/,
      );

      // Same shape, other weights: the layout is not sent again, the values are new.
      writeFileSync(file, config(45, 3, 5000));
      assert.equal(daemon.reload().applied, true);
      await fresh();
      const bodies = await Promise.all(Array.from({ length: 20 }, () => scrape(sock)));
      for (const b of bodies) assert.equal(b, bodies[0], "concurrent scrapes share one body");
      assert.ok(bodies[0]!.startsWith(expected(director)), "after the weights changed");
      assert.match(bodies[0]!, /\} 5134\n/);
      assert.doesNotMatch(bodies[0]!, /\} 1134\n/);

      // Fewer services: the removed ones are gone.
      writeFileSync(file, config(2, 2));
      assert.equal(daemon.reload().applied, true);
      await fresh();
      body = await scrape(sock);
      assert.ok(body.startsWith(expected(director)), "after the table shrank");
      assert.doesNotMatch(body, /198\.18\.1\.2",/);
    } finally {
      await daemon.stop("test");
    }
  });

  it("is started again on the same socket when its thread dies, and serves the whole layout again", async () => {
    const file = join(dir, "b.yaml");
    writeFileSync(file, config(5, 2));
    const director = new RealDirector();
    const daemon = await Daemon.start(
      {
        socketPath: join(dir, "b.sock"),
        statePath: join(dir, "b-state.yaml"),
        configFile: file,
        logLevel: "silent",
        interfaces: [],
        http: { host: "", port: 0, path: join(dir, "b-http.sock") },
      },
      { director, logger: pino({ level: "silent" }) },
    );
    try {
      const sock = daemon.httpAddress!.path!;
      assert.ok((await scrape(sock)).startsWith(expected(director)));
      const thread = daemon.httpThread!;
      await thread.crashForTest();
      const deadline = Date.now() + 10_000;
      let body = "";
      while (Date.now() < deadline) {
        try {
          body = await scrape(sock);
          break;
        } catch {
          await new Promise((r) => setTimeout(r, 100));
        }
      }
      assert.equal(thread.restarts, 1);
      assert.ok(body.startsWith(expected(director)), "the restarted thread got the layout again");
      assert.match(body, /198\.18\.1\.4/);
    } finally {
      await daemon.stop("test");
    }
  });
});
