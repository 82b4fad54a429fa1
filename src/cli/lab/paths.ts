import { fileURLToPath } from "node:url";

/** The installed package's root (this file is dist/src/cli/lab/paths.js). */
export const PACKAGE_ROOT = fileURLToPath(new URL("../../../../", import.meta.url));
export const TSLVS_BIN = `${PACKAGE_ROOT}bin/tslvs`;
export const TSLVSADM_BIN = `${PACKAGE_ROOT}bin/tslvsadm`;
export const RS_SERVER_JS = `${PACKAGE_ROOT}dist/src/cli/lab/rs-server.js`;
export const HTTP_GET_JS = `${PACKAGE_ROOT}dist/src/cli/lab/http-get.js`;
