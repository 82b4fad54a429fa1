import { Director } from "../core/director.js";
import { CoreDirectorPort } from "./core-director-port.js";

/** The one place where the daemon gets its director: the core IPVS model behind the control port. */
export function createDirector(): CoreDirectorPort {
  return new CoreDirectorPort(new Director({}));
}
