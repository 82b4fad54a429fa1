/**
 * tslvs as a library: the IPVS model without a data plane. See docs/library.md.
 */
export { type Family, IpAddr } from "./core/address.js";
export { ConnTable } from "./core/conn-table.js";
export * from "./core/dest.js";
export {
  type AddrType,
  type ConnInfo,
  type CounterValues,
  Director,
  type DirectorOptions,
  type StatsHooks,
} from "./core/director.js";
export { type IpvsErrno, IpvsError } from "./core/errors.js";
export { RateEstimator, type Rates } from "./core/estimator.js";
export * from "./core/flow.js";
export type { LocalPortRange } from "./core/laddr-pool.js";
export * from "./core/library.js";
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
export { Sysctls, type SysctlValue } from "./core/sysctls.js";
export { TCP_STATE_NAMES } from "./core/tcp-state.js";
export { Timeouts, type TimeoutValues } from "./core/timeouts.js";
export * from "./core/verdict.js";
