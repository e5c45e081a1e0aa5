//! `Cli` → `Config`: positionals, ports, durations and nc's conflict checks.
//!
//! Pure: no sockets, no printing. Every rejected combination is a `bail!` with nc's
//! wording, and each rule has a unit test below.

use std::time::Duration;

use anyhow::{bail, Context, Result};

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
}

/// `--max-conns` when not given: high enough for a real server (ncat's is 100).
pub const DEFAULT_MAX_CONNS: usize = 10_000;

/// The modes; each has a file in `src/mode/`.
#[derive(Debug, Clone)]
pub enum Mode {
    /// `rnc host port`
    Connect {
        host: String,
        port: u16,
        source: Option<String>,
        source_port: Option<u16>,
    },
    /// `rnc -l [addr] port`
    Listen {
        addr: Option<String>,
        port: u16,
        keep_open: bool,
    },
    /// `rnc -z host port...`
    Scan { host: String, ports: Vec<u16> },
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
        if cli.listen && cli.source.is_some() {
            bail!("cannot use -s and -l");
        }
        if cli.echo && cli.chat {
            bail!("cannot use --echo and --chat");
        }
        for (set, flag) in [(cli.echo, "--echo"), (cli.chat, "--chat")] {
            if set && !cli.listen {
                bail!("must use -l with {flag}");
            }
        }
        if cli.chat_names && !cli.chat {
            bail!("must use --chat with --chat-names");
        }
        if cli.udp && cli.chat {
            bail!("cannot use -u and --chat");
        }
        if cli.max_conns.is_some() && !cli.listen {
            bail!("must use -l with --max-conns");
        }
        let max_conns = match cli.max_conns.as_deref() {
            Some(s) => parse_max_conns(s)?,
            None => DEFAULT_MAX_CONNS,
        };

        let mode = if cli.listen {
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
            if cli.echo || cli.chat {
                let kind = if cli.echo {
                    ServeKind::Echo
                } else {
                    ServeKind::Chat {
                        names: cli.chat_names,
                    }
                };
                Mode::Serve { addr, port, kind }
            } else {
                Mode::Listen {
                    addr,
                    port,
                    keep_open: cli.keep_open,
                }
            }
        } else {
            let (host, ports) = match args.as_slice() {
                [] => bail!("missing destination and port"),
                [h] => bail!("missing port number after {h}"),
                [h, rest @ ..] => (h.clone(), rest),
            };
            if cli.zero_io {
                let ports = ports
                    .iter()
                    .map(|p| parse_port(p, false))
                    .collect::<Result<Vec<_>>>()?;
                Mode::Scan { host, ports }
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
                no_stdin: cli.no_stdin,
                crlf: cli.crlf,
                interval,
                send_eof: cli.send_eof || quit.is_some(),
                quit_after_eof: quit,
                idle_timeout: if connect_mode { wait } else { None },
            },
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
            bail!("port number invalid: {s}");
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

/// `--max-conns`: a count of at least one.
fn parse_max_conns(s: &str) -> Result<usize> {
    match s.parse::<usize>() {
        Ok(n) if n > 0 => Ok(n),
        _ => bail!("max-conns invalid: {s}"),
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
        assert_eq!(err(&["h", "0"]), "port number invalid: 0");
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
            "cannot use --echo and --chat"
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
            "cannot use -u and --chat"
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
