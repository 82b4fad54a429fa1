/**
 * Servers for the namespace tests: `--http PORT` answers GET / with "served by NAME" and
 * GET /bytes/N with N bytes; `--udp PORT` echoes each datagram prefixed with "NAME:". Prints
 * "listening" when every socket is bound.
 */
import { createSocket } from "node:dgram";
import { createServer } from "node:http";
import { scriptArgs } from "./script-args.js";

const argv = scriptArgs("tiny-servers.js [--name N] [--http PORT]... [--udp PORT]...");
let name = "server";
const http: number[] = [];
const udp: number[] = [];
for (let i = 0; i < argv.length; i += 2) {
  const v = argv[i + 1] ?? "";
  if (argv[i] === "--name") name = v;
  else if (argv[i] === "--http") http.push(Number(v));
  else if (argv[i] === "--udp") udp.push(Number(v));
  else throw new Error(`unknown option ${argv[i]}`);
}

let pending = http.length + udp.length;
const ready = () => {
  if (--pending === 0) process.stdout.write("listening\n");
};

for (const port of http) {
  createServer((req, res) => {
    const m = /^\/bytes\/(\d+)$/.exec(req.url ?? "");
    if (m) {
      const body = Buffer.alloc(Number(m[1]), 0x61);
      res.writeHead(200, { "content-length": body.length });
      res.end(body);
      return;
    }
    res.end(`served by ${name} to ${req.socket.remoteAddress}\n`);
  }).listen(port, "0.0.0.0", ready);
}
for (const port of udp) {
  const sock = createSocket("udp4");
  sock.on("message", (msg, rinfo) =>
    sock.send(Buffer.concat([Buffer.from(`${name}:`), msg]), rinfo.port, rinfo.address),
  );
  sock.bind(port, "0.0.0.0", ready);
}
