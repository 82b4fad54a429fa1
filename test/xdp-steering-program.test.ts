import { describe } from "node:test";
import { steeringProgramTests } from "./support/steering-program-cases.js";

// The steering program's cases at both hooks: XDP, and TC ingress (where a steered frame's
// redirect, here a drop, and a pass are reported as XDP's verdicts).
for (const hook of ["xdp", "tc"] as const) describe(`at the ${hook} hook`, () => steeringProgramTests(hook));
