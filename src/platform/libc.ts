/**
 * The only native layer of the data plane: libc functions bound through koffi (a prebuilt FFI, no
 * compiler or addon at run time). Loaded lazily on first use, so importing the data plane costs
 * nothing for commands that never touch a packet (tslvsadm).
 *
 * Every wrapper returns the raw C result; callers use `check()` / `checkPtr()` to turn a failure
 * into a `SysError` that names the call and the errno (`bpf(BPF_PROG_LOAD): EPERM (Operation not
 * permitted)`).
 */
import { createRequire } from "node:module";

/** koffi's module object; typed loosely on purpose (its .d.ts is CommonJS-shaped). */
// biome-ignore lint/suspicious/noExplicitAny: the FFI boundary is untyped by nature
type Koffi = any;
/** An opaque native pointer as koffi returns it (an External). */
export type NativePtr = object;
// biome-ignore lint/suspicious/noExplicitAny: bound foreign functions take and return FFI values
type Fn = (...args: any[]) => any;

export interface Libc {
  readonly koffi: Koffi;
  /** syscall(nr, ...) declared variadic as in C: pass ("int", v, "void *", p, ...) after nr. */
  readonly syscall: Fn;
  /** bpf(cmd, attr, size) through syscall(2): attr is a native pointer. */
  readonly bpf: (cmd: number, attr: NativePtr, size: number) => number;
  readonly socket: (domain: number, type: number, protocol: number) => number;
  readonly bind: (fd: number, addr: Uint8Array, len: number) => number;
  readonly setsockopt: (fd: number, level: number, name: number, val: Uint8Array, len: number) => number;
  /** getsockopt with optlen as a one-element Uint32Array (in: capacity, out: length written). */
  readonly getsockopt: (fd: number, level: number, name: number, val: Uint8Array, len: Uint32Array) => number;
  readonly mmap: (
    addr: NativePtr | null,
    len: number,
    prot: number,
    flags: number,
    fd: number,
    off: number | bigint,
  ) => NativePtr | null;
  readonly munmap: (addr: NativePtr, len: number) => number;
  readonly sendto: (
    fd: number,
    buf: NativePtr | null,
    len: number,
    flags: number,
    addr: NativePtr | null,
    alen: number,
  ) => number;
  readonly recvfrom: (
    fd: number,
    buf: NativePtr | null,
    len: number,
    flags: number,
    addr: NativePtr | null,
    alen: NativePtr | null,
  ) => number;
  /** recvmsg(fd, msghdr, flags): msghdr (and what it points to) in native memory. */
  readonly recvmsg: (fd: number, msg: NativePtr, flags: number) => number;
  /** poll(fds, nfds, timeout_ms): fds is a native pointer to struct pollfd[nfds]. */
  readonly poll: (fds: NativePtr, nfds: number, timeoutMs: number) => number;
  readonly close: (fd: number) => number;
  readonly if_nametoindex: (name: string) => number;
  readonly mount: (
    src: string,
    target: string,
    fstype: string,
    flags: number,
    data: NativePtr | null,
  ) => number;
  readonly strerror: (errnum: number) => string;
  readonly getpid: () => number;
  readonly open: (path: string, flags: number) => number;
  readonly ioctl: (fd: number, request: number, arg: Uint8Array | NativePtr) => number;
  /** write(2) with the buffer as an address (an integer): frames in native memory, no allocation. */
  readonly writeAt: (fd: number, buf: number | bigint, len: number) => number;
  /** mmap/munmap/madvise with integer addresses, for aligning a mapping by arithmetic. */
  readonly mmapReserve: (
    addr: bigint,
    len: number,
    prot: number,
    flags: number,
    fd: number,
    off: number,
  ) => bigint;
  readonly mmapAt: (
    addr: bigint,
    len: number,
    prot: number,
    flags: number,
    fd: number,
    off: number,
  ) => NativePtr | null;
  readonly munmapAt: (addr: bigint, len: number) => number;
  readonly madviseAt: (addr: bigint, len: number, advice: number) => number;
}

let cached: Libc | null = null;
let errnoNames: Map<number, string> | null = null;

/**
 * The libc bindings — the one place native functions are bound (the data plane's sockets, maps and
 * memory, the control socket's peer credentials) — loaded on first call. Throws a clear error on platforms koffi cannot serve. */
export function libc(): Libc {
  if (cached) return cached;
  if (process.platform !== "linux" || process.arch !== "x64") {
    throw new Error(
      `the AF_XDP data plane needs Linux on x86-64 (syscall numbers are x86-64's); this is ${process.platform}/${process.arch}`,
    );
  }
  const require = createRequire(import.meta.url);
  const koffi: Koffi = require("koffi");
  const lib = koffi.load("libc.so.6");
  const syscall = lib.func("long syscall(long nr, ...)");
  const bpf = (cmd: number, attr: NativePtr, size: number): number =>
    Number(syscall(SYS_BPF, "int", cmd, "void *", attr, "uint32_t", size));
  cached = {
    koffi,
    syscall,
    bpf,
    socket: lib.func("int socket(int domain, int type, int protocol)"),
    bind: lib.func("int bind(int fd, void *addr, uint32_t len)"),
    setsockopt: lib.func("int setsockopt(int fd, int level, int name, void *val, uint32_t len)"),
    getsockopt: lib.func("int getsockopt(int fd, int level, int name, void *val, _Inout_ uint32_t *len)"),
    mmap: lib.func("void *mmap(void *addr, size_t len, int prot, int flags, int fd, int64_t off)"),
    munmap: lib.func("int munmap(void *addr, size_t len)"),
    sendto: lib.func("intptr_t sendto(int fd, void *buf, size_t len, int flags, void *addr, uint32_t alen)"),
    recvfrom: lib.func("intptr_t recvfrom(int fd, void *buf, size_t len, int flags, void *addr, void *alen)"),
    recvmsg: lib.func("intptr_t recvmsg(int fd, void *msg, int flags)"),
    poll: lib.func("int poll(void *fds, uint64_t nfds, int timeout)"),
    close: lib.func("int close(int fd)"),
    if_nametoindex: lib.func("uint32_t if_nametoindex(const char *name)"),
    mount: lib.func(
      "int mount(const char *src, const char *target, const char *fstype, unsigned long flags, void *data)",
    ),
    strerror: lib.func("const char *strerror(int errnum)"),
    getpid: lib.func("int getpid()"),
    open: lib.func("int open(const char *path, int flags)"),
    ioctl: lib.func("int ioctl(int fd, unsigned long req, void *arg)"),
    writeAt: lib.func("intptr_t write(int fd, uint64_t buf, size_t len)"),
    mmapReserve: lib.func(
      "intptr_t mmap(intptr_t addr, size_t len, int prot, int flags, int fd, int64_t off)",
    ),
    mmapAt: lib.func("void *mmap(intptr_t addr, size_t len, int prot, int flags, int fd, int64_t off)"),
    munmapAt: lib.func("int munmap(intptr_t addr, size_t len)"),
    madviseAt: lib.func("int madvise(intptr_t addr, size_t len, int advice)"),
  };
  return cached;
}

/** x86-64 syscall number of bpf(2). */
export const SYS_BPF = 321;

/** errno of the last failed libc call on this thread. */
export function errno(): number {
  return libc().koffi.errno();
}

/** "EPERM" for 1, etc. (from koffi's table of POSIX codes). */
export function errnoName(code: number): string {
  if (!errnoNames) {
    // Linux's own name where two names share a value (EOPNOTSUPP = ENOTSUP, EAGAIN = EWOULDBLOCK).
    errnoNames = new Map([
      [95, "EOPNOTSUPP"],
      [11, "EAGAIN"],
    ]);
    const table: Record<string, number> = libc().koffi.os.errno;
    for (const [name, value] of Object.entries(table))
      if (!errnoNames.has(value)) errnoNames.set(value, name);
  }
  return errnoNames.get(code) ?? `errno ${code}`;
}

/** A failed system call: `call` names it (with its command), `errno` is the kernel's code. */
export class SysError extends Error {
  constructor(
    readonly call: string,
    readonly errno: number,
    detail = "",
  ) {
    super(`${call}: ${errnoName(errno)} (${libc().strerror(errno)})${detail ? `\n${detail}` : ""}`);
    this.name = "SysError";
  }
  /** The symbolic errno, e.g. "EAGAIN". */
  get code(): string {
    return errnoName(this.errno);
  }
}

/** Returns `ret` when it is >= 0, else throws a SysError for `call` with the current errno. */
export function check(ret: number | bigint, call: string): number {
  const n = Number(ret);
  if (n < 0) throw new SysError(call, errno());
  return n;
}

/** Pointer value of a native pointer (0n for NULL). */
export function addressOf(p: NativePtr | null): bigint {
  if (p === null) return 0n;
  return libc().koffi.address(p) as bigint;
}

/** An ArrayBuffer over native memory, without copying. */
export function viewOf(p: NativePtr, length: number): ArrayBuffer {
  return libc().koffi.view(p, length) as ArrayBuffer;
}

export const errnoCodes = {
  EPERM: 1,
  ENOENT: 2,
  EINTR: 4,
  EAGAIN: 11,
  ENOMEM: 12,
  EBUSY: 16,
  EEXIST: 17,
  EINVAL: 22,
  ENOSPC: 28,
  ENOBUFS: 105,
  EOPNOTSUPP: 95,
} as const;
