/** The dashboard page's files by path, with their content types, encoded once. */
import { DASHBOARD_CSS } from "./page-css.js";
import { DASHBOARD_HTML } from "./page-html.js";
import { DASHBOARD_JS } from "./page-script.js";

export interface StaticAsset {
  type: string;
  body: Buffer;
}

export const DASHBOARD_ASSETS: ReadonlyMap<string, StaticAsset> = new Map([
  ["/", { type: "text/html; charset=utf-8", body: Buffer.from(DASHBOARD_HTML, "utf8") }],
  ["/dashboard.css", { type: "text/css; charset=utf-8", body: Buffer.from(DASHBOARD_CSS, "utf8") }],
  ["/dashboard.js", { type: "text/javascript; charset=utf-8", body: Buffer.from(DASHBOARD_JS, "utf8") }],
]);

/**
 * The page loads only its own files and its JSON, and may not be framed: a read-only page that
 * shows addresses should not become someone else's script host or clickjacking target.
 */
export const DASHBOARD_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; " +
  "base-uri 'none'; form-action 'none'; frame-ancestors 'none'";
