/**
 * Attach modes on an interface without native XDP (loopback), run in a test's namespace:
 * `node attach-check.js IF` prints {auto, autoFallback, native, shownWhileAttached, shownAfter}.
 */
import { execFileSync } from "node:child_process";
import { BpfAsm, R0 } from "../../src/dataplane/bpf/asm.js";
import { attachXdp } from "../../src/dataplane/xdp/attach.js";
import { closeFd, ProgType, progLoad } from "../../src/platform/bpf.js";
import { scriptArgs } from "./script-args.js";

const [ifname] = scriptArgs("attach-check.js IF");
const prog = progLoad({
  type: ProgType.XDP,
  insns: new BpfAsm().mov64Imm(R0, 2).exit().assemble(),
  name: "pass",
});
const show = () => execFileSync("ip", ["link", "show", ifname!], { encoding: "utf8" });
const auto = attachXdp(prog, ifname!, "native-or-generic");
const shownWhileAttached = show();
auto.detach();
let native = "attached";
try {
  attachXdp(prog, ifname!, "native").detach();
} catch (e) {
  native = e instanceof Error ? e.message : String(e);
}
const shownAfter = show();
closeFd(prog);
process.stdout.write(
  `${JSON.stringify({ auto: auto.mode, autoFallback: auto.fallbackReason, native, shownWhileAttached, shownAfter })}\n`,
);
