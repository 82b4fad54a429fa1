/**
 * Datagrams from one UDP socket, connected to HOST:PORT (so the kernel drops answers from any other
 * source): `node dp-udp-client.js HOST PORT COUNT` sends "msg N" for N = 0..COUNT-1, one at a time,
 * each resent up to 3 times (1 s apart) until answered, and prints one JSON line per datagram:
 * {n, answer} or {n, error: "no answer"}.
 */
import { createSocket } from "node:dgram";
import { scriptArgs } from "./script-args.js";

const [host, portText, countText] = scriptArgs("dp-udp-client.js HOST PORT COUNT");
const count = Number(countText);
const sock = createSocket("udp4");
let n = 0;
let tries = 0;
let timer: NodeJS.Timeout | undefined;

function send(): void {
  if (n >= count) {
    sock.close();
    return;
  }
  if (tries++ === 3) {
    process.stdout.write(`${JSON.stringify({ n, error: "no answer" })}\n`);
    n++;
    tries = 0;
    send();
    return;
  }
  sock.send(`msg ${n}`);
  timer = setTimeout(send, 1000);
}

sock.on("message", (msg) => {
  const text = msg.toString();
  if (!text.endsWith(` msg ${n}`)) return; // a late answer to an earlier try
  clearTimeout(timer);
  process.stdout.write(`${JSON.stringify({ n, answer: text })}\n`);
  n++;
  tries = 0;
  send();
});
sock.connect(Number(portText), host, send);
