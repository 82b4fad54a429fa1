/** What tslvsadm needs from the daemon: the control plane's one client interface. */
export type { IpvsClient } from "../../control/client.js";

/** A refusal from the daemon (or the connection), named by its errno: the one errno error class. */
export { IpvsError } from "../../core/errors.js";

import { IpvsError } from "../../core/errors.js";

export function errnoOf(e: unknown): string {
  if (e instanceof IpvsError) return e.errno;
  if (e && typeof e === "object" && "errno" in e && typeof (e as { errno: unknown }).errno === "string")
    return (e as { errno: string }).errno;
  if (e && typeof e === "object" && "code" in e && typeof (e as { code: unknown }).code === "string")
    return (e as { code: string }).code;
  return "EIO";
}
