/**
 * A vrrp_script: run every `interval` seconds (killed after `timeout`), exit 0 is success. It turns
 * OK after `rise` successes in a row and FAILED after `fall` failures in a row (keepalived's
 * hysteresis); `init_fail` starts it FAILED. Runs never overlap: a run still going when the next
 * is due makes that one wait.
 */
import { spawn } from "node:child_process";
import { insecureScript, lookupUser } from "../health/notify-script.js";
import type { VrrpScriptConfig } from "./vrrp-config.js";

export class TrackScript {
  ok: boolean;
  private streak = 0;
  private timer: NodeJS.Timeout | null = null;
  private running = false;
  private stopped = false;
  runs = 0;

  constructor(
    readonly config: VrrpScriptConfig,
    private readonly onChange: (script: TrackScript) => void,
    private readonly defaultUser?: { user: string; group?: string },
    /** enable_script_security: a script run as root must be writable by root only. */
    private readonly secure = false,
  ) {
    this.ok = !config.initFail;
  }

  start(): void {
    this.run();
    this.timer = setInterval(() => this.run(), this.config.interval * 1000);
    this.timer.unref();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
  }

  private run(): void {
    if (this.running || this.stopped) return;
    const [cmd, ...args] = this.config.script.argv;
    if (!cmd) return;
    const who = this.config.script.user
      ? { user: this.config.script.user, group: this.config.script.group }
      : this.defaultUser;
    const ids = who ? lookupUser(who.user, who.group) : null;
    if (this.secure && insecureScript(cmd, (ids?.uid ?? 0) === 0)) {
      this.result(false);
      return;
    }
    this.running = true;
    this.runs++;
    let done = false;
    const finish = (success: boolean) => {
      if (done) return;
      done = true;
      this.running = false;
      clearTimeout(kill);
      if (!this.stopped) this.result(success);
    };
    const child = spawn(cmd, args, { stdio: "ignore", ...(ids ? { uid: ids.uid, gid: ids.gid } : {}) });
    const kill = setTimeout(() => {
      child.kill("SIGKILL");
      finish(false);
    }, this.config.timeout * 1000);
    child.on("error", () => finish(false));
    child.on("exit", (code) => finish(code === 0));
  }

  private result(success: boolean): void {
    if (success === this.ok) {
      this.streak = 0;
      return;
    }
    this.streak++;
    if (this.streak >= (success ? this.config.rise : this.config.fall)) {
      this.ok = success;
      this.streak = 0;
      this.onChange(this);
    }
  }
}
