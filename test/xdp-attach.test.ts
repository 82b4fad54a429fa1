import assert from "node:assert/strict";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { NetLab } from "../src/cli/lab/netns.js";
import { haveRoot } from "./support/privileged.js";
import { labPrefix } from "./support/test-owner.js";

test("auto mode falls back to generic XDP where the driver has no native XDP; detach removes it", async (t) => {
  if (!haveRoot(t)) return;
  const lab = new NetLab(labPrefix("xa"));
  try {
    const ns = "att";
    lab.addHost(ns);
    const script = fileURLToPath(new URL("./support/attach-check.js", import.meta.url));
    const out = JSON.parse(lab.exec(ns, [process.execPath, script, "lo"]));
    t.diagnostic(`native on lo: ${out.native}; auto fell back because: ${out.autoFallback}`);
    assert.equal(out.auto, "generic");
    assert.match(out.autoFallback, /bpf\(BPF_LINK_CREATE ifindex 1\): E[A-Z]+/);
    assert.match(out.native, /bpf\(BPF_LINK_CREATE ifindex 1\): E[A-Z]+/);
    assert.match(out.shownWhileAttached, /xdpgeneric/);
    assert.doesNotMatch(out.shownAfter, /xdp/);
  } finally {
    assert.deepEqual(await lab.destroy(), []);
  }
});
