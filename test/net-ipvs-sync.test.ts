/**
 * The IPVS sync message, version 1 (src/net/ipvs-sync.ts), against the kernel's layout and an
 * independent decoder: fixtures written byte by byte from ip_vs_sync.c's structures (struct
 * ip_vs_sync_mesg, struct ip_vs_sync_v4 / ip_vs_sync_v6, the IPVS_OPT_* options); the encoder must
 * produce them, the decoder read them back; Wireshark's IPVS dissector (tshark, Debian's package)
 * reads our messages from a pcap with the fields we wrote. Hostile input: every truncation, a
 * wrong size, a foreign syncid, version 0, absurd counts and random bytes are refused with a
 * reason and never read outside the buffer.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import fc from "fast-check";
import {
  decodeSyncMessage,
  IPVS_OPT_F_PARAM,
  SYNC_PORT,
  type SyncConn,
  SyncMessageWriter,
} from "../src/net/ipvs-sync.js";
import { PcapWriter } from "../src/net/pcap.js";
import { buildFrame, V4 } from "./net-frames.js";
import { needsCommand } from "./support/privileged.js";

const dir = mkdtempSync(join(tmpdir(), "tslvs-sync-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const v4 = (s: string) => Uint8Array.from(s.split(".").map(Number));
const v6 = (hex: string) => Uint8Array.from(Buffer.from(hex, "hex"));

/** An ESTABLISHED NAT connection 198.18.0.100:50000 -> 198.18.0.10:80 -> 198.19.0.1:8080, 900 s. */
const CONN4: SyncConn = {
  family: 4,
  protocol: 6,
  flags: 0x0000,
  state: 1,
  cport: 50000,
  vport: 80,
  dport: 8080,
  fwmark: 0,
  timeout: 900,
  caddr: v4("198.18.0.100"),
  vaddr: v4("198.18.0.10"),
  daddr: v4("198.19.0.1"),
};

// ip_vs_sync_mesg (8) + ip_vs_sync_v4 (36): reserved, syncid, size, nr_conns, version, spare;
// type, protocol, ver_size, flags, state, cport, vport, dport, fwmark, timeout, caddr, vaddr, daddr.
const FIXTURE4 = [
  "00 07 002c 01 01 0000",
  "00 06 0024 00000000 0001 c350 0050 1f90 00000000 00000384 c6120064 c612000a c6130001",
].join(" ");

/** A UDP SIP template over IPv6 (a DR persistence template, `--pe sip`), with its PE options. */
const CONN6: SyncConn = {
  family: 6,
  protocol: 17,
  flags: 0x1003, // IP_VS_CONN_F_TEMPLATE | IP_VS_CONN_F_DROUTE
  state: 0,
  cport: 0,
  vport: 5060,
  dport: 5060,
  fwmark: 0,
  timeout: 360,
  caddr: v6("20010002000000000000000000000064"),
  vaddr: v6("2001000200000000000000000000000a"),
  daddr: v6("20010002000000000000000000000101"),
  peName: "sip",
  peData: Uint8Array.from(Buffer.from("a84b4c76e66710")),
};
// 72 + PE_DATA (2 + 14) + PE_NAME (2 + 3) = 93 bytes, padded to 96; message 104.
const FIXTURE6 = [
  "00 07 0068 01 01 0000",
  "01 11 005d 00001003 0000 0000 13c4 13c4 00000000 00000168",
  "20010002000000000000000000000064 2001000200000000000000000000000a 20010002000000000000000000000101",
  `02 0e ${Buffer.from("a84b4c76e66710").toString("hex")} 03 03 ${Buffer.from("sip").toString("hex")} 000000`,
].join(" ");

const bytes = (hex: string) => Uint8Array.from(Buffer.from(hex.replace(/ /g, ""), "hex"));

function message(conns: SyncConn[], syncid = 7, maxLen = 1472): Uint8Array {
  const w = new SyncMessageWriter(syncid, maxLen);
  for (const c of conns) assert.ok(w.add(c));
  return w.finish()!;
}

describe("IPVS sync v1: the kernel's layout", () => {
  it("encodes an IPv4 connection and an IPv6 template with PE data as the structures lay them out", () => {
    assert.deepEqual(Buffer.from(message([CONN4])).toString("hex"), FIXTURE4.replace(/ /g, ""));
    assert.deepEqual(Buffer.from(message([CONN6])).toString("hex"), FIXTURE6.replace(/ /g, ""));
  });

  it("decodes the fixtures back, and both in one message", () => {
    for (const [fixture, conn] of [
      [FIXTURE4, CONN4],
      [FIXTURE6, CONN6],
    ] as const) {
      const d = decodeSyncMessage(bytes(fixture), 7);
      assert.equal(d.refused, null);
      assert.equal(d.syncid, 7);
      assert.deepEqual(d.conns, [conn]);
    }
    const both = decodeSyncMessage(message([CONN4, CONN6, CONN4]));
    assert.equal(both.refused, null);
    assert.deepEqual(both.conns, [CONN4, CONN6, CONN4]);
  });

  it("fills a message to its maxlen and no further, and at most 255 entries", () => {
    const w = new SyncMessageWriter(1, 8 + 36 * 3 + 4);
    assert.ok(w.add(CONN4) && w.add(CONN4) && w.add(CONN4));
    assert.equal(w.add(CONN4), false);
    assert.equal(w.finish()!.length, 8 + 36 * 3);
    const big = new SyncMessageWriter(1, 65000);
    let n = 0;
    while (big.add(CONN4)) n++;
    assert.equal(n, 255, "nr_conns is one byte");
  });
});

describe("IPVS sync v1: what a backup refuses", () => {
  const ok = message([CONN4, CONN4]);
  it("a short header, a size that is not the datagram's, another syncid, version 0", () => {
    assert.equal(decodeSyncMessage(ok.subarray(0, 7)).refused, "short-header");
    assert.equal(decodeSyncMessage(ok.subarray(0, ok.length - 1)).refused, "bad-size");
    assert.equal(decodeSyncMessage(ok, 9).refused, "other-syncid");
    assert.equal(decodeSyncMessage(ok, 0).refused, null, "syncid 0 takes any");
    const v0 = ok.slice();
    v0[5] = 0;
    assert.equal(decodeSyncMessage(v0).refused, "version-0");
  });

  it("an absurd count or a lying entry size refuses the rest, keeping the entries before it", () => {
    const many = ok.slice();
    many[4] = 200;
    const d = decodeSyncMessage(many);
    assert.equal(d.refused, "entry-truncated");
    assert.equal(d.conns.length, 2);
    const lying = ok.slice();
    lying[8 + 36 + 2] = 0x0f; // the second entry says 0xf24 bytes
    const e = decodeSyncMessage(lying);
    assert.equal(e.refused, "entry-overruns");
    assert.equal(e.conns.length, 1);
    const tiny = ok.slice();
    tiny[8 + 3] = 8; // the first says 8 bytes: smaller than its structure
    assert.equal(decodeSyncMessage(tiny).refused, "entry-too-small");
    const future = ok.slice();
    future[8 + 2] = 0x10; // entry version 1
    assert.equal(decodeSyncMessage(future).refused, "entry-version");
  });

  it("options: a zero length or an overrun refuses; an unknown mandatory one skips the entry; an optional one is passed over", () => {
    const withOption = (type: number, len: number, value: number[]) => {
      const m = message([CONN4]);
      const entry = Uint8Array.from([...m.subarray(8), type, len, ...value]);
      const size = 36 + 2 + value.length;
      entry[2] = size >> 8;
      entry[3] = size & 255;
      const padded = Uint8Array.from([...entry, ...new Array((4 - (size % 4)) % 4).fill(0)]);
      const out = Uint8Array.from([...m.subarray(0, 8), ...padded]);
      out[2] = out.length >> 8;
      out[3] = out.length & 255;
      return out;
    };
    assert.equal(decodeSyncMessage(withOption(2, 0, [])).refused, "option-overruns");
    assert.equal(
      decodeSyncMessage(withOption(1, 4, [1, 2, 3, 4])).refused,
      "bad-option",
      "SEQ_DATA is 24 bytes",
    );
    const mandatory = decodeSyncMessage(withOption(5, 2, [1, 2]));
    assert.equal(mandatory.refused, null);
    assert.equal(mandatory.skipped, 1);
    assert.equal(mandatory.conns.length, 0);
    const optional = decodeSyncMessage(withOption(5 | IPVS_OPT_F_PARAM, 2, [1, 2]));
    assert.equal(optional.skipped, 0);
    assert.deepEqual(optional.conns, [CONN4]);
    const dataWithoutName = decodeSyncMessage(withOption(2, 3, [1, 2, 3]));
    assert.equal(dataWithoutName.skipped, 1);
  });

  it("never throws and never reads outside the buffer, whatever the bytes", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), fc.boolean(), (raw, fixHeader) => {
        const b = raw.slice();
        if (fixHeader && b.length >= 8) {
          b[0] = 0;
          b[2] = b.length >> 8;
          b[3] = b.length & 255;
          b[5] = 1;
          b[6] = 0;
          b[7] = 0;
        }
        const d = decodeSyncMessage(b);
        for (const c of d.conns) assert.equal(c.caddr.length, c.family === 6 ? 16 : 4);
      }),
      { numRuns: 3000 },
    );
  });
});

describe("IPVS sync v1: Wireshark's dissector reads what we write", () => {
  it("tshark decodes the header and both entries' fields", (t) => {
    const skip = needsCommand("tshark");
    if (skip) {
      t.skip(skip);
      return;
    }
    const path = join(dir, "sync.pcap");
    const pcap = new PcapWriter(path);
    for (const m of [message([CONN4]), message([CONN6])]) {
      const frame = buildFrame({
        family: 4,
        protocol: 17,
        src: V4(198, 18, 0, 2),
        dst: V4(224, 0, 0, 81),
        sport: SYNC_PORT,
        dport: SYNC_PORT,
        payload: m,
        ttl: 1,
      });
      pcap.write(frame, 0, frame.length);
    }
    pcap.close();
    const fields = [
      "ipvs.syncid",
      "ipvs.conncount",
      "ipvs.version",
      "ipvs.type",
      "ipvs.proto",
      "ipvs.size.v1",
    ];
    fields.push("ipvs.flags.v1", "ipvs.state", "ipvs.cport", "ipvs.vport", "ipvs.dport", "ipvs.fwmark");
    fields.push(
      "ipvs.timeout",
      "ipvs.caddr",
      "ipvs.vaddr",
      "ipvs.daddr",
      "ipvs.caddr6",
      "ipvs.vaddr6",
      "ipvs.daddr6",
    );
    const out = execFileSync(
      "tshark",
      [
        "-r",
        path,
        "-d",
        `udp.port==${SYNC_PORT},ipvs`,
        "-T",
        "fields",
        "-E",
        "separator=|",
        ...fields.flatMap((f) => ["-e", f]),
      ],
      { encoding: "utf8" },
    );
    // tshark prints some numbers in hex (0x06): read them as numbers.
    const rows = out
      .trim()
      .split("\n")
      .map((l) => Object.fromEntries(l.split("|").map((v, i) => [fields[i], v])));
    assert.equal(rows.length, 2, out);
    const [a, b] = rows as Record<string, string>[];
    assert.equal(Number(a!["ipvs.syncid"]), 7);
    assert.equal(Number(a!["ipvs.conncount"]), 1);
    assert.equal(Number(a!["ipvs.version"]), 1);
    assert.equal(Number(a!["ipvs.proto"]), 6);
    assert.equal(Number(a!["ipvs.size.v1"]), 36);
    assert.equal(Number(a!["ipvs.state"]), 1);
    assert.equal(Number(a!["ipvs.cport"]), 50000);
    assert.equal(Number(a!["ipvs.vport"]), 80);
    assert.equal(Number(a!["ipvs.dport"]), 8080);
    assert.equal(Number(a!["ipvs.timeout"]), 900);
    assert.equal(a!["ipvs.caddr"], "198.18.0.100");
    assert.equal(a!["ipvs.vaddr"], "198.18.0.10");
    assert.equal(a!["ipvs.daddr"], "198.19.0.1");
    assert.equal(Number(b!["ipvs.type"]), 1, "IPv6 entry");
    assert.equal(Number(b!["ipvs.proto"]), 17);
    assert.equal(Number(b!["ipvs.size.v1"]), 93);
    assert.equal(Number(b!["ipvs.flags.v1"]), 0x1003);
    assert.equal(Number(b!["ipvs.vport"]), 5060);
    assert.equal(Number(b!["ipvs.timeout"]), 360);
    assert.equal(b!["ipvs.caddr6"], "2001:2::64");
    assert.equal(b!["ipvs.vaddr6"], "2001:2::a");
    assert.equal(b!["ipvs.daddr6"], "2001:2::101");
  });
});
