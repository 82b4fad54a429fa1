/**
 * One large transmit burst through an AF_XDP socket: `node xsk-burst.js IF COUNT` writes COUNT
 * Ethernet frames (EtherType 0x88b5, local experimental) into the UMEM, queues them all on the TX
 * ring, flushes once, and prints {flushCalls, completed, freeFrames} — copy mode sends at most 32
 * frames per sendto(), so one flush of more than 32 frames must kick several times.
 */
import { readFileSync } from "node:fs";
import { Umem } from "../../src/dataplane/xdp/umem.js";
import { XskSocket } from "../../src/dataplane/xdp/xsk-socket.js";
import { scriptArgs } from "./script-args.js";

const [ifname, countText] = scriptArgs("xsk-burst.js IF COUNT");
if (!ifname) throw new Error("usage: xsk-burst.js IF COUNT");
const count = Number(countText);
const mac = readFileSync(`/sys/class/net/${ifname}/address`, "utf8")
  .trim()
  .split(":")
  .map((b) => Number.parseInt(b, 16));
const umem = new Umem({ frames: 1024 });
const sock = XskSocket.open({ ifname, umem, txSize: 512, completionSize: 512 });
for (let i = 0; i < count; i++) {
  const addr = umem.alloc();
  umem.bytes.fill(0xff, addr, addr + 6);
  umem.bytes.set(mac, addr + 6);
  umem.bytes[addr + 12] = 0x88;
  umem.bytes[addr + 13] = 0xb5;
  umem.bytes.fill(i & 0xff, addr + 14, addr + 60);
  if (!sock.send(addr, 60)) throw new Error(`TX ring full at frame ${i}`);
}
const flushCalls = sock.flush();
sock.reapCompletions();
const completed = sock.txCompleted;
process.stdout.write(`${JSON.stringify({ flushCalls, completed, freeFrames: umem.freeFrames })}\n`);
sock.close();
umem.destroy();
