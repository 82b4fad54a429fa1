/**
 * Connection thresholds and the OVERLOAD flag (kernel ip_vs_bind_dest / ip_vs_unbind_dest /
 * __ip_vs_update_dest). Templates (persistConns) never count toward the thresholds.
 */
import { DEST_F_OVERLOAD, type Dest } from "./dest.js";

function total(d: Dest): number {
  return d.activeConns + d.inactConns;
}

/** After a conn or template was bound: set OVERLOAD once the upper threshold is reached. */
export function overloadAfterBind(d: Dest): void {
  if (d.uThreshold !== 0 && total(d) >= d.uThreshold) d.flags |= DEST_F_OVERLOAD;
}

/** After a conn or template was unbound: clear below the lower threshold, else below 75 % of the upper. */
export function overloadAfterUnbind(d: Dest): void {
  if (d.lThreshold !== 0) {
    if (total(d) < d.lThreshold) d.flags &= ~DEST_F_OVERLOAD;
  } else if (d.uThreshold !== 0) {
    if (total(d) * 4 < d.uThreshold * 3) d.flags &= ~DEST_F_OVERLOAD;
  } else {
    d.flags &= ~DEST_F_OVERLOAD;
  }
}

/** On add/edit, before the new thresholds are stored: an upper of 0 or a raised upper clears OVERLOAD. */
export function overloadOnUpdate(d: Dest, newUpper: number): void {
  if (newUpper === 0 || newUpper > d.uThreshold) d.flags &= ~DEST_F_OVERLOAD;
}
