//! The flag table: which flag works in which mode, and the exact line rnc prints where
//! it does not. `Config` refuses by it, the man page prints it, and the flag-table
//! test walks every cell of it. A flag is never silently ignored: each cell is "yes"
//! or a refusal.
//!
//! This file depends on `cli.rs` alone, so the tests can include it.

use super::cli::Cli;

/// The table's columns: what a command line does. A command is in one primary column
/// (connect, -l, -l -k, -z or a server/attachment) and in -u and -U when it uses them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Col {
    Connect,
    Listen,
    KeepOpen,
    Udp,
    Unix,
    Scan,
    Echo,
    Chat,
    Broker,
    Relay,
    Exec,
    /// `-l --proxy-type`: the proxy server.
    Proxy,
}

// The man page and the flag-table test read the columns, samples and roles.
#[allow(dead_code)]
pub const COLS: [Col; 12] = [
    Col::Connect,
    Col::Listen,
    Col::KeepOpen,
    Col::Udp,
    Col::Unix,
    Col::Scan,
    Col::Echo,
    Col::Chat,
    Col::Broker,
    Col::Relay,
    Col::Exec,
    Col::Proxy,
];

impl Col {
    /// The column's heading, also the mode's name in the generic refusal.
    pub fn name(self) -> &'static str {
        match self {
            Col::Connect => "connect",
            Col::Listen => "-l",
            Col::KeepOpen => "-l -k",
            Col::Udp => "-u",
            Col::Unix => "-U",
            Col::Scan => "-z",
            Col::Echo => "--echo",
            Col::Chat => "--chat",
            Col::Broker => "--broker",
            Col::Relay => "--relay",
            Col::Exec => "-e/-c",
            Col::Proxy => "-l --proxy-type",
        }
    }
}

/// How a refused cell is worded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Says {
    /// `cannot use FLAG with MODE`
    CannotUse,
    /// This line, whatever the mode.
    Line(&'static str),
}

/// Which of the transport columns a row's test uses: -u and -U exist in both roles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Connect,
    Listen,
}

#[allow(dead_code)]
pub struct Row {
    pub flag: &'static str,
    /// The flag as the tests pass it (with a value where it takes one).
    pub sample: &'static [&'static str],
    pub set: fn(&Cli) -> bool,
    pub role: Role,
    /// The columns where it is refused.
    pub refused: &'static [Col],
    pub says: Says,
    /// Refused cells with a line of their own (nc's words, or a rule checked elsewhere).
    pub special: &'static [(Col, &'static str)],
}

impl Row {
    /// The cell as the man page shows it: the exact line (without `rnc: `) where the
    /// flag is refused, `None` for "yes". -u and -U modify a mode: unless they refuse
    /// the flag themselves, their cell is that of the mode the row is tested in.
    #[allow(dead_code)]
    pub fn cell(&self, col: Col) -> Option<String> {
        match col {
            Udp | Unix if self.refused_in(col).is_none() => self.refused_in(match self.role {
                Role::Connect => Connect,
                Role::Listen => Listen,
            }),
            _ => self.refused_in(col),
        }
    }

    /// The refusal this column itself makes, if any.
    pub fn refused_in(&self, col: Col) -> Option<String> {
        if let Some((_, line)) = self.special.iter().find(|(c, _)| *c == col) {
            return Some(line.to_string());
        }
        if !self.refused.contains(&col) {
            return None;
        }
        Some(match self.says {
            Says::CannotUse => format!("cannot use {} with {}", self.flag, col.name()),
            Says::Line(l) => l.to_string(),
        })
    }
}

use Col::*;

/// Two servers at once.
const ONE_SERVER: &str = "use one of --echo, --chat and --broker";
/// Two attachments at once.
const ONE_ATTACH: &str = "use one of --relay, -e and -c";
/// A server and an attachment at once.
const SERVER_AND_ATTACH: &str =
    "cannot use --echo, --chat or --broker with --relay, --exec or --sh-exec";

/// A Unix stream client has no address of its own; a datagram client binds `-s`.
const UNIX_SOURCE: &str = "-s with -U needs -u: a stream client has no address";

/// `-F` hands the socket over: nothing is left to relay.
const FD_ATTACH: &str = "cannot use -F with --relay, -e or -c";
/// nc.openbsd's refusals of a proxy (`-x`), in its words.
const PROXY_LISTEN: &[Col] = &[Listen, KeepOpen, Echo, Chat, Broker, Relay, Exec, Proxy];
/// `--proxy-type` without a proxy address is the proxy server, which needs `-l`.
const PROXY_NEEDS_ADDR: &str = "-X/--proxy-type needs a proxy: use -x or --proxy";
/// The proxy server is a server of its own.
const PROXY_SERVER_ALONE: &str =
    "the proxy server (-l --proxy-type) cannot be combined with --echo, --chat, --broker, --relay, -e or -c";
/// The proxy server's clients and targets are TCP.
const PROXY_SERVER_UDP: &str = "the proxy server (-l --proxy-type) works over TCP: cannot use -u";
/// The proxy server's cells: a listener on its own (or with -k or -U).
const PROXY_SERVER_REFUSED: &[Col] = &[Echo, Chat, Broker, Relay, Exec];
const PROXY_SERVER_SPECIAL: &[(Col, &str)] = &[
    (Connect, PROXY_NEEDS_ADDR),
    (Scan, PROXY_NEEDS_ADDR),
    (Udp, PROXY_SERVER_UDP),
];

/// A proxy address is given: the proxy flags are the client's.
fn proxy_client(c: &Cli) -> bool {
    c.proxy_x.is_some() || c.proxy.is_some()
}

/// `-l --proxy-type` without a proxy address: the proxy server.
pub fn proxy_server(c: &Cli) -> bool {
    c.listen && proxy_server_type(c)
}

/// `--proxy-type` without a proxy address: the server's flag (refused without -l).
fn proxy_server_type(c: &Cli) -> bool {
    c.proxy_type.is_some() && !proxy_client(c)
}
const PROXY_TRANSPORT: &[(Col, &str)] = &[
    (Udp, "no proxy support for UDP mode"),
    (Unix, "no proxy support for unix sockets"),
];

/// TLS runs over streams: no DTLS, and nothing to encrypt in a port check.
const TLS_REFUSALS: &[(Col, &str)] = &[
    (Udp, "cannot use --ssl with -u: DTLS is not supported"),
    (Scan, "cannot use --ssl with -z"),
];

/// Flags of the one peer's bridge (connect, `-l`, `-u`, `-U`): what it does with the
/// peer's bytes has no meaning for many clients or a port check.
const BRIDGE_ONLY: &[Col] = &[KeepOpen, Scan, Echo, Chat, Broker, Relay, Exec, Proxy];

/// Flags that read or shape stdin: nothing to do where stdin is not read.
const NO_STDIN: &[Col] = &[Scan, Echo, Relay, Exec, Proxy];

macro_rules! row {
    ($flag:expr, [$($s:expr),*], $set:expr, $role:ident, $refused:ident, $says:expr) => {
        Row {
            flag: $flag,
            sample: &[$($s),*],
            set: $set,
            role: Role::$role,
            refused: $refused,
            says: $says,
            special: &[],
        }
    };
    ($flag:expr, [$($s:expr),*], $set:expr, $role:ident, [$($c:ident),*], $says:expr) => {
        row!($flag, [$($s),*], $set, $role, [$($c),*], $says, [])
    };
    ($flag:expr, [$($s:expr),*], $set:expr, $role:ident, [$($c:ident),*], $says:expr,
     $special:ident) => {
        Row {
            flag: $flag,
            sample: &[$($s),*],
            set: $set,
            role: Role::$role,
            refused: &[$($c),*],
            says: $says,
            special: $special,
        }
    };
    ($flag:expr, [$($s:expr),*], $set:expr, $role:ident, $refused:ident, $says:expr,
     $special:ident) => {
        Row {
            flag: $flag,
            sample: &[$($s),*],
            set: $set,
            role: Role::$role,
            refused: $refused,
            says: $says,
            special: $special,
        }
    };
    ($flag:expr, [$($s:expr),*], $set:expr, $role:ident, [$($c:ident),*], $says:expr,
     [$(($sc:ident, $sl:expr)),*]) => {
        Row {
            flag: $flag,
            sample: &[$($s),*],
            set: $set,
            role: Role::$role,
            refused: &[$($c),*],
            says: $says,
            special: &[$(($sc, $sl)),*],
        }
    };
}

/// Every flag but -h, --help and --version, in `-h`'s order.
pub const ROWS: &[Row] = &[
    row!("-4", ["-4"], |c| c.ipv4, Connect, [Unix], Says::CannotUse),
    row!("-6", ["-6"], |c| c.ipv6, Connect, [Unix], Says::CannotUse),
    row!(
        "-C",
        ["-C"],
        |c| c.crlf,
        Connect,
        [Scan, Echo, Chat, Relay, Proxy],
        Says::CannotUse
    ),
    row!("-D", ["-D"], |c| c.debug, Connect, [Unix], Says::CannotUse),
    Row {
        flag: "-d",
        sample: &["-d"],
        set: |c| c.no_stdin,
        role: Role::Connect,
        refused: NO_STDIN,
        says: Says::CannotUse,
        special: &[],
    },
    row!(
        "-i",
        ["-i", "10ms"],
        |c| c.interval.is_some(),
        Connect,
        [Echo, Relay, Exec, Proxy],
        Says::CannotUse
    ),
    row!(
        "-k",
        ["-k"],
        |c| c.keep_open,
        Listen,
        [Connect, Scan],
        Says::Line("must use -l with -k")
    ),
    row!(
        "-l",
        ["-l"],
        |c| c.listen,
        Connect,
        [Scan],
        Says::Line("cannot use -z and -l")
    ),
    row!(
        "-N",
        ["-N"],
        |c| c.send_eof,
        Connect,
        [Udp, Scan, Echo, Relay, Exec, Proxy],
        Says::CannotUse
    ),
    row!("-n", ["-n"], |c| c.nodns, Connect, [], Says::CannotUse),
    row!(
        "-p",
        ["-p", "0"],
        |c| c.source_port.is_some(),
        Connect,
        [Unix],
        Says::CannotUse
    ),
    Row {
        flag: "-q",
        sample: &["-q", "1"],
        set: |c| c.quit_after_eof.is_some(),
        role: Role::Connect,
        refused: NO_STDIN,
        says: Says::CannotUse,
        special: &[],
    },
    row!(
        "-r",
        ["-r"],
        |c| c.randomize,
        Connect,
        [Connect, Listen, KeepOpen, Echo, Chat, Broker, Relay, Exec, Proxy],
        Says::Line("-r needs -z")
    ),
    row!(
        "-s",
        ["-s", "127.0.0.1"],
        |c| c.source.is_some(),
        Connect,
        [],
        Says::CannotUse,
        [(Unix, UNIX_SOURCE)]
    ),
    row!(
        "-U",
        ["-U"],
        |c| c.unixsock,
        Connect,
        [Scan],
        Says::Line("cannot use -z and -U")
    ),
    row!(
        "-u",
        ["-u"],
        |c| c.udp,
        Connect,
        [Chat, Broker],
        Says::Line("cannot use -u with --chat or --broker"),
        [
            (Relay, "cannot use -u with --relay"),
            (Proxy, PROXY_SERVER_UDP)
        ]
    ),
    row!(
        "-v",
        ["-v"],
        |c| c.verbose > 0,
        Connect,
        [],
        Says::CannotUse
    ),
    row!(
        "-w",
        ["-w", "5"],
        |c| c.wait.is_some(),
        Connect,
        [],
        Says::CannotUse
    ),
    row!(
        "-z",
        ["-z"],
        |c| c.zero_io,
        Connect,
        [Listen, KeepOpen, Echo, Chat, Broker, Relay, Exec, Proxy],
        Says::Line("cannot use -z and -l"),
        [(Unix, "cannot use -z and -U")]
    ),
    row!(
        "-F",
        ["-F"],
        |c| c.pass_fd,
        Connect,
        [Listen, KeepOpen, Echo, Chat, Broker, Proxy],
        Says::Line("cannot use -F and -l"),
        [
            (Unix, "cannot use -F and -U"),
            (Scan, "cannot use -F and -z"),
            (Relay, FD_ATTACH),
            (Exec, FD_ATTACH)
        ]
    ),
    row!(
        "-x",
        ["-x", "127.0.0.1:{tcp}"],
        |c| c.proxy_x.is_some(),
        Connect,
        PROXY_LISTEN,
        Says::Line("no proxy support for listen"),
        PROXY_TRANSPORT
    ),
    row!(
        "--proxy",
        ["--proxy", "127.0.0.1:{tcp}"],
        |c| c.proxy.is_some(),
        Connect,
        PROXY_LISTEN,
        Says::Line("no proxy support for listen"),
        PROXY_TRANSPORT
    ),
    row!(
        "-X",
        ["-x", "127.0.0.1:{tcp}", "-X", "5"],
        |c| c.proxy_type.is_some() && proxy_client(c),
        Connect,
        PROXY_LISTEN,
        Says::Line("no proxy support for listen"),
        PROXY_TRANSPORT
    ),
    row!(
        "-P",
        ["-x", "127.0.0.1:{tcp}", "-P", "user"],
        |c| c.proxy_user.is_some(),
        Connect,
        PROXY_LISTEN,
        Says::Line("no proxy support for listen"),
        PROXY_TRANSPORT
    ),
    row!(
        "--proxy-auth",
        ["-x", "127.0.0.1:{tcp}", "--proxy-auth", "user:pass"],
        |c| c.proxy_auth.is_some() && proxy_client(c),
        Connect,
        PROXY_LISTEN,
        Says::Line("no proxy support for listen"),
        PROXY_TRANSPORT
    ),
    row!(
        "--proxy-dns",
        ["-x", "127.0.0.1:{tcp}", "--proxy-dns", "local"],
        |c| c.proxy_dns.is_some(),
        Connect,
        PROXY_LISTEN,
        Says::Line("no proxy support for listen"),
        PROXY_TRANSPORT
    ),
    row!(
        "-l --proxy-type",
        ["--proxy-type", "socks5"],
        proxy_server_type,
        Listen,
        PROXY_SERVER_REFUSED,
        Says::Line(PROXY_SERVER_ALONE),
        PROXY_SERVER_SPECIAL
    ),
    row!(
        "-l --proxy-auth",
        ["--proxy-type", "socks5", "--proxy-auth", "user:pass"],
        |c| c.proxy_auth.is_some() && proxy_server_type(c),
        Listen,
        PROXY_SERVER_REFUSED,
        Says::Line(PROXY_SERVER_ALONE),
        PROXY_SERVER_SPECIAL
    ),
    row!(
        "-b",
        ["-b"],
        |c| c.broadcast,
        Connect,
        [Unix],
        Says::CannotUse
    ),
    row!(
        "-I",
        ["-I", "65536"],
        |c| c.rcvbuf.is_some(),
        Connect,
        [Unix],
        Says::CannotUse
    ),
    row!(
        "-O",
        ["-O", "65536"],
        |c| c.sndbuf.is_some(),
        Connect,
        [Unix],
        Says::CannotUse
    ),
    row!(
        "-M",
        ["-M", "9"],
        |c| c.ttl.is_some(),
        Connect,
        [Unix],
        Says::CannotUse
    ),
    row!(
        "-m",
        ["-m", "1"],
        |c| c.min_ttl.is_some(),
        Connect,
        [Unix],
        Says::CannotUse
    ),
    row!(
        "-T",
        ["-T", "lowdelay"],
        |c| c.tos.is_some(),
        Connect,
        [Unix],
        Says::CannotUse
    ),
    row!(
        "-S",
        ["-S"],
        |c| c.md5sig,
        Connect,
        [Udp, Unix],
        Says::CannotUse
    ),
    row!(
        "-V",
        ["-V", "1"],
        |c| c.rtable.is_some(),
        Connect,
        [Connect, Listen, KeepOpen, Udp, Unix, Scan, Echo, Chat, Broker, Relay, Exec, Proxy],
        Says::Line("no alternate routing table support available")
    ),
    row!(
        "--ssl",
        ["--ssl"],
        |c| c.ssl,
        Connect,
        [],
        Says::CannotUse,
        TLS_REFUSALS
    ),
    row!(
        "--ssl-cert",
        ["--ssl-cert", "{cert}", "--ssl-key", "{key}"],
        |c| c.ssl_cert.is_some(),
        Connect,
        [],
        Says::CannotUse,
        TLS_REFUSALS
    ),
    row!(
        "--ssl-key",
        ["--ssl-cert", "{cert}", "--ssl-key", "{key}"],
        |c| c.ssl_key.is_some(),
        Connect,
        [],
        Says::CannotUse,
        TLS_REFUSALS
    ),
    row!(
        "--ssl-trustfile",
        ["--ssl-trustfile", "{cert}"],
        |c| c.ssl_trustfile.is_some(),
        Connect,
        [],
        Says::CannotUse,
        TLS_REFUSALS
    ),
    row!(
        "--ssl-servername",
        ["--ssl-servername", "example.org"],
        |c| c.ssl_servername.is_some(),
        Connect,
        [],
        Says::CannotUse,
        TLS_REFUSALS
    ),
    row!(
        "--ssl-alpn",
        ["--ssl-alpn", "h2,http/1.1"],
        |c| c.ssl_alpn.is_some(),
        Connect,
        [],
        Says::CannotUse,
        TLS_REFUSALS
    ),
    row!(
        "--ssl-ciphers",
        ["--ssl-ciphers", "TLS13_AES_128_GCM_SHA256"],
        |c| c.ssl_ciphers.is_some(),
        Connect,
        [],
        Says::CannotUse,
        TLS_REFUSALS
    ),
    row!(
        "--ssl-verify",
        ["--ssl-verify"],
        |c| c.ssl_verify,
        Connect,
        [],
        Says::CannotUse,
        TLS_REFUSALS
    ),
    row!(
        "--ssl-pin",
        ["--ssl-pin", "{pin}"],
        |c| c.ssl_pin.is_some(),
        Connect,
        [],
        Says::CannotUse,
        TLS_REFUSALS
    ),
    row!(
        "--ssl-no-verify",
        ["--ssl-no-verify"],
        |c| c.ssl_no_verify,
        Connect,
        [],
        Says::CannotUse,
        TLS_REFUSALS
    ),
    row!(
        "--relay-ssl",
        ["--relay-ssl"],
        |c| c.relay_ssl,
        Listen,
        [Connect, Listen, KeepOpen, Unix, Echo, Chat, Broker, Exec, Proxy],
        Says::Line("--relay-ssl needs --relay"),
        [
            (Udp, "cannot use -u with --relay"),
            (Scan, "cannot use --ssl with -z")
        ]
    ),
    row!(
        "-t",
        ["-t"],
        |c| c.telnet,
        Connect,
        BRIDGE_ONLY,
        Says::CannotUse
    ),
    row!(
        "-W",
        ["-W", "3"],
        |c| c.recv_limit.is_some(),
        Connect,
        BRIDGE_ONLY,
        Says::CannotUse
    ),
    row!(
        "--send-only",
        ["--send-only"],
        |c| c.send_only,
        Connect,
        BRIDGE_ONLY,
        Says::CannotUse
    ),
    row!(
        "--recv-only",
        ["--recv-only"],
        |c| c.recv_only,
        Connect,
        NO_STDIN,
        Says::CannotUse
    ),
    row!(
        "-Z",
        ["-Z"],
        |c| c.dccp,
        Connect,
        [Connect, Listen, KeepOpen, Udp, Unix, Scan, Echo, Chat, Broker, Relay, Exec, Proxy],
        Says::Line("-Z: rnc has no DCCP transport (TCP, UDP and Unix sockets only)")
    ),
    row!(
        "--relay",
        ["--relay", "127.0.0.1:9"],
        |c| c.relay.is_some(),
        Listen,
        [Scan, Echo, Chat, Broker, Exec],
        Says::Line(SERVER_AND_ATTACH),
        [
            (Scan, "cannot use -z with --relay, --exec or --sh-exec"),
            (Udp, "cannot use -u with --relay"),
            (Exec, ONE_ATTACH),
            (Proxy, PROXY_SERVER_ALONE)
        ]
    ),
    row!(
        "-e",
        ["-e", "/bin/cat"],
        |c| c.exec.is_some(),
        Listen,
        [Scan, Echo, Chat, Broker, Relay],
        Says::Line(SERVER_AND_ATTACH),
        [
            (Scan, "cannot use -z with --relay, --exec or --sh-exec"),
            (Relay, ONE_ATTACH),
            (Proxy, PROXY_SERVER_ALONE)
        ]
    ),
    row!(
        "-c",
        ["-c", "cat"],
        |c| c.sh_exec.is_some(),
        Listen,
        [Scan, Echo, Chat, Broker, Relay],
        Says::Line(SERVER_AND_ATTACH),
        [
            (Scan, "cannot use -z with --relay, --exec or --sh-exec"),
            (Relay, ONE_ATTACH),
            (Proxy, PROXY_SERVER_ALONE)
        ]
    ),
    row!(
        "--allow",
        ["--allow", "127.0.0.1"],
        |c| !c.allow.is_empty(),
        Listen,
        [Connect, Scan, Unix],
        Says::Line("--allow and --deny need a TCP or UDP listener (-l)")
    ),
    row!(
        "--allowfile",
        ["--allowfile", "/dev/null"],
        |c| !c.allowfile.is_empty(),
        Listen,
        [Connect, Scan, Unix],
        Says::Line("--allow and --deny need a TCP or UDP listener (-l)")
    ),
    row!(
        "--deny",
        ["--deny", "10.0.0.0/8"],
        |c| !c.deny.is_empty(),
        Listen,
        [Connect, Scan, Unix],
        Says::Line("--allow and --deny need a TCP or UDP listener (-l)")
    ),
    row!(
        "--denyfile",
        ["--denyfile", "/dev/null"],
        |c| !c.denyfile.is_empty(),
        Listen,
        [Connect, Scan, Unix],
        Says::Line("--allow and --deny need a TCP or UDP listener (-l)")
    ),
    row!(
        "--parallel",
        ["--parallel", "8"],
        |c| c.parallel.is_some(),
        Connect,
        [Connect, Listen, KeepOpen, Echo, Chat, Broker, Relay, Exec, Proxy],
        Says::Line("--parallel needs -z")
    ),
    // Outside -z, --json is --stats as JSON.
    row!(
        "--json",
        ["--json"],
        |c| c.json,
        Connect,
        [],
        Says::CannotUse
    ),
    row!(
        "--echo",
        ["--echo"],
        |c| c.echo,
        Listen,
        [Chat, Broker],
        Says::Line(ONE_SERVER),
        [
            (Connect, "must use -l with --echo"),
            (Scan, "must use -l with --echo"),
            (Relay, SERVER_AND_ATTACH),
            (Exec, SERVER_AND_ATTACH),
            (Proxy, PROXY_SERVER_ALONE)
        ]
    ),
    row!(
        "--chat",
        ["--chat"],
        |c| c.chat,
        Listen,
        [Echo, Broker],
        Says::Line(ONE_SERVER),
        [
            (Connect, "must use -l with --chat"),
            (Scan, "must use -l with --chat"),
            (Udp, "cannot use -u with --chat or --broker"),
            (Relay, SERVER_AND_ATTACH),
            (Exec, SERVER_AND_ATTACH),
            (Proxy, PROXY_SERVER_ALONE)
        ]
    ),
    row!(
        "--chat-names",
        ["--chat-names"],
        |c| c.chat_names,
        Listen,
        [Connect, Listen, KeepOpen, Udp, Scan, Echo, Broker, Relay, Exec, Proxy],
        Says::Line("must use --chat with --chat-names")
    ),
    row!(
        "--broker",
        ["--broker"],
        |c| c.broker,
        Listen,
        [Echo, Chat],
        Says::Line(ONE_SERVER),
        [
            (Connect, "must use -l with --broker"),
            (Scan, "must use -l with --broker"),
            (Udp, "cannot use -u with --chat or --broker"),
            (Relay, SERVER_AND_ATTACH),
            (Exec, SERVER_AND_ATTACH),
            (Proxy, PROXY_SERVER_ALONE)
        ]
    ),
    row!(
        "--max-conns",
        ["--max-conns", "5"],
        |c| c.max_conns.is_some(),
        Listen,
        [Listen],
        Says::Line("--max-conns needs -k or a server (--echo, --chat, --broker, --relay, -e, -c)"),
        [
            (Connect, "must use -l with --max-conns"),
            (Scan, "must use -l with --max-conns"),
            (Udp, "cannot use --max-conns with -u")
        ]
    ),
    row!(
        "--retry",
        ["--retry", "2s"],
        |c| c.retry.is_some(),
        Connect,
        [Listen, KeepOpen, Echo, Chat, Broker, Relay, Exec, Proxy],
        Says::Line("--retry needs connect mode or -z")
    ),
    row!(
        "--stats",
        ["--stats"],
        |c| c.stats,
        Connect,
        [Scan],
        Says::CannotUse
    ),
    row!(
        "--progress",
        ["--progress"],
        |c| c.progress,
        Connect,
        [Scan],
        Says::CannotUse
    ),
    row!(
        "--append-output",
        ["-o", "/dev/null", "--append-output"],
        |c| c.append_output,
        Connect,
        [Scan],
        Says::CannotUse
    ),
    row!(
        "-o",
        ["-o", "/dev/null"],
        |c| c.output.is_some(),
        Connect,
        [Scan],
        Says::CannotUse
    ),
    row!(
        "--hex-dump",
        ["--hex-dump", "/dev/null"],
        |c| c.hex_dump.is_some(),
        Connect,
        [Scan],
        Says::CannotUse
    ),
    row!(
        "--stall-timeout",
        ["--stall-timeout", "2s"],
        |c| c.stall_timeout.is_some(),
        Listen,
        [Connect, Listen, Udp, Unix, Scan, Echo, Relay, Exec, Proxy],
        Says::Line("--stall-timeout needs -k, --chat or --broker")
    ),
];

/// The primary column of a command line (its mode), as the table sees it.
pub fn primary(cli: &Cli) -> Col {
    // A server without -l is refused in the mode it is in (connect or -z).
    if cli.zero_io && !cli.listen {
        Scan
    } else if cli.echo && cli.listen {
        Echo
    } else if cli.chat && cli.listen {
        Chat
    } else if cli.broker && cli.listen {
        Broker
    } else if cli.relay.is_some() {
        Relay
    } else if cli.exec.is_some() || cli.sh_exec.is_some() {
        Exec
    } else if proxy_server(cli) {
        Proxy
    } else if cli.listen && cli.keep_open {
        KeepOpen
    } else if cli.listen {
        Listen
    } else {
        Connect
    }
}

/// Every column a command line is in: -u and -U (checked first), then its mode. `-u -l -e` is
/// its own session (one child per peer): the -e/-c column speaks for it.
pub fn columns(cli: &Cli) -> Vec<Col> {
    let p = primary(cli);
    let mut cols = Vec::new();
    if cli.udp && p != Exec {
        cols.push(Udp);
    }
    if cli.unixsock {
        cols.push(Unix);
    }
    cols.push(p);
    cols
}

/// The first refusal the table gives this command line, if any.
pub fn refusal(cli: &Cli) -> Option<String> {
    let cols = columns(cli);
    for row in ROWS.iter().filter(|r| (r.set)(cli)) {
        for &col in &cols {
            // `-U -u -s PATH`: the one cell the -u column overrides (the client binds it).
            if row.flag == "-s" && col == Unix && cli.udp {
                continue;
            }
            if let Some(line) = row.refused_in(col) {
                return Some(line);
            }
        }
    }
    None
}
