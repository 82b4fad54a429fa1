/**
 * sd_notify(3) without libsystemd: one datagram on the AF_UNIX socket systemd names in
 * $NOTIFY_SOCKET (a path, or an abstract name written with a leading "@"). Node has no AF_UNIX
 * datagram sockets, so the socket is made through libc.
 */
import { errno, errnoName, libc } from "../platform/libc.js";

const AF_UNIX = 1;
const SOCK_DGRAM = 2;
const SOCK_CLOEXEC = 0o2000000;
/** sizeof(struct sockaddr_un): sa_family_t + sun_path[108]. */
const SOCKADDR_UN_LEN = 110;

/**
 * Sends `state` ("READY=1\n...") to systemd. Returns false when no manager asked for it (no
 * $NOTIFY_SOCKET); throws when the socket is named but cannot be reached.
 */
export function notifySystemd(state: string, socketName = process.env.NOTIFY_SOCKET): boolean {
  if (!socketName) return false;
  const path = Buffer.from(socketName.startsWith("@") ? `\0${socketName.slice(1)}` : socketName);
  if (path.length > SOCKADDR_UN_LEN - 2 - (socketName.startsWith("@") ? 0 : 1))
    throw new Error(`NOTIFY_SOCKET too long: ${socketName}`);
  const addr = Buffer.alloc(SOCKADDR_UN_LEN);
  addr.writeUInt16LE(AF_UNIX, 0);
  path.copy(addr, 2);
  // An abstract address's length counts exactly its bytes; a path's includes its terminating NUL.
  const addrLen = 2 + path.length + (socketName.startsWith("@") ? 0 : 1);
  const c = libc();
  const fd = c.socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw new Error(`sd_notify: socket: ${errnoName(errno())}`);
  try {
    const msg = Buffer.from(state);
    if (Number(c.sendto(fd, msg, msg.length, 0, addr, addrLen)) < 0)
      throw new Error(`sd_notify: sendto ${socketName}: ${errnoName(errno())}`);
    return true;
  } finally {
    c.close(fd);
  }
}
