/**
 * Transcripts of the CLI spec (section 9) that need daemon state no command can create: counters
 * and rates of a busy day, connection entries of every protocol and state, the daemon's dump order,
 * and a fixed host-name table. The commands go to the daemon's real handler and core; the listing
 * replies are then edited (RealDaemonClient.override) to hold that state, so the formatter meets it.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { TableResolver } from "../src/cli/ipvsadm/resolver.js";
import type { ConnEntry, ServiceEntry } from "../src/control/api.js";
import { GOLDENS } from "./fixtures/ipvsadm-spec-goldens.js";
import { Ipvsadm } from "./helpers/ipvsadm-run.js";
import { parseTranscript } from "./helpers/transcript.js";

async function replay(ipvsadm: Ipvsadm, transcript: string): Promise<void> {
  for (const step of parseTranscript(transcript)) {
    const r = await ipvsadm.run(step.args);
    assert.equal(r.stdout, step.stdout, `stdout of: ${step.command}`);
    assert.equal(r.stderr, step.stderr, `stderr of: ${step.command}`);
    assert.equal(r.code, step.exit ?? 0, `exit of: ${step.command}`);
  }
}

/** Edits the service (protocol, addr, port) in every service listing the daemon sends from now on. */
function editService(
  ipvsadm: Ipvsadm,
  protocol: "tcp" | "udp",
  addr: string,
  port: number,
  edit: (s: ServiceEntry) => void,
): void {
  const match = (s: ServiceEntry) => s.id.protocol === protocol && s.id.addr === addr && s.id.port === port;
  const previous = { getServices: (r: unknown) => r, getService: (r: unknown) => r };
  for (const op of ["getServices", "getService"] as const) {
    const before = edits.get(ipvsadm)?.[op] ?? previous[op];
    const next = (r: unknown) => {
      const v = before(r);
      for (const s of Array.isArray(v) ? (v as ServiceEntry[]) : [v as ServiceEntry]) if (match(s)) edit(s);
      return v;
    };
    edits.set(ipvsadm, { ...(edits.get(ipvsadm) ?? previous), [op]: next });
    ipvsadm.daemon.override(op, next);
  }
}
const edits = new WeakMap<Ipvsadm, Record<"getServices" | "getService", (r: unknown) => unknown>>();

test("9.5 --nosort keeps the daemon's order (real servers newest first)", async () => {
  const ipvsadm = new Ipvsadm();
  for (const step of parseTranscript(GOLDENS["9.2"]![0]!))
    assert.equal((await ipvsadm.run(step.args)).code, 0);
  // The kernel dumps in hash order: this order is one it could have.
  const order = [
    "tcp/10.0.0.1/443",
    "tcp/10.0.0.2/443",
    "tcp/10.0.0.3/0",
    "fwm/4/1",
    "fwm/6/2",
    "udp/10.0.0.53/53",
    "tcp/2001:db8::80/80",
    "sctp/10.0.0.9/3868",
    "tcp/10.0.0.10/80",
    "tcp/10.0.0.11/80",
  ];
  const key = ({ id, af }: ServiceEntry) =>
    id.fwmark !== undefined ? `fwm/${af}/${id.fwmark}` : `${id.protocol}/${id.addr}/${id.port}`;
  ipvsadm.daemon.override("getServices", (r) =>
    [...(r as ServiceEntry[])].sort((a, b) => order.indexOf(key(a)) - order.indexOf(key(b))),
  );
  await replay(ipvsadm, GOLDENS["9.5"]![0]!);
});

test("9.6 counters and rates: -Ln, --stats, --stats --exact, --rate, --persistent-conn", async () => {
  const ipvsadm = new Ipvsadm();
  await ipvsadm.setup(`-A -t 172.16.0.10:80 -s wrr
    -a -t 172.16.0.10:80 -r 192.168.10.20:80 -m -w 1
    -a -t 172.16.0.10:80 -r 192.168.10.30:80 -m -w 1`);
  editService(ipvsadm, "tcp", "172.16.0.10", 80, (s) => {
    s.stats = { conns: 12345, inPkts: 1234567, outPkts: 987654, inBytes: 123456789, outBytes: 9876543210 };
    s.rates = { cps: 12, inPps: 345, outPps: 300, inBps: 45678, outBps: 987654 };
    const d20 = s.dests.find((d) => d.addr === "192.168.10.20")!;
    const d30 = s.dests.find((d) => d.addr === "192.168.10.30")!;
    Object.assign(d20, { activeConns: 17, inactConns: 103, persistConns: 6 });
    d20.stats = { conns: 6172, inPkts: 617283, outPkts: 493827, inBytes: 61728394, outBytes: 4938271605 };
    d20.rates = { cps: 6, inPps: 172, outPps: 150, inBps: 22839, outBps: 493827 };
    Object.assign(d30, { activeConns: 15, inactConns: 99, persistConns: 4 });
    d30.stats = { conns: 6173, inPkts: 617284, outPkts: 493827, inBytes: 61728395, outBytes: 4938271605 };
    d30.rates = { cps: 6, inPps: 173, outPps: 150, inBps: 22839, outBps: 493827 };
  });
  await replay(ipvsadm, GOLDENS["9.6"]![0]!);
});

test("9.6 scaling edge cases, 32-bit real-server counters, 2^64-1 in a JSON number", async () => {
  const ipvsadm = new Ipvsadm();
  await ipvsadm.setup(`-A -t 10.1.1.1:80
    -a -t 10.1.1.1:80 -r 10.2.2.2:80
    -A -u 10.1.1.1:53`);
  editService(ipvsadm, "tcp", "10.1.1.1", 80, (s) => {
    s.stats = { conns: 99999999, inPkts: 100000000, outPkts: 999999999, inBytes: 1e9, outBytes: 99999999999 };
    s.rates = { cps: 1e11, inPps: 99999999999999, outPps: 1e14, inBps: 1, outBps: 2 };
    const d = s.dests[0]!;
    d.stats = { conns: 4294967295, inPkts: 2 ** 32, outPkts: 5e9, inBytes: 99999999999999, outBytes: 1e14 };
    d.rates = { cps: 1e8, inPps: 999999999, outPps: 1e9, inBps: 1e9, outBps: 5 };
  });
  // 2^64-1 travels as a JSON number, i.e. as the double 2^64: scaled it prints as ipvsadm's,
  // exact it prints that double's digits.
  editService(ipvsadm, "udp", "10.1.1.1", 53, (s) => {
    s.stats.conns = JSON.parse("18446744073709551615") as number;
  });
  const golden = GOLDENS["9.6"]![1]!.replace("18446744073709551615", "18446744073709551616");
  await replay(ipvsadm, golden);
});

test("9.7 connections: -Lnc, -Lnc --persistent-conn, -Lc", async () => {
  const ipvsadm = new Ipvsadm();
  const c = (
    protocol: string,
    client: string,
    cport: number,
    vaddr: string,
    vport: number,
    daddr: string,
    dport: number,
    state: string,
    expires: number,
    pe: [string, string] = ["", ""],
  ): ConnEntry => ({
    protocol,
    af: client.includes(":") ? 6 : 4,
    caddr: client,
    cport,
    vaddr,
    vport,
    daddr,
    dport,
    state,
    expires,
    peName: pe[0],
    peData: pe[1],
  });
  const conns = [
    c("TCP", "192.168.0.100", 54321, "172.16.0.10", 80, "192.168.10.20", 80, "ESTABLISHED", 899),
    c("TCP", "192.168.0.101", 54322, "172.16.0.10", 80, "192.168.10.30", 80, "FIN_WAIT", 59),
    c("TCP", "192.168.0.102", 40000, "172.16.0.10", 80, "192.168.10.30", 80, "TIME_WAIT", 7261),
    c("UDP", "192.168.0.103", 33333, "172.16.0.10", 53, "192.168.10.20", 53, "UDP", 299),
    c("TCP", "192.168.0.0", 0, "172.16.0.11", 443, "192.168.10.20", 443, "NONE", 359),
    c("IP", "192.168.0.104", 0, "0.0.0.0", 0, "192.168.10.20", 0, "ASSURED", 12),
    c("SCTP", "192.168.0.105", 5000, "172.16.0.12", 3868, "192.168.10.20", 3868, "ESTABLISHED", 3600),
    c("UDP", "192.168.0.106", 5060, "172.16.0.13", 5060, "192.168.10.20", 5060, "NONE", 180, [
      "sip",
      "1234abcd@example.com",
    ]),
    c("TCP", "2001:db8::1", 50000, "2001:db8::80", 80, "2001:db8::a0a0", 8080, "SYN_RECV", 29),
    c("TCP", "10.0.0.1", 1234, "10.0.0.2", 80, "2001:db8::a0a1", 80, "ESTABLISHED", 100),
  ];
  // Whole-table and paged requests alike get these entries (the real table is empty).
  ipvsadm.daemon.override("getConns", (r) => (Array.isArray(r) ? conns : { conns, next: null }));
  await replay(ipvsadm, GOLDENS["9.7"]![0]!);
});

test("9.9 name resolution without -n, IPv4 cuts at 33/28 characters, IPv6 never cut", async () => {
  const ipvsadm = new Ipvsadm();
  ipvsadm.resolver = new TableResolver(
    new Map([
      ["10.9.9.9", "a-very-long-virtual-service-hostname.example.com"],
      ["10.8.8.8", "a-very-long-real-server-hostname.example.com"],
      ["10.8.8.7", "short"],
      ["2001:db8::99", "v6-virtual-hostname.example.net"],
      ["2001:db8::98", "v6-real.example.net"],
    ]),
  );
  await ipvsadm.setup(`-A -t 10.9.9.9:80 -s rr
    -a -t 10.9.9.9:80 -r 10.8.8.8:80 -m
    -a -t 10.9.9.9:80 -r 10.8.8.7:8080 -m
    -A -u 10.9.9.9:53
    -a -u 10.9.9.9:53 -r 10.8.8.8:53 -m
    -A -t [2001:db8::99]:443 -s rr
    -a -t [2001:db8::99]:443 -r [2001:db8::98]:443 -m`);
  await replay(ipvsadm, GOLDENS["9.9"]![0]!);
});
