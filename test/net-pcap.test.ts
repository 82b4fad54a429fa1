import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { PCAP_GLOBAL_HEADER_LEN, PCAP_RECORD_HEADER_LEN, PcapWriter } from "../src/net/pcap.js";
import { buildFrame, V4 } from "./net-frames.js";
import { needsCommand } from "./support/privileged.js";

const C = V4(198, 18, 0, 10);
const VIP = V4(198, 18, 1, 1);

function frames(): Uint8Array[] {
  return [
    buildFrame({ family: 4, protocol: 6, src: C, dst: VIP, sport: 40000, dport: 80, tcpFlags: 0x02 }),
    buildFrame({ family: 4, protocol: 17, src: C, dst: VIP, sport: 5000, dport: 9999, payload: [1, 2, 3] }),
    buildFrame({
      family: 6,
      protocol: 6,
      src: [0x20010db8, 0, 0, 0x10],
      dst: [0x20010db8, 0, 1, 1],
      sport: 5,
      dport: 443,
      tcpFlags: 0x18,
      payload: new Uint8Array(100),
    }),
  ];
}

function withTempDir(fn: (dir: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), "tslvs-pcap-"));
  try {
    fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test("pcap file layout: global header, then one record per frame with its timestamp", () => {
  withTempDir((dir) => {
    const path = join(dir, "out.pcap");
    // A tiny buffer forces several flushes.
    const w = new PcapWriter(path, { bufferSize: 64, snaplen: 100 });
    const fs = frames();
    for (const [i, f] of fs.entries()) w.write(f, 0, f.length, 1_700_000_000_000_000 + i * 1_000_001);
    w.close();
    assert.equal(w.frames, 3);
    assert.equal(w.error, null);
    const b = readFileSync(path);
    assert.equal(b.readUInt32LE(0), 0xa1b2c3d4);
    assert.equal(b.readUInt16LE(4), 2);
    assert.equal(b.readUInt16LE(6), 4);
    assert.equal(b.readUInt32LE(16), 100);
    assert.equal(b.readUInt32LE(20), 1);
    let at = PCAP_GLOBAL_HEADER_LEN;
    fs.forEach((f, i) => {
      assert.equal(b.readUInt32LE(at), 1_700_000_000 + i);
      assert.equal(b.readUInt32LE(at + 4), i);
      const cap = Math.min(f.length, 100);
      assert.equal(b.readUInt32LE(at + 8), cap);
      assert.equal(b.readUInt32LE(at + 12), f.length);
      assert.deepEqual(new Uint8Array(b.subarray(at + 16, at + 16 + cap)), f.subarray(0, cap));
      at += PCAP_RECORD_HEADER_LEN + cap;
    });
    assert.equal(at, b.length);
  });
});

test("tcpdump reads the file", {
  skip: needsCommand("tcpdump"),
}, () => {
  withTempDir((dir) => {
    const path = join(dir, "out.pcap");
    const w = new PcapWriter(path);
    for (const f of frames()) w.write(f, 0, f.length);
    w.close();
    const r = spawnSync("tcpdump", ["-r", path, "-nn"], { encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
    const lines = r.stdout.trim().split("\n");
    assert.equal(lines.length, 3);
    assert.match(lines[0]!, /IP 198\.18\.0\.10\.40000 > 198\.18\.1\.1\.80: Flags \[S\]/);
    assert.match(lines[1]!, /IP 198\.18\.0\.10\.5000 > 198\.18\.1\.1\.9999: UDP, length 3/);
    assert.match(lines[2]!, /IP6 2001:db8::10\.5 > 2001:db8::1:0:1\.443: Flags \[P\.\].*length 100/);
  });
});

test("an unopenable path is a clear error; writes after close are ignored", () => {
  assert.throws(
    () => new PcapWriter("/nonexistent-dir/x.pcap"),
    /cannot open pcap file \/nonexistent-dir\/x\.pcap/,
  );
  assert.throws(() => new PcapWriter("/tmp/x.pcap", { snaplen: 0 }), /snaplen/);
  withTempDir((dir) => {
    const w = new PcapWriter(join(dir, "a.pcap"));
    w.close();
    const f = frames()[0]!;
    w.write(f, 0, f.length);
    w.close();
    assert.equal(w.frames, 0);
    assert.equal(readFileSync(join(dir, "a.pcap")).length, PCAP_GLOBAL_HEADER_LEN);
  });
});
