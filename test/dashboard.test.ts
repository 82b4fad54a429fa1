/**
 * The dashboard (`--http`: GET / and GET /api/dashboard). In process: the routes, their content
 * types and headers, read-only, the JSON's shape, the caps, and the events a start and reloads
 * leave. Over the classic NAT lab: the page in a real headless Chromium (Debian's chromium, driven
 * by puppeteer-core from inside the director's namespace) loads without an error, shows the VIP's
 * service and its real servers, follows twenty requests, and shows a real server its health check
 * fails as failed.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { pino } from "pino";
import { NetLab } from "../src/cli/lab/netns.js";
import { buildNatLab } from "../src/cli/lab/topologies.js";
import type { DestConfig } from "../src/control/api.js";
import { ZERO_RATES } from "../src/control/api-mapping.js";
import { connect } from "../src/control/client.js";
import { Daemon } from "../src/control/daemon.js";
import {
  buildDashboard,
  type DashboardDocument,
  MAX_SERVICES,
} from "../src/control/dashboard/dashboard-data.js";
import { EventLog } from "../src/control/event-log.js";
import type { DashboardReading, DriverLine } from "./support/dashboard-driver.js";
import { curl, DirectorProcess, LineProcess, labPrefix, startRealServers } from "./support/dp-harness.js";
import { haveRoot, needsCommand } from "./support/privileged.js";
import { RealDirector } from "./support/real-director.js";
import { unixFetch } from "./support/unix-http.js";

function dest(addr: string, port: number): DestConfig {
  return {
    addr,
    port,
    method: "masq",
    weight: 1,
    uThreshold: 0,
    lThreshold: 0,
    tunType: "ipip",
    tunPort: 0,
    tunCsum: "nocsum",
  };
}

describe("dashboard: the event log", () => {
  it("keeps the newest `capacity` events, newest first, with ISO times", () => {
    const log = new EventLog(3);
    for (let i = 0; i < 5; i++)
      log.record("reload-applied", `r${i}`, new Date(Date.UTC(2030, 0, 1, 0, 0, i)));
    assert.equal(log.size, 3);
    assert.deepEqual(
      log.list().map((e) => [e.message, e.at]),
      [
        ["r4", "2030-01-01T00:00:04.000Z"],
        ["r3", "2030-01-01T00:00:03.000Z"],
        ["r2", "2030-01-01T00:00:02.000Z"],
      ],
    );
  });
});

describe("dashboard: GET / and /api/dashboard in process", () => {
  it("serves the page's three files and the JSON, read-only, capped, with the daemon's events", async () => {
    const dir = mkdtempSync(join(tmpdir(), "tslvs-dashboard-"));
    const config = join(dir, "config.yaml");
    writeFileSync(
      config,
      "services:\n  - tcp: 198.18.0.10:80\n    scheduler: wrr\n    servers:\n      - address: 198.19.0.1:80\n        method: masq\n",
    );
    const director = new RealDirector();
    const daemon = await Daemon.start(
      {
        socketPath: join(dir, "tslvs.sock"),
        statePath: join(dir, "state.yaml"),
        configFile: config,
        logLevel: "silent",
        interfaces: [],
        http: { host: "", port: 0, path: join(dir, "http.sock") },
      },
      { director, logger: pino({ level: "silent" }) },
    );
    try {
      const sock = daemon.httpAddress!.path!;
      const types: Record<string, string> = {
        "/": "text/html; charset=utf-8",
        "/dashboard.css": "text/css; charset=utf-8",
        "/dashboard.js": "text/javascript; charset=utf-8",
        "/api/dashboard": "application/json; charset=utf-8",
      };
      for (const [path, type] of Object.entries(types)) {
        const r = await unixFetch(sock, path);
        assert.equal(r.status, 200, path);
        assert.equal(r.headers.get("content-type"), type, path);
        assert.equal(r.headers.get("cache-control"), "no-store");
        assert.equal(r.headers.get("x-content-type-options"), "nosniff");
        assert.match(r.headers.get("content-security-policy") ?? "", /frame-ancestors 'none'/);
        assert.ok((await r.text()).length > 0);
      }
      assert.equal((await unixFetch(sock, `/api/dashboard`, { method: "POST" })).status, 405);
      assert.equal((await unixFetch(sock, `/`, { method: "DELETE" })).status, 405);
      assert.equal((await unixFetch(sock, `/api/other`)).status, 404);
      const head = await unixFetch(sock, `/`, { method: "HEAD" });
      assert.equal(head.status, 200);
      assert.equal(await head.text(), "");

      // A reload refused (a broken file), then one applied after 600 services were added.
      writeFileSync(config, "services: [");
      assert.equal(daemon.reload().applied, false);
      const lines = ["services:"];
      for (let i = 0; i < 600; i++) {
        lines.push(`  - tcp: 198.18.${1 + (i >> 8)}.${i & 255}:80`, "    servers:");
        lines.push("      - address: 198.19.0.1:80", "        method: masq");
      }
      writeFileSync(config, `${lines.join("\n")}\n`);
      assert.equal(daemon.reload().applied, true);
      // The body is kept for a second: this one is built after the reload.
      await new Promise((r) => setTimeout(r, 1100));
      const doc = JSON.parse(await (await unixFetch(sock, "/api/dashboard")).text()) as DashboardDocument;
      assert.equal(doc.servicesTotal, 600);
      assert.equal(doc.services.length, MAX_SERVICES);
      assert.deepEqual(doc.limits, { services: 500, realServers: 5000 });
      assert.equal(doc.ready, false);
      assert.equal(doc.dataPlane, null);
      assert.equal(doc.engine, null);
      assert.equal(doc.table.capacity, 4096);
      assert.deepEqual(doc.reloads, { applied: 1, refused: 1 });
      assert.deepEqual(
        doc.events.map((e) => e.kind),
        ["reload-applied", "reload-refused", "start"],
      );
      assert.ok(!Number.isNaN(Date.parse(doc.events[0]!.at)));
      const s = doc.services.find((x) => x.name === "tcp 198.18.1.0:80")!;
      assert.equal(s.scheduler, "wlc");
      assert.deepEqual(s.stats, { conns: 0, inPkts: 0, outPkts: 0, inBytes: 0, outBytes: 0 });
      assert.equal(s.realServers.length, 1);
      assert.equal(s.realServers[0]!.target, "198.19.0.1:80");
      assert.equal(s.realServers[0]!.weight, 1);
      assert.equal(s.realServers[0]!.health, null);

      // The real-server cap counts over all services; a service past it says how many it has.
      const c = await connect(join(dir, "tslvs.sock"));
      const svc = { protocol: "tcp", addr: "198.18.1.0", port: 80 } as const;
      for (let i = 2; i < 6; i++)
        await c.call({ op: "addDest", service: svc, dest: dest(`198.19.0.${i}`, 80) });
      c.close();
      const capped = buildDashboard({
        version: "x",
        host: "h",
        startedAt: new Date(0).toISOString(),
        ready: true,
        dataPlane: null,
        services: director.services(),
        rates: ZERO_RATES,
        health: [],
        table: director.tableFill(),
        live: null,
        reloads: { applied: 0, refused: 0 },
        events: [],
        limits: { services: 600, realServers: 3 },
      });
      assert.equal(capped.services.length, 600);
      let left = 3;
      assert.deepEqual(
        capped.services.map((x) => [x.realServers.length, x.realServersTotal]),
        director.services().map((x) => {
          const sent = Math.min(left, x.dests.length);
          left -= sent;
          return [sent, x.dests.length];
        }),
      );
      assert.equal(capped.services.find((x) => x.name === "tcp 198.18.1.0:80")!.realServersTotal, 5);
    } finally {
      await daemon.stop("test");
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("dashboard: the page in headless Chromium over the NAT lab", () => {
  it("shows the service and its real servers, follows traffic, shows a failed real server", async (t) => {
    if (!haveRoot(t)) return;
    const missing = needsCommand("chromium");
    if (missing) return t.skip(missing);
    const lab = new NetLab(labPrefix("dashboard"));
    const dir = mkdtempSync(join(tmpdir(), "tslvs-dashboard-"));
    let director: DirectorProcess | undefined;
    let driver: LineProcess | undefined;
    try {
      const topo = buildNatLab(lab);
      await startRealServers(lab, topo.servers);
      const [rs1, rs2] = topo.servers;
      // RS2's check connects to a port nobody serves: the checker takes it out.
      const config = join(dir, "config.yaml");
      writeFileSync(
        config,
        [
          "services:",
          `  - tcp: ${topo.vip}:80`,
          "    scheduler: wrr",
          "    health:",
          "      delay-loop: 1",
          "      delay-before-retry: 1",
          "    servers:",
          `      - address: ${rs1!.rip}:80`,
          "        method: masq",
          "        checks:",
          "          - tcp: {}",
          `      - address: ${rs2!.rip}:80`,
          "        method: masq",
          "        checks:",
          "          - tcp: { connect-port: 81, connect-timeout: 1 }",
          "",
        ].join("\n"),
      );
      director = await DirectorProcess.start(
        lab,
        topo.director,
        [topo.outsideIf, topo.insideIf],
        ["--http", "127.0.0.1:9201", "--config", config],
      );
      const service = `tcp ${topo.vip}:80`;
      const rs1Target = `${rs1!.rip}:80`;
      const rs2Target = `${rs2!.rip}:80`;

      driver = LineProcess.script(lab, topo.director, "dashboard-driver", ["http://127.0.0.1:9201/"]);
      const d = driver;
      const loaded = await d.next<DriverLine>(45000);
      assert.equal(loaded.ok, true, loaded.error);
      const ask = async (cmd: Record<string, string>): Promise<DriverLine> => {
        d.send(JSON.stringify(cmd));
        const line = await d.next<DriverLine>(20000);
        assert.equal(line.ok, true, line.error);
        assert.deepEqual(line.problems, [], "console errors or failed requests");
        return line;
      };
      /** Readings, one per redraw, until `ok` holds for one (bounded). */
      const readUntil = async (
        what: string,
        ok: (r: DashboardReading) => boolean,
      ): Promise<DashboardReading> => {
        const deadline = Date.now() + 30000;
        let last: DashboardReading | undefined;
        while (Date.now() < deadline) {
          last = (await ask({ cmd: "read" })).reading!;
          if (ok(last)) return last;
        }
        assert.fail(`${what}: the page showed ${JSON.stringify(last)}`);
      };
      const svcOf = (r: DashboardReading) => r.services.find((s) => s.name === service);
      const rsOf = (r: DashboardReading, target: string) =>
        svcOf(r)?.realServers.find((x) => x.target === target);

      // The service, both real servers (RS2 from the checker once it is out), and its down event.
      const first = await readUntil("RS2 failed", (r) => rsOf(r, rs2Target)?.health === "failed");
      assert.equal(first.status, "forwarding");
      assert.equal(first.banner, null);
      assert.equal(svcOf(first)!.sparklines, 3);
      assert.equal(rsOf(first, rs1Target)!.health, "alive");
      assert.match(rsOf(first, rs2Target)!.lastCheck, /^TCP_CHECK failed, .*: refused$/);
      assert.ok(first.events.some((e) => e.includes(`real server ${rs2Target}`) && e.includes("DOWN")));
      assert.ok(first.events.some((e) => /tslvs .* started/.test(e)));
      assert.match(first.summary, /connection table/);
      assert.match(first.summary, /fast path/);
      const before = Number(svcOf(first)!.connections);

      // Twenty requests through the VIP: the counts follow, the connections/s chart has a peak.
      for (let i = 0; i < 20; i++) assert.equal(curl(lab, topo.client, `http://${topo.vip}/`).status, 200);
      const after = await readUntil(
        "twenty more connections",
        (r) => Number(svcOf(r)?.connections) >= before + 20 && Number(rsOf(r, rs1Target)?.connections) >= 20,
      );
      const peak = /peak ([\d.]+)/.exec(svcOf(after)!.rates[0] ?? "");
      assert.ok(peak && Number(peak[1]) > 0, `connections/s: ${svcOf(after)!.rates[0]}`);
      assert.equal(rsOf(after, rs2Target)!.connections, "0");

      const shot = join(dir, "dashboard.png");
      await ask({ cmd: "screenshot", path: shot });
      t.diagnostic(`screenshot: ${shot}`);
      d.send(JSON.stringify({ cmd: "quit" }));
      await d.finish(15000);
    } finally {
      driver?.kill();
      await director?.stop();
      await lab.destroy();
      // The screenshot is kept for a look after the run; the rest goes.
      rmSync(join(dir, "config.yaml"), { force: true });
    }
  });
});
