/**
 * A real HTTPS server (Node's TLS) for the labs: every GET answers 200 with its name as the body and
 * in `x-server`, and the client address it saw in `x-seen-client`, as rs-server does over HTTP.
 * Prints "ready" once listening.
 *
 *   node https-name-server.js --name RS2 --port 443 --cert FILE --key FILE
 */
import { readFileSync } from "node:fs";
import { createServer } from "node:https";
import { scriptArgs } from "./script-args.js";

const argv = scriptArgs("https-name-server.js --name NAME --port PORT --cert FILE --key FILE");
const opt = (name: string) => {
  const i = argv.indexOf(name);
  if (i < 0 || !argv[i + 1]) throw new Error(`${name} is required`);
  return argv[i + 1]!;
};
const name = opt("--name");
const server = createServer(
  { cert: readFileSync(opt("--cert")), key: readFileSync(opt("--key")) },
  (req, res) => {
    res.setHeader("x-server", name);
    res.setHeader("x-seen-client", req.socket.remoteAddress ?? "?");
    res.end(`${name}\n`);
  },
);
server.keepAliveTimeout = 1000;
server.on("tlsClientError", () => {});
server.listen(Number(opt("--port")), "0.0.0.0", () => process.stdout.write("ready\n"));
