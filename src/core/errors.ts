/**
 * A refusal from the IPVS model, named by the errno the kernel returns for the same request, so that
 * front ends (the daemon, tslvsadm) can print ipvsadm's exact message for it.
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
  | "EBUSY";

export class IpvsError extends Error {
  constructor(
    readonly errno: IpvsErrno,
    message: string,
  ) {
    super(message);
    this.name = "IpvsError";
  }
}
