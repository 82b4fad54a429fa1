/** Runs the real `bin/tslvs` as a child process for end-to-end tests, collecting its log lines. */
import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { connect, type SocketClient } from "../../src/control/client.js";

export const TSLVS_BIN = fileURLToPath(new URL("../../../bin/tslvs", import.meta.url));

/** Upper bound for waiting on the child, so a broken daemon fails the test instead of hanging it. */
const GIVE_UP_MS = 20000;

export class DaemonProcess {
  readonly logs: Record<string, unknown>[] = [];
  stderr = "";
  private readonly exited: Promise<number | null>;
  private waiters: (() => void)[] = [];

  private constructor(readonly child: ChildProcess) {
    let buf = "";
    child.stdout!.setEncoding("utf8");
    child.stdout!.on("data", (d: string) => {
      buf += d;
      let i = buf.indexOf("\n");
      while (i >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        try {
          this.logs.push(JSON.parse(line));
        } catch {
          this.logs.push({ msg: line, unparsed: true });
        }
        i = buf.indexOf("\n");
      }
      this.wake();
    });
    child.stderr!.setEncoding("utf8");
    child.stderr!.on("data", (d: string) => {
      this.stderr += d;
    });
    this.exited = new Promise((resolve) =>
      child.once("exit", (code) => {
        this.wake();
        resolve(code);
      }),
    );
  }

  static spawn(args: string[]): DaemonProcess {
    return new DaemonProcess(
      spawn(process.execPath, [TSLVS_BIN, ...args], { stdio: ["ignore", "pipe", "pipe"] }),
    );
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Waits for the n-th log line (1-based count) that matches; fails if the daemon exits first. */
  async waitForLog(
    match: (l: Record<string, unknown>) => boolean,
    count = 1,
  ): Promise<Record<string, unknown>> {
    const deadline = Date.now() + GIVE_UP_MS;
    for (;;) {
      const found = this.logs.filter(match);
      if (found.length >= count) return found[count - 1]!;
      if (!this.running) throw new Error(`the daemon exited; stderr: ${this.stderr}`);
      if (Date.now() > deadline) throw new Error(`log line not seen; logs: ${JSON.stringify(this.logs)}`);
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 200);
      });
    }
  }

  /** Waits until the daemon says it started, and connects a client. */
  async client(socketPath: string): Promise<SocketClient> {
    await this.waitForLog((l) => l.msg === "tslvs started");
    return connect(socketPath);
  }

  exit(): Promise<number | null> {
    return this.exited;
  }

  async stop(signal: NodeJS.Signals = "SIGTERM"): Promise<number | null> {
    if (this.running) this.child.kill(signal);
    return this.exited;
  }

  /** Cleanup for `finally`: never leaves a daemon running. */
  kill(): void {
    if (this.running) this.child.kill("SIGKILL");
  }
}
