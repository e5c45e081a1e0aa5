//! The command line as the user types it: OpenBSD nc's letters, each with a long name.
//!
//! This file depends on clap alone, so the docs tests can include it with `#[path]` and
//! render the man page and completions from the same definitions. Meaning (conflicts,
//! defaults, positionals) is settled in `config.rs`, not here.

use clap::{ArgAction, Parser};

/// rnc: a netcat that scripts can rely on.
///
/// Connect to HOST PORT, listen with -l, or check ports with -z. Data is copied between
/// stdin/stdout and the socket byte for byte; messages go to stderr.
#[derive(Parser, Debug, Default)]
#[command(
    name = "rnc",
    version,
    disable_help_flag = true,
    disable_version_flag = true,
    override_usage = "rnc [-46CdDhklNnvz] [-i interval] [-p source_port] [-q seconds] [-s source] [-w timeout] [destination] [port]",
    after_help = "Examples: rnc host 80 | rnc -l 9000 > file | rnc -N host 9000 < file | rnc -zv host 22"
)]
pub struct Cli {
    /// Use IPv4 addresses only
    #[arg(short = '4', long = "ipv4", conflicts_with = "ipv6")]
    pub ipv4: bool,

    /// Use IPv6 addresses only
    #[arg(short = '6', long = "ipv6")]
    pub ipv6: bool,

    /// Send CRLF as line-ending
    #[arg(short = 'C', long = "crlf")]
    pub crlf: bool,

    /// Detach from stdin: never read it
    #[arg(short = 'd', long = "no-stdin")]
    pub no_stdin: bool,

    /// Enable debugging on the socket (SO_DEBUG)
    #[arg(short = 'D', long = "debug")]
    pub debug: bool,

    /// Delay interval between lines sent, in seconds
    #[arg(short = 'i', long = "interval", value_name = "interval")]
    pub interval: Option<String>,

    /// Keep inbound sockets open for multiple connects
    #[arg(short = 'k', long = "keep-open")]
    pub keep_open: bool,

    /// Listen mode, for inbound connects
    #[arg(short = 'l', long = "listen")]
    pub listen: bool,

    /// Shutdown the network socket after EOF on stdin
    #[arg(short = 'N', long = "send-eof")]
    pub send_eof: bool,

    /// Suppress name/port resolutions
    #[arg(short = 'n', long = "nodns")]
    pub nodns: bool,

    /// Specify local port for remote connects, or the port to listen on
    #[arg(short = 'p', long = "source-port", value_name = "source_port")]
    pub source_port: Option<String>,

    /// Quit seconds after EOF on stdin (sends FIN at EOF; negative waits forever)
    #[arg(
        short = 'q',
        long = "quit-after-eof",
        value_name = "seconds",
        allow_negative_numbers = true
    )]
    pub quit_after_eof: Option<String>,

    /// Local source address
    #[arg(short = 's', long = "source", value_name = "source")]
    pub source: Option<String>,

    /// Use UDP instead of TCP
    #[arg(short = 'u', long = "udp")]
    pub udp: bool,

    /// Use Unix-domain sockets (destination is a path, @name for abstract)
    #[arg(short = 'U', long = "unixsock")]
    pub unixsock: bool,

    /// Verbose (repeat for more)
    #[arg(short = 'v', long = "verbose", action = ArgAction::Count)]
    pub verbose: u8,

    /// Timeout for connects and final net reads, in seconds
    #[arg(short = 'w', long = "wait", value_name = "timeout")]
    pub wait: Option<String>,

    /// Zero-I/O mode, report connection status only (scan)
    #[arg(short = 'z', long = "zero-io")]
    pub zero_io: bool,

    /// Echo server: send every client back what it sends (with -l; -u for UDP)
    #[arg(long = "echo")]
    pub echo: bool,

    /// Chat server: relay each line a client sends to the others as "-> line"
    #[arg(long = "chat")]
    pub chat: bool,

    /// With --chat: name the sender of each line ("-> [user1] hi"); /nick NAME renames
    #[arg(long = "chat-names")]
    pub chat_names: bool,

    /// Most clients served at once with -k, --echo or --chat (default 10000)
    #[arg(long = "max-conns", value_name = "n")]
    pub max_conns: Option<String>,

    /// Print this help (--help for more)
    #[arg(short = 'h', action = ArgAction::Help)]
    pub help_short: Option<bool>,

    /// Print the long help
    #[arg(long = "help", action = ArgAction::HelpLong)]
    pub help_long: Option<bool>,

    /// Print the version
    #[arg(long = "version", action = ArgAction::Version)]
    pub version: Option<bool>,

    /// Host to connect to (or address to listen on with -l), then the port
    #[arg(value_name = "destination", num_args = 0..)]
    pub args: Vec<String>,
}
