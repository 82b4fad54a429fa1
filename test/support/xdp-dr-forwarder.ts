/**
 * A fixed DR forwarder for the AF_XDP end-to-end test, run inside the director's namespace:
 *
 *   node xdp-dr-forwarder.js --in IF --out IF --vip A.B.C.D --rs-mac MAC
 *                            [--udp PORT]... [--tcp PORT]... [--mode generic|native|auto] [--ring N]
 *
 * The steering program on --in sends VIP service frames to AF_XDP sockets (one per RX queue); each
 * frame is rewritten in place (destination MAC = the real server's, source MAC = --out's, TTL - 1
 * with the IPv4 checksum fixed incrementally) and sent on --out by a socket sharing the UMEM.
 *
 * stdin commands (one per line): "stats" prints one JSON line of counters; "quit" detaches and exits.
 * It prints "ready <json>" once the program is attached and the sockets are bound.
 */
import { readFileSync } from "node:fs";
import { createInterface } from "node:readline";
import { IpAddr } from "../../src/core/address.js";
import { attachXdp, interfaceIndex, type XdpAttachMode } from "../../src/dataplane/xdp/attach.js";
import { PacketLoop } from "../../src/dataplane/xdp/packet-loop.js";
import { SteeringMaps } from "../../src/dataplane/xdp/steering-maps.js";
import { loadSteeringProgram } from "../../src/dataplane/xdp/steering-program.js";
import { Umem } from "../../src/dataplane/xdp/umem.js";
import { FrameBatch, rxQueueCount, XskSocket } from "../../src/dataplane/xdp/xsk-socket.js";
import { closeFd } from "../../src/platform/bpf.js";
import { scriptArgs } from "./script-args.js";

interface Args {
  in: string;
  out: string;
  vip: number;
  rsMac: Uint8Array;
  udp: number[];
  tcp: number[];
  mode: XdpAttachMode;
  ring: number;
}

function parseArgs(argv: string[]): Args {
  const args: Partial<Args> = { udp: [], tcp: [], mode: "generic", ring: 2048 };
  for (let i = 0; i < argv.length; i += 2) {
    const v = argv[i + 1];
    if (v === undefined) throw new Error(`missing value after ${argv[i]}`);
    switch (argv[i]) {
      case "--in":
        args.in = v;
        break;
      case "--out":
        args.out = v;
        break;
      case "--vip":
        args.vip = v.split(".").reduce((a, b) => a * 256 + Number(b), 0);
        break;
      case "--rs-mac":
        args.rsMac = parseMac(v);
        break;
      case "--udp":
        args.udp!.push(Number(v));
        break;
      case "--tcp":
        args.tcp!.push(Number(v));
        break;
      case "--mode":
        args.mode = v as XdpAttachMode;
        break;
      case "--ring":
        args.ring = Number(v);
        break;
      default:
        throw new Error(`unknown option ${argv[i]}`);
    }
  }
  if (!args.in || !args.out || args.vip === undefined || !args.rsMac) {
    throw new Error("usage: --in IF --out IF --vip ADDR --rs-mac MAC [--udp PORT] [--tcp PORT] [--mode M]");
  }
  return args as Args;
}

function parseMac(text: string): Uint8Array {
  const parts = text.trim().split(":");
  if (parts.length !== 6) throw new Error(`bad MAC address ${text}`);
  return Uint8Array.from(parts.map((p) => Number.parseInt(p, 16)));
}

/** RFC 1624 incremental update of a ones'-complement checksum when one 16-bit word changes. */
function csumReplace16(check: number, oldWord: number, newWord: number): number {
  let sum = (~check & 0xffff) + (~oldWord & 0xffff) + newWord;
  sum = (sum & 0xffff) + (sum >>> 16);
  sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

const args = parseArgs(scriptArgs("xdp-dr-forwarder.js --in IF --out IF --vip ADDR --rs-mac MAC [...]"));
const inMac = parseMac(readFileSync(`/sys/class/net/${args.in}/address`, "utf8"));
let notForUs = 0;
const outMac = parseMac(readFileSync(`/sys/class/net/${args.out}/address`, "utf8"));

const maps = SteeringMaps.create();
for (const port of args.udp) maps.addService(17, IpAddr.v4(args.vip), port);
for (const port of args.tcp) maps.addService(6, IpAddr.v4(args.vip), port);
const prog = loadSteeringProgram(maps.fds);

const umem = new Umem({ frames: 4096, frameSize: 2048 });
const queues = rxQueueCount(args.in);
/** Frames received per RX queue. */
const perQueue: number[] = [];
const rings = { rxSize: args.ring, txSize: args.ring, fillSize: args.ring, completionSize: args.ring };
const rxSockets: XskSocket[] = [];
for (let q = 0; q < queues; q++) {
  perQueue.push(0);
  rxSockets.push(XskSocket.open({ ifname: args.in, queue: q, umem, shareWith: rxSockets[0], ...rings }));
}
const txSocket = XskSocket.open({ ifname: args.out, queue: 0, umem, shareWith: rxSockets[0], ...rings });
// Bind first, then publish the sockets in the XSKMAP, then attach.
rxSockets.forEach((s, q) => {
  maps.bindQueue(q, s.fd);
});
maps.setInterfaceMac(interfaceIndex(args.in), inMac);
const attachment = attachXdp(prog, args.in, args.mode);

let forwarded = 0;
let droppedTtl = 0;
let droppedTxFull = 0;
/** Largest number of frames one flush() had to send (more than 32 needs several sendto calls). */
let maxTxBatch = 0;
const batch = new FrameBatch(64);
const bytes = umem.bytes;

function step(): number {
  txSocket.reapCompletions();
  let handled = 0;
  for (let q = 0; q < rxSockets.length; q++) {
    const rx = rxSockets[q]!;
    rx.refill();
    const n = rx.receive(batch);
    perQueue[q]! += n;
    for (let k = 0; k < n; k++) {
      const addr = batch.addrs[k]!;
      const len = batch.lens[k]!;
      if (bytes[addr + 5] !== inMac[5] || bytes[addr + 4] !== inMac[4]) notForUs++; // steering must prevent it
      // The steering program only passes IPv4 with a full header here; re-check the TTL.
      const ip = addr + (bytes[addr + 12] === 0x81 ? 18 : 14);
      const ttl = bytes[ip + 8]!;
      if (ttl <= 1) {
        droppedTtl++;
        umem.free(addr);
        continue;
      }
      const oldWord = (ttl << 8) | bytes[ip + 9]!;
      bytes[ip + 8] = ttl - 1;
      const check = csumReplace16((bytes[ip + 10]! << 8) | bytes[ip + 11]!, oldWord, oldWord - 0x100);
      bytes[ip + 10] = check >>> 8;
      bytes[ip + 11] = check & 0xff;
      bytes.set(args.rsMac, addr);
      bytes.set(outMac, addr + 6);
      if (txSocket.send(addr, len)) forwarded++;
      else {
        droppedTxFull++;
        umem.free(addr);
      }
    }
    handled += n;
  }
  if (handled > 0) {
    const queued = txSocket.tx.outstanding();
    if (queued > maxTxBatch) maxTxBatch = queued;
    txSocket.flush();
  }
  return handled;
}

const loop = new PacketLoop(step, rxSockets, { idleTimeoutMs: 5 });
const running = loop.run();

function stats(): string {
  return JSON.stringify({
    forwarded,
    droppedTtl,
    droppedTxFull,
    kicks: txSocket.kicks,
    maxTxBatch,
    perQueue,
    notForUs,
    idlePolls: loop.idlePolls,
    steering: Object.fromEntries(Object.entries(maps.counters()).map(([k, v]) => [k, Number(v)])),
    rx: Object.fromEntries(Object.entries(rxSockets[0]!.statistics()).map(([k, v]) => [k, Number(v)])),
  });
}

async function shutdown(code: number): Promise<never> {
  loop.stop();
  await running.catch(() => undefined);
  attachment.detach();
  for (const s of rxSockets) s.close();
  txSocket.close();
  maps.close();
  closeFd(prog);
  umem.destroy();
  process.exit(code);
}

createInterface({ input: process.stdin }).on("line", (line) => {
  const cmd = line.trim();
  if (cmd === "stats") process.stdout.write(`stats ${stats()}\n`);
  else if (cmd === "quit") void shutdown(0);
});
process.stdin.on("end", () => void shutdown(0));
running.catch((e) => {
  process.stderr.write(`forwarder failed: ${e instanceof Error ? e.message : String(e)}\n`);
  void shutdown(1);
});
process.stdout.write(
  `ready ${JSON.stringify({ mode: attachment.mode, queues, zeroCopy: rxSockets[0]!.zeroCopy, fallback: attachment.fallbackReason })}\n`,
);
