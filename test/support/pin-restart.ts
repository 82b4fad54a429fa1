/**
 * Pinned steering maps outliving the process that made them, run under `ip netns exec` (which gives
 * a private mount namespace, so the bpffs mounted here is not the host's).
 *
 *   node pin-restart.js first DIR   mounts bpffs if needed, creates and fills the maps, pins them in
 *                                   DIR, closes every fd, runs `second DIR` as a new process, then
 *                                   unpins; prints that process's JSON line.
 *   node pin-restart.js second DIR  opens the pinned maps, checks the entry is there, loads a program
 *                                   over them and runs a frame through it; prints one JSON line.
 */
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { IpAddr } from "../../src/core/address.js";
import { SteeringMaps } from "../../src/dataplane/xdp/steering-maps.js";
import { loadSteeringProgram } from "../../src/dataplane/xdp/steering-program.js";
import { bpffsMounted, closeFd, ensureBpffs, progTestRun } from "../../src/platform/bpf.js";
import { ethernet, ip4, ipv4, ports } from "./frames.js";
import { scriptArgs } from "./script-args.js";

const [phase, dir] = scriptArgs("pin-restart.js first|second DIR");
if (!dir) throw new Error("usage: pin-restart.js first|second DIR");
const VIP = ip4("198.18.0.100");

if (phase === "first") {
  const mountedBefore = bpffsMounted();
  ensureBpffs();
  const maps = SteeringMaps.create();
  maps.addService(17, IpAddr.v4(VIP), 53, 7);
  maps.setInterfaceMac(1, Uint8Array.from([0x02, 0, 0, 0, 0, 1])); // test runs arrive on ifindex 1
  maps.pin(dir);
  maps.close();
  const out = execFileSync(process.execPath, [fileURLToPath(import.meta.url), "second", dir], {
    encoding: "utf8",
  });
  SteeringMaps.unpin(dir);
  const result = JSON.parse(out);
  process.stdout.write(`${JSON.stringify({ ...result, mountedBefore, pinsLeft: existsSync(dir) })}\n`);
} else {
  const maps = SteeringMaps.openPinned(dir);
  if (!maps) throw new Error(`no pinned maps in ${dir}`);
  const prog = loadSteeringProgram(maps.fds, { missAction: "drop" });
  const frame = (port: number) =>
    ethernet(0x0800, ipv4({ src: ip4("198.18.0.1"), dst: VIP, protocol: 17, payload: ports(1000, port, 8) }));
  const steered = progTestRun(prog, frame(53)).retval;
  const passed = progTestRun(prog, frame(54)).retval;
  const counters = maps.counters();
  closeFd(prog);
  maps.close();
  process.stdout.write(`${JSON.stringify({ steered, passed, service: Number(counters.SERVICE) })}\n`);
}
