/**
 * tslvs as a library: the IPVS model without a data plane. See docs/library.md.
 */
export { type Family, IpAddr } from "./core/address.js";
export {
  CONN_F_BYPASS,
  CONN_F_DROUTE,
  CONN_F_FULLNAT,
  CONN_F_FWD_MASK,
  CONN_F_INACTIVE,
  CONN_F_LOCALNODE,
  CONN_F_MASQ,
  CONN_F_NO_CPORT,
  CONN_F_ONE_PACKET,
  CONN_F_TEMPLATE,
  CONN_F_TUNNEL,
  ConnTable,
} from "./core/conn-table.js";
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
export {
  TCP_S_CLOSE,
  TCP_S_CLOSE_WAIT,
  TCP_S_ESTABLISHED,
  TCP_S_FIN_WAIT,
  TCP_S_LAST_ACK,
  TCP_S_LISTEN,
  TCP_S_NONE,
  TCP_S_SYN_RECV,
  TCP_S_SYN_SENT,
  TCP_S_SYNACK,
  TCP_S_TIME_WAIT,
  TCP_STATE_NAMES,
} from "./core/tcp-state.js";
export { Timeouts, type TimeoutValues } from "./core/timeouts.js";
export * from "./core/verdict.js";
