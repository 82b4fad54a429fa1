/**
 * Page-aligned anonymous memory outside the JS heap (mmap), seen from JS through typed arrays.
 * Its address never moves, so it can be handed to the kernel to keep (an AF_XDP UMEM) or written
 * into a syscall argument that holds pointers (bpf_attr's insns, key, value, log buffer).
 */
import { addressOf, check, libc, type NativePtr, SysError, viewOf } from "./libc.js";

const PROT_READ = 0x1;
const PROT_WRITE = 0x2;
const MAP_PRIVATE = 0x02;
const MAP_SHARED = 0x01;
const MAP_ANONYMOUS = 0x20;
const MAP_POPULATE = 0x8000;
const MAP_FAILED = 0xffffffffffffffffn;
const PAGE = 4096;

export class NativeMemory {
  readonly bytes: Uint8Array;
  readonly view: DataView;
  private closed = false;

  private constructor(
    readonly ptr: NativePtr,
    /** The address as the kernel sees it. */
    readonly address: bigint,
    readonly size: number,
  ) {
    const ab = viewOf(ptr, size);
    this.bytes = new Uint8Array(ab);
    this.view = new DataView(ab);
  }

  /** Zeroed anonymous memory of at least `size` bytes (rounded up to pages), populated up front. */
  static allocate(size: number): NativeMemory {
    if (!Number.isInteger(size) || size <= 0) throw new RangeError(`bad native memory size ${size}`);
    const len = Math.ceil(size / PAGE) * PAGE;
    const ptr = libc().mmap(
      null,
      len,
      PROT_READ | PROT_WRITE,
      MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE,
      -1,
      0,
    );
    const addr = addressOf(ptr);
    if (ptr === null || addr === MAP_FAILED)
      throw new SysError(`mmap(anonymous, ${len})`, libc().koffi.errno());
    return new NativeMemory(ptr, addr, len);
  }

  /** Maps `size` bytes of a file descriptor at `offset` (shared): how AF_XDP rings are reached. */
  static mapFd(fd: number, size: number, offset: bigint, what: string): NativeMemory {
    const ptr = libc().mmap(null, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, offset);
    const addr = addressOf(ptr);
    if (ptr === null || addr === MAP_FAILED) throw new SysError(`mmap(${what})`, libc().koffi.errno());
    return new NativeMemory(ptr, addr, size);
  }

  /** Unmaps the memory; every view over it becomes invalid (do not touch them afterwards). */
  free(): void {
    if (this.closed) return;
    this.closed = true;
    check(libc().munmap(this.ptr, this.size), "munmap");
  }
}
