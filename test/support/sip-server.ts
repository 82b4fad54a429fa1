/**
 * A tiny SIP-over-UDP "server" for the --pe sip lab: `node sip-server.js NAME PORT` answers every
 * datagram with one line, `NAME <the Call-ID it read>`, and prints `ready` once bound.
 */
import { createSocket } from "node:dgram";
import { scriptArgs } from "./script-args.js";

const [name, port] = scriptArgs("sip-server.js NAME PORT");
const sock = createSocket("udp4");
sock.on("message", (msg, from) => {
  const m = /\r?\n(?:call-id|i)[ \t]*:[ \t]*([^\r\n]*)/i.exec(msg.toString("latin1"));
  sock.send(`${name} ${m?.[1] ?? "-"}`, from.port, from.address);
});
sock.bind(Number(port), () => process.stdout.write("ready\n"));
