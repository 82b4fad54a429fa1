import { leastLoadModule } from "./least-load.js";

/**
 * Least connection (ip_vs_lc.c): the dest with the least overhead (257·active + inactive) among
 * those with OVERLOAD clear and weight ≠ 0; ties to the earlier (newer) dest. Weights are otherwise ignored.
 */
export const lc = leastLoadModule("lc");
export default lc;
