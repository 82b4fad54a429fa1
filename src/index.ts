/**
 * tslvs as a library: the IPVS model without a data plane. See README "Library".
 */
export { type Family, IpAddr } from "./core/address.js";
export * from "./core/dest.js";
export { RateEstimator, type Rates } from "./core/estimator.js";
export * from "./core/flow.js";
export type { Scheduler, SchedulerContext, SchedulerModule } from "./core/scheduler.js";
export {
  BUILTIN_SCHEDULERS,
  GuardedScheduler,
  getScheduler,
  loadSchedulerPlugin,
  registerScheduler,
  SchedulerPluginError,
  schedulerNames,
  unregisterScheduler,
} from "./core/schedulers/registry.js";
export * from "./core/service.js";
export * from "./core/stats.js";
