/**
 * `tslvsadm -Ln` on a large table: 10,000 services x 10 real servers. Measures the JSON decode of
 * the daemon's dump (the reply line as it arrives on the socket), the sort + formatting, and the
 * whole command through runIpvsadm with a client that decodes that same reply line.
 * Run: node dist/bench/listing.js [services] [dests]
 */

import { formatServices } from "../src/cli/ipvsadm/list-services.js";
import { NUMERIC } from "../src/cli/ipvsadm/names.js";
import { TableResolver } from "../src/cli/ipvsadm/resolver.js";
import { runIpvsadm } from "../src/cli/ipvsadm/run.js";
import { ServicesDb } from "../src/cli/ipvsadm/services-db.js";
import { sortServices } from "../src/cli/ipvsadm/sort.js";
import type { DestEntry, InfoEntry, Request, ServiceEntry } from "../src/control/api.js";
import type { IpvsClient } from "../src/control/client.js";

const nServices = Number(process.argv[2] ?? 10000);
const nDests = Number(process.argv[3] ?? 10);

function counters(seed: number) {
  return {
    conns: seed * 7,
    inPkts: seed * 101,
    outPkts: seed * 93,
    inBytes: seed * 1500,
    outBytes: seed * 9000,
  };
}
function rates(seed: number) {
  return { cps: seed % 100, inPps: seed % 1000, outPps: seed % 900, inBps: seed * 10, outBps: seed * 60 };
}

function table(): ServiceEntry[] {
  const services: ServiceEntry[] = [];
  for (let i = 0; i < nServices; i++) {
    const dests: DestEntry[] = [];
    for (let j = nDests - 1; j >= 0; j--) {
      dests.push({
        addr: `192.168.${(i >> 8) & 255}.${(i + j * 17) & 255}`,
        port: 8080 + j,
        method: "masq",
        weight: 1 + j,
        uThreshold: 0,
        lThreshold: 0,
        tunType: "ipip",
        tunPort: 0,
        tunCsum: "nocsum",
        af: 4,
        activeConns: i % 50,
        inactConns: j * 3,
        persistConns: 0,
        flags: 1,
        stats: counters(i + j),
        rates: rates(i + j),
      });
    }
    services.push({
      id: {
        protocol: i % 3 === 0 ? "udp" : "tcp",
        addr: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`,
        port: 80 + (i % 7),
      },
      scheduler: "wrr",
      flags: 0,
      timeout: 0,
      netmask: "255.255.255.255",
      pe: "",
      af: 4,
      stats: counters(i),
      rates: rates(i),
      dests,
    });
  }
  // The daemon's order is not the listing's: shuffle deterministically.
  for (let i = services.length - 1; i > 0; i--) {
    const k = (i * 7919) % (i + 1);
    [services[i], services[k]] = [services[k]!, services[i]!];
  }
  return services;
}

function time<T>(fn: () => T): [T, number] {
  const t = process.hrtime.bigint();
  const r = fn();
  return [r, Number(process.hrtime.bigint() - t) / 1e6];
}

const payload = JSON.stringify(table());
const info: InfoEntry = {
  version: "1.2.1",
  versionCode: 0x010201,
  connTabSize: 4096,
  ready: true,
  dataPlane: null,
  connections: 0,
  fwmarkRules: null,
  connCapacity: 1 << 20,
  connRefusedFull: 0,
  notActedOn: [],
};
console.log(
  `table: ${nServices} services x ${nDests} real servers, dump reply ${(payload.length / 1e6).toFixed(1)} MB`,
);

const runs = 5;
const decodeMs: number[] = [];
const formatMs: number[] = [];
const wholeMs: number[] = [];
let lines = 0;
for (let r = 0; r < runs; r++) {
  const [services, d] = time(() => JSON.parse(payload) as ServiceEntry[]);
  decodeMs.push(d);
  const [text, f] = time(() => {
    const out: string[] = [];
    formatServices(
      sortServices(services),
      {
        numeric: true,
        stats: false,
        rate: false,
        thresholds: false,
        persistentConn: false,
        nosort: false,
        exact: false,
        tunInfo: false,
        json: false,
      },
      NUMERIC,
      out,
    );
    return out.join("");
  });
  formatMs.push(f);
  lines = text.split("\n").length - 1;
  const client: IpvsClient = {
    call: async <T>(req: Request): Promise<T> => (req.op === "getInfo" ? info : JSON.parse(payload)) as T,
    close: () => {},
  };
  const t = process.hrtime.bigint();
  const res = await runIpvsadm("tslvsadm", ["-Ln"], {
    connect: async () => client,
    readStdin: async () => "",
    resolver: new TableResolver(new Map()),
    services: () => new ServicesDb(""),
  });
  wholeMs.push(Number(process.hrtime.bigint() - t) / 1e6);
  if (res.code !== 0) throw new Error(res.stderr);
}
const med = (a: number[]) => [...a].sort((x, y) => x - y)[a.length >> 1]!.toFixed(0);
console.log(`output: ${lines} lines`);
console.log(`JSON decode of the dump: median ${med(decodeMs)} ms`);
console.log(`sort + format -Ln:       median ${med(formatMs)} ms`);
console.log(`whole -Ln (decode, sort, format, in runIpvsadm): median ${med(wholeMs)} ms (${runs} runs)`);
