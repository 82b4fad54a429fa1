/**
 * An error the control plane reports to its client: an errno name as the kernel would return it
 * (so tslvsadm can print ipvsadm's message for it) and a human-readable message.
 */
export class ControlError extends Error {
  constructor(
    readonly errno: string,
    message: string,
  ) {
    super(message);
    this.name = "ControlError";
  }
}
