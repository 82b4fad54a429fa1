/**
 * Everything a test makes outside its own process carries the test process's id, so that a run that
 * was killed midway can be cleaned up by the next one (test/run/leftovers.ts): namespace names
 * start with `tslvs-t<pid>-`, and every process spawned from here inherits TSLVS_TEST_OWNER=<pid>
 * in its environment (through `ip netns exec` too).
 */
process.env.TSLVS_TEST_OWNER = String(process.pid);

/** The prefix of this test process's namespaces: `tslvs-t<pid>-<name>`. */
export function labPrefix(name: string): string {
  return `tslvs-t${process.pid}-${name}`;
}
