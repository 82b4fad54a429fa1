/**
 * ipvsadm's error texts: libipvs maps an errno to a message per operation and falls back to the
 * C library's strerror. The operations are named after libipvs's functions.
 */
export type IpvsOperation =
  | "add-service"
  | "edit-service"
  | "delete-service"
  | "zero"
  | "add-dest"
  | "edit-dest"
  | "delete-dest"
  | "start-daemon"
  | "stop-daemon"
  | "get-services"
  | "get-service"
  | "get-dests"
  | "add-laddr"
  | "del-laddr"
  | "get-laddrs"
  | "flush"
  | "set-timeout"
  | "other";

const PER_OPERATION: Record<string, string> = {
  "add-service/EEXIST": "Service already exists",
  "add-service/ENOENT": "Scheduler or persistence engine not found",
  "edit-service/ESRCH": "No such service",
  "edit-service/ENOENT": "Scheduler or persistence engine not found",
  "delete-service/ESRCH": "No such service",
  "zero/ESRCH": "No such service",
  "add-dest/ESRCH": "Service not defined",
  "add-dest/EEXIST": "Destination already exists",
  "edit-dest/ESRCH": "Service not defined",
  "edit-dest/ENOENT": "No such destination",
  "delete-dest/ESRCH": "Service not defined",
  "delete-dest/ENOENT": "No such destination",
  "start-daemon/EEXIST": "Daemon has already run",
  "stop-daemon/ESRCH": "No daemon is running",
  "get-services/ESRCH": "No such service",
  "get-dests/ESRCH": "No such service",
  "get-service/ESRCH": "No such service",
  // DPVS's texts for its local-address commands.
  "add-laddr/ESRCH": "Service not defined",
  "add-laddr/EEXIST": "Local address already exists",
  "del-laddr/ESRCH": "Service not defined",
  "del-laddr/ENOENT": "No such Local address",
  "get-laddrs/ESRCH": "Service not defined",
};

const ANY_OPERATION: Record<string, string> = {
  EPERM: "Permission denied (you must be root)",
  EINVAL: "Invalid operation.  Possibly wrong module version, address not unicast, ...",
  ENOPROTOOPT: "Protocol not available",
  ENOMEM: "Memory allocation problem",
  EOPNOTSUPP: "Operation not supported with IPv6",
  EAFNOSUPPORT: "Operation not supported with specified address family",
  EMSGSIZE: "Module is wrong version",
};

/** glibc strerror texts for the codes a daemon may plausibly return. */
const STRERROR: Record<string, string> = {
  EPERM: "Operation not permitted",
  ENOENT: "No such file or directory",
  ESRCH: "No such process",
  EINTR: "Interrupted system call",
  EIO: "Input/output error",
  ENXIO: "No such device or address",
  E2BIG: "Argument list too long",
  EAGAIN: "Resource temporarily unavailable",
  ENOMEM: "Cannot allocate memory",
  EACCES: "Permission denied",
  EFAULT: "Bad address",
  EBUSY: "Device or resource busy",
  EEXIST: "File exists",
  ENODEV: "No such device",
  EINVAL: "Invalid argument",
  ENFILE: "Too many open files in system",
  EMFILE: "Too many open files",
  ENOSPC: "No space left on device",
  ERANGE: "Numerical result out of range",
  ENOSYS: "Function not implemented",
  ENOTSUP: "Operation not supported",
  ETIMEDOUT: "Connection timed out",
  ECONNREFUSED: "Connection refused",
  ECONNRESET: "Connection reset by peer",
  EPIPE: "Broken pipe",
  EADDRNOTAVAIL: "Cannot assign requested address",
  EADDRINUSE: "Address already in use",
  ENETUNREACH: "Network is unreachable",
  EHOSTUNREACH: "No route to host",
};

export function ipvsStrerror(op: IpvsOperation, errno: string): string {
  return (
    PER_OPERATION[`${op}/${errno}`] ?? ANY_OPERATION[errno] ?? STRERROR[errno] ?? `Unknown error ${errno}`
  );
}
