/**
 * Anonymous memory the kernel backs with transparent huge pages (2 MiB), seen from JS as an
 * ArrayBuffer: for tables looked up at random across tens of MB (the connection table), where with
 * 4 KiB pages nearly every lookup also misses the TLB and walks the page tables.
 *
 * The mapping is reserved 2 MiB larger than asked, trimmed to a 2 MiB-aligned start, and marked
 * MADV_HUGEPAGE before anything touches it (the machine's THP mode is usually "madvise": only
 * marked regions get huge pages). Pages are faulted in when first written, so an unused tail costs
 * nothing. The mapping is unmapped when the ArrayBuffer is garbage-collected.
 *
 * Where this is not possible (no koffi, mmap refused, THP disabled), `hugePageBuffer` falls back
 * to an ordinary ArrayBuffer: huge pages change the speed, never the behaviour.
 */
import { libc, type NativePtr, viewOf } from "./libc.js";

const HUGE = 2 * 1024 * 1024;
const PROT_READ = 0x1;
const PROT_WRITE = 0x2;
const MAP_PRIVATE = 0x02;
const MAP_ANONYMOUS = 0x20;
const MAP_FIXED = 0x10;
const MAP_FAILED = -1n;
const MADV_HUGEPAGE = 14;

interface HugeCalls {
  reserve: (addr: bigint, len: number, prot: number, flags: number, fd: number, off: number) => bigint;
  mapAt: (addr: bigint, len: number, prot: number, flags: number, fd: number, off: number) => NativePtr;
  unmap: (addr: bigint, len: number) => number;
  madvise: (addr: bigint, len: number, advice: number) => number;
}

let calls: HugeCalls | null = null;
const mappings = new FinalizationRegistry<{ address: bigint; length: number }>((m) => {
  calls?.unmap(m.address, m.length);
});

function hugeCalls(): HugeCalls {
  if (calls) return calls;
  // libc's functions declared with integer addresses, so the aligned address can be computed and
  // passed back (mapAt returns a pointer object for the ArrayBuffer view).
  const c = libc();
  calls = {
    reserve: c.mmapReserve,
    mapAt: c.mmapAt as HugeCalls["mapAt"],
    unmap: c.munmapAt,
    madvise: c.madviseAt,
  };
  return calls;
}

const placed = new WeakMap<ArrayBuffer, { address: bigint; length: number }>();

/** Where a buffer from hugePageBuffer is mapped; null for an ordinary (fallback) ArrayBuffer. */
export function hugePageMapping(buffer: ArrayBuffer): { address: bigint; length: number } | null {
  return placed.get(buffer) ?? null;
}

/** Statistics for reports: how many buffers got huge-page-marked memory, how many fell back. */
export const hugePageStats = { mapped: 0, fellBack: 0 };

/** A zeroed ArrayBuffer of at least `bytes` bytes, on huge pages when the kernel allows it. */
export function hugePageBuffer(bytes: number): ArrayBuffer {
  if (!Number.isInteger(bytes) || bytes <= 0) throw new RangeError(`bad buffer size ${bytes}`);
  // Smaller than one huge page: nothing to gain.
  if (bytes < HUGE) return new ArrayBuffer(bytes);
  try {
    return mapHuge(bytes);
  } catch {
    hugePageStats.fellBack++;
    return new ArrayBuffer(bytes);
  }
}

function mapHuge(bytes: number): ArrayBuffer {
  const c = hugeCalls();
  const length = Math.ceil(bytes / HUGE) * HUGE;
  const prot = PROT_READ | PROT_WRITE;
  const flags = MAP_PRIVATE | MAP_ANONYMOUS;
  const start = BigInt(c.reserve(0n, length + HUGE, prot, flags, -1, 0));
  if (start === MAP_FAILED) throw new Error("mmap failed");
  const aligned = (start + BigInt(HUGE - 1)) & ~BigInt(HUGE - 1);
  const head = Number(aligned - start);
  const tail = HUGE - head;
  if (head > 0) c.unmap(start, head);
  if (tail > 0) c.unmap(aligned + BigInt(length), tail);
  // Re-map the aligned range onto itself (MAP_FIXED) to obtain a pointer object for the view.
  const ptr = c.mapAt(aligned, length, prot, flags | MAP_FIXED, -1, 0);
  if (ptr === null) {
    c.unmap(aligned, length);
    throw new Error("mmap(MAP_FIXED) failed");
  }
  if (c.madvise(aligned, length, MADV_HUGEPAGE) !== 0) {
    c.unmap(aligned, length);
    throw new Error("madvise(MADV_HUGEPAGE) refused");
  }
  const buffer = viewOf(ptr, length);
  mappings.register(buffer, { address: aligned, length });
  placed.set(buffer, { address: aligned, length });
  hugePageStats.mapped++;
  return buffer;
}
