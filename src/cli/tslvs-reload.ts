import { connectDaemon, parseQueryArgs } from "./connect-daemon.js";

const USAGE = "usage: tslvs reload [--socket PATH]";

/**
 * `tslvs reload`: the daemon re-reads its --config or --keepalived-conf and applies only the
 * difference, as SIGHUP does, and says whether it did. Exit 1 when the reload was refused (the
 * running state is then unchanged).
 */
export async function reloadCommand(args: string[]): Promise<number> {
  const parsed = parseQueryArgs("reload", args, USAGE, {});
  if (!parsed) return 2;
  const client = await connectDaemon("reload", parsed.path);
  if (!client) return 1;
  try {
    const r = await client.call({ op: "reload" });
    (r.applied ? process.stdout : process.stderr).write(`${r.message}\n`);
    return r.applied ? 0 : 1;
  } finally {
    client.close();
  }
}
