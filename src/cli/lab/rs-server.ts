/**
 * The real servers' service in labs and network tests: an HTTP server whose page is its name (as in
 * the classic guide) and a UDP responder on the same port. Each answer says which client address
 * the server saw, so a lab can show whether NAT kept the client's address or FULLNAT replaced it.
 *
 *   node rs-server.js --name RS2 --port 80 [--addr 0.0.0.0] [--keepalive-ms 1000] [--health-file F]
 *   GET /            -> "RS2\n", header x-seen-client: <address seen>
 *   GET /health      -> with --health-file: the file's "STATUS BODY" (e.g. "200 ok"), read per
 *                       request, so a lab turns a server's health check red without stopping it
 *   GET /bytes/N     -> N bytes of a deterministic pattern (bulk tests); ?rate=R paces them at R B/s
 *   POST /sha256     -> hex SHA-256 of the request body (upload tests)
 *   UDP datagram     -> "RS2 <address seen> " + the datagram
 */
import { createHash } from "node:crypto";
import { createSocket } from "node:dgram";
import { readFileSync } from "node:fs";
import { createServer } from "node:http";

function arg(name: string, fallback?: string): string {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? process.argv[i + 1] : fallback;
  if (v === undefined) throw new Error(`missing --${name}`);
  return v;
}

/** Byte i of the bulk pattern; both ends compute it to compare transfers. */
export function patternByte(i: number): number {
  return (i * 131 + (i >>> 8)) & 0xff;
}

function main(): void {
  const name = arg("name");
  const port = Number(arg("port", "80"));
  const host = arg("addr", "0.0.0.0");
  // How long an idle keep-alive connection stays open (tests hold one open across commands).
  const keepAliveMs = Number(arg("keepalive-ms", "1000"));
  const healthFile = process.argv.includes("--health-file") ? arg("health-file") : null;

  const http = createServer((req, res) => {
    const seen = req.socket.remoteAddress ?? "?";
    res.setHeader("x-seen-client", seen);
    res.setHeader("x-server", name);
    if (req.url === "/health" && healthFile) {
      let text = "500 no health file";
      try {
        text = readFileSync(healthFile, "utf8").trim();
      } catch {}
      const m = /^(\d{3})\s*(.*)$/s.exec(text);
      res.statusCode = m ? Number(m[1]) : 500;
      res.end(`${m ? m[2] : text}\n`);
      return;
    }
    const bulk = /^\/bytes\/(\d+)(?:\?rate=(\d+))?$/.exec(req.url ?? "");
    if (bulk) {
      const n = Number(bulk[1]);
      const body = Buffer.alloc(n);
      for (let i = 0; i < n; i++) body[i] = patternByte(i);
      res.setHeader("content-length", n);
      const rate = Number(bulk[2] ?? 0);
      if (rate > 0) {
        // Paced by the server: 16 KiB at a time, `rate` bytes per second (a long-lived transfer).
        const chunk = 16 * 1024;
        let at = 0;
        const timer = setInterval(
          () => {
            res.write(body.subarray(at, at + chunk));
            at += chunk;
            if (at >= n) {
              clearInterval(timer);
              res.end();
            }
          },
          (chunk * 1000) / rate,
        );
        res.on("close", () => clearInterval(timer));
        return;
      }
      res.end(body);
      return;
    }
    if (req.method === "POST" && req.url === "/sha256") {
      const h = createHash("sha256");
      req.on("data", (c: Buffer) => h.update(c));
      req.on("end", () => res.end(`${h.digest("hex")}\n`));
      return;
    }
    res.end(`${name}\n`);
  });
  http.keepAliveTimeout = keepAliveMs;
  http.listen(port, host);

  const udp = createSocket(host.includes(":") ? "udp6" : "udp4");
  udp.on("message", (msg, rinfo) => {
    udp.send(Buffer.concat([Buffer.from(`${name} ${rinfo.address} `), msg]), rinfo.port, rinfo.address);
  });
  udp.bind(port, host);

  const stop = () => {
    http.close();
    udp.close();
    process.exit(0);
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
  process.stdout.write(`ready ${name} ${host}:${port}\n`);
}

if (process.argv[1]?.endsWith("rs-server.js")) main();
