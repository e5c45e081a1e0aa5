//! `Cli` → `Config`: positionals, ports, durations and nc's conflict checks.
//!
//! Pure: no sockets, no printing. Every rejected combination is a `bail!` with nc's
//! wording, and each rule has a unit test below.

use std::time::Duration;

use anyhow::{bail, Context, Result};

use crate::access::Access;
use crate::cli::Cli;
use crate::net::{self, Family};

/// What rnc was asked to do, validated.
#[derive(Debug, Clone)]
pub struct Config {
    pub mode: Mode,
    pub family: Family,
    /// `-u`: datagrams instead of a stream.
    pub udp: bool,
    /// `-U`: Unix-domain sockets; the destination is a path.
    pub unix: bool,
    /// `-n`: numeric hosts and ports only, no reverse lookups in messages.
    pub numeric: bool,
    pub verbose: u8,
    /// `-D`: SO_DEBUG on every socket rnc opens.
    pub so_debug: bool,
    /// `-w`: bound on each connect (and the idle timeout of a connect-mode bridge).
    pub wait: Option<Duration>,
    /// `--max-conns`: clients served at once by a listener that keeps open; more are
    /// closed as soon as they are accepted.
    pub max_conns: usize,
    pub io: IoRules,
    /// `--relay`, `--exec`, `--sh-exec`: what each connection is joined to instead of
    /// stdin/stdout.
    pub attach: Option<Attach>,
    /// `--allow`/`--deny` and their files: who may talk to a listener.
    pub access: Access,
    /// `-x`/`--proxy` and their options: connect through a proxy.
    pub proxy: Option<crate::proxy::Proxy>,
    /// `-F`: pass the connected socket to stdout and exit.
    pub pass_fd: bool,
    /// nc.openbsd's socket flags: -T -I -O -M -m -b -S (and -V's refusal).
    pub tune: crate::sockopt::Tune,
}

/// The far side of a relayed connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attach {
    /// `--relay host:port`
    Tcp { host: String, port: u16 },
    /// `--relay unix:PATH` (or `unix:@name`)
    Unix(String),
    /// `-e "prog args"`: run directly, arguments split on whitespace as ncat does.
    Exec(Vec<String>),
    /// `-c "cmd"`: run with `/bin/sh -c`.
    Shell(String),
}

impl Attach {
    fn from_cli(cli: &Cli) -> Result<Option<Attach>> {
        if let Some(t) = &cli.relay {
            return parse_relay(t).map(Some);
        }
        if let Some(e) = &cli.exec {
            let argv: Vec<String> = e.split_whitespace().map(String::from).collect();
            if argv.is_empty() {
                bail!("--exec needs a program");
            }
            return Ok(Some(Attach::Exec(argv)));
        }
        Ok(cli.sh_exec.clone().map(Attach::Shell))
    }
}

/// `host:port`, `[v6addr]:port` or `unix:PATH`.
pub fn parse_relay(t: &str) -> Result<Attach> {
    if let Some(path) = t.strip_prefix("unix:") {
        if path.is_empty() {
            bail!("relay target invalid: {t}");
        }
        return Ok(Attach::Unix(path.to_string()));
    }
    let (host, port) = if let Some(rest) = t.strip_prefix('[') {
        match rest.split_once("]:") {
            Some((h, p)) => (h, p),
            None => bail!("relay target invalid: {t} (use host:port, [v6]:port or unix:PATH)"),
        }
    } else {
        match t.rsplit_once(':') {
            Some((h, p)) if !h.is_empty() && !h.contains(':') => (h, p),
            _ => bail!("relay target invalid: {t} (use host:port, [v6]:port or unix:PATH)"),
        }
    };
    Ok(Attach::Tcp {
        host: host.to_string(),
        port: parse_port(port, false)?,
    })
}

/// `--max-conns` when not given: high enough for a real server (ncat's is 100).
pub const DEFAULT_MAX_CONNS: usize = 10_000;

/// The modes; each has a file in `src/mode/`.
#[derive(Debug, Clone)]
pub enum Mode {
    /// `rnc host port` (with `-U`, `host` is the socket path and `port` is 0)
    Connect {
        host: String,
        port: u16,
        source: Option<String>,
        source_port: Option<u16>,
    },
    /// `rnc -l [addr] port` (with `-U`, `addr` is the socket path and `port` is 0)
    Listen {
        addr: Option<String>,
        port: u16,
        keep_open: bool,
    },
    /// `rnc -z host port...`
    Scan(ScanPlan),
    /// `rnc -l --echo|--chat [addr] port`: a server for many clients (implies -k).
    Serve {
        addr: Option<String>,
        port: u16,
        kind: ServeKind,
    },
}

/// What a `Mode::Serve` server does with what its clients send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServeKind {
    /// `--echo`: every client gets back its own bytes (TCP), or datagrams (`-u`).
    Echo,
    /// `--chat`: every line goes to every other client as `-> line`.
    Chat {
        /// `--chat-names`: `-> [name] line`, announcements and `/nick`.
        names: bool,
    },
    /// `--broker`: every byte from a client goes to every other client, raw.
    Broker,
}

/// What `-z` checks and how.
#[derive(Debug, Clone)]
pub struct ScanPlan {
    pub host: String,
    /// Each port once, in the order named; the report is ascending whatever the order.
    pub ports: Vec<u16>,
    /// `-s`: source address of every connect.
    pub source: Option<String>,
    /// `-p`: source port of every connect.
    pub source_port: Option<u16>,
    /// `--parallel`: connects in flight at once; `None` for the default.
    pub parallel: Option<usize>,
    /// `-r`: scan in random order.
    pub random: bool,
    /// `--json`: one object per open port on stdout.
    pub json: bool,
}

/// How the stdin/stdout bridge behaves at EOF and in between (nc's -d -C -i -N -q -w).
#[derive(Debug, Clone, Default)]
pub struct IoRules {
    /// `-d`: never read stdin.
    pub no_stdin: bool,
    /// `-C`: LF on stdin goes out as CRLF.
    pub crlf: bool,
    /// `-i`: delay between lines sent.
    pub interval: Option<Duration>,
    /// `-N` (or `-q`): shut down the socket's write side once stdin is at EOF and sent.
    pub send_eof: bool,
    /// `-q`: after stdin EOF, quit this long later even if the peer stays.
    pub quit_after_eof: Option<Duration>,
    /// `-w` in connect mode: quit when no data moved either way for this long.
    pub idle_timeout: Option<Duration>,
    /// `-t`: answer telnet negotiation.
    pub telnet: bool,
    /// `-W`: quit after this many reads from the network.
    pub recv_limit: Option<u64>,
    /// `--send-only`: drop what the peer sends; quit once stdin is sent.
    pub send_only: bool,
}

impl Config {
    pub fn from_cli(cli: Cli) -> Result<Config> {
        let family = match (cli.ipv4, cli.ipv6) {
            (true, _) => Family::V4,
            (_, true) => Family::V6,
            _ => Family::Any,
        };
        let wait = cli
            .wait
            .as_deref()
            .map(|s| parse_secs(s, "timeout"))
            .transpose()?;
        let interval = cli
            .interval
            .as_deref()
            .map(|s| parse_secs(s, "interval"))
            .transpose()?;
        // nc: a negative -q means "wait forever", the same as no -q at all.
        let quit = match cli.quit_after_eof.as_deref() {
            Some(s) if s.trim_start().starts_with('-') => {
                parse_signed_secs(s)?;
                None
            }
            Some(s) => Some(parse_secs(s, "quit time")?),
            None => None,
        };
        let args = &cli.args;

        if cli.listen && cli.zero_io {
            bail!("cannot use -z and -l");
        }
        if cli.keep_open && !cli.listen {
            bail!("must use -l with -k");
        }
        if cli.json && !cli.zero_io {
            bail!("--json needs -z");
        }
        if cli.parallel.is_some() && !cli.zero_io {
            bail!("--parallel needs -z");
        }
        if [cli.echo, cli.chat, cli.broker]
            .iter()
            .filter(|&&b| b)
            .count()
            > 1
        {
            bail!("use one of --echo, --chat and --broker");
        }
        for (set, flag) in [
            (cli.echo, "--echo"),
            (cli.chat, "--chat"),
            (cli.broker, "--broker"),
        ] {
            if set && !cli.listen {
                bail!("must use -l with {flag}");
            }
        }
        if cli.chat_names && !cli.chat {
            bail!("must use --chat with --chat-names");
        }
        if cli.udp && (cli.chat || cli.broker) {
            bail!("cannot use -u with --chat or --broker");
        }
        if cli.max_conns.is_some() && !cli.listen {
            bail!("must use -l with --max-conns");
        }
        let max_conns = match cli.max_conns.as_deref() {
            Some(s) => parse_count(s, "max-conns")?,
            None => DEFAULT_MAX_CONNS,
        };

        // --echo and --chat: a server of many clients instead of the stdin bridge.
        let serve_kind = match (cli.echo, cli.chat, cli.broker) {
            (true, _, _) => Some(ServeKind::Echo),
            (_, true, _) => Some(ServeKind::Chat {
                names: cli.chat_names,
            }),
            (_, _, true) => Some(ServeKind::Broker),
            _ => None,
        };

        let mode = if cli.unixsock {
            // -U: the one positional is a socket path (or @name); there is no port.
            if cli.zero_io {
                bail!("cannot use -z and -U");
            }
            let path = match args.as_slice() {
                [p] => p.clone(),
                [] => bail!("missing socket path: -U needs a path"),
                [_, extra, ..] => bail!("too many arguments: {extra}"),
            };
            match (cli.listen, serve_kind) {
                (true, Some(kind)) => Mode::Serve {
                    addr: Some(path),
                    port: 0,
                    kind,
                },
                (true, None) => Mode::Listen {
                    addr: Some(path),
                    port: 0,
                    keep_open: cli.keep_open,
                },
                (false, _) => Mode::Connect {
                    host: path,
                    port: 0,
                    source: None,
                    source_port: None,
                },
            }
        } else if cli.listen {
            let (addr, port) = match (cli.source_port.as_deref(), args.as_slice()) {
                (Some(p), []) => (None, parse_port(p, true)?),
                (Some(p), [a]) if net::looks_like_port(a) => {
                    bail!("cannot use -p {p} and a listen port ({a}) together")
                }
                (Some(p), [a]) => (Some(a.clone()), parse_port(p, true)?),
                (None, [p]) => (None, parse_port(p, true)?),
                (None, [a, p]) => (Some(a.clone()), parse_port(p, true)?),
                (None, []) => bail!("missing port number: listen mode needs a port (-l PORT)"),
                (_, [_, _, extra, ..]) | (Some(_), [_, extra]) => {
                    bail!("too many arguments: {extra}")
                }
            };
            // nc.openbsd: `-l -s addr -p port` listens on addr.
            let addr = match (addr, cli.source.clone()) {
                (Some(a), Some(s)) => {
                    bail!("cannot use -s {s} and a listen address ({a}) together")
                }
                (a, s) => a.or(s),
            };
            match serve_kind {
                Some(kind) => Mode::Serve { addr, port, kind },
                None => Mode::Listen {
                    addr,
                    port,
                    keep_open: cli.keep_open,
                },
            }
        } else {
            let (host, ports) = match args.as_slice() {
                [] => bail!("missing destination and port"),
                [h] => bail!("missing port number after {h}"),
                [h, rest @ ..] => (h.clone(), rest),
            };
            if cli.zero_io {
                let proto = if cli.udp { "udp" } else { "tcp" };
                Mode::Scan(ScanPlan {
                    host,
                    ports: crate::ports::parse_list(ports, proto)?,
                    source: cli.source.clone(),
                    source_port: cli
                        .source_port
                        .as_deref()
                        .map(|p| parse_port(p, true))
                        .transpose()?,
                    parallel: cli
                        .parallel
                        .as_deref()
                        .map(|s| parse_count(s, "parallel count"))
                        .transpose()?,
                    random: cli.randomize,
                    json: cli.json,
                })
            } else {
                if let [_, extra, ..] = ports {
                    bail!("too many arguments: {extra}");
                }
                Mode::Connect {
                    host,
                    port: parse_port(&ports[0], false)?,
                    source: cli.source.clone(),
                    source_port: cli
                        .source_port
                        .as_deref()
                        .map(|p| parse_port(p, true))
                        .transpose()?,
                }
            }
        };

        let attach = Attach::from_cli(&cli)?;
        if attach.is_some() && cli.zero_io {
            bail!("cannot use -z with --relay, --exec or --sh-exec");
        }
        let stream_only =
            !cli.listen || matches!(attach, Some(Attach::Tcp { .. } | Attach::Unix(_)));
        if cli.udp && attach.is_some() && stream_only {
            bail!("with -u, only -l with --exec or --sh-exec (one child per peer)");
        }
        if cli.udp && cli.unixsock && attach.is_some() {
            bail!("--exec with -u works over UDP, not Unix datagram sockets");
        }
        let access = Access::new(
            &cli.allow,
            &cli.deny,
            &cli.allowfile,
            &cli.denyfile,
            cli.nodns,
        )?;
        if !access.is_open() && !cli.listen {
            bail!("--allow and --deny need -l");
        }
        if attach.is_some() && serve_kind.is_some() {
            bail!("cannot use --echo, --chat or --broker with --relay, --exec or --sh-exec");
        }
        let proxy = crate::proxy::Proxy::from_cli(&cli)?;
        let tune = crate::sockopt::Tune::from_cli(&cli)?;
        if cli.send_only && cli.recv_only {
            bail!("cannot use --send-only and --recv-only together");
        }
        if cli.dccp {
            crate::sockopt::no_dccp()?;
        }
        for (set, flag) in [
            (cli.listen, "-l"),
            (cli.unixsock, "-U"),
            (cli.zero_io, "-z"),
        ] {
            if cli.pass_fd && set {
                bail!("cannot use -F and {flag}");
            }
        }
        let connect_mode = matches!(mode, Mode::Connect { .. });
        Ok(Config {
            mode,
            family,
            udp: cli.udp,
            unix: cli.unixsock,
            numeric: cli.nodns,
            verbose: cli.verbose,
            so_debug: cli.debug,
            wait,
            max_conns,
            io: IoRules {
                no_stdin: cli.no_stdin || cli.recv_only,
                crlf: cli.crlf,
                interval,
                send_eof: cli.send_eof || quit.is_some(),
                quit_after_eof: quit,
                idle_timeout: if connect_mode { wait } else { None },
                telnet: cli.telnet,
                recv_limit: cli
                    .recv_limit
                    .as_deref()
                    .map(parse_recv_limit)
                    .transpose()?,
                send_only: cli.send_only,
            },
            attach,
            access,
            proxy,
            pass_fd: cli.pass_fd,
            tune,
        })
    }
}

/// A port as nc takes it: a number or a service name. Port 0 only where binding
/// (`zero_ok`), where it means "any free port".
pub fn parse_port(s: &str, zero_ok: bool) -> Result<u16> {
    if s.is_empty() {
        bail!("port number invalid: (empty)");
    }
    if s.bytes().all(|b| b.is_ascii_digit()) {
        let n: u64 = s
            .parse()
            .map_err(|_| anyhow::anyhow!("port number too large: {s}"))?;
        if n > 65535 {
            bail!("port number too large: {s}");
        }
        if n == 0 && !zero_ok {
            bail!("port number too small: {s}");
        }
        return Ok(n as u16);
    }
    net::service_port(s).with_context(|| format!("port number invalid: {s}"))
}

/// Seconds as nc takes them (`3`), also fractions (`0.5`) and ncat's suffixes
/// (`500ms`, `2s`, `1m`, `1h`).
pub fn parse_secs(s: &str, what: &str) -> Result<Duration> {
    let (num, scale) = if let Some(n) = s.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = s.strip_suffix('m') {
        (n, 60.0)
    } else if let Some(n) = s.strip_suffix('h') {
        (n, 3600.0)
    } else {
        (s, 1.0)
    };
    match num.parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 && v * scale < 1e9 => {
            Ok(Duration::from_secs_f64(v * scale))
        }
        _ => bail!("{what} invalid: {s}"),
    }
}

/// A count of at least one (`--parallel`, `--max-conns`); `what` names it in the error.
fn parse_count(s: &str, what: &str) -> Result<usize> {
    match s.parse::<usize>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => bail!("{what} invalid: {s}"),
    }
}

/// `-W`: 1 to INT_MAX reads, in nc.openbsd's words.
fn parse_recv_limit(s: &str) -> Result<u64> {
    match s.parse::<i64>() {
        Ok(n) if n < 1 => bail!("receive limit too small: {s}"),
        Ok(n) if n > i64::from(i32::MAX) => bail!("receive limit too large: {s}"),
        Ok(n) => Ok(n as u64),
        Err(_) => bail!("receive limit invalid: {s}"),
    }
}

fn parse_signed_secs(s: &str) -> Result<()> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(()),
        _ => bail!("quit time invalid: {s}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn cfg(args: &[&str]) -> Result<Config> {
        let mut v = vec!["rnc"];
        v.extend_from_slice(args);
        Config::from_cli(Cli::try_parse_from(v).expect("clap accepts"))
    }

    fn err(args: &[&str]) -> String {
        format!("{:#}", cfg(args).unwrap_err())
    }

    #[test]
    fn connect_forms() {
        let c = cfg(&["example.org", "80"]).unwrap();
        assert!(
            matches!(c.mode, Mode::Connect { ref host, port: 80, .. } if host == "example.org")
        );
        let c = cfg(&["-p", "4000", "-s", "127.0.0.1", "h", "http"]).unwrap();
        match c.mode {
            Mode::Connect {
                port,
                source_port,
                source,
                ..
            } => {
                assert_eq!(port, 80);
                assert_eq!(source_port, Some(4000));
                assert_eq!(source.as_deref(), Some("127.0.0.1"));
            }
            m => panic!("{m:?}"),
        }
    }

    #[test]
    fn listen_forms() {
        for (args, want_addr, want_port) in [
            (&["-l", "9000"][..], None, 9000),
            (&["-l", "127.0.0.1", "9000"][..], Some("127.0.0.1"), 9000),
            (&["-l", "-p", "9000"][..], None, 9000),
            (&["-l", "-p", "9000", "::1"][..], Some("::1"), 9000),
            (&["-l", "0"][..], None, 0),
            (
                &["-l", "-s", "127.0.0.1", "-p", "9000"][..],
                Some("127.0.0.1"),
                9000,
            ),
        ] {
            match cfg(args).unwrap().mode {
                Mode::Listen { addr, port, .. } => {
                    assert_eq!(addr.as_deref(), want_addr, "{args:?}");
                    assert_eq!(port, want_port, "{args:?}");
                }
                m => panic!("{m:?}"),
            }
        }
    }

    #[test]
    fn conflicts_name_the_value() {
        assert_eq!(
            err(&["-l"]),
            "missing port number: listen mode needs a port (-l PORT)"
        );
        assert_eq!(err(&["-l", "-z", "9000"]), "cannot use -z and -l");
        assert_eq!(err(&["-k", "h", "1"]), "must use -l with -k");
        assert!(err(&["-l", "-p", "9000", "9001"]).contains("9001"));
        assert_eq!(err(&["h", "99999"]), "port number too large: 99999");
        assert!(err(&["h", "abc"]).starts_with("port number invalid: abc"));
        assert_eq!(err(&["h", "0"]), "port number too small: 0");
        assert_eq!(err(&["-w", "x", "h", "1"]), "timeout invalid: x");
        assert_eq!(err(&["h"]), "missing port number after h");
        assert_eq!(err(&[]), "missing destination and port");
    }

    #[test]
    fn quit_implies_send_eof_and_idle_only_in_connect() {
        let c = cfg(&["-q", "1", "h", "1"]).unwrap();
        assert!(c.io.send_eof);
        assert_eq!(c.io.quit_after_eof, Some(Duration::from_secs(1)));
        let c = cfg(&["-q", "-1", "h", "1"]).unwrap();
        assert_eq!(c.io.quit_after_eof, None);
        assert!(!c.io.send_eof);
        let c = cfg(&["-w", "2", "-l", "1"]).unwrap();
        assert_eq!(c.io.idle_timeout, None);
        let c = cfg(&["-w", "500ms", "h", "1"]).unwrap();
        assert_eq!(c.io.idle_timeout, Some(Duration::from_millis(500)));
    }

    #[test]
    fn unix_paths_take_the_place_of_host_and_port() {
        match cfg(&["-U", "/tmp/s"]).unwrap().mode {
            Mode::Connect { host, port: 0, .. } => assert_eq!(host, "/tmp/s"),
            m => panic!("{m:?}"),
        }
        match cfg(&["-l", "-U", "@name"]).unwrap().mode {
            Mode::Listen { addr, port: 0, .. } => assert_eq!(addr.as_deref(), Some("@name")),
            m => panic!("{m:?}"),
        }
        assert_eq!(err(&["-U"]), "missing socket path: -U needs a path");
        assert_eq!(err(&["-zU", "/tmp/s"]), "cannot use -z and -U");
    }

    #[test]
    fn relay_targets() {
        assert_eq!(
            parse_relay("example.org:80").unwrap(),
            Attach::Tcp {
                host: "example.org".into(),
                port: 80
            }
        );
        assert_eq!(
            parse_relay("[::1]:https").unwrap(),
            Attach::Tcp {
                host: "::1".into(),
                port: 443
            }
        );
        assert_eq!(parse_relay("unix:@x").unwrap(), Attach::Unix("@x".into()));
        assert!(format!("{:#}", parse_relay("::1:80").unwrap_err()).contains("::1:80"));
        assert!(format!("{:#}", parse_relay("h:0").unwrap_err()).contains("0"));
        let c = cfg(&["-l", "9000", "-e", "/bin/cat -n"]).unwrap();
        assert_eq!(
            c.attach,
            Some(Attach::Exec(vec!["/bin/cat".into(), "-n".into()]))
        );
        assert_eq!(
            err(&["-z", "h", "1", "--relay", "x:1"]),
            "cannot use -z with --relay, --exec or --sh-exec"
        );
    }

    proptest::proptest! {
        #[test]
        fn any_port_text_parses_or_fails_cleanly(s in ".{0,12}") {
            if let Ok(p) = parse_port(&s, true) {
                proptest::prop_assert!(s.parse::<u16>().map(|n| n == p).unwrap_or(true));
            }
        }

        #[test]
        fn every_port_number_round_trips(n in 1u16..) {
            proptest::prop_assert_eq!(parse_port(&n.to_string(), false).unwrap(), n);
        }

        #[test]
        fn any_host_text_resolves_or_fails_cleanly(s in "[0-9a-f:.\\[\\]%]{0,40}") {
            // -n: literal addresses only, never a lookup, never a panic.
            let _ = crate::net::resolve(&s, 80, Family::Any, true);
        }

        #[test]
        fn any_relay_target_parses_or_fails_cleanly(s in ".{0,30}") {
            let _ = parse_relay(&s);
        }
    }

    #[test]
    fn scan_forms() {
        let c = cfg(&["-z", "h", "443", "20-22,http", "22"]).unwrap();
        match c.mode {
            Mode::Scan(plan) => {
                assert_eq!(plan.host, "h");
                assert_eq!(plan.ports, [443, 20, 21, 22, 80]);
                assert_eq!(plan.parallel, None);
                assert!(!plan.random && !plan.json);
            }
            m => panic!("{m:?}"),
        }
        let c = cfg(&["-zr", "--json", "--parallel", "8", "-p", "4000", "h", "1"]).unwrap();
        match c.mode {
            Mode::Scan(plan) => {
                assert_eq!(plan.parallel, Some(8));
                assert_eq!(plan.source_port, Some(4000));
                assert!(plan.random && plan.json);
            }
            m => panic!("{m:?}"),
        }
    }

    #[test]
    fn scan_conflicts_name_the_value() {
        assert_eq!(
            err(&["-z", "h", "25-20"]),
            "port range invalid: 25-20 (low end above high end)"
        );
        assert_eq!(err(&["-z", "h", "70000"]), "port number too large: 70000");
        assert_eq!(err(&["-z", "h", "0"]), "port number too small: 0");
        assert_eq!(
            err(&["-z", "--parallel", "0", "h", "1"]),
            "parallel count invalid: 0"
        );
        assert_eq!(
            err(&["-z", "--parallel", "x", "h", "1"]),
            "parallel count invalid: x"
        );
        assert_eq!(err(&["--json", "h", "1"]), "--json needs -z");
        assert_eq!(err(&["--parallel", "4", "h", "1"]), "--parallel needs -z");
    }

    #[test]
    fn serve_forms() {
        match cfg(&["-l", "--echo", "127.0.0.1", "7"]).unwrap().mode {
            Mode::Serve { addr, port, kind } => {
                assert_eq!(addr.as_deref(), Some("127.0.0.1"));
                assert_eq!(port, 7);
                assert_eq!(kind, ServeKind::Echo);
            }
            m => panic!("{m:?}"),
        }
        let c = cfg(&["-l", "--chat", "--chat-names", "-p", "9000"]).unwrap();
        assert!(matches!(
            c.mode,
            Mode::Serve {
                port: 9000,
                kind: ServeKind::Chat { names: true },
                ..
            }
        ));
        // -k is implied and allowed; UDP echo is a serve mode too.
        let c = cfg(&["-l", "-k", "--chat", "0"]).unwrap();
        assert!(matches!(
            c.mode,
            Mode::Serve {
                kind: ServeKind::Chat { names: false },
                ..
            }
        ));
        let c = cfg(&["-u", "-l", "--echo", "0"]).unwrap();
        assert!(c.udp && matches!(c.mode, Mode::Serve { .. }));
    }

    #[test]
    fn max_conns_default_and_value() {
        assert_eq!(cfg(&["-l", "--chat", "0"]).unwrap().max_conns, 10_000);
        assert_eq!(
            cfg(&["-l", "--echo", "--max-conns", "3", "0"])
                .unwrap()
                .max_conns,
            3
        );
        assert_eq!(
            cfg(&["-l", "-k", "--max-conns", "5", "0"])
                .unwrap()
                .max_conns,
            5
        );
    }

    #[test]
    fn echo_and_chat_exclude_each_other() {
        assert_eq!(
            err(&["-l", "--echo", "--chat", "0"]),
            "use one of --echo, --chat and --broker"
        );
    }

    #[test]
    fn echo_and_chat_need_listen() {
        assert_eq!(err(&["--echo", "h", "1"]), "must use -l with --echo");
        assert_eq!(err(&["--chat", "h", "1"]), "must use -l with --chat");
    }

    #[test]
    fn echo_and_chat_refuse_zero_io() {
        assert_eq!(err(&["-l", "-z", "--echo", "0"]), "cannot use -z and -l");
        assert_eq!(err(&["-z", "--chat", "h", "1"]), "must use -l with --chat");
    }

    #[test]
    fn chat_names_needs_chat() {
        assert_eq!(
            err(&["-l", "--chat-names", "0"]),
            "must use --chat with --chat-names"
        );
        assert_eq!(
            err(&["-l", "--echo", "--chat-names", "0"]),
            "must use --chat with --chat-names"
        );
    }

    #[test]
    fn chat_is_tcp_only() {
        assert_eq!(
            err(&["-u", "-l", "--chat", "0"]),
            "cannot use -u with --chat or --broker"
        );
    }

    #[test]
    fn max_conns_needs_listen_and_a_count() {
        assert_eq!(
            err(&["--max-conns", "5", "h", "1"]),
            "must use -l with --max-conns"
        );
        assert_eq!(
            err(&["-l", "--echo", "--max-conns", "0", "1"]),
            "max-conns invalid: 0"
        );
        assert_eq!(
            err(&["-l", "--echo", "--max-conns", "many", "1"]),
            "max-conns invalid: many"
        );
    }

    #[test]
    fn service_names() {
        assert_eq!(parse_port("http", false).unwrap(), 80);
        assert_eq!(parse_port("https", false).unwrap(), 443);
    }
}
