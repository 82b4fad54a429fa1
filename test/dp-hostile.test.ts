/**
 * Hostile input to the live engine: from the client namespace, a burst of malformed and unusual
 * frames toward the VIP (truncated IP, bad IHL, bad total lengths, IP options, fragments, bad
 * checksums, bad TCP data offsets, TCP without SYN for unknown connections, random bytes behind a
 * plausible IPv4 header). The director must keep running, still serve a normal request, and count
 * what it refused (the engine logs its counters on stop).
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { NetLab } from "../src/cli/lab/netns.js";
import { buildNatLab } from "../src/cli/lab/topologies.js";
import { checksumRange, finishSum, pseudoSumV4, sumRange } from "../src/net/checksum.js";
import { curl, DirectorProcess, labPrefix, startRealServers, supportScript } from "./support/dp-harness.js";
import { ip4 } from "./support/frames.js";
import { haveRoot } from "./support/privileged.js";

const PROTO_TCP = 6;
const PROTO_UDP = 17;
const SYN = 0x02;
const ACK = 0x10;

function macBytes(text: string): number[] {
  return text.split(":").map((h) => Number.parseInt(h, 16));
}

/** Deterministic pseudo-random bytes (xorshift32), so a failure can be replayed. */
function prng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x & 0xff;
  };
}

interface IpOpts {
  protocol: number;
  l4: Uint8Array;
  options?: number[];
  fragField?: number;
  /** Overrides written after the checksums: [offset in the IP packet, byte]. */
  poke?: [number, number][];
  /** Keep only the first n bytes of the IP packet. */
  truncate?: number;
  badIpChecksum?: boolean;
}

class FrameMaker {
  readonly frames: Uint8Array[] = [];
  constructor(
    private readonly dstMac: number[],
    private readonly srcMac: number[],
    private readonly src: number,
    private readonly dst: number,
  ) {}

  /** A TCP header (+ payload) with a correct checksum for src -> dst. */
  tcp(sport: number, dport: number, flags: number, payload = 0, doff = 5): Uint8Array {
    const seg = new Uint8Array(20 + payload);
    const v = new DataView(seg.buffer);
    v.setUint16(0, sport);
    v.setUint16(2, dport);
    v.setUint32(4, 0x01020304);
    seg[12] = doff << 4;
    seg[13] = flags;
    v.setUint16(14, 64240);
    for (let i = 20; i < seg.length; i++) seg[i] = i & 0xff;
    return seg;
  }

  udp(sport: number, dport: number, payload: number, lengthField?: number): Uint8Array {
    const seg = new Uint8Array(8 + payload);
    const v = new DataView(seg.buffer);
    v.setUint16(0, sport);
    v.setUint16(2, dport);
    v.setUint16(4, lengthField ?? seg.length);
    return seg;
  }

  ip(o: IpOpts): void {
    const opts = o.options ?? [];
    const hl = 20 + opts.length;
    const pkt = new Uint8Array(hl + o.l4.length);
    const v = new DataView(pkt.buffer);
    pkt[0] = 0x40 | (hl / 4);
    v.setUint16(2, pkt.length);
    v.setUint16(4, 0x1234);
    v.setUint16(6, o.fragField ?? 0);
    pkt[8] = 64;
    pkt[9] = o.protocol;
    v.setUint32(12, this.src);
    v.setUint32(16, this.dst);
    pkt.set(opts, 20);
    pkt.set(o.l4, hl);
    const isFragment = (o.fragField ?? 0) & 0x3fff;
    if (!isFragment && (o.protocol === PROTO_TCP || o.protocol === PROTO_UDP) && o.l4.length >= 8) {
      const at = hl + (o.protocol === PROTO_TCP ? 16 : 6);
      if (o.protocol === PROTO_UDP || o.l4.length >= 20) {
        const sum = sumRange(pkt, hl, o.l4.length, pseudoSumV4(pkt, 0, o.protocol, o.l4.length));
        v.setUint16(at, finishSum(sum));
      }
    }
    v.setUint16(10, checksumRange(pkt, 0, hl) ^ (o.badIpChecksum ? 0x5a5a : 0));
    for (const [at, b] of o.poke ?? []) pkt[at] = b;
    this.raw(o.truncate === undefined ? pkt : pkt.subarray(0, o.truncate));
  }

  raw(ipPacket: Uint8Array, etherType = 0x0800): void {
    const f = new Uint8Array(14 + ipPacket.length);
    f.set(this.dstMac, 0);
    f.set(this.srcMac, 6);
    f[12] = etherType >> 8;
    f[13] = etherType & 0xff;
    f.set(ipPacket, 14);
    this.frames.push(f);
  }
}

/** The kernel's count of fragments received for reassembly in a host (/proc/net/snmp, Ip: ReasmReqds). */
function reassemblyRequests(lab: NetLab, host: string): number {
  const lines = lab
    .exec(host, ["cat", "/proc/net/snmp"])
    .split("\n")
    .filter((l) => l.startsWith("Ip:"));
  const names = lines[0]!.split(/\s+/);
  const values = lines[1]!.split(/\s+/);
  return Number(values[names.indexOf("ReasmReqds")]);
}

test("hostile frames toward the VIP: the director keeps running, serves, and counts them", async (t) => {
  if (!haveRoot(t)) return;
  const lab = new NetLab(labPrefix("hostile"));
  let director: DirectorProcess | undefined;
  const dir = mkdtempSync(join(tmpdir(), "tslvs-hostile-"));
  try {
    const topo = buildNatLab(lab);
    await startRealServers(lab, topo.servers);
    director = await DirectorProcess.start(lab, topo.director, [topo.outsideIf, topo.insideIf]);
    for (const proto of ["-t", "-u"]) {
      director.adm(["-A", proto, `${topo.vip}:80`, "-s", "rr"]);
      for (const rs of topo.servers)
        director.adm(["-a", proto, `${topo.vip}:80`, "-r", `${rs.rip}:80`, "-m"]);
    }
    assert.equal(curl(lab, topo.client, `http://${topo.vip}/`).status, 200);

    const m = new FrameMaker(
      macBytes(lab.mac(topo.director, topo.outsideIf)),
      macBytes(lab.mac(topo.client, "eth0")),
      ip4(topo.cip),
      ip4(topo.vip),
    );
    const rand = prng(0x7e57);
    for (let i = 0; i < 20; i++) {
      const sport = 20000 + i;
      const syn = m.tcp(sport, 80, SYN);
      m.ip({ protocol: PROTO_TCP, l4: syn, truncate: 12 }); // truncated IP header
      m.ip({ protocol: PROTO_TCP, l4: syn, poke: [[0, 0x44]] }); // IHL 4
      m.ip({ protocol: PROTO_TCP, l4: syn, poke: [[0, 0x4f]] }); // IHL 15, longer than the packet
      m.ip({ protocol: PROTO_TCP, l4: syn, poke: [[0, 0x65]] }); // version 6 in an IPv4 frame
      m.ip({
        protocol: PROTO_TCP,
        l4: syn,
        poke: [
          [2, 0x07],
          [3, 0xd0],
        ],
      }); // total length 2000
      m.ip({
        protocol: PROTO_TCP,
        l4: syn,
        poke: [
          [2, 0],
          [3, 10],
        ],
      }); // total length 10
      m.ip({
        protocol: PROTO_TCP,
        l4: syn,
        poke: [
          [2, 0],
          [3, 30],
        ],
      }); // total length cuts the TCP header
      m.ip({ protocol: PROTO_TCP, l4: syn, badIpChecksum: true });
      m.ip({ protocol: PROTO_TCP, l4: syn, poke: [[36, 0xde]] }); // bad TCP checksum
      m.ip({ protocol: PROTO_TCP, l4: m.tcp(sport, 80, SYN, 0, 2) }); // data offset 2
      m.ip({ protocol: PROTO_TCP, l4: m.tcp(sport, 80, SYN, 0, 15) }); // data offset past the end
      m.ip({ protocol: PROTO_TCP, l4: m.tcp(30000 + i, 80, ACK, 32) }); // no SYN, unknown connection
      m.ip({ protocol: PROTO_TCP, l4: m.tcp(30100 + i, 80, 0, 0) }); // no flags at all
      m.ip({ protocol: PROTO_TCP, l4: m.tcp(30200 + i, 80, 0xff, 8) }); // every flag
      m.ip({ protocol: PROTO_TCP, l4: syn.subarray(0, 10) }); // TCP header cut short
      m.ip({ protocol: PROTO_TCP, l4: m.tcp(30300 + i, 80, SYN), options: [1, 1, 1, 0] }); // IP options
      m.ip({ protocol: PROTO_TCP, l4: m.tcp(30400 + i, 80, SYN), options: [7, 39, 4, ...Array(37).fill(0)] });
      m.ip({ protocol: PROTO_TCP, l4: m.tcp(30500 + i, 80, SYN, 64), fragField: 0x2000 }); // first fragment
      m.ip({ protocol: PROTO_TCP, l4: m.tcp(30500 + i, 80, 0, 64), fragField: 0x000b }); // later fragment
      m.ip({ protocol: PROTO_UDP, l4: m.udp(30600 + i, 80, 64), fragField: 0x2000 });
      m.ip({ protocol: PROTO_UDP, l4: m.udp(30600 + i, 80, 64), fragField: 0x0009 });
      m.ip({ protocol: PROTO_UDP, l4: m.udp(30700 + i, 80, 16, 4) }); // UDP length below its header
      m.ip({ protocol: PROTO_UDP, l4: m.udp(30800 + i, 80, 16, 400) }); // UDP length past the end
      m.ip({ protocol: PROTO_UDP, l4: m.udp(30900 + i, 80, 0).subarray(0, 5) }); // UDP header cut short
      m.raw(new Uint8Array([0x45, 0, 0])); // three bytes of IPv4
      m.raw(new Uint8Array(0)); // Ethernet header only
    }
    // Random bytes behind a plausible header: IPv4, 20-byte header, to VIP:80.
    for (let i = 0; i < 300; i++) {
      const pkt = new Uint8Array(20 + (rand() % 120));
      for (let k = 0; k < pkt.length; k++) pkt[k] = rand();
      pkt[0] = 0x45;
      pkt[9] = i % 2 ? PROTO_TCP : PROTO_UDP;
      pkt.set([198, 18, 0, 10], 16);
      if (pkt.length >= 24) pkt.set([0, 80], 22);
      m.raw(pkt);
    }
    // Fragments that reach a real server would be counted by its reassembly (Ip: ReasmReqds).
    const reasm = () => topo.servers.reduce((n, rs) => n + reassemblyRequests(lab, rs.host), 0);
    const reasmBefore = reasm();
    const file = join(dir, "frames.hex");
    writeFileSync(file, `${m.frames.map((f) => Buffer.from(f).toString("hex")).join("\n")}\n`);
    const out = JSON.parse(lab.exec(topo.client, ["node", supportScript("dp-raw-send"), "eth0", file])) as {
      sent: number;
      failed: number;
    };
    assert.equal(out.sent, m.frames.length, JSON.stringify(out));

    assert.ok(director.running, `the director stopped:\n${director.log}`);
    for (let i = 0; i < 4; i++) {
      const r = curl(lab, topo.client, `http://${topo.vip}/`);
      assert.equal(r.status, 200);
      assert.equal(r.seenClient, topo.cip);
    }
    lab.exec(topo.client, ["ping", "-c", "1", "-W", "2", topo.vip]);
    director.adm(["-ln"]);
    assert.equal(reasm(), reasmBefore, "no fragment was forwarded to a real server");

    await director.stop();
    const c = director.engineCounters();
    t.diagnostic(`engine counters: ${JSON.stringify(c)}`);
    assert.ok(c, "the engine logged its counters on stop");
    assert.equal(c.errors, 0, "no frame made the engine fail");
    assert.ok(c.malformed > 0, "malformed frames that reached the engine are counted");
    assert.ok(c.passedAndDropped > 0, "TCP without SYN for unknown connections is counted");
    assert.ok(c.fragmentsDropped > 0, "fragments that reached the engine are counted");
  } finally {
    await director?.stop();
    await lab.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
});
