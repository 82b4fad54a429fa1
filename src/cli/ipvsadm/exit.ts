/** Where standard output goes as it is produced; resolves once the text is taken. */
export type OutputSink = (text: string) => Promise<void>;

/**
 * The output of one invocation, kept in memory and written once at the end (a listing that
 * arrives in pages hands each page to the sink, when there is one, with `flush`), and the way
 * ipvsadm leaves: `fail` prints a message and ends the process with a status (a thrown CliExit
 * here, so a restore in progress stops too, exactly as ipvsadm's exit() does).
 */
export class Output {
  readonly out: string[] = [];
  readonly err: string[] = [];
  constructor(private readonly sink?: OutputSink) {}
  print(s: string): void {
    this.out.push(s);
  }
  /** Writes what was printed so far to the sink and waits until it is taken; without a sink, keeps it. */
  async flush(): Promise<void> {
    if (!this.sink || this.out.length === 0) return;
    const text = this.out.join("");
    this.out.length = 0;
    await this.sink(text);
  }
  error(line: string): void {
    this.err.push(`${line}\n`);
  }
  /** What was printed and not yet flushed to a sink. */
  stdoutText(): string {
    return this.out.join("");
  }
  stderrText(): string {
    return this.err.join("");
  }
}

/** Exit status of a listing whose reader went away (a shell's status for a process killed by SIGPIPE). */
const EXIT_BROKEN_PIPE = 141;

/**
 * A sink writing to `stream` (the process's standard output), each write awaited. A reader that
 * goes away (`tslvsadm -Lnc | head`) ends the invocation with status 141 instead of an error.
 */
export function streamSink(stream: NodeJS.WritableStream): OutputSink {
  // The failed write reports it; unlistened, the stream's error event would end the process.
  stream.on("error", () => {});
  return (text) =>
    new Promise((resolve, reject) => {
      stream.write(text, (err) => (err ? reject(new CliExit(EXIT_BROKEN_PIPE)) : resolve()));
    });
}

export class CliExit extends Error {
  constructor(readonly code: number) {
    super(`exit ${code}`);
    this.name = "CliExit";
  }
}

export function fail(o: Output, code: number, message: string): never {
  o.error(message);
  throw new CliExit(code);
}

export function tryHelp(o: Output, argv0: string): never {
  fail(o, 255, `Try \`${argv0} -h' or '${argv0} --help' for more information.`);
}
