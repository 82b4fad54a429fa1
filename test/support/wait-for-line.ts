import type { ChildProcess } from "node:child_process";

/** Resolves with the first stdout line starting with `prefix` (rest of the line), or rejects. */
export function waitForLine(child: ChildProcess, prefix: string, timeoutMs = 20_000): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = "";
    let err = "";
    const timer = setTimeout(
      () => finish(new Error(`no "${prefix}" line within ${timeoutMs} ms; stderr: ${err}`)),
      timeoutMs,
    );
    const onData = (d: Buffer) => {
      buf += d.toString();
      let nl = buf.indexOf("\n");
      while (nl >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line.startsWith(prefix)) return finish(null, line.slice(prefix.length).trim());
        nl = buf.indexOf("\n");
      }
    };
    const onErr = (d: Buffer) => {
      err += d.toString();
    };
    const onExit = (code: number | null) =>
      finish(new Error(`process exited (${code}) before "${prefix}"; stderr: ${err}`));
    function finish(e: Error | null, value?: string) {
      clearTimeout(timer);
      child.stdout?.off("data", onData);
      child.stderr?.off("data", onErr);
      child.off("exit", onExit);
      if (e) reject(e);
      else resolve(value!);
    }
    child.stdout?.on("data", onData);
    child.stderr?.on("data", onErr);
    child.on("exit", onExit);
  });
}
