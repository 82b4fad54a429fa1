/**
 * `tslvs`: the director daemon and its helpers. Modules are imported per subcommand so that the
 * light commands (sysctl, help) start fast.
 */

const HELP = `Usage: tslvs <command> [options]

tslvs is Linux Virtual Server (IPVS) in TypeScript. The daemon holds the virtual services and
real servers, serves tslvsadm (ipvsadm's commands and listings) on its control socket, keeps the
rules across restarts or applies a YAML configuration, and forwards real packets (NAT, DR, TUN,
FULLNAT over IPv4): a program at XDP (or at TC ingress on veth) steers the virtual services'
packets to AF_XDP sockets, where the IPVS core schedules them and the engine rewrites and sends
them; established IPv4 NAT, DR, FULLNAT and TUN flows are forwarded inside that program.

Commands:
  start [--socket PATH] [--config FILE] [--state PATH] [--log-level LEVEL] [--interface IF]...
        [--xdp-mode auto|native|generic|tc] [--no-dataplane] [--no-fast-path] [--restart-grace S]
        [--local-ports MIN-MAX] [--scheduler-plugin PATH|PACKAGE]...
        [--conn-tab-bits N] [--conn-capacity N] [--http [ADDR:]PORT [--http-token-file FILE]
        [--http-tls-cert FILE --http-tls-key FILE]]
        [--metrics-ipvs-backend-labels LIST] [--keepalived-conf FILE [--strict] [--config-id ID]]
        [--drain-timeout S]
        Run the director in the foreground, logging JSON lines to stdout.
        --keepalived-conf FILE  the virtual_server blocks of a keepalived.conf are the desired
                       state, with their health checks (docs/keepalived.md); SIGHUP re-reads it
                       and applies only the difference. Exclusive with --config.
        --strict       refuse a keepalived.conf with any problem keepalived would repair.
        --config-id ID keepalived's -i: selects the file's @ID lines.
        --drain-timeout S  a real server removed from the config by a reload keeps weight 0
                       until its connections end, at most S seconds (default 60).
        --config FILE  the file is the desired state: applied at start, re-applied on SIGHUP
                       (rules the file lacks are removed); nothing is saved to --state.
        --state PATH   without --config: the rules are saved here after every change and
                       restored at start (default /var/lib/tslvs/state.yaml).
        --interface    serve these interfaces (repeatable); default every non-loopback
                       interface that is up.
        --xdp-mode     where the steering program attaches: native or generic XDP, or tc: at
                       TC ingress, the slow path's frames passed to AF_XDP through a veth
                       (tslvs-spN). Default auto: tc on veth and where the driver has no
                       native XDP, native XDP elsewhere.
        --no-dataplane hold and report the rules only; no packet is touched.
        --no-fast-path every packet through the TypeScript slow path (no in-kernel rewriting of
                       established flows).
        --log-level    fatal|error|warn|info|debug|trace (default info).
        --scheduler-plugin  load a scheduler module (docs/schedulers.md); services may then
                       name it with -s (repeatable).
        --local-ports  FULLNAT local ports (default: the larger block outside the host's
                       net.ipv4.ip_local_port_range, 1025-32767 on most hosts).
        --conn-tab-bits N  connection hash buckets at start = 2^N, 8..27 (the kernel's
                       conn_tab_bits, shown as size= by -L; default 12). The buckets double
                       whenever the connections outnumber them, so lookups stay at one or two
                       probes (size= then shows the buckets in use).
        --conn-capacity N  connections + templates held at most (default 1,048,576); the
                       table is allocated up front, about 100 bytes each, on huge pages.
        --restart-grace S  a stop leaves the XDP steering holding (VIP traffic dropped, not
                       reset by the host) and the connections written down for a daemon
                       started within S seconds, which takes them over (default 10; 0: a
                       stop detaches at once). Without a start, nothing is left after S.
        --http [ADDR:]PORT  serve GET /metrics there (default address 127.0.0.1): the
                       node_ipvs_* families of node_exporter's ipvs collector, same names,
                       labels and values; then tslvs's own tslvs_* families (per-service
                       and per-real-server traffic counters, drops by reason, fast path, table
                       fill, event-loop delay). Rendered on scrape, at most once a second.
                       Also the live dashboard on / . --http unix:/PATH listens on a Unix
                       socket instead (for a reverse proxy on the host).
        --http-token-file FILE  every request to --http must carry the file's first line:
                       Authorization: Bearer TOKEN (Prometheus's credentials_file), or the
                       cookie a browser gets by signing in at /login. The file must be
                       private (chmod 600), as an SSH key; else, or empty, the start fails.
        --http-tls-cert FILE --http-tls-key FILE  serve HTTPS with this PEM certificate
                       (chain) and key instead of HTTP (docs/metrics.md, "Security").
        --metrics-ipvs-backend-labels LIST  the node_ipvs_backend_* labels kept, comma-
                       separated (node_exporter's --collector.ipvs.backend-labels; default all
                       six: local_address,local_port,remote_address,remote_port,proto,
                       local_mark); series left equal are summed.
        SIGHUP reloads --config or --keepalived-conf, SIGTERM/SIGINT stop cleanly: the XDP programs are detached
        and the socket removed.
        systemd (Type=notify) is told READY=1 once packets are forwarded, not when the
        control socket first answers.
  status [--json] [--socket PATH]
        Whether the daemon forwards, its connection table's fill, and the new connections
        refused because the table was full (also logged as "connection table full").
  stats [--json] [--socket PATH]
        The packet engine's counters now (slow-path frames, drops by reason, transmits, the
        kernel's drops) and the fast path's (flows installed, packets and bytes it forwarded),
        without stopping anything.
  reload [--socket PATH]
        Re-read --config or --keepalived-conf and apply only the difference (as SIGHUP);
        exit 1, with the reason, when the file is refused (the running state unchanged).
  health [--json] [--socket PATH]
        Every health-checked service: its quorum and sorry server, each real server's state
        (alive, failed, draining) and weight, each checker's last result, latency and reason.
  trace -t|-u VIP:PORT --client ADDR:PORT [--json] [--socket PATH]
  trace -f FWMARK --dest ADDR:PORT [--proto tcp|udp] --client ADDR:PORT [--json]
        How a new packet from the client would be handled, changing nothing: the matching
        service, an existing connection, a persistence template, or the scheduler's inputs
        and its dry-run choice (docs/trace.md).
  proc [--dir DIR] [--socket PATH]
        The kernel's /proc/net/ip_vs and /proc/net/ip_vs_stats in its own formats; with
        --dir, written (atomically) as DIR/net/ip_vs and DIR/net/ip_vs_stats, for tools that
        read procfs (node_exporter --path.procfs=DIR).
  wait-ready [--timeout S] [--socket PATH]
        Wait until the daemon forwards (its data plane attached on every served interface);
        exit 1 if that takes longer than S seconds (default 30).
  sysctl [NAME[=VALUE]] [--socket PATH]
        Show all IPVS sysctls, one, or set one (kernel names, e.g. expire_nodest_conn=1).
  keepalived check FILE [--strict] [-i ID] [--json]
        Read a keepalived.conf (its LVS part) and report as keepalived -t does: diagnostics
        on stderr, what it declares on stdout; exit 0 clean, 5 repaired or ignored, 4 fatal.
  lab nat|dr|tun|fullnat [--keep] | lab clean
        Build a classic LVS lab in network namespaces (needs root), balance ten HTTP requests
        and show who answered; everything is removed afterwards unless --keep.
  rs --mode dr|tun --vip VIP [--vip VIP ...] [--interface IF]... [--tun-name NAME]
        Make this host a real server: the VIPs (IPv4 or IPv6) on lo with ARP suppressed (DR);
        for TUN also a tunnel end (XDP; unusual packets through AF_XDP and a TUN device) for
        IPv4/IPv6 in IPv4/IPv6, for kernels without ipip, sit or ip6_tunnel.
        Runs until SIGTERM/SIGINT and removes everything it added.
  help  This text.

The control socket is /run/tslvs/tslvs.sock unless --socket PATH or $TSLVS_SOCKET says
otherwise (tslvsadm honours both as well). Only root and the daemon's user may use it.
`;

export async function main(args: string[]): Promise<void> {
  const cmd = args[0];
  try {
    switch (cmd) {
      case undefined:
      case "help":
      case "-h":
      case "--help":
        process.stdout.write(HELP);
        return;
      case "start": {
        const { startCommand } = await import("./tslvs-start.js");
        process.exitCode = await startCommand(args.slice(1));
        return;
      }
      case "sysctl": {
        const { sysctlCommand } = await import("./tslvs-sysctl.js");
        process.exitCode = await sysctlCommand(args.slice(1));
        return;
      }
      case "status": {
        const { statusCommand } = await import("./tslvs-status.js");
        process.exitCode = await statusCommand(args.slice(1));
        return;
      }
      case "stats": {
        const { statsCommand } = await import("./tslvs-stats.js");
        process.exitCode = await statsCommand(args.slice(1));
        return;
      }
      case "reload": {
        const { reloadCommand } = await import("./tslvs-reload.js");
        process.exitCode = await reloadCommand(args.slice(1));
        return;
      }
      case "health": {
        const { healthCommand } = await import("./tslvs-health.js");
        process.exitCode = await healthCommand(args.slice(1));
        return;
      }
      case "trace": {
        const { traceCommand } = await import("./tslvs-trace.js");
        process.exitCode = await traceCommand(args.slice(1));
        return;
      }
      case "proc": {
        const { procCommand } = await import("./tslvs-proc.js");
        process.exitCode = await procCommand(args.slice(1));
        return;
      }
      case "wait-ready": {
        const { waitReadyCommand } = await import("./tslvs-wait-ready.js");
        process.exitCode = await waitReadyCommand(args.slice(1));
        return;
      }
      case "keepalived": {
        const { keepalivedCommand } = await import("./tslvs-keepalived.js");
        process.exitCode = await keepalivedCommand(args.slice(1));
        return;
      }
      case "lab": {
        const { labCommand } = await import("./lab/lab-command.js");
        process.exitCode = await labCommand(args.slice(1));
        return;
      }
      case "rs": {
        const { rsCommand } = await import("./rs/rs-command.js");
        process.exitCode = await rsCommand(args.slice(1));
        return;
      }
      default:
        process.stderr.write(`tslvs: unknown command '${cmd}' (see tslvs --help)\n`);
        process.exitCode = 2;
    }
  } catch (e) {
    process.stderr.write(`tslvs: ${(e as Error).message}\n`);
    process.exitCode = 1;
  }
}
