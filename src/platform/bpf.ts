/**
 * The bpf(2) commands the data plane needs, as plain functions over file descriptors. Each call
 * builds `union bpf_attr` in a scratch block of native memory (so pointers inside it — key, value,
 * instructions, log, path — stay valid during the call) and throws a SysError naming the command.
 *
 * Layouts follow include/uapi/linux/bpf.h; only the fields used here are written, the rest is zero
 * (the kernel requires unused attr bytes to be zero).
 */
import { readFileSync } from "node:fs";
import { check, errno, libc, SysError } from "./libc.js";
import { NativeMemory } from "./native-memory.js";

export const BpfCmd = {
  MAP_CREATE: 0,
  MAP_LOOKUP_ELEM: 1,
  MAP_UPDATE_ELEM: 2,
  MAP_DELETE_ELEM: 3,
  MAP_GET_NEXT_KEY: 4,
  PROG_LOAD: 5,
  OBJ_PIN: 6,
  OBJ_GET: 7,
  PROG_TEST_RUN: 10,
  OBJ_GET_INFO_BY_FD: 15,
  MAP_LOOKUP_AND_DELETE_ELEM: 21,
  MAP_LOOKUP_BATCH: 24,
  MAP_UPDATE_BATCH: 26,
  MAP_DELETE_BATCH: 27,
  LINK_CREATE: 28,
  LINK_UPDATE: 29,
  LINK_GET_FD_BY_ID: 30,
  LINK_GET_NEXT_ID: 31,
} as const;

/** bpf_link_type values (include/uapi/linux/bpf.h). */
export const LinkType = { XDP: 6, TCX: 11 } as const;

const CMD_NAMES: Record<number, string> = Object.fromEntries(
  Object.entries(BpfCmd).map(([name, value]) => [value, `BPF_${name}`]),
);

export const MapType = {
  HASH: 1,
  ARRAY: 2,
  PERCPU_HASH: 5,
  PERCPU_ARRAY: 6,
  LRU_HASH: 9,
  DEVMAP: 14,
  XSKMAP: 17,
} as const;

export const ProgType = { SCHED_CLS: 3, XDP: 6 } as const;
export const AttachType = { XDP: 37, TCX_INGRESS: 46, TCX_EGRESS: 47 } as const;

/** Flags of BPF_MAP_UPDATE_ELEM. */
export const UpdateFlags = { ANY: 0, NOEXIST: 1, EXIST: 2 } as const;

/** XDP attach flags (include/uapi/linux/if_link.h). */
export const XdpFlags = { UPDATE_IF_NOEXIST: 1, SKB_MODE: 2, DRV_MODE: 4, HW_MODE: 8 } as const;

/** Where bpffs is mounted; pinned objects live below it. */
export const BPFFS = "/sys/fs/bpf";

const ATTR_SIZE = 128;
const KEY_AT = 256;
const VALUE_AT = 1024;
const PATH_AT = 8192;
const SCRATCH_SIZE = 16384;
const MAX_KEY = VALUE_AT - KEY_AT;
const MAX_VALUE = PATH_AT - VALUE_AT;
const MAX_PATH = SCRATCH_SIZE - PATH_AT - 1;
/** Verifier log buffer used to explain a failed load. */
const LOG_SIZE = 8 * 1024 * 1024;

let scratch: NativeMemory | null = null;

function attr(): NativeMemory {
  if (!scratch) scratch = NativeMemory.allocate(SCRATCH_SIZE);
  scratch.bytes.fill(0, 0, ATTR_SIZE);
  return scratch;
}

function bpfRaw(cmd: number, mem: NativeMemory): number {
  return libc().bpf(cmd, mem.ptr, ATTR_SIZE);
}

function bpfCall(cmd: number, mem: NativeMemory, what = ""): number {
  const ret = bpfRaw(cmd, mem);
  if (ret < 0) throw new SysError(`bpf(${CMD_NAMES[cmd] ?? cmd}${what ? ` ${what}` : ""})`, errno());
  return ret;
}

function putBytes(mem: NativeMemory, at: number, src: Uint8Array, max: number, what: string): void {
  if (src.length > max) throw new RangeError(`${what} of ${src.length} bytes is too large (max ${max})`);
  mem.bytes.set(src, at);
}

function putString(mem: NativeMemory, at: number, s: string, max: number): void {
  const enc = new TextEncoder().encode(s);
  if (enc.length > max) throw new RangeError(`"${s}" is too long (max ${max} bytes)`);
  mem.bytes.set(enc, at);
  mem.bytes[at + enc.length] = 0;
}

export interface MapSpec {
  type: number;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  flags?: number;
  /** Shown by bpftool; at most 15 characters of [A-Za-z0-9_.]. */
  name?: string;
}

/** BPF_MAP_CREATE: returns the new map's fd. */
export function mapCreate(spec: MapSpec): number {
  const mem = attr();
  const v = mem.view;
  v.setUint32(0, spec.type, true);
  v.setUint32(4, spec.keySize, true);
  v.setUint32(8, spec.valueSize, true);
  v.setUint32(12, spec.maxEntries, true);
  v.setUint32(16, spec.flags ?? 0, true);
  if (spec.name) putString(mem, 28, spec.name.slice(0, 15), 15);
  return bpfCall(BpfCmd.MAP_CREATE, mem, spec.name ?? "");
}

function elemAttr(
  fd: number,
  key: Uint8Array | null,
  value: Uint8Array | null,
  valueCapacity: number,
  flags = 0,
) {
  const mem = attr();
  const v = mem.view;
  v.setUint32(0, fd, true);
  if (key) {
    putBytes(mem, KEY_AT, key, MAX_KEY, "map key");
    v.setBigUint64(8, mem.address + BigInt(KEY_AT), true);
  }
  if (value) putBytes(mem, VALUE_AT, value, MAX_VALUE, "map value");
  if (valueCapacity > MAX_VALUE) throw new RangeError(`map value of ${valueCapacity} bytes is too large`);
  // DELETE_ELEM takes a key only: the kernel refuses a non-zero value field there.
  if (value || valueCapacity > 0) v.setBigUint64(16, mem.address + BigInt(VALUE_AT), true);
  v.setBigUint64(24, BigInt(flags), true);
  return mem;
}

/** BPF_MAP_UPDATE_ELEM (flags: UpdateFlags). */
export function mapUpdate(
  fd: number,
  key: Uint8Array,
  value: Uint8Array,
  flags: number = UpdateFlags.ANY,
): void {
  bpfCall(BpfCmd.MAP_UPDATE_ELEM, elemAttr(fd, key, value, value.length, flags));
}

/**
 * BPF_MAP_LOOKUP_ELEM into `out` (its length is the map's value size; per-CPU maps return one value
 * per possible CPU, each rounded up to 8 bytes). Returns false when the key is absent.
 */
export function mapLookup(fd: number, key: Uint8Array, out: Uint8Array): boolean {
  const mem = elemAttr(fd, key, null, out.length);
  if (bpfRaw(BpfCmd.MAP_LOOKUP_ELEM, mem) < 0) {
    const e = errno();
    if (e === 2) return false;
    throw new SysError("bpf(BPF_MAP_LOOKUP_ELEM)", e);
  }
  out.set(mem.bytes.subarray(VALUE_AT, VALUE_AT + out.length));
  return true;
}

/** BPF_MAP_DELETE_ELEM; returns false when the key was absent. */
export function mapDelete(fd: number, key: Uint8Array): boolean {
  const mem = elemAttr(fd, key, null, 0);
  if (bpfRaw(BpfCmd.MAP_DELETE_ELEM, mem) < 0) {
    const e = errno();
    if (e === 2) return false;
    throw new SysError("bpf(BPF_MAP_DELETE_ELEM)", e);
  }
  return true;
}

/**
 * BPF_MAP_GET_NEXT_KEY: writes the key after `key` (the first key when `key` is null) into `out`.
 * Returns false at the end of the map.
 */
export function mapGetNextKey(fd: number, key: Uint8Array | null, out: Uint8Array): boolean {
  const mem = elemAttr(fd, key, null, out.length);
  if (bpfRaw(BpfCmd.MAP_GET_NEXT_KEY, mem) < 0) {
    const e = errno();
    if (e === 2) return false;
    throw new SysError("bpf(BPF_MAP_GET_NEXT_KEY)", e);
  }
  out.set(mem.bytes.subarray(VALUE_AT, VALUE_AT + out.length));
  return true;
}

/**
 * BPF_MAP_LOOKUP_AND_DELETE_ELEM (hash maps): reads the value into `out` and removes the entry in
 * one step, so nothing written between a read and a delete is lost. Returns false when absent.
 */
export function mapLookupAndDelete(fd: number, key: Uint8Array, out: Uint8Array): boolean {
  const mem = elemAttr(fd, key, null, out.length);
  if (bpfRaw(BpfCmd.MAP_LOOKUP_AND_DELETE_ELEM, mem) < 0) {
    const e = errno();
    if (e === 2) return false;
    throw new SysError("bpf(BPF_MAP_LOOKUP_AND_DELETE_ELEM)", e);
  }
  out.set(mem.bytes.subarray(VALUE_AT, VALUE_AT + out.length));
  return true;
}

/**
 * Native buffers for the batch commands: `count` keys and values back to back, plus the opaque
 * batch cursor of BPF_MAP_LOOKUP_BATCH. Callers fill `keys`/`values` (views of native memory) and
 * pass the same object to the batch functions, so a batch costs one syscall and no copy.
 */
export class MapBatch {
  readonly keys: Uint8Array;
  readonly values: Uint8Array;
  private readonly mem: NativeMemory;
  private freed = false;

  constructor(
    readonly keySize: number,
    readonly valueSize: number,
    readonly capacity: number,
  ) {
    // keys | values | 2 x 16-byte batch cursors (in, out); a hash map's cursor is a u32 bucket.
    this.mem = NativeMemory.allocate(capacity * (keySize + valueSize) + 32);
    this.keys = this.mem.bytes.subarray(0, capacity * keySize);
    this.values = this.mem.bytes.subarray(capacity * keySize, capacity * (keySize + valueSize));
  }

  get keysAddress(): bigint {
    return this.mem.address;
  }
  get valuesAddress(): bigint {
    return this.mem.address + BigInt(this.capacity * this.keySize);
  }
  get cursorAddress(): bigint {
    return this.mem.address + BigInt(this.capacity * (this.keySize + this.valueSize));
  }
  /** Copies the out cursor of the last lookup batch into the in cursor. */
  advanceCursor(): void {
    const at = this.capacity * (this.keySize + this.valueSize);
    this.mem.bytes.copyWithin(at, at + 16, at + 32);
  }

  free(): void {
    if (this.freed) return;
    this.freed = true;
    this.mem.free();
  }
}

function batchAttr(fd: number, batch: MapBatch, count: number): NativeMemory {
  if (!Number.isInteger(count) || count < 0 || count > batch.capacity) {
    throw new RangeError(`batch count ${count} outside 0..${batch.capacity}`);
  }
  const mem = attr();
  const v = mem.view;
  v.setBigUint64(16, batch.keysAddress, true);
  v.setBigUint64(24, batch.valuesAddress, true);
  v.setUint32(32, count, true);
  v.setUint32(36, fd, true);
  return mem;
}

/** BPF_MAP_UPDATE_BATCH: writes the first `count` keys/values of `batch`. */
export function mapUpdateBatch(fd: number, batch: MapBatch, count: number, flags = UpdateFlags.ANY): void {
  if (count === 0) return;
  const mem = batchAttr(fd, batch, count);
  mem.view.setBigUint64(40, BigInt(flags), true);
  bpfCall(BpfCmd.MAP_UPDATE_BATCH, mem, `${count} entries`);
}

/**
 * Reads the whole map through BPF_MAP_LOOKUP_BATCH, one batch at a time: `each(n)` is called with
 * the first n keys/values of `batch` filled. Returns the number of entries read.
 */
export function mapLookupAll(fd: number, batch: MapBatch, each: (n: number) => void): number {
  let total = 0;
  let first = true;
  for (;;) {
    const mem = batchAttr(fd, batch, batch.capacity);
    if (!first) mem.view.setBigUint64(0, batch.cursorAddress, true);
    mem.view.setBigUint64(8, batch.cursorAddress + 16n, true);
    const ret = bpfRaw(BpfCmd.MAP_LOOKUP_BATCH, mem);
    const e = ret < 0 ? errno() : 0;
    const n = mem.view.getUint32(32, true);
    if (ret < 0 && e !== 2) throw new SysError("bpf(BPF_MAP_LOOKUP_BATCH)", e);
    if (n > 0) {
      each(n);
      total += n;
    }
    // ENOENT: the end of the map was reached (n holds the last entries, if any).
    if (ret < 0) return total;
    batch.advanceCursor();
    first = false;
  }
}

export interface ProgSpec {
  type: number;
  /** Assembled instructions (8 bytes each). */
  insns: Uint8Array;
  license?: string;
  name?: string;
  expectedAttachType?: number;
}

/** A program load the verifier (or anything else) refused; `log` holds the verifier's explanation. */
export class BpfLoadError extends SysError {
  constructor(
    errnum: number,
    readonly log: string,
  ) {
    super("bpf(BPF_PROG_LOAD)", errnum, log ? `verifier log (tail):\n${tail(log, 40)}` : "");
    this.name = "BpfLoadError";
  }
}

function tail(text: string, lines: number): string {
  const all = text.trimEnd().split("\n");
  return all.slice(Math.max(0, all.length - lines)).join("\n");
}

function progLoadOnce(spec: ProgSpec, code: NativeMemory, log: NativeMemory | null): number {
  const mem = attr();
  const v = mem.view;
  const license = spec.license ?? "GPL";
  putString(mem, PATH_AT, license, 64);
  v.setUint32(0, spec.type, true);
  v.setUint32(4, spec.insns.length / 8, true);
  v.setBigUint64(8, code.address, true);
  v.setBigUint64(16, mem.address + BigInt(PATH_AT), true);
  if (log) {
    v.setUint32(24, 1, true);
    v.setUint32(28, log.size, true);
    v.setBigUint64(32, log.address, true);
  }
  if (spec.name) putString(mem, 48, spec.name.slice(0, 15), 15);
  v.setUint32(68, spec.expectedAttachType ?? 0, true);
  return bpfRaw(BpfCmd.PROG_LOAD, mem);
}

/**
 * BPF_PROG_LOAD: returns the program's fd. When the kernel refuses it, the load is repeated with
 * the verifier log on, and the error carries that log.
 */
export function progLoad(spec: ProgSpec): number {
  if (spec.insns.length === 0 || spec.insns.length % 8 !== 0) {
    throw new RangeError(
      `a BPF program is a whole number of 8-byte instructions, got ${spec.insns.length} bytes`,
    );
  }
  const code = NativeMemory.allocate(spec.insns.length);
  try {
    code.bytes.set(spec.insns);
    const fd = progLoadOnce(spec, code, null);
    if (fd >= 0) return fd;
    const first = errno();
    const log = NativeMemory.allocate(LOG_SIZE);
    try {
      const again = progLoadOnce(spec, code, log);
      if (again >= 0) return again; // passed with the log on (a transient failure the first time)
      const end = log.bytes.indexOf(0);
      const text = new TextDecoder().decode(log.bytes.subarray(0, end < 0 ? log.size : end));
      throw new BpfLoadError(first, text);
    } finally {
      log.free();
    }
  } finally {
    code.free();
  }
}

export interface TestRunResult {
  /** The program's return value (XDP: 1 DROP, 2 PASS, 3 TX, 4 REDIRECT). */
  retval: number;
  /** Average run time per repetition in nanoseconds, as the kernel measured it. */
  durationNs: number;
  /** The frame as the program left it (rewrites included). */
  data: Uint8Array;
}

/**
 * BPF_PROG_TEST_RUN: runs a loaded program on `data` (a whole frame for XDP) inside the kernel,
 * without any interface — how the steering program is tested and timed. `ctxIn`: its context.
 */
export function progTestRun(progFd: number, data: Uint8Array, repeat = 1, ctxIn?: Uint8Array): TestRunResult {
  const outCap = data.length + 4096;
  const ctxLen = ctxIn?.length ?? 0;
  const buf = NativeMemory.allocate(data.length + outCap + ctxLen);
  try {
    buf.bytes.set(data);
    const mem = attr();
    const v = mem.view;
    v.setUint32(0, progFd, true);
    v.setUint32(8, data.length, true);
    v.setUint32(12, outCap, true);
    v.setBigUint64(16, buf.address, true);
    v.setBigUint64(24, buf.address + BigInt(data.length), true);
    v.setUint32(32, repeat, true);
    if (ctxIn) {
      // The program's context as it starts (for a TC program: a struct __sk_buff, of which the
      // kernel takes only some fields).
      const at = data.length + outCap;
      buf.bytes.set(ctxIn, at);
      v.setUint32(40, ctxLen, true);
      v.setBigUint64(48, buf.address + BigInt(at), true);
    }
    bpfCall(BpfCmd.PROG_TEST_RUN, mem);
    const outLen = Math.min(v.getUint32(12, true), outCap);
    return {
      retval: v.getUint32(4, true),
      durationNs: v.getUint32(36, true),
      data: buf.bytes.slice(data.length, data.length + outLen),
    };
  } finally {
    buf.free();
  }
}

/** BPF_PROG_TEST_RUN flag: the frames an XDP program leaves with XDP_TX/XDP_REDIRECT really leave. */
const BPF_F_TEST_XDP_LIVE_FRAMES = 2;

/**
 * BPF_PROG_TEST_RUN in live-frames mode: runs an XDP program `repeat` times on copies of the
 * `length`-byte frame at `frame`, and what it redirects is transmitted (the kernel's traffic
 * generator, as xdp-trafficgen uses it). Frames are recycled through a page pool of `batchSize`
 * pages, so a program that varies the frame must write every varied field on every run.
 * Allocates nothing: `frame` is native memory the caller keeps.
 */
export function progRunLive(
  progFd: number,
  frame: NativeMemory,
  length: number,
  repeat: number,
  batchSize: number,
): void {
  const mem = attr();
  const v = mem.view;
  v.setUint32(0, progFd, true);
  v.setUint32(8, length, true);
  v.setBigUint64(16, frame.address, true);
  v.setUint32(32, repeat, true);
  v.setUint32(64, BPF_F_TEST_XDP_LIVE_FRAMES, true);
  v.setUint32(72, batchSize, true);
  bpfCall(BpfCmd.PROG_TEST_RUN, mem);
}

/** BPF_LINK_CREATE for XDP: attaches `progFd` to `ifindex`; closing the link's fd detaches it. */
export function linkCreateXdp(progFd: number, ifindex: number, xdpFlags: number): number {
  const mem = attr();
  const v = mem.view;
  v.setUint32(0, progFd, true);
  v.setUint32(4, ifindex, true);
  v.setUint32(8, AttachType.XDP, true);
  v.setUint32(12, xdpFlags, true);
  return bpfCall(BpfCmd.LINK_CREATE, mem, `ifindex ${ifindex}`);
}

/**
 * BPF_LINK_CREATE for tcx (the TC hook's link-based attach, kernel 6.6+): a SCHED_CLS program on
 * `ifindex`'s ingress or egress, after whatever is attached there already; closing the link's fd
 * detaches it.
 */
export function linkCreateTcx(progFd: number, ifindex: number, direction: "ingress" | "egress"): number {
  const mem = attr();
  const v = mem.view;
  v.setUint32(0, progFd, true);
  v.setUint32(4, ifindex, true);
  v.setUint32(8, direction === "ingress" ? AttachType.TCX_INGRESS : AttachType.TCX_EGRESS, true);
  return bpfCall(BpfCmd.LINK_CREATE, mem, `tcx ${direction} ifindex ${ifindex}`);
}

/** BPF_LINK_UPDATE: swaps the program behind a link atomically (no window without a program). */
export function linkUpdate(linkFd: number, newProgFd: number): void {
  const mem = attr();
  mem.view.setUint32(0, linkFd, true);
  mem.view.setUint32(4, newProgFd, true);
  bpfCall(BpfCmd.LINK_UPDATE, mem);
}

/** What the kernel says about a link (struct bpf_link_info; `ifindex` for XDP links only). */
export interface LinkInfo {
  type: number;
  id: number;
  progId: number;
  ifindex: number;
}

/** BPF_OBJ_GET_INFO_BY_FD on a link. */
export function linkInfo(linkFd: number): LinkInfo {
  const mem = attr();
  const INFO_AT = KEY_AT;
  const INFO_LEN = 64;
  mem.bytes.fill(0, INFO_AT, INFO_AT + INFO_LEN);
  const v = mem.view;
  v.setUint32(0, linkFd, true);
  v.setUint32(4, INFO_LEN, true);
  v.setBigUint64(8, mem.address + BigInt(INFO_AT), true);
  bpfCall(BpfCmd.OBJ_GET_INFO_BY_FD, mem, `fd ${linkFd}`);
  // struct bpf_link_info { u32 type, id, prog_id; union (8-aligned, at 16) { xdp, tcx: { u32 ifindex } } }
  return {
    type: v.getUint32(INFO_AT, true),
    id: v.getUint32(INFO_AT + 4, true),
    progId: v.getUint32(INFO_AT + 8, true),
    ifindex: v.getUint32(INFO_AT + 16, true),
  };
}

/** BPF_LINK_GET_FD_BY_ID: an fd for a live link by its id; null when no link has that id. */
export function linkGetFdById(id: number): number | null {
  const mem = attr();
  mem.view.setUint32(0, id, true);
  const fd = bpfRaw(BpfCmd.LINK_GET_FD_BY_ID, mem);
  if (fd < 0) {
    const e = errno();
    if (e === 2) return null;
    throw new SysError(`bpf(BPF_LINK_GET_FD_BY_ID ${id})`, e);
  }
  return fd;
}

/** BPF_LINK_GET_NEXT_ID: the id of the next live link after `id` (0: the first); null after the last. */
export function linkNextId(id: number): number | null {
  const mem = attr();
  mem.view.setUint32(0, id, true);
  if (bpfRaw(BpfCmd.LINK_GET_NEXT_ID, mem) < 0) {
    const e = errno();
    if (e === 2) return null;
    throw new SysError(`bpf(BPF_LINK_GET_NEXT_ID ${id})`, e);
  }
  return mem.view.getUint32(4, true);
}

/** BPF_OBJ_PIN: makes a map, program or link outlive its fds at `path` (below bpffs). */
export function objPin(fd: number, path: string): void {
  const mem = attr();
  putString(mem, PATH_AT, path, MAX_PATH);
  mem.view.setBigUint64(0, mem.address + BigInt(PATH_AT), true);
  mem.view.setUint32(8, fd, true);
  bpfCall(BpfCmd.OBJ_PIN, mem, path);
}

/** BPF_OBJ_GET: opens a pinned object; returns null when nothing is pinned at `path`. */
export function objGet(path: string): number | null {
  const mem = attr();
  putString(mem, PATH_AT, path, MAX_PATH);
  mem.view.setBigUint64(0, mem.address + BigInt(PATH_AT), true);
  const fd = bpfRaw(BpfCmd.OBJ_GET, mem);
  if (fd < 0) {
    const e = errno();
    if (e === 2) return null;
    throw new SysError(`bpf(BPF_OBJ_GET ${path})`, e);
  }
  return fd;
}

/** True when a bpf filesystem is mounted at `dir`. */
export function bpffsMounted(dir = BPFFS): boolean {
  const mounts = readFileSync("/proc/self/mounts", "utf8");
  return mounts.split("\n").some((line) => {
    const f = line.split(" ");
    return f[1] === dir && f[2] === "bpf";
  });
}

/** Mounts bpffs at `dir` when it is not mounted yet (pinning needs it). */
export function ensureBpffs(dir = BPFFS): void {
  if (bpffsMounted(dir)) return;
  check(libc().mount("bpf", dir, "bpf", 0, null), `mount(bpf, ${dir})`);
}

/** Closes a file descriptor (map, program, link or socket); errors are reported, not ignored. */
export function closeFd(fd: number): void {
  check(libc().close(fd), `close(${fd})`);
}
