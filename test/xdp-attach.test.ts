import assert from "node:assert/strict";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { NetnsLab } from "./support/netns.js";
import { haveRoot } from "./support/privileged.js";

test("auto mode falls back to generic XDP where the driver has no native XDP; detach removes it", (t) => {
  if (!haveRoot(t)) return;
  const lab = new NetnsLab("a");
  try {
    const ns = lab.add("att");
    const script = fileURLToPath(new URL("./support/attach-check.js", import.meta.url));
    const out = JSON.parse(lab.exec(ns, process.execPath, script, "lo"));
    t.diagnostic(`native on lo: ${out.native}; auto fell back because: ${out.autoFallback}`);
    assert.equal(out.auto, "generic");
    assert.match(out.autoFallback, /bpf\(BPF_LINK_CREATE ifindex 1\): E[A-Z]+/);
    assert.match(out.native, /bpf\(BPF_LINK_CREATE ifindex 1\): E[A-Z]+/);
    assert.match(out.shownWhileAttached, /xdpgeneric/);
    assert.doesNotMatch(out.shownAfter, /xdp/);
  } finally {
    assert.deepEqual(lab.destroy(), []);
  }
});
