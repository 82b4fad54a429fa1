/**
 * The Debian packages the tests use (test/system-packages.txt, the one list), and their installation
 * when some are missing: apt-get with --no-install-recommends, and a policy-rc.d that keeps every
 * service a package brings from starting, so a test run never leaves a daemon listening.
 */
import { spawnSync } from "node:child_process";
import { accessSync, constants, existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { delimiter, join } from "node:path";

export interface SystemPackage {
  /** The Debian package. */
  name: string;
  /** A command it installs: present means the package (or an equivalent) is there. */
  command: string;
}

export const PACKAGE_LIST = new URL("../../../test/system-packages.txt", import.meta.url);

/** The list's entries, in its order. */
export function readPackageList(path: URL | string = PACKAGE_LIST): SystemPackage[] {
  const out: SystemPackage[] = [];
  for (const [i, raw] of readFileSync(path, "utf8").split("\n").entries()) {
    const line = raw.replace(/#.*/, "").trim();
    if (line === "") continue;
    const [name, command, ...rest] = line.split(/\s+/);
    if (!name || !command || rest.length > 0)
      throw new Error(`${String(path)}:${i + 1}: expected "package command", got "${raw}"`);
    out.push({ name, command });
  }
  return out;
}

/** True when `command` is an executable file on PATH (or in the sbin directories root uses). */
export function commandExists(command: string): boolean {
  const dirs = (process.env.PATH ?? "").split(delimiter).concat(["/usr/sbin", "/sbin"]);
  return dirs.some((d) => {
    try {
      accessSync(join(d, command), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

export function missingPackages(list = readPackageList()): SystemPackage[] {
  return list.filter((p) => !commandExists(p.command));
}

/** The command a person runs to install `pkgs`. */
export function installCommand(pkgs: SystemPackage[]): string {
  return `apt-get install --no-install-recommends ${pkgs.map((p) => p.name).join(" ")}`;
}

const POLICY_RC_D = "/usr/sbin/policy-rc.d";

/**
 * Installs `pkgs` with apt-get, services kept from starting (invoke-rc.d and deb-systemd-invoke ask
 * policy-rc.d; exit 101 means "not allowed"). Returns the packages still missing afterwards.
 */
export function installPackages(pkgs: SystemPackage[], log: (line: string) => void): SystemPackage[] {
  if (pkgs.length === 0) return [];
  if (!commandExists("apt-get")) return pkgs;
  log(`installing the Debian packages the tests need: ${pkgs.map((p) => p.name).join(" ")}`);
  const ourPolicy = !existsSync(POLICY_RC_D);
  if (ourPolicy)
    writeFileSync(POLICY_RC_D, "#!/bin/sh\n# tslvs tests: no service starts\nexit 101\n", { mode: 0o755 });
  try {
    const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
    const apt = (args: string[]) =>
      spawnSync("apt-get", args, { env, stdio: ["ignore", "ignore", "inherit"] }).status === 0;
    const install = ["install", "-y", "-qq", "--no-install-recommends", ...pkgs.map((p) => p.name)];
    // A fresh machine's package lists may be missing or stale: update once, then try again.
    if (!apt(install)) {
      apt(["update", "-qq"]);
      apt(install);
    }
  } finally {
    if (ourPolicy) rmSync(POLICY_RC_D, { force: true });
  }
  return missingPackages(pkgs);
}
