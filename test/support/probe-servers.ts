/**
 * The servers the health-probe tests check, all on 0.0.0.0 of the namespace they start in:
 * - TCP 80 and TLS 443 (`--cert`, `--key`): a hand-written HTTP server, so that it can answer what
 *   a real one never would. GET /ok: 200 "probe body\n"; /500: 500; /echo: 200 with the request's
 *   bytes as the body; /peer: 200 "ADDR:PORT" of the client; /sni (TLS): the SNI name or "none";
 *   /chunked: HTTP/1.1 chunked "probe body\n"; /close: no Content-Length, body up to the close;
 *   /garbage: not HTTP; /slow: a 200 at one byte per second. Anything that is not a GET: a line of
 *   text and the close (a TLS client hello gets that on port 80).
 * - SMTP: 25 a good server; 26 a 554 banner; 27 a 501 to HELO.
 * - UDP: 7 echoes; 9 swallows; DNS on 53 answers NOERROR, 54 SERVFAIL, 55 with another ID.
 * Prints "listening" when every socket is bound.
 */
import { createSocket } from "node:dgram";
import { readFileSync } from "node:fs";
import { createServer, type Socket } from "node:net";
import { createServer as createTlsServer, type TLSSocket } from "node:tls";
import { scriptArgs } from "./script-args.js";

const argv = scriptArgs("probe-servers.js --cert FILE --key FILE");
const opt = (name: string) => {
  const i = argv.indexOf(name);
  if (i < 0 || !argv[i + 1]) throw new Error(`${name} is required`);
  return argv[i + 1]!;
};

const BODY = "probe body\n";
let pending = 0;
const ready = () => {
  if (--pending === 0) process.stdout.write("listening\n");
};
const listen = (server: { listen(port: number, host: string, cb: () => void): unknown }, port: number) => {
  pending++;
  server.listen(port, "0.0.0.0", ready);
};

function http(sock: Socket, sni: string | undefined): void {
  let buf = Buffer.alloc(0);
  sock.on("error", () => {});
  sock.on("data", (d: Buffer) => {
    buf = Buffer.concat([buf, d]);
    if (buf.subarray(0, 4).toString("latin1") !== "GET ".slice(0, Math.min(4, buf.length))) {
      sock.end("this is not an HTTP server\r\n");
      return;
    }
    const end = buf.indexOf("\r\n\r\n");
    if (end < 0) return;
    const path = buf.toString("latin1").split(" ")[1] ?? "";
    const ok = (body: string | Buffer, status = "200 OK") =>
      sock.end(
        Buffer.concat([
          Buffer.from(`HTTP/1.0 ${status}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n`),
          Buffer.from(body),
        ]),
      );
    switch (path) {
      case "/ok":
        return ok(BODY);
      case "/500":
        return ok("broken\n", "500 Internal Server Error");
      case "/echo":
        return ok(buf.subarray(0, end + 4));
      case "/peer":
        return ok(`${sock.remoteAddress}:${sock.remotePort}`);
      case "/sni":
        return ok(sni || "none");
      case "/chunked":
        return sock.end(
          "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n6\r\nprobe \r\n5;x=y\r\nbody\n\r\n0\r\n\r\n",
        );
      case "/close":
        return sock.end(`HTTP/1.0 200 OK\r\n\r\n${BODY}`);
      case "/garbage":
        return sock.end("SSH-2.0-OpenSSH_9.2\r\nProtocol mismatch.\r\n");
      case "/slow": {
        const text = `HTTP/1.0 200 OK\r\nContent-Length: ${BODY.length}\r\n\r\n${BODY}`;
        let i = 0;
        const tick = setInterval(() => {
          if (sock.destroyed || i >= text.length) {
            clearInterval(tick);
            sock.end();
            return;
          }
          sock.write(text[i++]!);
        }, 1000);
        sock.on("close", () => clearInterval(tick));
        return;
      }
      default:
        return ok("not found\n", "404 Not Found");
    }
  });
}

listen(
  createServer((s) => http(s, undefined)),
  80,
);
const tls = createTlsServer(
  { cert: readFileSync(opt("--cert")), key: readFileSync(opt("--key")) },
  (s: TLSSocket) => http(s, typeof s.servername === "string" ? s.servername : undefined),
);
tls.on("tlsClientError", () => {});
listen(tls, 443);

function smtp(port: number, banner: string, helo: string): void {
  listen(
    createServer((s) => {
      s.on("error", () => {});
      s.write(banner);
      let buf = "";
      s.on("data", (d: Buffer) => {
        buf += d.toString("latin1");
        for (let nl = buf.indexOf("\r\n"); nl >= 0; nl = buf.indexOf("\r\n")) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 2);
          if (/^HELO \S+$/.test(line)) s.write(helo);
          else if (line === "QUIT") s.end("221 bye\r\n");
          else s.write("500 what\r\n");
        }
      });
    }),
    port,
  );
}
smtp(25, "220-probe.test ESMTP\r\n220 ready\r\n", "250 probe.test\r\n");
smtp(26, "554 no service\r\n", "250 probe.test\r\n");
smtp(27, "220 ready\r\n", "501 bad name\r\n");

function udp(port: number, answer: (msg: Buffer) => Buffer | null): void {
  const sock = createSocket("udp4");
  sock.on("message", (msg, rinfo) => {
    const reply = answer(msg);
    if (reply) sock.send(reply, rinfo.port, rinfo.address);
  });
  pending++;
  sock.bind(port, "0.0.0.0", ready);
}
udp(7, (m) => m);
udp(9, () => null);
// A DNS answer: the query's header and question back, with QR (and RA) set and the given RCODE.
const dns = (rcode: number, idDelta: number) => (q: Buffer) => {
  const r = Buffer.from(q);
  r.writeUInt16BE((q.readUInt16BE(0) + idDelta) & 0xffff, 0);
  r[2] = 0x80 | (q[2]! & 0x01);
  r[3] = 0x80 | rcode;
  return r;
};
udp(53, dns(0, 0));
udp(54, dns(2, 0));
udp(55, dns(0, 1));
