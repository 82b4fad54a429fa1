/**
 * HTTP over the daemon's `--http unix:PATH` socket, for the in-process endpoint tests: no address
 * of the test machine is used (fetch cannot take a Unix socket). The subset of fetch's Response
 * the tests read.
 */
import { request as httpRequest, type IncomingHttpHeaders } from "node:http";
import { request as httpsRequest } from "node:https";

export interface UnixResponse {
  status: number;
  headers: { get(name: string): string | null; raw: IncomingHttpHeaders };
  text(): Promise<string>;
  /** The body's bytes as they came (a gzip-encoded body stays compressed). */
  buffer(): Promise<Buffer>;
}

export interface UnixRequestInit {
  method?: string;
  headers?: Record<string, string>;
  body?: string;
  /** HTTPS with this CA (the endpoint's self-signed certificate). */
  ca?: Buffer;
}

export function unixFetch(
  socketPath: string,
  path: string,
  init: UnixRequestInit = {},
): Promise<UnixResponse> {
  return new Promise((resolve, reject) => {
    const options = { socketPath, path, method: init.method ?? "GET", headers: init.headers ?? {} };
    const onResponse = (res: import("node:http").IncomingMessage) => {
      const chunks: Buffer[] = [];
      res.on("data", (d: Buffer) => {
        chunks.push(d);
      });
      res.on("end", () =>
        resolve({
          status: res.statusCode ?? 0,
          headers: {
            get: (name: string) => {
              const v = res.headers[name.toLowerCase()];
              return v === undefined ? null : Array.isArray(v) ? v.join(", ") : v;
            },
            raw: res.headers,
          },
          text: () => Promise.resolve(Buffer.concat(chunks).toString("utf8")),
          buffer: () => Promise.resolve(Buffer.concat(chunks)),
        }),
      );
      res.on("error", reject);
    };
    const req = init.ca
      ? httpsRequest({ ...options, ca: init.ca, servername: "localhost" }, onResponse)
      : httpRequest(options, onResponse);
    req.on("error", reject);
    req.end(init.body ?? "");
  });
}
