/**
 * DNS_CHECK: one query over UDP (random ID, recursion desired, the checker's type and name); it
 * passes on a reply with our ID, QR set and RCODE 0. The answers are not inspected; replies with
 * another ID are ignored (they may be late answers to an earlier attempt).
 */
import { randomInt } from "node:crypto";
import type { ProbeResult, ProbeSpec } from "../check-spec.js";
import { attempt } from "./attempt.js";
import { openUdp } from "./udp.js";

export type DnsSpec = Extract<ProbeSpec, { kind: "DNS_CHECK" }>;

export const DNS_TYPES: Record<DnsSpec["type"], number> = {
  A: 1,
  NS: 2,
  CNAME: 5,
  SOA: 6,
  MX: 15,
  TXT: 16,
  AAAA: 28,
};

const RCODES = ["NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED"];

export function dnsProbe(spec: DnsSpec, timeoutMs: number, signal: AbortSignal): Promise<ProbeResult> {
  return attempt(timeoutMs, signal, (a) => {
    const id = randomInt(0x10000);
    const query = dnsQuery(id, spec.type, spec.name);
    const sock = openUdp(a, spec.target, query);
    sock.on("message", (msg) => {
      if (msg.length < 12 || msg.readUInt16BE(0) !== id) return;
      if ((msg[2]! & 0x80) === 0) return; // a query, not a response
      const rcode = msg[3]! & 0x0f;
      if (rcode !== 0) return a.finish(false, `rcode ${RCODES[rcode] ?? rcode}`);
      a.finish(true, "ok");
    });
  });
}

/** A DNS query: header (ID, RD, one question), QNAME as labels ("" or "." is the root), QTYPE, class IN. */
export function dnsQuery(id: number, type: DnsSpec["type"], name: string): Buffer {
  const labels = name.replace(/\.$/, "").split(".").filter(Boolean);
  const parts: Buffer[] = [Buffer.from([id >> 8, id & 0xff, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0])];
  for (const label of labels) {
    const b = Buffer.from(label, "latin1");
    if (b.length > 63) throw new Error(`DNS label longer than 63 bytes in "${name}"`);
    parts.push(Buffer.from([b.length]), b);
  }
  const tail = Buffer.alloc(5);
  tail.writeUInt16BE(DNS_TYPES[type], 1);
  tail.writeUInt16BE(1, 3);
  parts.push(tail);
  return Buffer.concat(parts);
}
