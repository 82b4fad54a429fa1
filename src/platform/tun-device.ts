/**
 * A TUN device (Linux /dev/net/tun, IFF_TUN | IFF_NO_PI): IP packets written to its file descriptor
 * enter the host's stack as if received on the device. Used by the TUN real-server helper to hand
 * decapsulated packets to the host. The device is not persistent: closing the descriptor removes it.
 */
import { check, errno, libc, SysError } from "./libc.js";

const O_RDWR = 0o2;
const O_NONBLOCK = 0o4000;
const O_CLOEXEC = 0o2000000;
/** _IOW('T', 202, int) */
const TUNSETIFF = 0x400454ca;
const IFF_TUN = 0x0001;
const IFF_NO_PI = 0x1000;
const IFNAMSIZ = 16;
const EAGAIN = 11;

export class TunDevice {
  /** Packets that could not be written because the device's queue was full. */
  dropped = 0;
  /** Packets the kernel refused for another reason, and the last errno seen. */
  errors = 0;
  lastErrno = 0;

  private constructor(
    readonly fd: number,
    readonly name: string,
  ) {}

  /** Creates the device `name` (at most 15 bytes); it is down until brought up (ip link set NAME up). */
  static open(name: string): TunDevice {
    if (!/^[A-Za-z0-9_.-]{1,15}$/.test(name)) throw new RangeError(`bad TUN device name "${name}"`);
    const f = libc();
    const fd = check(f.open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC), "open(/dev/net/tun)");
    const ifr = new Uint8Array(40); // struct ifreq: char name[16]; short flags; ...
    ifr.set(Buffer.from(name, "ascii"), 0);
    new DataView(ifr.buffer).setUint16(IFNAMSIZ, IFF_TUN | IFF_NO_PI, true);
    if (f.ioctl(fd, TUNSETIFF, ifr) < 0) {
      const e = errno();
      libc().close(fd);
      throw new SysError(`ioctl(TUNSETIFF ${name})`, e);
    }
    return new TunDevice(fd, name);
  }

  /**
   * Writes the IP packet at native address `address` (`len` bytes) into the host's stack. Returns
   * false, and counts why, when the kernel did not take it (queue full, or a packet it refuses).
   */
  writeAt(address: number, len: number): boolean {
    const n = Number(libc().writeAt(this.fd, address, len));
    if (n >= 0) return true;
    const e = errno();
    if (e === EAGAIN) this.dropped++;
    else {
      this.errors++;
      this.lastErrno = e;
    }
    return false;
  }

  close(): void {
    libc().close(this.fd);
  }
}
