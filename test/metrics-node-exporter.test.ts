/**
 * /metrics against the real node_exporter (Debian's prometheus-node-exporter, its ipvs collector):
 * node_exporter reads the /proc/net/ip_vs and /proc/net/ip_vs_stats that `tslvs proc --dir` writes
 * (its --path.procfs), and the samples it serves must equal those tslvs serves itself on --http:
 * same families, HELP, TYPE, labels and values. Once over the classic NAT lab after ten real
 * requests (so the counters are not zero), once over a mixed table (IPv4, IPv6, fwmark, persistent)
 * for each narrowing of the backend labels, where equal series are summed.
 */
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it, type TestContext } from "node:test";
import { NetLab } from "../src/cli/lab/netns.js";
import { buildNatLab } from "../src/cli/lab/topologies.js";
import type { ProcEntry, ServiceEntry, StatsEntry } from "../src/control/api.js";
import { parseBackendLabels, renderIpvsMetrics } from "../src/control/ipvs-metrics.js";
import { renderIpVs, renderIpVsStats } from "../src/control/ipvs-proc.js";
import { writeFileAtomic } from "../src/control/state-file.js";
import { TSLVS_BIN } from "./support/daemon-process.js";
import { curl, DirectorProcess, labPrefix, startRealServers, waitFor } from "./support/dp-harness.js";
import { haveRoot } from "./support/privileged.js";
import { realDaemonClient } from "./support/real-director.js";

const NODE_EXPORTER = "/usr/bin/prometheus-node-exporter";
/** Prometheus's own tool (Debian's prometheus package): its exposition-format linter. */
const PROMTOOL = "/usr/bin/promtool";

function haveNodeExporter(t: TestContext): boolean {
  if (existsSync(NODE_EXPORTER)) return true;
  if (process.env.CI === "true")
    assert.fail(`${NODE_EXPORTER} missing (test/system-packages.txt installs it)`);
  t.skip("prometheus-node-exporter is not installed");
  return false;
}

/** The `prefix`* lines of a Prometheus text: samples (labels sorted, value as a number) and HELP/TYPE. */
function ipvsFamilies(text: string, prefix = "node_ipvs_"): { meta: string[]; samples: Map<string, number> } {
  const meta: string[] = [];
  const samples = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (line.startsWith(`# HELP ${prefix}`) || line.startsWith(`# TYPE ${prefix}`)) meta.push(line);
    const m = /^(\w+)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m?.[1]?.startsWith(prefix)) continue;
    const labels = (m[2] ?? "").match(/\w+="(?:[^"\\]|\\.)*"/g) ?? [];
    samples.set(`${m[1]}{${labels.sort().join(",")}}`, Number(m[3]));
  }
  return { meta: meta.sort(), samples };
}

/** node_exporter with only the ipvs collector, over `procDir`, in `host`; scraped once, then stopped. */
async function scrapeNodeExporter(
  lab: NetLab,
  host: string,
  procDir: string,
  labels?: string,
): Promise<string> {
  const args = [
    NODE_EXPORTER,
    "--collector.disable-defaults",
    "--collector.ipvs",
    `--path.procfs=${procDir}`,
    "--web.listen-address=127.0.0.1:9100",
  ];
  if (labels !== undefined) args.push(`--collector.ipvs.backend-labels=${labels}`);
  const child = lab.spawn(host, args, { stdio: ["ignore", "ignore", "pipe"] });
  let log = "";
  child.stderr?.on("data", (d: Buffer) => (log += d.toString()));
  try {
    return await waitFor("node_exporter did not answer", 10000, () => {
      if (child.exitCode !== null) throw new Error(`node_exporter exited: ${log}`);
      return lab.exec(host, ["curl", "-sf", "http://127.0.0.1:9100/metrics"]);
    });
  } finally {
    child.kill("SIGTERM");
    await new Promise((r) => (child.exitCode !== null ? r(null) : child.once("exit", r)));
  }
}

describe("metrics: node_ipvs_* as node_exporter serves them", () => {
  it("a bad --http or backend-label list is refused before anything starts", () => {
    const start = (args: string[]) =>
      spawnSync(
        process.execPath,
        [TSLVS_BIN, "start", "--no-dataplane", "--socket", "/nonexistent/s", ...args],
        {
          encoding: "utf8",
        },
      );
    const bad = start(["--http", "localhost:nope"]);
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /--http: not an address:port or a port/);
    const labels = start(["--http", "9117", "--metrics-ipvs-backend-labels", "proto,color"]);
    assert.equal(labels.status, 2);
    assert.match(labels.stderr, /unknown IPVS backend label "color"/);
    const alone = start(["--metrics-ipvs-backend-labels", "proto"]);
    assert.equal(alone.status, 2);
    assert.match(alone.stderr, /needs --http/);
  });

  it("the NAT lab after ten requests: tslvs's /metrics equals node_exporter's over `tslvs proc`", async (t) => {
    if (!haveRoot(t) || !haveNodeExporter(t)) return;
    const lab = new NetLab(labPrefix("metrics"));
    const procDir = mkdtempSync(join(tmpdir(), "tslvs-proc-"));
    let director: DirectorProcess | undefined;
    try {
      const topo = buildNatLab(lab);
      await startRealServers(lab, topo.servers);
      director = await DirectorProcess.start(
        lab,
        topo.director,
        [topo.outsideIf, topo.insideIf],
        ["--http", "127.0.0.1:9200"],
      );
      const vip = `${topo.vip}:80`;
      director.adm(["-A", "-t", vip, "-s", "wrr"]);
      for (const rs of topo.servers) director.adm(["-a", "-t", vip, "-r", `${rs.rip}:80`, "-m", "-w", "1"]);
      director.adm(["-A", "-f", "7", "-s", "rr", "-p", "300"]);
      director.adm(["-a", "-f", "7", "-r", `${topo.servers[0]!.rip}:0`, "-m", "-w", "4"]);
      for (let i = 0; i < 10; i++) assert.equal(curl(lab, topo.client, `http://${topo.vip}/`).status, 200);
      await waitFor("the ten connections did not close", 5000, () =>
        /InActConn[\s\S]*Masq\s+1\s+0\s+5\s[\s\S]*Masq\s+1\s+0\s+5\s/.test(director!.adm(["-ln"]))
          ? true
          : undefined,
      );
      // The daemon renders /metrics on its one-second tick: two ticks on, both see the same state.
      await new Promise((r) => setTimeout(r, 2100));
      execFileSync(process.execPath, [TSLVS_BIN, "proc", "--dir", procDir, "--socket", director.socket]);
      const ours = lab.exec(topo.director, ["curl", "-sf", "http://127.0.0.1:9200/metrics"]);
      // Read-only: another method or path is answered, not served.
      const status = (extra: string[]) =>
        lab.exec(topo.director, ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", ...extra]);
      assert.equal(status(["-X", "POST", "http://127.0.0.1:9200/metrics"]), "405");
      assert.equal(status(["http://127.0.0.1:9200/admin"]), "404");
      const theirs = await scrapeNodeExporter(lab, topo.director, procDir);
      const a = ipvsFamilies(ours);
      const b = ipvsFamilies(theirs);
      assert.deepEqual(a.meta, b.meta);
      assert.deepEqual([...a.samples].sort(), [...b.samples].sort());
      // And the values are the lab's: ten connections, five closed ones per real server, the
      // fwmark service's weight, packets and bytes counted both ways.
      assert.equal(a.samples.get("node_ipvs_connections_total{}"), 10);
      const rs2 = topo.servers.find((s) => s.rip.endsWith(".20"))!.rip;
      const key = (
        name: string,
        rip: string,
        port: string,
        proto: string,
        laddr: string,
        lport: string,
        mark: string,
      ) =>
        `${name}{local_address="${laddr}",local_mark="${mark}",local_port="${lport}",proto="${proto}",remote_address="${rip}",remote_port="${port}"}`;
      assert.equal(
        a.samples.get(key("node_ipvs_backend_connections_inactive", rs2, "80", "TCP", topo.vip, "80", "")),
        5,
      );
      assert.equal(
        a.samples.get(key("node_ipvs_backend_weight", topo.servers[0]!.rip, "0", "FWM", "", "0", "00000007")),
        4,
      );
      // The totals are the exact per-service counters ipvsadm lists (only the TCP service had
      // traffic, nothing was zeroed): Conns InPkts OutPkts InBytes OutBytes.
      const stats = director.adm(["-Ln", "--stats", "--exact"]);
      const row = new RegExp(
        `^TCP\\s+${topo.vip.replaceAll(".", "\\.")}:80\\s+(\\d+)\\s+(\\d+)\\s+(\\d+)\\s+(\\d+)\\s+(\\d+)`,
        "m",
      ).exec(stats);
      assert.ok(row, stats);
      const names = [
        "connections",
        "incoming_packets",
        "outgoing_packets",
        "incoming_bytes",
        "outgoing_bytes",
      ];
      for (const [k, n] of names.entries())
        assert.equal(a.samples.get(`node_ipvs_${n}_total{}`), Number(row[k + 1]), n);
      // Ten connections; each at least 3 packets each way (SYN, request, FIN; SYN-ACK, response,
      // FIN), each packet at least 40 bytes (IPv4 + TCP headers).
      const [conns, inPkts, outPkts, inBytes, outBytes] = row.slice(1).map(Number) as number[];
      assert.equal(conns, 10, stats);
      assert.ok(inPkts! >= 30 && outPkts! >= 30, stats);
      assert.ok(inBytes! >= 40 * inPkts! && outBytes! >= 40 * outPkts!, stats);

      // `tslvs stats` reads the engine's counters live: every packet the director counted went
      // through the slow path (a received frame) or the fast path (credited), nothing erred, and
      // the stop line later shows at least as much.
      const live = JSON.parse(
        execFileSync(process.execPath, [TSLVS_BIN, "stats", "--json", "--socket", director.socket], {
          encoding: "utf8",
        }),
      ) as StatsEntry;
      assert.equal(live.dataPlane, "af_xdp");
      assert.ok(live.engine && live.fastPath, JSON.stringify(live));
      assert.ok(
        live.engine.rxFrames! + live.fastPath.creditedPackets! >= inPkts! + outPkts!,
        JSON.stringify(live),
      );
      assert.equal(live.engine.errors, 0);
      assert.equal(live.engine.noRoute, 0);
      const text = execFileSync(process.execPath, [TSLVS_BIN, "stats", "--socket", director.socket], {
        encoding: "utf8",
      });
      assert.match(text, /^packet engine \(af_xdp\):\n {2}malformed +\d+\n/);
      assert.match(text, /\nfast path \(in-kernel\):\n {2}installed +\d+\n/);
      // tslvs's own families: -Ln --stats per service and per real server as counters, the
      // engine's frames and drops, the table's fill.
      const own = ipvsFamilies(ours, "tslvs_").samples;
      const svc = `local_address="${topo.vip}",local_mark="",local_port="80",proto="TCP"`;
      assert.equal(own.get(`tslvs_service_connections_total{${svc}}`), conns);
      assert.equal(own.get(`tslvs_service_packets_total{direction="in",${svc}}`), inPkts);
      assert.equal(own.get(`tslvs_service_bytes_total{direction="out",${svc}}`), outBytes);
      for (const rs of topo.servers)
        assert.equal(
          own.get(`tslvs_backend_connections_total{${svc},remote_address="${rs.rip}",remote_port="80"}`),
          5,
          rs.rip,
        );
      assert.equal(own.get('tslvs_drops_total{reason="error"}'), 0);
      assert.equal(own.get('tslvs_drops_total{reason="no_route"}'), 0);
      const rx = own.get('tslvs_slowpath_frames_total{direction="rx"}') ?? -1;
      assert.ok(rx > 0 && rx <= live.engine.rxFrames!, `${rx} vs ${live.engine.rxFrames}`);
      assert.ok((own.get("tslvs_conn_table_capacity{}") ?? 0) >= 4096);
      assert.ok([...own.keys()].some((k) => k.startsWith("tslvs_info{router_id=")));
      // Connections by state (how many are left in which state depends on timing: only the
      // series), steering decisions, the service's no-destination count, the process's families.
      assert.ok(
        own.has('tslvs_connections{state="ESTABLISHED"}') && own.has('tslvs_connections{state="UDP"}'),
      );
      assert.equal(own.get("tslvs_persistence_templates{}"), 0);
      assert.ok((own.get('tslvs_steering_packets_total{decision="service"}') ?? 0) > 0);
      assert.equal(own.get(`tslvs_scheduler_no_destination_total{${svc}}`), 0);
      const proc = ipvsFamilies(ours, "process_").samples;
      assert.ok((proc.get("process_cpu_seconds_total{}") ?? 0) > 0);
      assert.ok((proc.get("process_open_fds{}") ?? 0) > 3);
      // The whole body passes Prometheus's own linter (names, types, HELP, _total on counters).
      const lint = spawnSync(PROMTOOL, ["check", "metrics"], { input: ours, encoding: "utf8" });
      assert.equal(lint.status, 0, `${lint.stdout}${lint.stderr}`);

      await director.stop();
      assert.ok((director.engineCounters()?.rxFrames ?? -1) >= live.engine.rxFrames!);
    } finally {
      await director?.stop();
      await lab.destroy();
      rmSync(procDir, { recursive: true, force: true });
    }
  });

  it("every backend-label narrowing sums as node_exporter's --collector.ipvs.backend-labels does", async (t) => {
    if (!haveRoot(t) || !haveNodeExporter(t)) return;
    const client = realDaemonClient();
    const tcp = { protocol: "tcp", addr: "198.18.0.10", port: 80 } as const;
    const udp6 = { protocol: "udp", addr: "2001:db8::53", port: 53 } as const;
    const dest = (addr: string, port: number, weight: number) => ({
      addr,
      port,
      method: "masq" as const,
      weight,
      uThreshold: 0,
      lThreshold: 0,
      tunType: "ipip" as const,
      tunPort: 0,
      tunCsum: "nocsum" as const,
    });
    const svc = { scheduler: "wlc", flags: 0, timeout: 0, netmask: "255.255.255.255", pe: "" };
    await client.call({ op: "addService", config: { ...svc, id: tcp } });
    await client.call({
      op: "addService",
      config: { ...svc, id: { ...tcp, port: 443 }, flags: 1, timeout: 300 },
    });
    await client.call({ op: "addService", config: { ...svc, id: udp6, netmask: "128" } });
    await client.call({ op: "addService", config: { ...svc, id: { fwmark: 0x1234abcd, af: 4 } } });
    await client.call({ op: "addDest", service: tcp, dest: dest("198.19.10.20", 80, 3) });
    await client.call({ op: "addDest", service: tcp, dest: dest("198.19.10.30", 8080, 2) });
    await client.call({ op: "addDest", service: { ...tcp, port: 443 }, dest: dest("198.19.10.20", 443, 5) });
    await client.call({ op: "addDest", service: udp6, dest: dest("2001:db8::10", 53, 7) });
    await client.call({
      op: "addDest",
      service: { fwmark: 0x1234abcd, af: 4 },
      dest: dest("198.19.10.30", 0, 11),
    });
    const services = await client.call<ServiceEntry[]>({ op: "getServices" });
    const proc = await client.call<ProcEntry>({ op: "getProc" });
    const totals = client.director.totals();

    const lab = new NetLab(labPrefix("metricsl"));
    const procDir = mkdtempSync(join(tmpdir(), "tslvs-proc-"));
    try {
      lab.addHost("h");
      writeFileAtomic(join(procDir, "net", "ip_vs"), proc.ipVs, 0o644);
      writeFileAtomic(join(procDir, "net", "ip_vs_stats"), proc.ipVsStats, 0o644);
      // The rendering the daemon serves is the same function over the same entries.
      assert.equal(proc.ipVs, renderIpVs(services, client.director.bucketCount));
      assert.equal(proc.ipVsStats, renderIpVsStats(totals.stats, totals.rates));
      for (const list of [undefined, "remote_address", "proto,local_port", "local_mark,remote_port", ""]) {
        const ours = ipvsFamilies(
          renderIpvsMetrics(
            services,
            totals.stats,
            list === undefined ? undefined : parseBackendLabels(list),
          ),
        );
        const theirs = ipvsFamilies(await scrapeNodeExporter(lab, "h", procDir, list));
        assert.deepEqual(ours.meta, theirs.meta, `labels ${list}`);
        assert.deepEqual([...ours.samples].sort(), [...theirs.samples].sort(), `labels ${list}`);
      }
      // Summed, not dropped: both TCP rows of 198.19.10.20 are one series under remote_address.
      const narrowed = ipvsFamilies(
        renderIpvsMetrics(services, totals.stats, parseBackendLabels("remote_address")),
      );
      assert.equal(narrowed.samples.get('node_ipvs_backend_weight{remote_address="198.19.10.20"}'), 8);
      assert.throws(() => parseBackendLabels("remote_addr"), /unknown IPVS backend label "remote_addr"/);
    } finally {
      await lab.destroy();
      rmSync(procDir, { recursive: true, force: true });
    }
  });
});
