/**
 * A test process that dies without cleaning up, for test/leftovers.test.ts: it builds a namespace
 * with a process inside, starts another process outside any namespace, prints
 * "ready <namespace> <pid inside> <pid outside>" and waits to be killed.
 */
import { spawn } from "node:child_process";
import { NetLab } from "../../src/cli/lab/netns.js";
import { labPrefix } from "./test-owner.js";

const lab = new NetLab(labPrefix("left"));
const ns = lab.addHost("a");
const inside = lab.spawn("a", ["sleep", "60"], { stdio: "ignore" });
const outside = spawn("sleep", ["60"], { stdio: "ignore", detached: true });
// `ip netns exec` execs the command in place: the child's pid is the sleeping process's.
setTimeout(() => process.stdout.write(`ready ${ns} ${inside.pid} ${outside.pid}\n`), 200);
setInterval(() => {}, 1000);
