/**
 * UDP_CHECK: a datagram to the target on a connected socket, so that an ICMP error coming back
 * (port or host unreachable) is reported to the socket. Without `requireReply` the check passes
 * when the timeout passes with no error — or at once when anything answers (an answer proves the
 * port open). With it, a reply must come within the timeout, its length within
 * [minReplyLength, maxReplyLength], and its first min(reply, pattern) bytes must match the pattern
 * (`x` a wildcard nibble). `bindto`/`bind_port` apply; `fwmark` and `bind_if` do not (node:dgram
 * has no way to set SO_MARK or SO_BINDTODEVICE).
 */
import { randomBytes } from "node:crypto";
import { createSocket, type Socket } from "node:dgram";
import type { ProbeResult, ProbeSpec, ProbeTarget } from "../check-spec.js";
import { type Attempt, attempt, familyOf } from "./attempt.js";

export type UdpSpec = Extract<ProbeSpec, { kind: "UDP_CHECK" }>;

/** Bytes sent when the checker has no `payload`. */
const RANDOM_PAYLOAD_LENGTH = 16;

export function udpProbe(spec: UdpSpec, timeoutMs: number, signal: AbortSignal): Promise<ProbeResult> {
  const needReply = spec.requireReply !== undefined;
  return attempt(
    timeoutMs,
    signal,
    (a) => {
      const pattern = needReply ? parseHexPattern(spec.requireReply ?? "") : null;
      const payload =
        spec.payload !== undefined ? parseHexPattern(spec.payload).bytes : randomBytes(RANDOM_PAYLOAD_LENGTH);
      const sock = openUdp(a, spec.target, payload);
      sock.on("message", (msg) => {
        if (!pattern) return a.finish(true, "ok");
        if (msg.length < spec.minReplyLength || msg.length > spec.maxReplyLength)
          return a.finish(false, `reply length ${msg.length}`);
        if (!matchesPattern(msg, pattern)) return a.finish(false, "reply mismatch");
        a.finish(true, "ok");
      });
    },
    (a) => (needReply ? a.finish(false, "no reply") : a.finish(true, "ok")),
  );
}

/**
 * A connected UDP socket owned by the attempt that sends `payload` once connected; its errors
 * (ECONNREFUSED from an ICMP port unreachable, EHOSTUNREACH...) end the attempt as failures.
 */
export function openUdp(a: Attempt, target: ProbeTarget, payload: Uint8Array): Socket {
  const sock = createSocket(familyOf(target.connectIp) === 6 ? "udp6" : "udp4");
  sock.on("error", (e) => a.fail(e));
  a.onEnd(() => {
    try {
      sock.close();
    } catch {
      /* already closed */
    }
  });
  const connect = () =>
    sock.connect(target.connectPort, target.connectIp, () => {
      sock.send(payload, (err) => {
        if (err) a.fail(err);
      });
    });
  if (target.bindto || target.bindPort)
    sock.bind({ port: target.bindPort ?? 0, address: target.bindto, exclusive: true }, connect);
  else connect();
  return sock;
}

/** Bytes and a per-bit mask (0 bits = wildcard nibbles). */
export interface HexPattern {
  bytes: Buffer;
  mask: Buffer;
}

/**
 * keepalived's loose hex: groups separated by blanks, each read two digits to a byte from the left,
 * an odd last digit a byte of its own (`Ab12f 3 456` = AB 12 0F 03 45 06). `x` is a wildcard
 * nibble (in payloads it counts as 0). Throws on any other character.
 */
export function parseHexPattern(text: string): HexPattern {
  const bytes: number[] = [];
  const mask: number[] = [];
  for (const group of text.split(/\s+/).filter(Boolean)) {
    for (let i = 0; i < group.length; i += 2) {
      const pair = group.length - i === 1 ? `0${group[i]}` : group.slice(i, i + 2);
      let b = 0;
      let m = 0;
      for (const ch of pair) {
        b <<= 4;
        m <<= 4;
        if (ch === "x" || ch === "X") continue;
        const v = Number.parseInt(ch, 16);
        if (Number.isNaN(v)) throw new Error(`bad hex digit '${ch}' in "${text}"`);
        b |= v;
        m |= 0xf;
      }
      bytes.push(b);
      mask.push(m);
    }
  }
  return { bytes: Buffer.from(bytes), mask: Buffer.from(mask) };
}

/** Whether the first min(reply, pattern) bytes of `reply` match. */
export function matchesPattern(reply: Uint8Array, p: HexPattern): boolean {
  const n = Math.min(reply.length, p.bytes.length);
  for (let i = 0; i < n; i++) if (((reply[i]! ^ p.bytes[i]!) & p.mask[i]!) !== 0) return false;
  return true;
}
