import type { DestConfig, ServiceConfig } from "./api.js";

/**
 * Options that are accepted, stored, listed and saved exactly as ipvsadm does, but whose behaviour
 * arrives with later work. Entries carry these labels in `notActedOn`, and the daemon logs each
 * kind once, so nobody mistakes a stored option for a working one.
 */
export const NOT_ACTED_ON = {
  gue: "gue tunnel",
  gre: "gre tunnel",
  syncDaemon: "sync daemon",
} as const;

export function serviceNotActedOn(_svc: ServiceConfig): string[] {
  return [];
}

export function destNotActedOn(d: DestConfig): string[] {
  if (d.method !== "tunnel") return [];
  if (d.tunType === "gue") return [NOT_ACTED_ON.gue];
  if (d.tunType === "gre") return [NOT_ACTED_ON.gre];
  return [];
}
