/**
 * The output of one invocation, kept in memory and written once at the end, and the way ipvsadm
 * leaves: `fail` prints a message and ends the process with a status (a thrown CliExit here, so a
 * restore in progress stops too, exactly as ipvsadm's exit() does).
 */
export class Output {
  readonly out: string[] = [];
  readonly err: string[] = [];
  print(s: string): void {
    this.out.push(s);
  }
  error(line: string): void {
    this.err.push(`${line}\n`);
  }
  stdoutText(): string {
    return this.out.join("");
  }
  stderrText(): string {
    return this.err.join("");
  }
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
