/**
 * The daemon's side of `capture` (tslvs trace --capture): runs a FlowCapture on the packet engine
 * for the request's seconds and answers with its frames as the control protocol carries them.
 */
import { type CaptureHost, captureFor, FlowCapture } from "../dataplane/flow-capture.js";
import type { CapturedFrameEntry, CaptureEntry } from "./api.js";
import type { CaptureQuery } from "./api-handler.js";

/** The engine as a capture needs it. */
export interface CaptureEngine extends CaptureHost {
  interfaceName(ifindex: number): string | undefined;
}

export async function runCapture(engine: CaptureEngine, q: CaptureQuery): Promise<CaptureEntry> {
  const cap = new FlowCapture(q);
  // The connection existing now; without one, the first made for the tuple is adopted.
  cap.conn = q.conn;
  await captureFor(engine, cap, q.seconds);
  const frames: CapturedFrameEntry[] = cap.frames.map((f) => {
    const iface = engine.interfaceName(f.ifindex);
    return {
      t: f.t,
      dir: f.dir,
      ...(iface === undefined ? {} : { iface }),
      data: Buffer.from(f.data.buffer, f.data.byteOffset, f.data.byteLength).toString("base64"),
    };
  });
  return { frames, truncated: cap.truncated, connection: cap.conn >= 0 };
}
