/**
 * Listens for host changes in the namespace it runs in and prints one JSON line per check that saw
 * any: {"kinds":["link","addr"]}. Prints {"ready":true} once subscribed; stops on SIGTERM.
 */
import { HostChangeListener } from "../../src/dataplane/host-change-listener.js";
import { hostChangeNames } from "../../src/dataplane/host-changes.js";

const listener = HostChangeListener.start(
  (kinds) => process.stdout.write(`${JSON.stringify({ kinds: hostChangeNames(kinds) })}\n`),
  {
    checkEveryMs: 20,
    onFailure: (err) => {
      process.stderr.write(`listener failed: ${err.message}\n`);
      process.exit(1);
    },
  },
);
// The listener's timer does not hold the process open on its own.
const keepAlive = setInterval(() => {}, 1 << 30);
process.on("SIGTERM", () => {
  listener.stop();
  clearInterval(keepAlive);
});
process.stdout.write(`${JSON.stringify({ ready: true })}\n`);
