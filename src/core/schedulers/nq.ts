import { leastLoadModule } from "./least-load.js";

/**
 * Never queue (ip_vs_nq.c): the first eligible dest (OVERLOAD clear, weight > 0) with no active
 * conns; when every one is busy, the sed pick.
 */
export const nq = leastLoadModule("nq");
export default nq;
