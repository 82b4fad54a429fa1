/**
 * The labs' HTTP client, run inside the client's namespace: one GET, then one JSON line saying who
 * answered (rs-server's x-server header), which client address it saw, and how many body bytes came
 * back. Node's own http module: a lab needs nothing on the machine but Node.js and iproute2.
 *
 *   node http-get.js URL [TIMEOUT_MS]   -> {"server":"RS2","seenClient":"198.18.0.100","bytes":4}
 *                                          exit 1 (and a reason on stderr) when no answer came
 */
import { get } from "node:http";

function main(): void {
  const url = process.argv[2];
  const timeoutMs = Number(process.argv[3] ?? 3000);
  if (!url) {
    process.stderr.write("usage: http-get URL [TIMEOUT_MS]\n");
    process.exit(2);
  }
  const fail = (why: string) => {
    process.stderr.write(`${why}\n`);
    process.exit(1);
  };
  const req = get(url, { agent: false }, (res) => {
    let bytes = 0;
    res.on("data", (c: Buffer) => (bytes += c.length));
    res.on("end", () => {
      const header = (n: string) => String(res.headers[n] ?? "?");
      process.stdout.write(
        `${JSON.stringify({ server: header("x-server"), seenClient: header("x-seen-client"), bytes })}\n`,
      );
      process.exit(0);
    });
    res.on("error", (e) => fail(e.message));
  });
  req.setTimeout(timeoutMs, () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
  req.on("error", (e) => fail(e.message));
}

if (process.argv[1]?.endsWith("http-get.js")) main();
