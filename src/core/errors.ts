/**
 * The one error class that carries an errno name: a refusal of the IPVS model (named by the errno
 * the kernel returns for the same request), of the control plane (a malformed argument, an
 * interface that does not exist) or of the connection to the daemon — so that every front end
 * (the daemon, tslvsadm, tslvs) can print ipvsadm's exact message for it, wherever it arose.
 */
export type IpvsErrno =
  | "EEXIST"
  | "ESRCH"
  | "ENOENT"
  | "EINVAL"
  | "ERANGE"
  | "EFAULT"
  | "EAFNOSUPPORT"
  | "ENOMEM"
  | "EBUSY"
  | "ENODEV"
  | "EIO"
  | "EACCES"
  | "EPERM"
  | "ECONNREFUSED"
  | "EPROTO"
  // Any other errno name a socket or the daemon reports.
  | (string & {});

export class IpvsError extends Error {
  constructor(
    readonly errno: IpvsErrno,
    message: string = errno,
  ) {
    super(message);
    this.name = "IpvsError";
  }
}
