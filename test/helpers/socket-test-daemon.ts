/**
 * Serves the TEST DOUBLE of the daemon (ipvsadm-test-daemon.ts) on a Unix socket with the
 * control protocol's JSON-lines framing, so tslvsadm's socket client and the bin can be run
 * end to end in tests and benchmarks.
 */
import { createServer, type Server } from "node:net";
import { IpvsError } from "../../src/cli/ipvsadm/client.js";
import type { Request } from "../../src/control/api.js";
import type { TestIpvsDaemon } from "./ipvsadm-test-daemon.js";

export function serveTestDaemon(daemon: TestIpvsDaemon, path: string): Promise<Server> {
  const client = daemon.client();
  const server = createServer((sock) => {
    let buf = "";
    sock.setEncoding("utf8");
    sock.on("error", () => {});
    sock.on("data", async (chunk: string) => {
      buf += chunk;
      let nl = buf.indexOf("\n");
      while (nl >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        nl = buf.indexOf("\n");
        const { v, id, ...req } = JSON.parse(line) as { v: number; id: number } & Request;
        try {
          const result = await client.call(req as Request);
          sock.write(`${JSON.stringify({ v, id, ok: true, result })}\n`);
        } catch (e) {
          const errno = e instanceof IpvsError ? e.errno : "EIO";
          sock.write(`${JSON.stringify({ v, id, ok: false, errno, message: String(e) })}\n`);
        }
      }
    });
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(path, () => resolve(server));
  });
}
