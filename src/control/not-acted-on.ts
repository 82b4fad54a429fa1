import type { DestConfig, ServiceConfig } from "./api.js";

/**
 * Options that are accepted, stored, listed and saved exactly as ipvsadm does, but whose behaviour
 * arrives with later work. Entries carry these labels in `notActedOn`, and the daemon logs each
 * kind once, so nobody mistakes a stored option for a working one.
 */
export const NOT_ACTED_ON = {
  syncDaemon: "sync daemon",
} as const;

export function serviceNotActedOn(_svc: ServiceConfig): string[] {
  return [];
}

/** Every real-server option is acted on (GUE and GRE tunnels included: xmit-tunnel.ts). */
export function destNotActedOn(_d: DestConfig): string[] {
  return [];
}
