/** `tslvs`: the daemon and helpers. Until the daemon lands, it says so. */
export async function main(args: string[]): Promise<void> {
  const cmd = args[0] ?? "--help";
  process.stderr.write(
    `tslvs: '${cmd}' is not built yet (the daemon arrives with the control-plane issue)\n`,
  );
  process.exitCode = 2;
}
