import { leastLoadModule } from "./least-load.js";

/**
 * Weighted least connection (ip_vs_wlc.c, ipvsadm's default): the least overhead/weight among
 * dests with OVERLOAD clear and weight > 0; ties to the earlier (newer) dest.
 */
export const wlc = leastLoadModule("wlc");
export default wlc;
