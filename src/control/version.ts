import { readFileSync } from "node:fs";

/** tslvs's version, from its package.json (dist/src/control/ is three levels below it). */
export const TSLVS_VERSION: string = (() => {
  try {
    const pkg = JSON.parse(readFileSync(new URL("../../../package.json", import.meta.url), "utf8")) as {
      version?: string;
    };
    return pkg.version ?? "unknown";
  } catch {
    return "unknown";
  }
})();
