/**
 * What a keepalived.conf programs: the daemon started on each of the spec's six examples (in an
 * empty network namespace, without the data plane) must hold the services and real servers
 * keepalived would program into IPVS — `tslvsadm -Sn` compared with the `ipvsadm -Sn` keepalived
 * leaves, written out here from keepalived's rules: every real server added at start with its
 * weight unless `alpha` (then none until its checks pass), the sorry server only without quorum,
 * a group expanded into one service per address. Read at once after start, before the first check
 * (1 s at the earliest) can change anything.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { NetLab } from "../src/cli/lab/netns.js";
import { DirectorProcess, labPrefix } from "./support/dp-harness.js";
import { haveRoot } from "./support/privileged.js";

const FIXTURES = fileURLToPath(new URL("../../test/fixtures/keepalived/", import.meta.url));

/** `ipvsadm -Sn` after keepalived started on each example, as a set of lines. */
const EXPECTED: Record<string, string[]> = {
  "example1.conf": [
    "-A -t 198.18.0.10:80 -s wrr",
    "-a -t 198.18.0.10:80 -r 198.19.10.12:8080 -m -w 1",
    "-a -t 198.18.0.10:80 -r 198.19.10.11:8080 -m -w 3",
  ],
  "example2.conf": [
    "-A -t 198.18.0.20:443 -s wlc -p 600 -M 255.255.255.0",
    "-a -t 198.18.0.20:443 -r 198.18.0.23:443 -g -w 2",
    "-a -t 198.18.0.20:443 -r 198.18.0.22:443 -g -w 2",
    "-a -t 198.18.0.20:443 -r 198.18.0.21:443 -g -w 2",
  ],
  // alpha: no real server until both checks pass.
  "example3.conf": ["-A -f 10 -s wrr -p 1800"],
  "example4.conf": [
    "-A -t 198.18.0.40:3306 -s wlc",
    "-a -t 198.18.0.40:3306 -r 198.19.20.42:3306 -m -w 50",
    "-a -t 198.18.0.40:3306 -r 198.19.20.41:3306 -m -w 50",
  ],
  "example5.conf": [
    "-A -t 198.18.0.50:80 -s rr",
    "-A -t 198.18.0.51:80 -s rr",
    "-A -t 198.18.0.52:80 -s rr",
    "-A -t 198.18.100.7:80 -s rr",
  ],
  "example6.conf": [
    "-A -u 198.18.0.70:53 -s sh -o -b sh-fallback,sh-port",
    "-a -u 198.18.0.70:53 -r 198.19.30.72:53 -m -w 1",
    "-a -u 198.18.0.70:53 -r 198.19.30.71:53 -m -w 1",
  ],
};

describe("a keepalived.conf programs what keepalived would", () => {
  for (const [file, want] of Object.entries(EXPECTED)) {
    it(file, async (t) => {
      if (!haveRoot(t)) return;
      const lab = new NetLab(labPrefix("kaprog"));
      let d: DirectorProcess | undefined;
      const dir = mkdtempSync(join(tmpdir(), "tslvs-kaprog-"));
      try {
        lab.addHost("director");
        d = await DirectorProcess.start(
          lab,
          "director",
          [],
          ["--no-dataplane", "--keepalived-conf", join(FIXTURES, file)],
        );
        const saved = d.adm(["-Sn"]).trim().split("\n").filter(Boolean);
        assert.deepEqual([...saved].sort(), [...want].sort());
        if (file === "example1.conf")
          assert.match(d.adm(["-L", "--timeout"]), /Timeout \(tcp tcpfin udp\): 900 30 300/);
      } finally {
        await d?.stop();
        lab.destroy();
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }
});
