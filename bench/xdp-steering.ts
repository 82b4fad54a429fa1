/**
 * Cost of the XDP steering program per frame, as the kernel measures it (BPF_PROG_TEST_RUN with
 * `repeat`, JIT on): a frame for a service (service lookup, MAC check, counter), a frame that
 * matches nothing (all lookups of the TCP/UDP path), the same service over IPv6, and ARP (no
 * lookup but the counter).
 * Needs root. Run: node dist/bench/xdp-steering.js [repeat]
 */

import { IpAddr } from "../src/core/address.js";
import { SteeringMaps } from "../src/dataplane/xdp/steering-maps.js";
import { buildSteeringProgram, loadSteeringProgram } from "../src/dataplane/xdp/steering-program.js";
import { closeFd, progTestRun } from "../src/platform/bpf.js";
import { ethernet, ip4, ip6, ipv4, ipv6, ports } from "../test/support/frames.js";

const repeat = Number(process.argv[2] ?? 1_000_000);
const VIP = ip4("198.18.0.100");
const maps = SteeringMaps.create();
for (let i = 0; i < 1000; i++) maps.addService(6, IpAddr.v4(VIP), 1000 + i);
maps.addService(17, IpAddr.v4(VIP), 53);
const VIP6 = ip6("2001:db8::100");
maps.addService(17, IpAddr.fromBytes(VIP6), 53);
maps.setInterfaceMac(1, Uint8Array.from([0x02, 0, 0, 0, 0, 1])); // test runs arrive on ifindex 1
const prog = loadSteeringProgram(maps.fds);
const udp = (dport: number) =>
  ethernet(0x0800, ipv4({ src: ip4("198.18.0.1"), dst: VIP, protocol: 17, payload: ports(4000, dport, 8) }));
const cases: [string, Uint8Array][] = [
  ["UDP to a service (steered: MAC check + service lookup)", udp(53)],
  ["UDP to the VIP, no service (passed, 4 lookups)", udp(54)],
  [
    "UDP over IPv6 to a service (steered)",
    ethernet(0x86dd, ipv6({ src: ip6("2001:db8::1"), dst: VIP6, protocol: 17, payload: ports(4000, 53, 8) })),
  ],
  ["ARP (passed, not IP)", ethernet(0x0806, new Uint8Array(28))],
];
console.log(
  `steering program: ${buildSteeringProgram(maps.fds).length / 8} instructions; ${repeat} runs per case`,
);
for (const [name, frame] of cases) {
  const runs: number[] = [];
  for (let i = 0; i < 5; i++) runs.push(progTestRun(prog, frame, repeat).durationNs);
  runs.sort((a, b) => a - b);
  console.log(`${name}: median ${runs[2]} ns/frame (min ${runs[0]}, max ${runs[4]})`);
}
closeFd(prog);
maps.close();
