/** Where the daemon's control socket is unless --socket or TSLVS_SOCKET says otherwise. */
export const DEFAULT_SOCKET_PATH = "/run/tslvs/tslvs.sock";

/** The control socket path: an explicit --socket value, else $TSLVS_SOCKET, else the default. */
export function socketPath(explicit?: string, env: NodeJS.ProcessEnv = process.env): string {
  if (explicit) return explicit;
  if (env.TSLVS_SOCKET) return env.TSLVS_SOCKET;
  return DEFAULT_SOCKET_PATH;
}
