/**
 * The daemon's HTTP endpoint (`tslvs start --http ADDR:PORT`): `GET /metrics` in the Prometheus text
 * format, and the dashboard: its page at `/` (docs/metrics.md, "Dashboard") and the JSON it polls
 * at `/api/dashboard`. Read-only; loopback unless an address says otherwise. The bodies come from
 * the daemon (`metrics`, `dashboard`): rendered between packet-loop turns, at most once a second,
 * requests in between (a storm of them) sharing the same body.
 */
import { createServer, type Server, type ServerResponse } from "node:http";
import { parseHostPort } from "../core/address.js";
import { DASHBOARD_ASSETS, DASHBOARD_CSP } from "./dashboard/assets.js";

export interface HttpAddress {
  host: string;
  port: number;
}

/** "PORT", "ADDR:PORT" or "[V6]:PORT"; a bare port means loopback. */
export function parseHttpAddress(text: string): HttpAddress {
  // A port alone, or ":PORT": loopback (the endpoint is never exposed unless an address says so).
  const bare = /^:?(\d{1,5})$/.exec(text);
  if (bare && Number(bare[1]) <= 65535) return { host: "127.0.0.1", port: Number(bare[1]) };
  const hp = parseHostPort(text);
  if (!hp || hp.port === null) throw new Error(`not an address:port or a port: ${JSON.stringify(text)}`);
  return { host: hp.addr.toString(), port: hp.port };
}

export class HttpEndpoint {
  /** The /metrics body, in parts (set by the daemon before the first request can arrive). */
  metrics: () => Promise<readonly Buffer[]> = async () => [];
  /** The /api/dashboard JSON (set by the daemon like `metrics`). */
  dashboard: () => Promise<Buffer> = async () => Buffer.from("{}");

  private constructor(private readonly server: Server) {}

  static listen(at: HttpAddress): Promise<HttpEndpoint> {
    let endpoint: HttpEndpoint | null = null;
    const server = createServer((req, res) => {
      // A request that never completes its headers is cut (slowloris): it must not hold a socket.
      const path = (req.url ?? "").split("?")[0];
      if (req.method !== "GET" && req.method !== "HEAD") {
        res.writeHead(405, { allow: "GET, HEAD", "content-type": "text/plain" }).end("read-only: GET only\n");
        return;
      }
      if (path === "/metrics") {
        endpoint!.metrics().then(
          (parts) => {
            if (res.destroyed) return;
            res.writeHead(200, { "content-type": "text/plain; version=0.0.4; charset=utf-8" });
            if (req.method !== "HEAD") for (const part of parts) res.write(part);
            res.end();
          },
          (e: unknown) => {
            if (res.destroyed) return;
            res.writeHead(500, { "content-type": "text/plain" }).end(`metrics failed: ${String(e)}\n`);
          },
        );
        return;
      }
      if (path === "/api/dashboard") {
        endpoint!.dashboard().then(
          (body) => send(res, req.method === "HEAD", "application/json; charset=utf-8", body),
          (e: unknown) => {
            if (res.destroyed) return;
            res.writeHead(500, { "content-type": "text/plain" }).end(`dashboard failed: ${String(e)}\n`);
          },
        );
        return;
      }
      const asset = DASHBOARD_ASSETS.get(path ?? "");
      if (asset) {
        send(res, req.method === "HEAD", asset.type, asset.body);
        return;
      }
      res
        .writeHead(404, { "content-type": "text/plain" })
        .end("not found: this endpoint serves /metrics, / (the dashboard) and /api/dashboard\n");
    });
    server.headersTimeout = 5000;
    server.requestTimeout = 10000;
    server.maxHeadersCount = 64;
    endpoint = new HttpEndpoint(server);
    return new Promise((resolve, reject) => {
      server.once("error", reject);
      server.listen(at.port, at.host, () => {
        server.off("error", reject);
        resolve(endpoint!);
      });
    });
  }

  /** Where it listens (the port chosen when 0 was asked for). */
  get address(): HttpAddress {
    const a = this.server.address();
    if (a === null || typeof a === "string") throw new Error("not listening");
    return { host: a.address, port: a.port };
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.closeAllConnections();
      this.server.close(() => resolve());
    });
  }
}

/** A dashboard response: never cached (it is live), never sniffed as another type, never framed. */
function send(res: ServerResponse, head: boolean, type: string, body: Buffer): void {
  if (res.destroyed) return;
  res.writeHead(200, {
    "content-type": type,
    "content-length": body.length,
    "cache-control": "no-store",
    "x-content-type-options": "nosniff",
    "content-security-policy": DASHBOARD_CSP,
    "referrer-policy": "no-referrer",
  });
  res.end(head ? undefined : body);
}
