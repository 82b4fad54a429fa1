/** `tslvsadm`: ipvsadm's command line. Until the daemon lands, it says so. */
export async function main(_argv: string[]): Promise<void> {
  process.stderr.write("tslvsadm: not built yet (needs the tslvs daemon, which is not built yet)\n");
  process.exitCode = 2;
}
