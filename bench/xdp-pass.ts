/**
 * Holds a generic-mode XDP program that passes every frame on the interfaces named, until SIGTERM.
 * bench/dataplane.ts's `kernel-fwd-xdp` scenario runs kernel forwarding under it: what generic XDP
 * itself costs the kernel's path (the skb is copied when its headroom is under 256 bytes, then the
 * program runs), the floor of any generic-XDP director on the same topology.
 *
 *   node dist/bench/xdp-pass.js IFNAME...
 */
import { BpfAsm, R0 } from "../src/dataplane/bpf/asm.js";
import { attachXdp } from "../src/dataplane/xdp/attach.js";
import { ProgType, progLoad } from "../src/platform/bpf.js";

const XDP_PASS = 2;
const names = process.argv.slice(2);
if (!names.length) {
  process.stderr.write("usage: node dist/bench/xdp-pass.js IFNAME...\n");
  process.exit(2);
}
const prog = progLoad({
  type: ProgType.XDP,
  insns: new BpfAsm().mov64Imm(R0, XDP_PASS).exit().assemble(),
  name: "bench_xdp_pass",
  license: "GPL",
});
const links = names.map((n) => attachXdp(prog, n, "generic"));
process.stdout.write("attached\n");
process.on("SIGTERM", () => {
  for (const l of links) l.detach();
  process.exit(0);
});
setInterval(() => {}, 1 << 30);
