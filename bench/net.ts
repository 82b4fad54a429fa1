/**
 * Packet parsing and rewriting per second on one core: the frame classifier alone, and classify +
 * NAT inbound rewrite (incremental checksums, TTL), on a 60-byte IPv4 UDP frame and 1514-byte IPv4 and
 * IPv6 TCP frames. Each rewrite iteration first copies a pristine frame into the working buffer (a data
 * plane copies frames between rings too); "copy only" measures that part alone. A full TCP checksum over
 * the 1500-byte packet is shown for comparison with the incremental patch. "GCs" counts garbage
 * collections during the case: the per-packet path should cause none.
 *
 * Run: npx tsc -p tsconfig.json && node dist/bench/net.js [seconds-per-case]
 */
import { cpus } from "node:os";
import { PerformanceObserver } from "node:perf_hooks";
import { put16 } from "../src/net/bytes.js";
import { transportChecksum, udpWireChecksum } from "../src/net/checksum.js";
import { ETHERTYPE_IPV4, ETHERTYPE_IPV6, writeEthernetHeader } from "../src/net/ethernet.js";
import { PROTO_TCP, PROTO_UDP } from "../src/net/ip.js";
import { IPV4_FLAG_DF, writeIpv4Header } from "../src/net/ipv4.js";
import { writeIpv6Header } from "../src/net/ipv6.js";
import { ParsedFrame, parseFrame } from "../src/net/parse.js";
import { natInbound, RW_OK } from "../src/net/rewrite.js";
import { TCP_ACK, TCP_PSH, writeTcpHeader } from "../src/net/tcp.js";
import { writeUdpHeader } from "../src/net/udp.js";

const seconds = Number(process.argv[2] ?? 1);
const MAC_A = 0x020000000001;
const MAC_B = 0x020000000002;
const CLIENT = 0xc612000a; // 198.18.0.10
const VIP = 0xc6120101; // 198.18.1.1
const RS = Uint32Array.of(0xc6120205, 0, 0, 0); // 198.18.2.5
const CLIENT6 = Uint32Array.of(0x20010db8, 0, 0, 0x10);
const VIP6 = Uint32Array.of(0x20010db8, 0, 1, 1);
const RS6 = Uint32Array.of(0x20010db8, 0, 2, 5);

function udp4Frame(frameLen: number): Uint8Array {
  const b = new Uint8Array(frameLen);
  const ipLen = frameLen - 14;
  writeEthernetHeader(b, 0, MAC_B, MAC_A, ETHERTYPE_IPV4);
  writeIpv4Header(b, 14, 0, ipLen, 1, IPV4_FLAG_DF, 64, PROTO_UDP, CLIENT, VIP);
  writeUdpHeader(b, 34, 40000, 53, ipLen - 20);
  for (let i = 42; i < frameLen; i++) b[i] = i;
  put16(b, 40, udpWireChecksum(transportChecksum(b, 14, false, PROTO_UDP, 34, ipLen - 20, 6)));
  return b;
}

function tcp4Frame(frameLen: number): Uint8Array {
  const b = new Uint8Array(frameLen);
  const ipLen = frameLen - 14;
  writeEthernetHeader(b, 0, MAC_B, MAC_A, ETHERTYPE_IPV4);
  writeIpv4Header(b, 14, 0, ipLen, 1, IPV4_FLAG_DF, 64, PROTO_TCP, CLIENT, VIP);
  writeTcpHeader(b, 34, 40000, 80, 1, 1, TCP_ACK | TCP_PSH, 65535);
  for (let i = 54; i < frameLen; i++) b[i] = i;
  put16(b, 50, transportChecksum(b, 14, false, PROTO_TCP, 34, ipLen - 20, 16));
  return b;
}

function tcp6Frame(frameLen: number): Uint8Array {
  const b = new Uint8Array(frameLen);
  const payload = frameLen - 54;
  writeEthernetHeader(b, 0, MAC_B, MAC_A, ETHERTYPE_IPV6);
  writeIpv6Header(b, 14, 0, 0, payload, PROTO_TCP, 64, CLIENT6, 0, VIP6, 0);
  writeTcpHeader(b, 54, 40000, 80, 1, 1, TCP_ACK | TCP_PSH, 65535);
  for (let i = 74; i < frameLen; i++) b[i] = i;
  put16(b, 70, transportChecksum(b, 14, true, PROTO_TCP, 54, payload, 16));
  return b;
}

let gcs = 0;
new PerformanceObserver((list) => {
  gcs += list.getEntries().length;
}).observe({ entryTypes: ["gc"] });

/** Runs `op` in batches until `seconds` pass; returns operations per second. */
function measure(op: () => void): { rate: number; gc: number } {
  const batch = 10_000;
  for (let i = 0; i < batch; i++) op(); // warm-up
  const gc0 = gcs;
  const start = process.hrtime.bigint();
  const limit = BigInt(Math.round(seconds * 1e9));
  let n = 0;
  let elapsed = 0n;
  while (elapsed < limit) {
    for (let i = 0; i < batch; i++) op();
    n += batch;
    elapsed = process.hrtime.bigint() - start;
  }
  return { rate: (n * 1e9) / Number(elapsed), gc: gcs - gc0 };
}

const p = new ParsedFrame();
const work = new Uint8Array(2048);
let sink = 0;

function cases(name: string, pristine: Uint8Array, rs: Uint32Array): [string, () => void][] {
  const len = pristine.length;
  return [
    [
      `${name}: classify`,
      () => {
        sink += parseFrame(pristine, 0, len, p);
      },
    ],
    [
      `${name}: copy only`,
      () => {
        work.set(pristine);
        sink += work[20]!;
      },
    ],
    [
      `${name}: copy + classify + NAT in`,
      () => {
        work.set(pristine);
        parseFrame(work, 0, len, p);
        if (natInbound(work, p, rs, 0, 8080) !== RW_OK) throw new Error("rewrite failed");
      },
    ],
  ];
}

const udp60 = udp4Frame(60);
const tcp1514 = tcp4Frame(1514);
const tcp6 = tcp6Frame(1514);
const all: [string, () => void][] = [
  ...cases("IPv4 UDP 60 B", udp60, RS),
  ...cases("IPv4 TCP 1514 B", tcp1514, RS),
  ...cases("IPv6 TCP 1514 B", tcp6, RS6),
  [
    "IPv4 TCP 1514 B: full TCP checksum (for comparison)",
    () => {
      sink += transportChecksum(tcp1514, 14, false, PROTO_TCP, 34, 1480, 16);
    },
  ],
];

console.log(`node ${process.version}, ${cpus()[0]?.model ?? "unknown cpu"}, ${seconds}s per case`);
console.log("case".padEnd(54), "ops/s".padStart(12), "ns/op".padStart(8), "GCs".padStart(5));
for (const [name, op] of all) {
  const { rate, gc } = measure(op);
  console.log(
    name.padEnd(54),
    Math.round(rate).toLocaleString("en-US").padStart(12),
    (1e9 / rate).toFixed(0).padStart(8),
    String(gc).padStart(5),
  );
}
if (sink === -1) console.log(sink);
