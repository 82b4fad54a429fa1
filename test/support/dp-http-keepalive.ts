/**
 * A long-lived HTTP client on one keep-alive connection, driven line by line:
 * `node dp-http-keepalive.js URL TIMEOUT_MS` makes one GET for each line read on stdin and prints one
 * JSON line per request — {server, localPort} for an answer, {error} for a failure. A request
 * unanswered within TIMEOUT_MS is abandoned with its connection (the next one opens a new
 * connection). Exits when stdin ends.
 */
import { Agent, get } from "node:http";
import { createInterface } from "node:readline";
import { scriptArgs } from "./script-args.js";

const [url, timeoutText] = scriptArgs("dp-http-keepalive.js URL TIMEOUT_MS");
const timeout = Number(timeoutText);
const agent = new Agent({ keepAlive: true, maxSockets: 1 });

function say(o: object): void {
  process.stdout.write(`${JSON.stringify(o)}\n`);
}

function request(): Promise<void> {
  return new Promise((resolve) => {
    let done = false;
    const finish = (o: object) => {
      if (done) return;
      done = true;
      say(o);
      resolve();
    };
    const req = get(url ?? "", { agent }, (res) => {
      const localPort = res.socket.localPort;
      const server = String(res.headers["x-server"] ?? "");
      res.resume();
      res.on("end", () => finish({ server, localPort }));
      res.on("error", (e) => finish({ error: e.message }));
    });
    req.setTimeout(timeout, () => req.destroy(new Error("timeout")));
    req.on("error", (e) => finish({ error: e.message }));
  });
}

const lines = createInterface({ input: process.stdin });
let queue = Promise.resolve();
lines.on("line", () => {
  queue = queue.then(request);
});
lines.on("close", () => {
  void queue.then(() => agent.destroy());
});
