/**
 * An ssh-like exchange for the director's own services: `node dp-tcp-banner.js serve ADDR PORT`
 * listens, greets each connection with "SSH-2.0-dp-test\r\n" and echoes what it gets (prints
 * "listening" once bound); `node dp-tcp-banner.js ask HOST PORT TEXT` connects, reads the greeting,
 * sends TEXT, prints greeting + echo and exits 0 (exit 1 after 5 s without them).
 */
import { connect, createServer } from "node:net";
import { scriptArgs } from "./script-args.js";

const [mode, host, portText, text] = scriptArgs("dp-tcp-banner.js serve ADDR PORT | ask HOST PORT TEXT");
const port = Number(portText);
const GREETING = "SSH-2.0-dp-test\r\n";

if (mode === "serve") {
  createServer((s) => {
    s.write(GREETING);
    s.pipe(s);
  }).listen(port, host, () => process.stdout.write("listening\n"));
} else {
  const giveUp = setTimeout(() => {
    process.stderr.write(`no exchange with ${host}:${port}\n`);
    process.exit(1);
  }, 5000);
  let got = "";
  const s = connect(port, host ?? "", () => s.write(text ?? ""));
  s.on("data", (d) => {
    got += d.toString();
    if (got === GREETING + (text ?? "")) {
      clearTimeout(giveUp);
      process.stdout.write(got);
      s.end();
    }
  });
  s.on("error", (e) => {
    process.stderr.write(`${e.message}\n`);
    process.exit(1);
  });
}
