import { MemoryDirector } from "../../test/support/memory-director.js";
import type { DirectorPort } from "./director-port.js";

/**
 * The one place where the daemon gets its director. It is the in-memory test double until the
 * core Director (src/core/director.ts) is wired in here; the daemon only ever sees the port.
 */
export function createDirector(): DirectorPort {
  return new MemoryDirector();
}
