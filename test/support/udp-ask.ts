/**
 * One UDP request/response: `node udp-ask.js HOST PORT MESSAGE` prints the answer and exits 0, or
 * exits 1 after 3 attempts of 1 s without one.
 */
import { createSocket } from "node:dgram";
import { scriptArgs } from "./script-args.js";

const [host, port, message] = scriptArgs("udp-ask.js HOST PORT MESSAGE");
const sock = createSocket("udp4");
let tries = 0;
const send = () => {
  if (tries++ === 3) {
    process.stderr.write("no answer\n");
    process.exit(1);
  }
  sock.send(message ?? "ping", Number(port), host);
  setTimeout(send, 1000).unref();
};
sock.on("message", (msg) => {
  process.stdout.write(`${msg.toString()}\n`);
  process.exit(0);
});
sock.bind(0, send);
