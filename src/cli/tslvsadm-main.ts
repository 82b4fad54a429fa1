import type { NameResolver } from "./ipvsadm/resolver.js";
import type { ServicesDb } from "./ipvsadm/services-db.js";

/**
 * `tslvsadm`: ipvsadm's command line against the tslvs daemon. It starts on the hot path of
 * scripts that call it in loops, so everything beyond the parser loads only when needed, and each
 * output stream is written once, but for a connection listing, written page by page.
 */
export async function main(argv: string[]): Promise<void> {
  // Started together so the module loads overlap.
  const connectModule = import("./ipvsadm/connect.js");
  const exitModule = import("./ipvsadm/exit.js");
  const { runIpvsadm } = await import("./ipvsadm/run.js");
  const { streamSink } = await exitModule;
  const resolver = new LazySystemResolver();
  let services: ServicesDb | undefined;
  const { ServicesDb: Db } = await import("./ipvsadm/services-db.js");
  const result = await runIpvsadm(argv[0] ?? "tslvsadm", argv.slice(1), {
    connect: async () => {
      const { connectSocket, DEFAULT_SOCKET } = await connectModule;
      return connectSocket(process.env.TSLVS_SOCKET || DEFAULT_SOCKET);
    },
    readStdin,
    resolver,
    services: () => (services ??= Db.fromFile()),
    stdout: streamSink(process.stdout),
  });
  await write(process.stdout, result.stdout);
  await write(process.stderr, result.stderr);
  process.exitCode = result.code;
  // An abandoned name lookup would keep the process alive until the system resolver gives up.
  if (resolver.timedOut) process.exit(result.code);
}

/** The system resolver, loaded on the first lookup (most invocations make none). */
class LazySystemResolver implements NameResolver {
  private inner: Promise<import("./ipvsadm/resolver.js").SystemResolver> | undefined;
  private loaded: import("./ipvsadm/resolver.js").SystemResolver | undefined;
  get timedOut(): boolean {
    return this.loaded?.timedOut ?? false;
  }
  private get(): Promise<import("./ipvsadm/resolver.js").SystemResolver> {
    this.inner ??= import("./ipvsadm/resolver.js").then((m) => (this.loaded = new m.SystemResolver()));
    return this.inner;
  }
  async forward4(host: string): Promise<string | null> {
    return (await this.get()).forward4(host);
  }
  async reverse(addr: string): Promise<string | null> {
    return (await this.get()).reverse(addr);
  }
}

function write(stream: NodeJS.WriteStream, text: string): Promise<void> {
  if (text === "") return Promise.resolve();
  return new Promise((resolve) => {
    stream.write(text, () => resolve());
  });
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}
