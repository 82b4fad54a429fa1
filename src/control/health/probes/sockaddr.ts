/**
 * Socket addresses and options for the probes that open their sockets through libc (koffi): the
 * ones Node cannot set — SO_MARK (`fwmark`) and SO_BINDTODEVICE (`bind_if`) — must be on the socket
 * before it sends its first packet.
 */
import { isIPv4, isIPv6 } from "node:net";
import { errno, errnoName, libc } from "../../../platform/libc.js";
import type { ProbeTarget } from "../check-spec.js";

export const AF_INET = 2;
export const AF_INET6 = 10;
export const SOL_SOCKET = 1;
const SO_BINDTODEVICE = 25;
const SO_MARK = 36;

/** An error whose `code` errorReason() shows ("EPERM"), with what failed in the message. */
export function sysFailure(what: string, err = errno()): Error & { code: string } {
  const code = errnoName(err);
  return Object.assign(new Error(`${what}: ${code}`), { code: `${what}: ${code}` });
}

/** Applies bind_if, fwmark and bindto/bind_port to `fd`; throws a sysFailure. */
export function socketOptions(fd: number, target: ProbeTarget, v6: boolean): void {
  const c = libc();
  const scope = target.bindIf ? c.if_nametoindex(target.bindIf) : 0;
  if (target.bindIf) {
    const name = Buffer.from(`${target.bindIf}\0`);
    if (c.setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, name, name.length) < 0)
      throw sysFailure(`bind_if ${target.bindIf}`);
  }
  if (target.fwmark !== undefined) {
    const mark = Buffer.alloc(4);
    mark.writeUInt32LE(target.fwmark >>> 0);
    if (c.setsockopt(fd, SOL_SOCKET, SO_MARK, mark, 4) < 0) throw sysFailure("fwmark");
  }
  if (target.bindto || target.bindPort) {
    const local = sockaddr(target.bindto ?? (v6 ? "::" : "0.0.0.0"), target.bindPort ?? 0, scope);
    if (!local)
      throw Object.assign(new Error(`bad bindto ${target.bindto}`), { code: `bad bindto ${target.bindto}` });
    if (c.bind(fd, local, local.length) < 0) throw sysFailure("cannot bind");
  }
}

/** struct sockaddr_in / sockaddr_in6, or null for a bad address. */
export function sockaddr(ip: string, port: number, scope: number): Buffer | null {
  if (isIPv4(ip)) {
    const b = Buffer.alloc(16);
    b.writeUInt16LE(AF_INET, 0);
    b.writeUInt16BE(port, 2);
    ip.split(".").forEach((o, i) => {
      b[4 + i] = Number(o);
    });
    return b;
  }
  if (!isIPv6(ip)) return null;
  const b = Buffer.alloc(28);
  b.writeUInt16LE(AF_INET6, 0);
  b.writeUInt16BE(port, 2);
  ipv6Bytes(ip).copy(b, 8);
  b.writeUInt32LE(scope, 24);
  return b;
}

/** The 16 bytes of an IPv6 address text (a zone suffix is ignored). */
export function ipv6Bytes(ip: string): Buffer {
  let text = ip.split("%")[0]!;
  const out = Buffer.alloc(16);
  // A trailing dotted quad (::ffff:198.18.0.1) is two groups.
  const quad = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (quad) {
    const n = quad.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, quad.index)}${((n[0] << 8) | n[1]).toString(16)}:${((n[2] << 8) | n[3]).toString(16)}`;
  }
  const [head, tail] = text.includes("::") ? text.split("::") : [text, undefined];
  const h = head ? head.split(":") : [];
  const t = tail ? tail.split(":") : [];
  const groups = [...h, ...Array<string>(8 - h.length - t.length).fill("0"), ...t];
  groups.forEach((g, i) => {
    out.writeUInt16BE(Number.parseInt(g, 16), i * 2);
  });
  return out;
}
