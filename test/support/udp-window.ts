/**
 * Bounded UDP load with a window: `node udp-window.js HOST PORT COUNT WINDOW` sends COUNT numbered
 * datagrams, at most WINDOW unanswered at a time, resending a datagram unanswered for 500 ms (at
 * most 10 times). Prints one JSON line {sent, answered, resent} and exits.
 */
import { createSocket } from "node:dgram";
import { scriptArgs } from "./script-args.js";

const [host, portText, countText, windowText] = scriptArgs("udp-window.js HOST PORT COUNT WINDOW");
const port = Number(portText);
const count = Number(countText);
const window = Number(windowText);
const sock = createSocket("udp4");
const sentAt = new Map<number, number>();
const tries = new Map<number, number>();
let next = 0;
let answered = 0;
let sent = 0;
let resent = 0;

function send(seq: number): void {
  sent++;
  sentAt.set(seq, Date.now());
  sock.send(`req ${seq}`, port, host);
}

function pump(): void {
  while (sentAt.size < window && next < count) send(next++);
  if (answered === count) {
    process.stdout.write(`${JSON.stringify({ sent, answered, resent })}\n`);
    process.exit(0);
  }
}

sock.on("message", (msg) => {
  const seq = Number(/req (\d+)$/.exec(msg.toString())?.[1]);
  if (!sentAt.delete(seq)) return; // duplicate answer of a resent datagram
  answered++;
  pump();
});

setInterval(() => {
  const now = Date.now();
  for (const [seq, at] of sentAt) {
    if (now - at < 500) continue;
    const n = (tries.get(seq) ?? 0) + 1;
    if (n > 10) {
      process.stdout.write(`${JSON.stringify({ sent, answered, resent, gaveUpOn: seq })}\n`);
      process.exit(1);
    }
    tries.set(seq, n);
    resent++;
    send(seq);
  }
}, 100);

sock.bind(0, pump);
