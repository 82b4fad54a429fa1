import { leastLoadModule } from "./least-load.js";

/**
 * Shortest expected delay (ip_vs_sed.c): the least (active + 1)/weight among dests with OVERLOAD
 * clear and weight > 0; inactive conns are ignored; ties to the earlier (newer) dest.
 */
export const sed = leastLoadModule("sed");
export default sed;
