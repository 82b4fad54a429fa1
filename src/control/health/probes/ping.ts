/**
 * PING_CHECK: one ICMP (or ICMPv6) echo request; the check passes on the matching echo reply.
 * Node has no ICMP sockets, so the socket is libc's, bound through koffi: an unprivileged ICMP
 * datagram socket (socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP), allowed to the groups in
 * net.ipv4.ping_group_range; the kernel picks the echo identifier and hands the socket only its own
 * replies), else — where that range excludes us but we hold CAP_NET_RAW — a raw ICMP socket, which
 * sees every ICMP packet of the host and keeps those with our identifier and sequence.
 * The socket is non-blocking and read on timers (1 ms, doubling to 10 ms), so the event loop is
 * never held. `fwmark` (SO_MARK), `bind_if` (SO_BINDTODEVICE) and `bindto` apply here.
 */
import { randomBytes, randomInt } from "node:crypto";
import { isIPv4, isIPv6 } from "node:net";
import { errno, errnoName, libc } from "../../../platform/libc.js";
import type { ProbeResult, ProbeTarget } from "../check-spec.js";
import { type Attempt, attempt } from "./attempt.js";
import { AF_INET, AF_INET6, ipv6Bytes, sockaddr, socketOptions } from "./sockaddr.js";

const SOCK_DGRAM = 2;
const SOCK_RAW = 3;
const SOCK_NONBLOCK = 0x800;
const SOCK_CLOEXEC = 0x80000;
const IPPROTO_ICMP = 1;
const IPPROTO_ICMPV6 = 58;
const MSG_DONTWAIT = 0x40;
const EAGAIN = 11;
const EINTR = 4;
const ECHO_PAYLOAD = 16;

export function pingProbe(target: ProbeTarget, timeoutMs: number, signal: AbortSignal): Promise<ProbeResult> {
  return attempt(timeoutMs, signal, (a) => {
    const v6 = isIPv6(target.connectIp);
    if (!v6 && !isIPv4(target.connectIp)) return a.finish(false, `bad address ${target.connectIp}`);
    const c = libc();
    const family = v6 ? AF_INET6 : AF_INET;
    const proto = v6 ? IPPROTO_ICMPV6 : IPPROTO_ICMP;
    let raw = false;
    let fd = c.socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, proto);
    if (fd < 0) {
      const first = errno();
      fd = c.socket(family, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, proto);
      if (fd < 0) return a.finish(false, `cannot open icmp socket: ${errnoName(first)}`);
      raw = true;
    }
    a.onEnd(() => c.close(fd));
    socketOptions(fd, target, v6);
    const scope = target.bindIf ? c.if_nametoindex(target.bindIf) : 0;
    const dest = sockaddr(target.connectIp, 0, scope);
    if (!dest) return a.finish(false, `bad address ${target.connectIp}`);
    const id = randomInt(0x10000);
    const seq = randomInt(0x10000);
    const payload = randomBytes(ECHO_PAYLOAD);
    const request = echoRequest(v6, id, seq, payload);
    if (Number(c.sendto(fd, request, request.length, MSG_DONTWAIT, dest, dest.length)) < 0)
      return a.fail({ code: errnoName(errno()) });
    receive(a, fd, { v6, raw, id, seq, payload, from: target.connectIp });
  });
}

interface Expect {
  v6: boolean;
  raw: boolean;
  id: number;
  seq: number;
  payload: Buffer;
  from: string;
}

/** Reads the socket on timers until the reply comes or the attempt ends. */
function receive(a: Attempt, fd: number, e: Expect): void {
  const c = libc();
  const buf = Buffer.alloc(2048);
  const from = Buffer.alloc(28);
  const fromLen = new Uint32Array(1);
  let delay = 1;
  let timer: NodeJS.Timeout | undefined;
  a.onEnd(() => clearTimeout(timer));
  const poll = () => {
    if (a.ended) return;
    for (;;) {
      fromLen[0] = from.length;
      const n = Number(c.recvfrom(fd, buf, buf.length, MSG_DONTWAIT, from, fromLen));
      if (n < 0) {
        const err = errno();
        if (err === EINTR) continue;
        if (err === EAGAIN) break;
        return a.fail({ code: errnoName(err) });
      }
      if (isOurReply(buf.subarray(0, n), from, e)) return a.finish(true, "ok");
    }
    timer = setTimeout(poll, delay);
    delay = Math.min(delay * 2, 10);
  };
  poll();
}

function isOurReply(packet: Buffer, from: Buffer, e: Expect): boolean {
  if (sourceOf(from, e.v6) !== normalize(e.from, e.v6)) return false;
  let icmp = packet;
  if (e.raw && !e.v6) {
    // A raw IPv4 socket hands over the IP header too.
    if (packet.length < 20) return false;
    icmp = packet.subarray((packet[0]! & 0x0f) * 4);
  }
  if (icmp.length < 8 + e.payload.length) return false;
  const replyType = e.v6 ? 129 : 0;
  if (icmp[0] !== replyType || icmp[1] !== 0) return false;
  // The kernel sets the identifier of a datagram socket's echoes (and filters replies by it).
  if (e.raw && icmp.readUInt16BE(4) !== e.id) return false;
  if (icmp.readUInt16BE(6) !== e.seq) return false;
  return icmp.subarray(8, 8 + e.payload.length).equals(e.payload);
}

/** An echo request; the IPv4 checksum is ours to make (the kernel makes ICMPv6's). */
export function echoRequest(v6: boolean, id: number, seq: number, payload: Buffer): Buffer {
  const b = Buffer.alloc(8 + payload.length);
  b[0] = v6 ? 128 : 8;
  b.writeUInt16BE(id, 4);
  b.writeUInt16BE(seq, 6);
  payload.copy(b, 8);
  if (!v6) b.writeUInt16BE(inetChecksum(b), 2);
  return b;
}

export function inetChecksum(b: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i + 1 < b.length; i += 2) sum += (b[i]! << 8) | b[i + 1]!;
  if (b.length % 2) sum += b[b.length - 1]! << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/** The source address in a sockaddr, as text comparable with normalize(). */
function sourceOf(from: Buffer, v6: boolean): string {
  return v6 ? from.subarray(8, 24).toString("hex") : from.subarray(4, 8).toString("hex");
}

function normalize(ip: string, v6: boolean): string {
  return v6 ? ipv6Bytes(ip).toString("hex") : (sockaddr(ip, 0, 0)?.subarray(4, 8).toString("hex") ?? "");
}
