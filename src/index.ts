/**
 * tslvs as a library: the IPVS model without a data plane. See README "Library".
 */
export { type Family, IpAddr } from "./core/address.js";
export * from "./core/dest.js";
export * from "./core/flow.js";
export type { Scheduler, SchedulerContext, SchedulerModule } from "./core/scheduler.js";
export * from "./core/service.js";
export * from "./core/stats.js";
