/**
 * Raw Ethernet frames onto a link, exactly as given: `node dp-raw-send.js IFNAME FILE` sends every
 * line of FILE (one frame in hex per line) through an AF_PACKET socket and prints
 * {sent, failed}. For hostile-input tests: frames the host's stack would never build.
 */
import { readFileSync } from "node:fs";
import { errno, libc } from "../../src/platform/libc.js";
import { scriptArgs } from "./script-args.js";

const AF_PACKET = 17;
const SOCK_RAW = 3;

const [ifname, file] = scriptArgs("dp-raw-send.js IFNAME FILE");
const c = libc();
const ifindex = c.if_nametoindex(ifname ?? "");
if (!ifindex) throw new Error(`no interface ${ifname}`);
// Protocol 0: this socket only sends (it receives nothing).
const fd = c.socket(AF_PACKET, SOCK_RAW, 0);
if (fd < 0) throw new Error(`socket(AF_PACKET): errno ${errno()}`);
// struct sockaddr_ll: family u16, protocol be16, ifindex i32, hatype u16, pkttype u8, halen u8, addr[8].
const sll = Buffer.alloc(20);
sll.writeUInt16LE(AF_PACKET, 0);
sll.writeInt32LE(ifindex, 4);
sll[11] = 6;
let sent = 0;
let failed = 0;
for (const line of readFileSync(file ?? "", "utf8").split("\n")) {
  if (!line) continue;
  const frame = Buffer.from(line, "hex");
  frame.copy(sll, 12, 0, 6);
  const n = Number(c.sendto(fd, frame, frame.length, 0, sll, sll.length));
  if (n === frame.length) sent++;
  else failed++;
}
c.close(fd);
process.stdout.write(`${JSON.stringify({ sent, failed })}\n`);
