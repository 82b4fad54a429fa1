import type { IpvsClient } from "../../control/client.js";
import { connect } from "../../control/client.js";
import { DEFAULT_SOCKET_PATH } from "../../control/socket-path.js";

/** Where the daemon listens unless TSLVS_SOCKET says otherwise. */
export const DEFAULT_SOCKET = DEFAULT_SOCKET_PATH;

/**
 * Connects tslvsadm to the daemon's control socket (the control plane's own client: JSON lines,
 * replies matched by id). Failures reject with an error carrying the errno name (ENOENT,
 * ECONNREFUSED, EACCES ...), which tslvsadm turns into ipvsadm's "Can't initialize ipvs" lines.
 */
export function connectSocket(path: string): Promise<IpvsClient> {
  return connect(path);
}
