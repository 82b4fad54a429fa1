/**
 * The rtnetlink listener in a namespace of its own: a link, an address, a route and a neighbour
 * made there are each reported with their kind, a neighbour's state change that keeps its MAC is
 * not, and a change of its MAC is.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { NetLab } from "../src/cli/lab/netns.js";
import { LineProcess, labPrefix, waitFor } from "./support/dp-harness.js";
import { haveRoot } from "./support/privileged.js";

test("changes made in the namespace are reported by kind", async (t) => {
  if (!haveRoot(t)) return;
  const lab = new NetLab(labPrefix("hchg"));
  try {
    lab.addHost("h");
    const probe = LineProcess.script(lab, "h", "host-change-probe", []);
    assert.deepEqual(await probe.next(10000), { ready: true });
    let seen = 1; // after the "ready" line
    /** Runs `change`, then waits for a report that includes `kind`; returns every kind reported meanwhile. */
    const expect = async (kind: string, change: string[]): Promise<string[]> => {
      lab.exec("h", change);
      const kinds = await waitFor(`no "${kind}" reported after: ${change.join(" ")}`, 10000, () => {
        const lines = probe.lines.slice(seen).map((l) => (JSON.parse(l) as { kinds: string[] }).kinds);
        const at = lines.findIndex((k) => k.includes(kind));
        if (at < 0) return undefined;
        seen += at + 1;
        return lines.slice(0, at + 1).flat();
      });
      return kinds;
    };
    await expect("link", ["ip", "link", "add", "v0", "type", "veth", "peer", "name", "v1"]);
    await expect("link", ["ip", "link", "set", "v0", "up"]);
    await expect("addr", ["ip", "addr", "add", "198.18.5.1/24", "dev", "v0"]);
    await expect("route", ["ip", "route", "add", "198.18.6.0/24", "via", "198.18.5.2", "dev", "v0"]);
    const mac = ["lladdr", "02:00:00:00:05:02", "dev", "v0"];
    await expect("neigh", ["ip", "neigh", "add", "198.18.5.2", ...mac, "nud", "permanent"]);
    // The same MAC in another state says nothing; the link change after it marks where to stop looking.
    const quiet = await expect("link", [
      "sh",
      "-c",
      `ip neigh replace 198.18.5.2 ${mac.join(" ")} nud stale && ip link set v1 mtu 1400`,
    ]);
    assert.ok(!quiet.includes("neigh"), `a state-only neighbour change was reported: ${quiet}`);
    await expect("neigh", [
      "ip",
      "neigh",
      "replace",
      "198.18.5.2",
      "lladdr",
      "02:00:00:00:05:03",
      "dev",
      "v0",
    ]);
    await expect("neigh", ["ip", "neigh", "del", "198.18.5.2", "dev", "v0"]);
    await expect("route", ["ip", "route", "del", "198.18.6.0/24"]);
    await expect("addr", ["ip", "addr", "del", "198.18.5.1/24", "dev", "v0"]);
    await expect("link", ["ip", "link", "del", "v0"]);
    assert.equal(probe.child.exitCode, null, "the listener still runs");
  } finally {
    await lab.destroy();
  }
});
