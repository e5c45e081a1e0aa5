//! `Cli` → `Config`: the whole mode as one type.
//!
//! `from_cli` is pure: no sockets, no files, no names looked up, no printing. The flag
//! table (`flags.rs`) has already refused what a mode cannot take; what is left here
//! are the operands and the values. `resolve` then does the I/O the rules need (allow
//! and deny files, host names).

mod parse;
#[cfg(test)]
mod tests;

use std::time::Duration;

use anyhow::{bail, Result};

use crate::access::Access;
use crate::cli::Cli;
use crate::net::{self, Family};

use parse::{parse_count, parse_signed_secs};
pub use parse::{parse_port, parse_relay, parse_secs};

/// `--max-conns` when not given: high enough for a real server (ncat's is 100).
pub const DEFAULT_MAX_CONNS: usize = 10_000;

/// What rnc was asked to do, validated.
#[derive(Debug, Clone)]
pub struct Config {
    pub mode: Mode,
    pub transport: Transport,
    pub family: Family,
    /// `-n`: numeric hosts and ports only, no reverse lookups in messages.
    pub numeric: bool,
    pub verbose: u8,
    /// `-D`: SO_DEBUG on every socket rnc opens.
    pub so_debug: bool,
    /// `-w`: bound on each connect, and the idle timeout of a connection.
    pub wait: Option<Duration>,
    /// `--max-conns`: clients served at once; more are closed as soon as accepted.
    pub max_conns: usize,
    /// `--stall-timeout`: a fan-out client that takes no data for this long goes.
    pub stall_timeout: Duration,
    pub io: IoRules,
    /// `--allow`/`--deny` and their files, as given.
    pub rules: AccessRules,
    /// The rules in force, once `resolve` has read the files and looked up the names.
    pub access: Access,
    /// `-x`/`--proxy` and their options: connect through a proxy.
    pub proxy: Option<crate::proxy::Proxy>,
    /// `-F`: pass the connected socket to stdout and exit.
    pub pass_fd: bool,
    /// nc.openbsd's socket flags: -T -I -O -M -m -b -S (and -V's refusal).
    pub tune: crate::sockopt::Tune,
    /// --retry, --stats, --json, --progress, -o, --hex-dump, --append-output.
    pub wrap: crate::wrap::Wrap,
    /// `--ssl` and its flags (`tls::Opts::from_cli`).
    pub tls: Option<crate::tls::Opts>,
}

/// What carries the bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Tcp,
    /// `-u`
    Udp,
    /// `-U`
    UnixStream,
    /// `-U -u`
    UnixDgram,
}

impl Transport {
    fn of(cli: &Cli) -> Transport {
        match (cli.unixsock, cli.udp) {
            (false, false) => Transport::Tcp,
            (false, true) => Transport::Udp,
            (true, false) => Transport::UnixStream,
            (true, true) => Transport::UnixDgram,
        }
    }

    pub fn is_unix(self) -> bool {
        matches!(self, Transport::UnixStream | Transport::UnixDgram)
    }

    /// Message boundaries and no EOF: UDP and Unix datagrams.
    pub fn is_datagram(self) -> bool {
        matches!(self, Transport::Udp | Transport::UnixDgram)
    }
}

/// The role, and for a listener how many clients; each mode has a file in `src/mode/`.
#[derive(Debug, Clone)]
pub enum Mode {
    /// `rnc host port`, `rnc -U path`
    Connect {
        to: At,
        source: Option<String>,
        source_port: Option<u16>,
        meets: Meets,
    },
    /// `rnc -l [addr] port`, `rnc -l -U path`; `many` with -k and the servers.
    Listen { at: At, many: bool, meets: Meets },
    /// `rnc -z host port...`
    Scan(ScanPlan),
}

/// A place on the network: a host (or listen address) and port, or a socket path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum At {
    Inet {
        host: Option<String>,
        port: u16,
    },
    /// `-U`: a path, or `@name` in the abstract namespace.
    Path(String),
}

impl At {
    /// The host or listen address, or the path.
    pub fn name(&self) -> Option<&str> {
        match self {
            At::Inet { host, .. } => host.as_deref(),
            At::Path(p) => Some(p),
        }
    }

    /// The port (0 for a path).
    pub fn port(&self) -> u16 {
        match self {
            At::Inet { port, .. } => *port,
            At::Path(_) => 0,
        }
    }
}

/// What the bytes of a connection meet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Meets {
    /// stdin and stdout.
    Stdio,
    /// A server inside rnc.
    Server(ServeKind),
    /// `--relay`, `-e`, `-c`.
    Attach(Attach),
}

/// The servers inside rnc.
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
    /// `-l --proxy-type`: the target each client's request names.
    Proxy(crate::proxy::server::Serve),
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

/// How stdin and the connection behave at EOF and in between (nc's -d -C -i -N -q -w).
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
    /// `-w`: quit (or drop the client) when no data moved either way for this long.
    pub idle_timeout: Option<Duration>,
    /// `-t`: answer telnet negotiation.
    pub telnet: bool,
    /// `-W`: quit after this many reads from the network.
    pub recv_limit: Option<u64>,
    /// `--send-only`: drop what the peer sends; quit once stdin is sent.
    pub send_only: bool,
}

/// `--allow`, `--deny` and their files, as the command line gave them.
#[derive(Debug, Clone, Default)]
pub struct AccessRules {
    pub allow: Vec<String>,
    pub deny: Vec<String>,
    pub allowfiles: Vec<String>,
    pub denyfiles: Vec<String>,
}

impl Config {
    pub fn from_cli(cli: Cli) -> Result<Config> {
        // The flag table first: every flag works in the mode or is refused here.
        if let Some(line) = crate::flags::refusal(&cli) {
            bail!("{line}");
        }
        if cli.send_only && cli.recv_only {
            bail!("cannot use --send-only and --recv-only together");
        }
        let transport = Transport::of(&cli);
        let meets = meets(&cli)?;
        check_attach(&cli, &meets)?;
        let mode = match (cli.zero_io, cli.listen) {
            (true, _) => Mode::Scan(scan_plan(&cli)?),
            (false, true) => listen_mode(&cli, meets)?,
            (false, false) => connect_mode(&cli, meets)?,
        };
        let wait = duration(&cli.wait, "-w timeout")?;
        Ok(Config {
            io: io_rules(&cli, &mode, wait)?,
            mode,
            transport,
            family: family(&cli),
            numeric: cli.nodns,
            verbose: cli.verbose,
            so_debug: cli.debug,
            wait,
            max_conns: match cli.max_conns.as_deref() {
                Some(s) => parse_count(s, "max-conns")?,
                None => DEFAULT_MAX_CONNS,
            },
            stall_timeout: duration(&cli.stall_timeout, "--stall-timeout")?
                .unwrap_or(crate::mode::DEFAULT_STALL),
            rules: access_rules(&cli)?,
            access: Access::default(),
            proxy: crate::proxy::Proxy::from_cli(&cli)?,
            pass_fd: cli.pass_fd,
            tune: crate::sockopt::Tune::from_cli(&cli)?,
            wrap: crate::wrap::Wrap::from_cli(&cli)?,
            tls: crate::tls::Opts::from_cli(&cli)?,
        })
    }

    /// The I/O the pure step leaves out: read the allow and deny files and look up
    /// the names in them.
    pub fn resolve(mut self) -> Result<Config> {
        let r = &self.rules;
        self.access = Access::new(&r.allow, &r.deny, &r.allowfiles, &r.denyfiles, self.numeric)?;
        Ok(self)
    }

    /// `-u` (UDP or Unix datagrams).
    pub fn udp(&self) -> bool {
        self.transport.is_datagram()
    }

    /// The options every socket rnc makes gets (`-D` and the socket flags).
    pub fn sock_opts(&self, reuse_port: bool) -> crate::net::SockOpts {
        crate::net::SockOpts {
            so_debug: self.so_debug,
            tune: self.tune,
            reuse_port,
        }
    }

    /// `-U`
    pub fn unix(&self) -> bool {
        self.transport.is_unix()
    }

    /// `--relay`, `-e`, `-c`: what each connection is joined to instead of stdio.
    pub fn attach(&self) -> Option<&Attach> {
        match &self.mode {
            Mode::Connect {
                meets: Meets::Attach(a),
                ..
            }
            | Mode::Listen {
                meets: Meets::Attach(a),
                ..
            } => Some(a),
            _ => None,
        }
    }
}

fn family(cli: &Cli) -> Family {
    match (cli.ipv4, cli.ipv6) {
        (true, _) => Family::V4,
        (_, true) => Family::V6,
        _ => Family::Any,
    }
}

fn duration(flag: &Option<String>, what: &str) -> Result<Option<Duration>> {
    flag.as_deref().map(|s| parse_secs(s, what)).transpose()
}

/// What each connection meets: a server, an attachment, or stdio.
fn meets(cli: &Cli) -> Result<Meets> {
    let server = match (cli.echo, cli.chat, cli.broker) {
        (true, _, _) => Some(ServeKind::Echo),
        (_, true, _) => Some(ServeKind::Chat {
            names: cli.chat_names,
        }),
        (_, _, true) => Some(ServeKind::Broker),
        _ => None,
    };
    if let Some(kind) = server {
        return Ok(Meets::Server(kind));
    }
    if let Some(s) = crate::proxy::server::Serve::from_cli(cli)? {
        return Ok(Meets::Attach(Attach::Proxy(s)));
    }
    if let Some(t) = &cli.relay {
        return Ok(Meets::Attach(parse_relay(t)?));
    }
    if let Some(e) = &cli.exec {
        let argv: Vec<String> = e.split_whitespace().map(String::from).collect();
        if argv.is_empty() {
            bail!("--exec needs a program");
        }
        return Ok(Meets::Attach(Attach::Exec(argv)));
    }
    Ok(match &cli.sh_exec {
        Some(cmd) => Meets::Attach(Attach::Shell(cmd.clone())),
        None => Meets::Stdio,
    })
}

/// The UDP rules of the attachments, which the flag table leaves to this step: over
/// UDP only a listener runs programs (one child per peer), and not over Unix sockets.
fn check_attach(cli: &Cli, meets: &Meets) -> Result<()> {
    let Meets::Attach(a) = meets else {
        return Ok(());
    };
    let program = matches!(a, Attach::Exec(_) | Attach::Shell(_));
    if cli.udp && !(cli.listen && program) {
        bail!("with -u, only -l with --exec or --sh-exec (one child per peer)");
    }
    if cli.udp && cli.unixsock {
        bail!("--exec with -u works over UDP, not Unix datagram sockets");
    }
    Ok(())
}

/// `-U`: the one operand is a socket path (or @name); there is no port.
fn unix_path(cli: &Cli) -> Result<At> {
    match cli.args.as_slice() {
        [p] => Ok(At::Path(p.clone())),
        [] => bail!("missing socket path: -U needs a path"),
        [_, extra, ..] => bail!("too many arguments: {extra}"),
    }
}

/// `-l [addr] port`, `-l -p port [addr]`, `-l -s addr -p port` (nc.openbsd's forms).
fn listen_at(cli: &Cli) -> Result<At> {
    if cli.unixsock {
        return unix_path(cli);
    }
    let (addr, port) = match (cli.source_port.as_deref(), cli.args.as_slice()) {
        (Some(p), []) => (None, parse_port(p, true)?),
        (Some(p), [a]) if net::looks_like_port(a) => {
            bail!("cannot use -p {p} and a listen port ({a}) together")
        }
        (Some(p), [a]) => (Some(a.clone()), parse_port(p, true)?),
        (None, [p]) => (None, parse_port(p, true)?),
        (None, [a, p]) => (Some(a.clone()), parse_port(p, true)?),
        (None, []) => bail!("missing port number: listen mode needs a port (-l PORT)"),
        (_, [_, _, extra, ..]) | (Some(_), [_, extra]) => bail!("too many arguments: {extra}"),
    };
    // nc.openbsd: `-l -s addr -p port` listens on addr.
    let host = match (addr, cli.source.clone()) {
        (Some(a), Some(s)) => bail!("cannot use -s {s} and a listen address ({a}) together"),
        (a, s) => a.or(s),
    };
    Ok(At::Inet { host, port })
}

fn listen_mode(cli: &Cli, meets: Meets) -> Result<Mode> {
    // The servers (the proxy server too) and the attachments of a -k listener serve
    // many at once.
    let many = cli.keep_open || matches!(meets, Meets::Server(_) | Meets::Attach(Attach::Proxy(_)));
    Ok(Mode::Listen {
        at: listen_at(cli)?,
        many,
        meets,
    })
}

fn source_port(cli: &Cli) -> Result<Option<u16>> {
    cli.source_port
        .as_deref()
        .map(|p| parse_port(p, true))
        .transpose()
}

fn connect_mode(cli: &Cli, meets: Meets) -> Result<Mode> {
    let to = match cli.unixsock {
        true => unix_path(cli)?,
        false => match cli.args.as_slice() {
            [] => bail!("missing destination and port"),
            [h] => bail!("missing port number after {h}"),
            [h, p] => At::Inet {
                host: Some(h.clone()),
                port: parse_port(p, false)?,
            },
            [_, _, extra, ..] => bail!("too many arguments: {extra}"),
        },
    };
    Ok(Mode::Connect {
        to,
        // With -U -u: the client's own socket path (nc.openbsd binds it).
        source: cli.source.clone(),
        source_port: source_port(cli)?,
        meets,
    })
}

fn scan_plan(cli: &Cli) -> Result<ScanPlan> {
    let (host, ports) = match cli.args.as_slice() {
        [] => bail!("missing destination and port"),
        [h] => bail!("missing port number after {h}"),
        [h, rest @ ..] => (h.clone(), rest),
    };
    let proto = if cli.udp { "udp" } else { "tcp" };
    Ok(ScanPlan {
        host,
        ports: crate::ports::parse_list(ports, proto)?,
        source: cli.source.clone(),
        source_port: source_port(cli)?,
        parallel: cli
            .parallel
            .as_deref()
            .map(|s| parse_count(s, "parallel count"))
            .transpose()?,
        random: cli.randomize,
        json: cli.json,
    })
}

fn io_rules(cli: &Cli, mode: &Mode, wait: Option<Duration>) -> Result<IoRules> {
    // nc: a negative -q means "wait forever", the same as no -q at all.
    let quit = match cli.quit_after_eof.as_deref() {
        Some(s) if s.trim_start().starts_with('-') => {
            parse_signed_secs(s)?;
            None
        }
        Some(s) => Some(parse_secs(s, "-q quit time")?),
        None => None,
    };
    Ok(IoRules {
        no_stdin: cli.no_stdin || cli.recv_only,
        crlf: cli.crlf,
        interval: duration(&cli.interval, "-i interval")?,
        send_eof: cli.send_eof || quit.is_some(),
        quit_after_eof: quit,
        // -z has its own use of -w: the bound on each port's check.
        idle_timeout: wait.filter(|_| !matches!(mode, Mode::Scan(_))),
        telnet: cli.telnet,
        recv_limit: cli
            .recv_limit
            .as_deref()
            .map(parse_recv_limit)
            .transpose()?,
        send_only: cli.send_only,
    })
}

/// `-W`: a count of reads, as nc.openbsd takes it.
fn parse_recv_limit(s: &str) -> Result<u64> {
    match s.parse::<i64>() {
        Ok(n) if n < 1 => bail!("receive limit too small: {s}"),
        Ok(n) if n > i64::from(i32::MAX) => bail!("receive limit too large: {s}"),
        Ok(n) => Ok(n as u64),
        Err(_) => bail!("receive limit invalid: {s}"),
    }
}

/// The inline entries are checked here; the files wait for `resolve`.
fn access_rules(cli: &Cli) -> Result<AccessRules> {
    for e in cli.allow.iter().chain(&cli.deny) {
        crate::access::check_entry(e, cli.nodns)?;
    }
    Ok(AccessRules {
        allow: cli.allow.clone(),
        deny: cli.deny.clone(),
        allowfiles: cli.allowfile.clone(),
        denyfiles: cli.denyfile.clone(),
    })
}
