import assert from "node:assert/strict";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { NetLab } from "../src/cli/lab/netns.js";
import { haveRoot } from "./support/privileged.js";
import { labPrefix } from "./support/test-owner.js";

test("pinned steering maps survive their process: a restarted one steers with them", async (t) => {
  if (!haveRoot(t)) return;
  const lab = new NetLab(labPrefix("xp"));
  try {
    // The namespace only provides a private mount namespace for bpffs (ip netns exec).
    const ns = "pin";
    lab.addHost(ns);
    const script = fileURLToPath(new URL("./support/pin-restart.js", import.meta.url));
    const out = JSON.parse(
      lab.exec(ns, [process.execPath, script, "first", `/sys/fs/bpf/tslvs-test-${process.pid}`]),
    );
    t.diagnostic(JSON.stringify(out));
    assert.equal(out.steered, 1, "the service added before the restart is steered (XDP_DROP with no socket)");
    assert.equal(out.passed, 2, "other ports pass");
    assert.equal(out.service, 1, "the counters map is the pinned one");
    assert.equal(out.pinsLeft, false, "unpin removed the directory");
  } finally {
    assert.deepEqual(await lab.destroy(), []);
  }
});
