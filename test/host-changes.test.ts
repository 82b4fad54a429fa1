/**
 * Reading rtnetlink notifications into kinds of host change (src/dataplane/host-changes.ts), the
 * neighbour filter that ignores reachability-only transitions, and the refresh scheduler's debounce,
 * one-at-a-time and rate limit (under mocked timers).
 */
import assert from "node:assert/strict";
import { mock, test } from "node:test";
import fc from "fast-check";
import { HostChange, hostChangeNames, readHostChanges } from "../src/dataplane/host-changes.js";
import { NeighbourLladdrs } from "../src/dataplane/neighbour-lladdrs.js";
import { RefreshScheduler } from "../src/dataplane/refresh-scheduler.js";

const RTM_NEWLINK = 16;
const RTM_DELADDR = 21;
const RTM_NEWROUTE = 24;
const RTM_NEWNEIGH = 28;
const RTM_DELNEIGH = 29;
const NLMSG_OVERRUN = 4;
const NUD_REACHABLE = 0x02;
const NUD_STALE = 0x04;
const NUD_FAILED = 0x20;

/** One netlink message: header, payload, padded to 4 bytes. */
function message(type: number, payload: Uint8Array = new Uint8Array(16)): Uint8Array {
  const len = 16 + payload.length;
  const out = new Uint8Array((len + 3) & ~3);
  const v = new DataView(out.buffer);
  v.setUint32(0, len, true);
  v.setUint16(4, type, true);
  out.set(payload, 16);
  return out;
}

function attr(type: number, data: number[]): number[] {
  const len = 4 + data.length;
  const out = [len & 0xff, len >> 8, type & 0xff, type >> 8, ...data];
  while (out.length % 4) out.push(0);
  return out;
}

/** An ndmsg for 198.18.5.2 on ifindex 7 in `state`, with `mac` as its link-layer address (if any). */
function neigh(type: number, state: number, mac: number[] | null, dst = [198, 18, 5, 2]): Uint8Array {
  const nd = [2, 0, 0, 0, 7, 0, 0, 0, state & 0xff, state >> 8, 0, 1];
  const attrs = [...attr(1, dst), ...(mac ? attr(2, mac) : [])];
  return message(type, Uint8Array.from([...nd, ...attrs]));
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

const read = (b: Uint8Array, n = new NeighbourLladdrs()) => readHostChanges(b, b.length, n);

test("each message type maps to its kind; several messages in one datagram add up", () => {
  assert.equal(read(message(RTM_NEWLINK)), HostChange.LINK);
  assert.equal(read(message(RTM_DELADDR)), HostChange.ADDR);
  assert.equal(read(message(RTM_NEWROUTE)), HostChange.ROUTE);
  assert.equal(read(message(NLMSG_OVERRUN)), HostChange.ALL);
  assert.equal(read(message(99)), HostChange.NONE, "an unrelated type reports nothing");
  const both = read(concat(message(RTM_NEWLINK), message(RTM_NEWROUTE, new Uint8Array(13))));
  assert.deepEqual(hostChangeNames(both), ["link", "route"]);
});

test("a truncated or malformed datagram counts as everything changed, after what was read", () => {
  const link = message(RTM_NEWLINK);
  assert.equal(read(link.subarray(0, 10)), HostChange.ALL, "shorter than a header");
  const long = link.slice();
  new DataView(long.buffer).setUint32(0, 400, true);
  assert.equal(read(long), HostChange.ALL, "a length beyond the datagram");
  const tiny = link.slice();
  new DataView(tiny.buffer).setUint32(0, 3, true);
  assert.equal(read(tiny), HostChange.ALL, "a length below a header");
  assert.equal(read(concat(message(RTM_NEWROUTE), link.subarray(0, 5))), HostChange.ALL);
  assert.equal(readHostChanges(link, 0, new NeighbourLladdrs()), HostChange.NONE, "nothing read");
});

test("neighbours: reachability-only transitions with the same address report nothing", () => {
  const known = new NeighbourLladdrs();
  const mac = [2, 0, 0, 0, 0, 2];
  assert.equal(read(neigh(RTM_NEWNEIGH, NUD_REACHABLE, mac), known), HostChange.NEIGH, "first sight");
  assert.equal(read(neigh(RTM_NEWNEIGH, NUD_STALE, mac), known), HostChange.NONE);
  assert.equal(read(neigh(RTM_NEWNEIGH, NUD_REACHABLE, mac), known), HostChange.NONE);
  assert.equal(read(neigh(RTM_NEWNEIGH, NUD_STALE, [2, 0, 0, 0, 0, 3]), known), HostChange.NEIGH, "new MAC");
  assert.equal(read(neigh(RTM_NEWNEIGH, NUD_FAILED, null), known), HostChange.NEIGH, "lost its address");
  assert.equal(read(neigh(RTM_NEWNEIGH, NUD_FAILED, null), known), HostChange.NONE, "still none");
  assert.equal(read(neigh(RTM_DELNEIGH, NUD_FAILED, null), known), HostChange.NONE, "gone without one");
  assert.equal(read(neigh(RTM_DELNEIGH, NUD_STALE, mac), known), HostChange.NEIGH, "unknown entry gone");
  const other = neigh(RTM_NEWNEIGH, NUD_REACHABLE, mac, [198, 18, 5, 3]);
  assert.equal(read(other, known), HostChange.NEIGH, "another address is another entry");
  assert.equal(read(message(RTM_NEWNEIGH, new Uint8Array(4)), known), HostChange.NEIGH, "unreadable ndmsg");
});

test("random and mutated buffers never throw and give a valid kind set", () => {
  const valid = concat(message(RTM_NEWLINK), neigh(RTM_NEWNEIGH, NUD_REACHABLE, [2, 0, 0, 0, 0, 2]));
  const known = new NeighbourLladdrs();
  fc.assert(
    fc.property(
      fc.uint8Array({ maxLength: 200 }),
      fc.array(fc.tuple(fc.nat(valid.length - 1), fc.integer({ min: 0, max: 255 })), { maxLength: 8 }),
      fc.nat(valid.length + 10),
      (noise, flips, cut) => {
        for (const b of [noise, valid.slice()]) {
          if (b !== noise) for (const [at, v] of flips) b[at] = v;
          for (const len of [b.length, Math.min(cut, b.length)]) {
            const kinds = readHostChanges(b, len, known);
            assert.ok(Number.isInteger(kinds) && kinds >= 0 && kinds <= HostChange.ALL);
          }
        }
        // A length beyond the buffer is clamped, not read past.
        readHostChanges(noise, noise.length + 64, known);
      },
    ),
    { numRuns: 2000 },
  );
});

test("refresh scheduler: bursts coalesce, one at a time, at most one start per interval", async () => {
  mock.timers.enable({ apis: ["setTimeout", "setInterval"] });
  let clock = 0;
  const tick = (ms: number) => {
    for (let i = 0; i < ms; i += 10) {
      clock += 10;
      mock.timers.tick(10);
    }
  };
  const starts: number[] = [];
  let finish: (() => void) | null = null;
  const s = new RefreshScheduler(
    () => {
      starts.push(clock);
      return new Promise<void>((r) => {
        finish = r;
      });
    },
    { debounceMs: 50, minIntervalMs: 500, safetyMs: 10_000 },
    () => clock,
  );
  const settle = () => new Promise<void>((r) => setImmediate(r));
  try {
    for (let i = 0; i < 4; i++) {
      s.request();
      tick(10);
    }
    assert.deepEqual(starts, [], "not before the quiet time");
    tick(10);
    assert.deepEqual(starts, [50], "one refresh for the burst, 50 ms after its first request");
    s.request();
    s.request();
    tick(1000);
    assert.equal(starts.length, 1, "never two at once");
    (finish as unknown as () => void)();
    await settle();
    await settle();
    assert.equal(starts.length, 1, "the request made meanwhile waits for the interval");
    tick(60);
    assert.deepEqual(starts, [50, 1100], "one more refresh for the requests made while it ran");
    (finish as unknown as () => void)();
    await settle();
    s.request();
    tick(100);
    assert.equal(starts.length, 2, "rate-limited: 500 ms between starts");
    tick(400);
    assert.deepEqual(starts, [50, 1100, 1600]);
    (finish as unknown as () => void)();
    await settle();
    tick(10_000);
    assert.equal(starts.length, 4, "the safety timer refreshes unasked");
    (finish as unknown as () => void)();
    await settle();
    s.stop();
    s.request();
    tick(20_000);
    assert.equal(starts.length, 4, "nothing after stop()");
  } finally {
    s.stop();
    mock.timers.reset();
  }
});
