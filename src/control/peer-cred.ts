import type { Socket } from "node:net";
import { type Libc, libc } from "../platform/libc.js";

/** The credentials of the process at the other end of a Unix socket (SO_PEERCRED). */
export interface PeerCred {
  pid: number;
  uid: number;
  gid: number;
}

const SOL_SOCKET = 1;
const SO_PEERCRED = 17;
/** struct ucred { pid_t pid; uid_t uid; gid_t gid; } */
const UCRED_SIZE = 12;

type GetSockOpt = Libc["getsockopt"];
let getsockopt: GetSockOpt | null | undefined;

/** getsockopt(2) from the platform's libc bindings, on first use; null when that is not possible. */
async function binding(): Promise<GetSockOpt | null> {
  if (getsockopt !== undefined) return getsockopt;
  try {
    getsockopt = libc().getsockopt;
  } catch {
    getsockopt = null;
  }
  return getsockopt;
}

/** Loads the binding ahead of the first connection, so a missing libc is reported at start. */
export async function peerCredAvailable(): Promise<boolean> {
  return (await binding()) !== null;
}

/**
 * The peer's credentials as the kernel recorded them when it connected, or null when they cannot
 * be read (no binding, or the socket has no file descriptor). Callers must treat null as "refuse".
 */
export function peerCred(socket: Socket): PeerCred | null {
  const fn = getsockopt;
  const fd = (socket as unknown as { _handle?: { fd?: unknown } })._handle?.fd;
  if (!fn || typeof fd !== "number" || fd < 0) return null;
  const buf = new Uint8Array(UCRED_SIZE);
  const len = new Uint32Array([UCRED_SIZE]);
  if (fn(fd, SOL_SOCKET, SO_PEERCRED, buf, len) !== 0 || len[0] !== UCRED_SIZE) return null;
  const v = new DataView(buf.buffer);
  return { pid: v.getInt32(0, true), uid: v.getUint32(4, true), gid: v.getUint32(8, true) };
}
