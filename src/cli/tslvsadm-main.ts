/**
 * `tslvsadm`: ipvsadm's command line against the tslvs daemon. Kept small: it loads the ipvsadm
 * modules on demand and writes each stream once.
 */
export async function main(argv: string[]): Promise<void> {
  const [{ runIpvsadm }, { connectSocket, DEFAULT_SOCKET }, { SystemResolver }, { ServicesDb }] =
    await Promise.all([
      import("./ipvsadm/run.js"),
      import("./ipvsadm/connect.js"),
      import("./ipvsadm/resolver.js"),
      import("./ipvsadm/services-db.js"),
    ]);
  const resolver = new SystemResolver();
  let services: InstanceType<typeof ServicesDb> | undefined;
  const result = await runIpvsadm(argv[0] ?? "tslvsadm", argv.slice(1), {
    connect: () => connectSocket(process.env.TSLVS_SOCKET || DEFAULT_SOCKET),
    readStdin,
    resolver,
    services: () => (services ??= ServicesDb.fromFile()),
  });
  await write(process.stdout, result.stdout);
  await write(process.stderr, result.stderr);
  process.exitCode = result.code;
  // An abandoned name lookup would keep the process alive until the resolver gives up.
  if (resolver.timedOut) process.exit(result.code);
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
