import { IpvsError } from "../../core/errors.js";

/**
 * The errno name of whatever a request to the daemon failed with (an IpvsError's, a socket error's
 * code), which tslvsadm turns into ipvsadm's message; EIO when there is none.
 */
export function errnoOf(e: unknown): string {
  if (e instanceof IpvsError) return e.errno;
  if (e && typeof e === "object" && "errno" in e && typeof (e as { errno: unknown }).errno === "string")
    return (e as { errno: string }).errno;
  if (e && typeof e === "object" && "code" in e && typeof (e as { code: unknown }).code === "string")
    return (e as { code: string }).code;
  return "EIO";
}
