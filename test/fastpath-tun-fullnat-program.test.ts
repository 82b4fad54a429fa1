import { describe } from "node:test";
import { tunFullnatProgramTests } from "./support/fastpath-tun-fullnat-program-cases.js";

// The same cases for the program at both hooks: XDP, and TC ingress (where a fast-pathed frame's
// TC_ACT_REDIRECT, a pass and a drop are reported as XDP's verdicts by the rig).
for (const hook of ["xdp", "tc"] as const)
  describe(`at the ${hook} hook`, () => tunFullnatProgramTests(hook));
