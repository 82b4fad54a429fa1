/** Shared pieces of the control-plane tests: temp dirs, an in-process server, raw socket lines. */
import { mkdtempSync, rmSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ApiHandler } from "../../src/control/api-handler.js";
import { ControlServer, type ServerLog } from "../../src/control/server.js";
import { RealDirector } from "./real-director.js";

export function tempDir(prefix: string): { dir: string; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), `tslvs-${prefix}-`));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export const quietLog: ServerLog = { debug() {}, info() {}, warn() {}, error() {} };

export async function startServer(socketPath: string, maxLineBytes?: number) {
  const director = new RealDirector();
  const handler = new ApiHandler(director, { now: () => 0 });
  const ops: string[] = [];
  const server = await ControlServer.listen({
    socketPath,
    handle: (req) => handler.handle(req),
    afterRequest: (op) => ops.push(op),
    log: quietLog,
    maxLineBytes,
  });
  return { director, handler, server, ops };
}

/** A raw connection that sends text and collects reply lines. */
export class RawConn {
  private buf = "";
  readonly lines: string[] = [];
  private waiters: (() => void)[] = [];
  closed = false;

  private constructor(readonly sock: Socket) {
    sock.setEncoding("utf8");
    sock.on("data", (d: string) => {
      this.buf += d;
      let i = this.buf.indexOf("\n");
      while (i >= 0) {
        this.lines.push(this.buf.slice(0, i));
        this.buf = this.buf.slice(i + 1);
        i = this.buf.indexOf("\n");
      }
      this.wake();
    });
    sock.on("error", () => {});
    sock.on("close", () => {
      this.closed = true;
      this.wake();
    });
  }

  static open(path: string): Promise<RawConn> {
    return new Promise((resolve, reject) => {
      const s = connect(path);
      s.once("error", reject);
      s.once("connect", () => resolve(new RawConn(s)));
    });
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  send(text: string): void {
    this.sock.write(text);
  }

  /** Waits until `n` reply lines arrived (or the connection closed) and returns them parsed. */
  async replies(n: number): Promise<Record<string, unknown>[]> {
    while (this.lines.length < n && !this.closed) await new Promise<void>((r) => this.waiters.push(r));
    return this.lines.slice(0, n).map((l) => JSON.parse(l));
  }

  async untilClosed(): Promise<void> {
    while (!this.closed) await new Promise<void>((r) => this.waiters.push(r));
  }

  close(): void {
    this.sock.destroy();
  }
}
