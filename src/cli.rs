//! The command line as the user types it: OpenBSD nc's letters, each with a long name.
//!
//! This file depends on clap alone, so the docs tests can include it with `#[path]` and
//! render the man page and completions from the same definitions. Meaning (conflicts,
//! defaults, positionals) is settled in `config.rs`, not here.

use clap::{ArgAction, Parser, ValueHint};

#[derive(Parser, Debug, Default)]
#[command(
    name = "rnc",
    version,
    // -h is nc's: the usage line first, no title, so it fits one screen.
    about = None,
    long_about = "rnc: a netcat that scripts can rely on.",
    disable_help_flag = true,
    disable_version_flag = true,
    override_usage = "rnc [-46bCDdFhklNnrStUuvZz] [-I length] [-i interval] [-M ttl] [-m minttl] [-O length] [-P proxy_username] [-p source_port] [-q seconds] [-s source] [-T keyword] [-V rtable] [-W recvlimit] [-w timeout] [-X proxy_protocol] [-x proxy_address[:port]] [destination] [port]",
    // nc's -h: a usage line, then one line per flag. --help adds each flag's details.
    help_template = "{about-with-newline}{usage-heading} {usage}\n{options}{after-help}",
    after_help = AFTER_SHORT_HELP,
    after_long_help = AFTER_LONG_HELP
)]
pub struct Cli {
    /// Use IPv4 addresses only
    ///
    /// Resolve, connect and listen over IPv4 only. Default: both families;
    /// a listener given no address listens on IPv4 and IPv6.
    ///
    /// As nc.openbsd -4 and ncat -4; nc.traditional speaks IPv4 only.
    #[arg(
        short = '4',
        long = "ipv4",
        conflicts_with = "ipv6",
        verbatim_doc_comment
    )]
    pub ipv4: bool,

    /// Use IPv6 addresses only
    ///
    /// Resolve, connect and listen over IPv6 only. Default: both families.
    ///
    /// As nc.openbsd -6 and ncat -6; nc.traditional has no IPv6.
    #[arg(short = '6', long = "ipv6", verbatim_doc_comment)]
    pub ipv6: bool,

    /// Send CRLF as line-ending
    ///
    /// Every LF read from stdin goes out as CR LF (a CR LF already there
    /// stays as it is); what the peer sends is not changed. Default: bytes
    /// go out as they are.
    ///
    /// As nc.openbsd -C, nc.traditional -C and ncat -C (--crlf).
    #[arg(
        short = 'C',
        long = "crlf",
        hide_short_help = true,
        verbatim_doc_comment
    )]
    pub crlf: bool,

    /// Detach from stdin
    ///
    /// Never read stdin: send nothing (and no FIN), print what the peer
    /// sends until it closes. Default: read stdin.
    ///
    /// As nc.openbsd -d and ncat --recv-only (ncat's -d is a delay);
    /// nc.traditional has none.
    #[arg(short = 'd', long = "no-stdin", verbatim_doc_comment)]
    pub no_stdin: bool,

    /// Enable debugging on the socket
    ///
    /// Set SO_DEBUG on every socket rnc opens; rnc exits 1 if the system
    /// refuses it (Linux asks for CAP_NET_ADMIN). Default: off.
    ///
    /// As nc.openbsd -D; nc.traditional and ncat have none.
    #[arg(
        short = 'D',
        long = "debug",
        hide_short_help = true,
        verbatim_doc_comment
    )]
    pub debug: bool,

    /// Delay interval for lines sent
    ///
    /// Send stdin one line at a time and wait this long after each line.
    /// Seconds, fractions (0.5) and the suffixes ms, s, m and h are
    /// accepted, as for -q and -w. Default: no delay.
    ///
    /// As nc.openbsd -i and nc.traditional -i (which also pause between
    /// scanned ports); ncat calls it -d (--delay), and its -i is an idle
    /// timeout.
    #[arg(
        short = 'i',
        long = "interval",
        value_name = "interval",
        value_hint = ValueHint::Other,
        verbatim_doc_comment
    )]
    pub interval: Option<String>,

    /// Pass socket fd
    ///
    /// Connect (through the proxy, if any), then send the connected socket
    /// over stdout, which must be a Unix socket, with SCM_RIGHTS, and exit.
    /// This is ssh's ProxyUseFdpass: ssh then talks on the socket itself.
    /// Not with -l, -U or -z.
    ///
    /// As nc.openbsd -F; nc.traditional and ncat have none.
    #[arg(
        short = 'F',
        long = "pass-fd",
        hide_short_help = true,
        verbatim_doc_comment
    )]
    pub pass_fd: bool,

    /// Keep inbound sockets open for multiple connects
    ///
    /// With -l, keep accepting clients after the first leaves, and serve
    /// them at the same time: what stdin gives goes to every connected
    /// client, what any client sends goes to stdout. A client leaves when
    /// it closes. Default: exit when the first client leaves.
    ///
    /// As ncat -k (--keep-open). nc.openbsd -k serves one client at a time;
    /// nc.traditional's -k sets SO_KEEPALIVE instead.
    #[arg(short = 'k', long = "keep-open", verbatim_doc_comment)]
    pub keep_open: bool,

    /// Listen mode, for inbound connects
    ///
    /// Listen on [destination] port (or -p port), take the first client and
    /// bridge it with stdin/stdout. Port 0 takes a free port (-v prints
    /// it). Without an address rnc listens on every IPv4 and IPv6 address.
    /// Default: connect mode.
    ///
    /// As nc.openbsd -l and ncat -l; nc.traditional needs -l -p port.
    #[arg(short = 'l', long = "listen", verbatim_doc_comment)]
    pub listen: bool,

    /// Shutdown the network socket after EOF on stdin
    ///
    /// Once stdin has ended and all of it is sent, shut down the socket's
    /// write side (a FIN: the peer reads end of file), then keep printing
    /// what the peer sends until it closes. Default: no FIN; the connection
    /// stays half-open until the peer closes.
    ///
    /// As nc.openbsd -N. ncat 7.93 sends the FIN by default (--no-shutdown
    /// turns it off); nc.traditional sends it only with -q.
    #[arg(short = 'N', long = "send-eof", verbatim_doc_comment)]
    pub send_eof: bool,

    /// Suppress name/port resolutions
    ///
    /// Hosts must be numeric addresses, and messages show addresses, not
    /// names. Default: resolve names.
    ///
    /// As nc.openbsd -n, nc.traditional -n and ncat -n (--nodns).
    #[arg(short = 'n', long = "nodns", verbatim_doc_comment)]
    pub nodns: bool,

    /// Specify local port for remote connects
    ///
    /// In connect mode, connect from this local port. With -l, the port to
    /// listen on, in place of the port operand. A number or a service name.
    /// Default: a free port.
    ///
    /// As nc.openbsd -p and ncat -p (--source-port); nc.traditional -p,
    /// which its -l requires.
    #[arg(
        short = 'p',
        long = "source-port",
        value_name = "source_port",
        value_hint = ValueHint::Other,
        verbatim_doc_comment
    )]
    pub source_port: Option<String>,

    /// Quit after EOF on stdin and delay of seconds
    ///
    /// Once stdin has ended and all of it is sent, send a FIN (as -N) and
    /// exit this many seconds later (or a number with ms, s, m or h: 500ms),
    /// even if the peer is still sending; exit sooner if the peer closes
    /// first. 0 exits at once. A negative value is the same as no -q.
    /// Default: no limit.
    ///
    /// As nc.traditional -q; nc.openbsd -q (Debian) starts the delay only
    /// when the peer has closed too; ncat 7.93 has none.
    #[arg(
        short = 'q',
        long = "quit-after-eof",
        value_name = "seconds",
        allow_negative_numbers = true,
        value_hint = ValueHint::Other,
        verbatim_doc_comment
    )]
    pub quit_after_eof: Option<String>,

    /// Local source address
    ///
    /// Connect from this local address (a name or a number). Not with -l:
    /// give the listen address as the destination operand. Default: chosen
    /// by the system. With -U -u: the client's socket path, removed at exit.
    ///
    /// As nc.openbsd -s and ncat -s (--source); nc.traditional -s, which is
    /// also its listen address.
    #[arg(
        short = 's',
        long = "source",
        value_name = "source",
        value_hint = ValueHint::Hostname,
        verbatim_doc_comment
    )]
    pub source: Option<String>,

    /// Use UDP instead of TCP
    ///
    /// Each stdin read is one datagram; each datagram received is written
    /// out whole. With -l, the first sender becomes the peer; with -l -k,
    /// every sender is heard and stdin answers the latest. With -z, checks
    /// UDP ports. With -U, Unix datagram sockets. Default: TCP.
    ///
    /// As nc.openbsd -u, nc.traditional -u and ncat -u (--udp).
    #[arg(short = 'u', long = "udp", verbatim_doc_comment)]
    pub udp: bool,

    /// Use Unix-domain sockets
    ///
    /// The destination is a socket path (@name for the Linux abstract
    /// namespace). A listener removes a stale socket file first and its own
    /// file at exit. Default: TCP/IP.
    ///
    /// As nc.openbsd -U and ncat -U (--unixsock); nc.traditional has none.
    #[arg(short = 'U', long = "unixsock", verbatim_doc_comment)]
    pub unixsock: bool,

    /// Verbose
    ///
    /// Report on stderr, in nc.openbsd's words: Listening on ...,
    /// Connection received on ..., Connection to ... succeeded! and failed
    /// connects. Twice (-vv) also reports each refused port of a multi-port
    /// -z check. Default: quiet; only errors are printed.
    ///
    /// As nc.openbsd -v, nc.traditional -v and ncat -v, whose wording
    /// differs.
    #[arg(short = 'v', long = "verbose", action = ArgAction::Count, verbatim_doc_comment)]
    pub verbose: u8,

    /// Timeout for connects and final net reads
    ///
    /// Give up a connect after this long. In connect mode and with -l
    /// (without -k), also exit (status 0) once no data has moved either way
    /// for this long; -l still waits for its client without bound. Seconds,
    /// or a number with ms, s, m or h (250ms). Default: no timeout, except
    /// 5 seconds per port with -z.
    ///
    /// As nc.openbsd -w; nc.traditional -w also bounds the wait after
    /// stdin's end; ncat -w (--wait) bounds connects only.
    #[arg(
        short = 'w',
        long = "wait",
        value_name = "timeout",
        value_hint = ValueHint::Other,
        verbatim_doc_comment
    )]
    pub wait: Option<String>,

    /// Zero-I/O mode [used for scanning]
    ///
    /// Connect to each port given after the host, close at once, send
    /// nothing. Exit 0 if any port accepted, 1 if none did. With -v, each
    /// open port is reported on stderr.
    ///
    /// As nc.openbsd -z; nc.traditional -z exits 0 even when every port is
    /// closed; ncat -z checks one port.
    #[arg(short = 'z', long = "zero-io", verbatim_doc_comment)]
    pub zero_io: bool,

    /// Specify proxy address and port
    ///
    /// Connect through the proxy at addr[:port] (an IPv6 address in
    /// brackets: [::1]:1080). The protocol is SOCKS5 unless -X says
    /// otherwise; the port defaults to 1080 for SOCKS and 3128 for HTTP.
    /// -w bounds the connect and the whole handshake. Not with -l, -s, -u
    /// or -U.
    ///
    /// As nc.openbsd -x; ncat --proxy (HTTP by default).
    #[arg(
        short = 'x',
        value_name = "proxy_address[:port]",
        value_hint = ValueHint::Hostname,
        verbatim_doc_comment
    )]
    pub proxy_x: Option<String>,

    /// Proxy protocol: "4", "5" (SOCKS) or "connect"
    ///
    /// 4 is SOCKS4 (SOCKS4a when the proxy resolves the name), 5 is SOCKS5
    /// (no authentication, or a user name and password), connect is HTTP
    /// CONNECT (Digest or Basic authentication). ncat's socks4, socks5 and http are
    /// the same. Default: 5 with -x, http with --proxy.
    ///
    /// With -l and no proxy address, rnc is a proxy server of that protocol
    /// for any number of clients: SOCKS4/4a, SOCKS5 (CONNECT; BIND and UDP
    /// ASSOCIATE refused) or HTTP (CONNECT, and GET, HEAD and POST passed
    /// on). --proxy-auth sets the credentials it asks for; --allow, --deny,
    /// --max-conns and -w apply; -v prints a line per tunnel.
    ///
    /// As nc.openbsd -X and ncat --proxy-type (ncat serves HTTP only).
    #[arg(
        short = 'X',
        long = "proxy-type",
        value_name = "proxy_protocol",
        value_hint = ValueHint::Other,
        verbatim_doc_comment
    )]
    pub proxy_type: Option<String>,

    /// Connect through a proxy (HTTP unless --proxy-type)
    ///
    /// As -x, but the protocol defaults to HTTP CONNECT, as ncat's.
    ///
    /// As ncat --proxy.
    #[arg(
        long = "proxy",
        value_name = "addr[:port]",
        value_hint = ValueHint::Hostname,
        hide_short_help = true,
        verbatim_doc_comment
    )]
    pub proxy: Option<String>,

    /// Username for proxy authentication
    ///
    /// The password is read from the terminal without echo, or taken from
    /// the RNC_PROXY_PASS environment variable (for scripts: unlike a
    /// command-line argument, it does not show in ps). Used by HTTP CONNECT
    /// (Digest or Basic, when the proxy answers 407) and SOCKS5 (RFC 1929);
    /// SOCKS4 sends the name as its user id.
    ///
    /// As nc.openbsd -P (HTTP CONNECT only there).
    #[arg(
        short = 'P',
        long = "proxy-user",
        value_name = "proxy_username",
        value_hint = ValueHint::Username,
        hide_short_help = true,
        verbatim_doc_comment
    )]
    pub proxy_user: Option<String>,

    /// Proxy credentials, user:pass
    ///
    /// Without :pass there is no password (as ncat; -P asks for one). The
    /// whole argument shows in ps: prefer -P with RNC_PROXY_PASS in scripts.
    ///
    /// With -l --proxy-type (the proxy server): the credentials clients
    /// must give, user:pass (HTTP Basic or Digest, SOCKS5 user/password);
    /// SOCKS4 checks the user id alone.
    ///
    /// As ncat --proxy-auth.
    #[arg(
        long = "proxy-auth",
        value_name = "user[:pass]",
        value_hint = ValueHint::Other,
        hide_short_help = true,
        verbatim_doc_comment
    )]
    pub proxy_auth: Option<String>,

    /// Where the target's name is resolved: local, remote, both, none
    ///
    /// remote: the proxy resolves it (SOCKS4a, a SOCKS5 domain name, the
    /// name in CONNECT); local: rnc resolves it and sends the address;
    /// both: local first, the proxy if that fails; none: the target must be
    /// an address. Default: remote (no DNS query leaves this host).
    ///
    /// As ncat --proxy-dns; nc.openbsd resolves locally for SOCKS4 only.
    #[arg(
        long = "proxy-dns",
        value_name = "type",
        value_hint = ValueHint::Other,
        hide_short_help = true,
        verbatim_doc_comment
    )]
    pub proxy_dns: Option<String>,

    /// Allow broadcast
    ///
    /// Set SO_BROADCAST, so that -u can send to a broadcast address
    /// (without it the system refuses with "Permission denied").
    ///
    /// As nc.openbsd -b and nc.traditional -b; ncat has none.
    #[arg(
        short = 'b',
        long = "broadcast",
        hide_short_help = true,
        verbatim_doc_comment
    )]
    pub broadcast: bool,

    /// TCP receive buffer length
    ///
    /// Set SO_RCVBUF to this many bytes (1 to 1073741824); Linux doubles
    /// the value for its bookkeeping. Default: the system's.
    ///
    /// As nc.openbsd -I.
    #[arg(short = 'I', long = "recv-buf", value_name = "length", value_hint = ValueHint::Other, hide_short_help = true, verbatim_doc_comment)]
    pub rcvbuf: Option<String>,

    /// TCP send buffer length
    ///
    /// Set SO_SNDBUF to this many bytes (1 to 1073741824). Default: the
    /// system's.
    ///
    /// As nc.openbsd -O.
    #[arg(short = 'O', long = "send-buf", value_name = "length", value_hint = ValueHint::Other, hide_short_help = true, verbatim_doc_comment)]
    pub sndbuf: Option<String>,

    /// Outgoing TTL / Hop Limit
    ///
    /// IP_TTL on IPv4, IPV6_UNICAST_HOPS on IPv6, 0 to 255. Default: the
    /// system's (64).
    ///
    /// As nc.openbsd -M.
    #[arg(short = 'M', long = "ttl", value_name = "ttl", value_hint = ValueHint::Other, hide_short_help = true, verbatim_doc_comment)]
    pub ttl: Option<String>,

    /// Minimum incoming TTL / Hop Limit
    ///
    /// IP_MINTTL on IPv4, IPV6_MINHOPCOUNT on IPv6, 0 to 255: packets that
    /// arrive with less are dropped by the kernel. Default: none.
    ///
    /// As nc.openbsd -m.
    #[arg(short = 'm', long = "min-ttl", value_name = "minttl", value_hint = ValueHint::Other, hide_short_help = true, verbatim_doc_comment)]
    pub min_ttl: Option<String>,

    /// Enable the TCP MD5 signature option
    ///
    /// Sign TCP segments with an RFC 2385 key (TCP_MD5SIG_EXT): for the
    /// peer when connecting, for any peer when listening. The key is read
    /// from the terminal without echo, or from RNC_MD5SIG_PASS.
    ///
    /// As nc.openbsd -S (which reads the terminal only).
    #[arg(
        short = 'S',
        long = "md5sig",
        hide_short_help = true,
        verbatim_doc_comment
    )]
    pub md5sig: bool,

    /// TOS value
    ///
    /// IP_TOS on IPv4, IPV6_TCLASS on IPv6: critical, inetcontrol,
    /// lowcost, lowdelay, netcontrol, throughput, reliability, ef,
    /// af11..af43, cs0..cs7, or a number (0 to 255, or 0x hex).
    ///
    /// As nc.openbsd -T; nc.traditional -T takes other words.
    #[arg(short = 'T', long = "tos", value_name = "keyword", value_hint = ValueHint::Other, hide_short_help = true, verbatim_doc_comment)]
    pub tos: Option<String>,

    /// Specify alternate routing table (not on Linux)
    ///
    /// Linux has no routing tables by number for a socket: rnc refuses with
    /// nc.openbsd's words, "no alternate routing table support available".
    ///
    /// As nc.openbsd -V on Linux.
    #[arg(short = 'V', long = "rtable", value_name = "rtable", value_hint = ValueHint::Other, hide_short_help = true, verbatim_doc_comment)]
    pub rtable: Option<String>,

    /// Answer TELNET negotiation
    ///
    /// Answer each DO and DON'T with WON'T and each WILL and WON'T with
    /// DON'T, as nc.openbsd does; the negotiation bytes still reach stdout
    /// as they came.
    ///
    /// As nc.openbsd -t, nc.traditional -t and ncat -t (--telnet).
    #[arg(
        short = 't',
        long = "telnet",
        hide_short_help = true,
        verbatim_doc_comment
    )]
    pub telnet: bool,

    /// Terminate after receiving a number of packets
    ///
    /// Stop after this many reads from the network (datagrams with -u):
    /// stdin is no longer read, and rnc exits once the data is out.
    ///
    /// As nc.openbsd -W.
    #[arg(short = 'W', long = "recv-limit", value_name = "recvlimit", value_hint = ValueHint::Other, hide_short_help = true, verbatim_doc_comment)]
    pub recv_limit: Option<String>,

    /// Use DCCP (where the kernel has it)
    ///
    /// rnc checks for the kernel's DCCP and, having no DCCP transport of
    /// its own yet, says so in one line and exits 1 (Linux removed DCCP in
    /// 6.16; many kernels are built without it).
    ///
    /// As nc.openbsd -Z.
    #[arg(
        short = 'Z',
        long = "dccp",
        hide_short_help = true,
        verbatim_doc_comment
    )]
    pub dccp: bool,

    /// Only send data, ignoring received; quit on EOF
    ///
    /// What the peer sends is read and dropped; once stdin has ended and
    /// is sent, rnc sends a FIN and exits.
    ///
    /// As ncat --send-only.
    #[arg(
        long = "send-only",
        conflicts_with = "no_stdin",
        hide_short_help = true,
        verbatim_doc_comment
    )]
    pub send_only: bool,

    /// Only receive data, never send anything
    ///
    /// The same as -d.
    ///
    /// As ncat --recv-only.
    #[arg(long = "recv-only", hide_short_help = true, verbatim_doc_comment)]
    pub recv_only: bool,

    /// Relay each connection to a target
    ///
    /// Join each connection to TARGET: host:port, [v6addr]:port or
    /// unix:PATH. Bytes flow both ways; an EOF on one side becomes a FIN
    /// to the other once drained. A target that refuses closes that client
    /// only. Without -l, rnc connects both ends and joins them.
    ///
    /// socat TCP-LISTEN:P,fork TCP:H:P in one process; ncat needs
    /// --sh-exec "ncat H P"; nc.openbsd and nc.traditional have none.
    #[arg(
        long = "relay",
        value_name = "target",
        value_hint = ValueHint::Other,
        hide_short_help = true,
        verbatim_doc_comment
    )]
    pub relay: Option<String>,

    /// Run a program for each connection
    ///
    /// Run PROG (its words split on white space, no shell) with its stdin
    /// and stdout joined to the connection; its stderr stays on rnc's.
    /// RNC_REMOTE_ADDR, RNC_REMOTE_PORT, RNC_LOCAL_ADDR, RNC_LOCAL_PORT and
    /// RNC_PROTO (and NCAT_* aliases) are set. Children are reaped; none of
    /// rnc's descriptors reaches them.
    ///
    /// As ncat -e (--exec); nc.traditional -e takes a file name only;
    /// nc.openbsd has none.
    #[arg(
        short = 'e',
        long = "exec",
        value_name = "prog args",
        conflicts_with = "sh_exec",
        value_hint = ValueHint::CommandString,
        hide_short_help = true,
        verbatim_doc_comment
    )]
    pub exec: Option<String>,

    /// Run a shell command for each connection
    ///
    /// As -e, through /bin/sh -c CMD.
    ///
    /// As ncat -c (--sh-exec) and nc.traditional -c; nc.openbsd has none.
    #[arg(
        short = 'c',
        long = "sh-exec",
        value_name = "cmd",
        value_hint = ValueHint::CommandString,
        hide_short_help = true,
        verbatim_doc_comment
    )]
    pub sh_exec: Option<String>,

    /// Admit only these peers
    ///
    /// Listeners admit only peers matching an address, a CIDR range
    /// (10.0.0.0/8, fd00::/8) or a host name; repeatable. Others are closed
    /// before any byte moves (datagrams dropped). Not with -U (Unix peers
    /// have no address). Default: everyone.
    ///
    /// As ncat --allow; nc.openbsd and nc.traditional have none.
    #[arg(
        long = "allow",
        value_name = "host[/len]",
        value_hint = ValueHint::Hostname,
        hide_short_help = true,
        verbatim_doc_comment
    )]
    pub allow: Vec<String>,

    /// Admit only the peers listed in a file
    ///
    /// As --allow, entries separated by white space or new lines (several
    /// a line, as ncat writes them); # starts a comment; blank lines skip.
    ///
    /// As ncat --allowfile.
    #[arg(
        long = "allowfile",
        value_name = "file",
        value_hint = ValueHint::FilePath,
        hide_short_help = true,
        verbatim_doc_comment
    )]
    pub allowfile: Vec<String>,

    /// Refuse these peers
    ///
    /// Listeners refuse peers matching an address, a CIDR range or a host
    /// name; repeatable; a deny entry wins over an allow entry.
    ///
    /// As ncat --deny.
    #[arg(
        long = "deny",
        value_name = "host[/len]",
        value_hint = ValueHint::Hostname,
        hide_short_help = true,
        verbatim_doc_comment
    )]
    pub deny: Vec<String>,

    /// Refuse the peers listed in a file
    ///
    /// As --deny, entries separated by white space or new lines (several
    /// a line, as ncat writes them); # starts a comment; blank lines skip.
    ///
    /// As ncat --denyfile.
    #[arg(
        long = "denyfile",
        value_name = "file",
        value_hint = ValueHint::FilePath,
        hide_short_help = true,
        verbatim_doc_comment
    )]
    pub denyfile: Vec<String>,

    /// Randomize remote ports
    ///
    /// With -z, check the ports in random order. Default: the order given
    /// (reports are in ascending port order either way).
    ///
    /// As nc.openbsd -r and nc.traditional -r; ncat has none.
    #[arg(
        short = 'r',
        long = "randomize",
        hide_short_help = true,
        verbatim_doc_comment
    )]
    pub randomize: bool,

    /// Connects in flight at once with -z
    ///
    /// How many ports are checked at the same time. Default: 1024, never
    /// more than the open-file limit allows (rnc raises its soft limit to
    /// the hard one). With -i the check is one port at a time.
    ///
    /// nc.openbsd and nc.traditional check one port at a time; ncat one
    /// port only.
    #[arg(
        long = "parallel",
        value_name = "N",
        value_hint = ValueHint::Other,
        hide_short_help = true,
        verbatim_doc_comment
    )]
    pub parallel: Option<String>,

    /// JSON output: the ports of -z, or the --stats figures
    ///
    /// With -z: one object per open port on stdout, in ascending port
    /// order: host, address, port, proto, service (null when unnamed) and
    /// latency_ms (the connect time). Elsewhere: --stats as one JSON object
    /// on stderr at exit (--json implies --stats).
    ///
    /// nc.openbsd, nc.traditional and ncat have none.
    #[arg(long = "json", hide_short_help = true, verbatim_doc_comment)]
    pub json: bool,

    /// Echo server
    ///
    /// With -l: every client gets back exactly the bytes it sent, binary
    /// safe, no line buffering; many clients at once (implies -k). With -u,
    /// every datagram goes back to its sender whole. A client that does not
    /// read its echo stops being read (at most 64 KiB held for it).
    ///
    /// ncat needs --exec /bin/cat (a process per client); nc.openbsd and
    /// nc.traditional have none.
    #[arg(long = "echo", hide_short_help = true, verbatim_doc_comment)]
    pub echo: bool,

    /// Chat server
    ///
    /// With -l: every line a client sends goes to every other client as
    /// "-> line"; the room is printed on stdout and stdin lines go to all.
    /// Control bytes other than TAB, and bidi controls, arrive as \ooo;
    /// other UTF-8 passes. A client that stops reading is disconnected
    /// after --stall-timeout. Implies -k.
    ///
    /// As ncat --chat, with the seed's "-> " format, the room shown on
    /// stdout and no client able to stall the others.
    #[arg(long = "chat", hide_short_help = true, verbatim_doc_comment)]
    pub chat: bool,

    /// Broker: relay raw bytes between clients
    ///
    /// With -l: every byte a client sends goes to every other client as it
    /// came (no lines, no prefix, no escaping); stdin goes to all clients
    /// and the traffic is shown on stdout. A client that stops reading is
    /// disconnected after --stall-timeout. Implies -k.
    ///
    /// As ncat --broker (which does not show the traffic on stdout).
    #[arg(long = "broker", hide_short_help = true, verbatim_doc_comment)]
    pub broker: bool,

    /// Name the sender of each chat line
    ///
    /// With --chat: "-> [user1] hi"; a client renames itself with
    /// "/nick NAME"; joins, leaves and renames are announced to the room.
    #[arg(long = "chat-names", hide_short_help = true, verbatim_doc_comment)]
    pub chat_names: bool,

    /// Most clients served at once
    ///
    /// With -k, --echo, --chat or --relay/--exec. A client over the limit
    /// is closed as soon as it is accepted. Default: 10000.
    ///
    /// As ncat -m (--max-conns), whose default is 100; nc.openbsd serves
    /// one client at a time.
    #[arg(
        long = "max-conns",
        value_name = "n",
        value_hint = ValueHint::Other,
        hide_short_help = true,
        verbatim_doc_comment
    )]
    pub max_conns: Option<String>,

    /// Disconnect a client that takes no data for this long
    ///
    /// With -k, --chat and --broker: a client that has bytes waiting for it
    /// and takes none of them for this long is disconnected (a -v line says
    /// so), and the others go on. Until then nothing is dropped: while a
    /// client is behind, rnc stops reading the talkers and stdin. Seconds,
    /// or a number with ms, s, m or h. Default: 3s.
    ///
    /// ncat --chat blocks the whole room on a client that stops reading;
    /// nc.openbsd and nc.traditional serve one client.
    #[arg(
        long = "stall-timeout",
        value_name = "duration",
        value_hint = ValueHint::Other,
        hide_short_help = true,
        verbatim_doc_comment
    )]
    pub stall_timeout: Option<String>,

    /// Speak TLS on the connection
    ///
    /// Connect mode: a TLS client that verifies the server's certificate
    /// against the system trust store and the destination name before any
    /// byte of stdin goes out. Listeners (-l, -k, --echo, --chat, --broker,
    /// --relay, -e, -c): a TLS server; without --ssl-cert a certificate is
    /// made for this run and its SHA-256 fingerprint printed. TCP and -U
    /// streams only (no DTLS). Any --ssl-* flag implies --ssl.
    ///
    /// As ncat --ssl, which does not verify unless --ssl-verify is given;
    /// nc.openbsd and nc.traditional have none.
    #[arg(
        long = "ssl",
        visible_alias = "tls",
        hide_short_help = true,
        verbatim_doc_comment
    )]
    pub ssl: bool,

    /// Certificate chain to present (PEM)
    ///
    /// The leaf first, then its intermediates. A listener's certificate; in
    /// connect mode, a client certificate. The key may be in the same file.
    ///
    /// As ncat --ssl-cert.
    #[arg(
        long = "ssl-cert",
        value_name = "file",
        value_hint = ValueHint::FilePath,
        hide_short_help = true,
        verbatim_doc_comment
    )]
    pub ssl_cert: Option<String>,

    /// Private key of --ssl-cert (PEM)
    ///
    /// RSA, ECDSA or Ed25519, in PKCS#8, PKCS#1 or SEC1 form. Default: the
    /// key in the --ssl-cert file.
    ///
    /// As ncat --ssl-key.
    #[arg(
        long = "ssl-key",
        value_name = "file",
        value_hint = ValueHint::FilePath,
        hide_short_help = true,
        verbatim_doc_comment
    )]
    pub ssl_key: Option<String>,

    /// Trust these CA certificates (PEM) instead of the system store
    ///
    /// A client trusts only the certificates in FILE. A listener asks every
    /// client for a certificate and admits only those that FILE's
    /// certificates vouch for (mutual TLS).
    ///
    /// As ncat --ssl-trustfile (which a listener ignores).
    #[arg(
        long = "ssl-trustfile",
        value_name = "file",
        value_hint = ValueHint::FilePath,
        hide_short_help = true,
        verbatim_doc_comment
    )]
    pub ssl_trustfile: Option<String>,

    /// Server name to send (SNI) and to verify
    ///
    /// Default: the destination, unless it is an IP address (then no SNI is
    /// sent and the address is checked against the certificate).
    ///
    /// As ncat --ssl-servername.
    #[arg(
        long = "ssl-servername",
        value_name = "name",
        value_hint = ValueHint::Hostname,
        hide_short_help = true,
        verbatim_doc_comment
    )]
    pub ssl_servername: Option<String>,

    /// ALPN protocols, comma-separated, most wanted first
    ///
    /// A client offers them; a listener picks the first of its own list
    /// that the client offers (and refuses a client that offers only
    /// others). -v shows the protocol agreed.
    ///
    /// As ncat --ssl-alpn, which ncat listeners ignore.
    #[arg(
        long = "ssl-alpn",
        value_name = "list",
        value_hint = ValueHint::Other,
        hide_short_help = true,
        verbatim_doc_comment
    )]
    pub ssl_alpn: Option<String>,

    /// Cipher suites to allow, colon- or comma-separated
    ///
    /// IANA names (TLS_AES_128_GCM_SHA256) or OpenSSL names
    /// (ECDHE-RSA-AES128-GCM-SHA256). OpenSSL keywords (ALL, HIGH, !aNULL,
    /// @STRENGTH...) are accepted and add nothing. Default: every suite
    /// rustls has, all with forward secrecy and AEAD. Whatever the list,
    /// AES-128-GCM comes first, then AES-256-GCM, then ChaCha20, and a
    /// listener chooses by that order rather than the client's.
    ///
    /// As ncat --ssl-ciphers, with only the suites rustls implements.
    #[arg(
        long = "ssl-ciphers",
        value_name = "list",
        value_hint = ValueHint::Other,
        hide_short_help = true,
        verbatim_doc_comment
    )]
    pub ssl_ciphers: Option<String>,

    /// Verify the server's certificate (the default already)
    ///
    /// Accepted for ncat scripts; rnc always verifies unless --ssl-pin or
    /// --ssl-no-verify says otherwise.
    ///
    /// As ncat --ssl-verify.
    #[arg(long = "ssl-verify", hide_short_help = true, verbatim_doc_comment)]
    pub ssl_verify: bool,

    /// Accept exactly the certificate with this SHA-256 fingerprint
    ///
    /// As openssl x509 -noout -fingerprint -sha256 prints it; colons and
    /// case are optional. No CA, name or date checks: the certificate is
    /// the identity. The failure line for a self-signed or unknown
    /// certificate gives the --ssl-pin that would accept it.
    ///
    /// ncat, nc.openbsd and nc.traditional have none.
    #[arg(
        long = "ssl-pin",
        value_name = "sha256",
        value_hint = ValueHint::Other,
        hide_short_help = true,
        verbatim_doc_comment
    )]
    pub ssl_pin: Option<String>,

    /// Do not verify the server's certificate at all
    ///
    /// Encrypts, but anyone on the path can read and change the traffic;
    /// rnc says so on stderr.
    ///
    /// ncat's --ssl without --ssl-verify.
    #[arg(
        long = "ssl-no-verify",
        conflicts_with = "ssl_pin",
        hide_short_help = true,
        verbatim_doc_comment
    )]
    pub ssl_no_verify: bool,

    /// TLS to the --relay target
    ///
    /// The relay connects to its target with TLS, verified as a client is
    /// (--ssl-trustfile, --ssl-pin, --ssl-servername, --ssl-alpn apply).
    /// With --ssl too, both ends speak TLS.
    ///
    /// socat's OPENSSL: address; ncat and nc.openbsd have none.
    #[arg(
        long = "relay-ssl",
        visible_alias = "relay-tls",
        hide_short_help = true,
        verbatim_doc_comment
    )]
    pub relay_ssl: bool,

    /// Keep trying to connect for this long
    ///
    /// In connect mode and with -z: a connect that fails is tried again,
    /// after 50 ms, then every 90 ms at most, until it succeeds or the
    /// duration has passed; with -z and several ports, until every port is
    /// open. -vv prints each attempt. The exit status is that of one try.
    /// Seconds, or a number with ms, s, m or h.
    ///
    /// socat has retry= and forever; nc.openbsd, nc.traditional and ncat
    /// have none (scripts loop: until nc -z host port; do sleep 1; done).
    #[arg(
        long = "retry",
        value_name = "duration",
        value_hint = ValueHint::Other,
        hide_short_help = true,
        verbatim_doc_comment
    )]
    pub retry: Option<String>,

    /// Print transfer statistics at exit
    ///
    /// One line on stderr at exit: bytes sent and received (exact), the
    /// elapsed time, the rate each way, and for a stream listener the
    /// connections accepted. With --json the same as one JSON object. Sent
    /// and received are rnc's side of the network: for a server, to and
    /// from its clients.
    ///
    /// nc.openbsd, nc.traditional and ncat have none (ncat -v prints a
    /// summary line).
    #[arg(long = "stats", hide_short_help = true, verbatim_doc_comment)]
    pub stats: bool,

    /// A live progress line on a terminal
    ///
    /// While data moves, one line on stderr: bytes each way, the current
    /// rate and the elapsed time; with a regular file on stdin, also the
    /// percentage sent and an ETA. Redrawn at most 4 times a second and
    /// cleared at exit; -v lines print above it. When stderr is not a
    /// terminal --progress does nothing (use --stats for a summary).
    ///
    /// What pv does in a pipe; the netcats have none.
    #[arg(long = "progress", hide_short_help = true, verbatim_doc_comment)]
    pub progress: bool,

    /// Log the session's data to a file
    ///
    /// Every byte received and sent, in the order they move, as ncat -o
    /// writes them. With -k and the servers, what each client sends (and
    /// what stdin sends to them). The file is truncated first unless
    /// --append-output. A write that fails (a full disk) stops the log with
    /// one line; the connection goes on.
    ///
    /// As ncat -o (--output).
    #[arg(
        short = 'o',
        long = "output",
        value_name = "file",
        value_hint = ValueHint::FilePath,
        hide_short_help = true,
        verbatim_doc_comment
    )]
    pub output: Option<String>,

    /// Log the session's data as a hex dump
    ///
    /// As -o, but each chunk is headed "> sent N bytes" or "< received N
    /// bytes" (with "to/from HOST PORT" for a server's client), then lines
    /// of an offset (counted per direction), 16 bytes in hex and the same as
    /// ASCII (dots for the rest), as ncat --hex-dump writes them.
    ///
    /// As ncat --hex-dump, which has -x too (here -x is nc's proxy).
    #[arg(
        long = "hex-dump",
        value_name = "file",
        value_hint = ValueHint::FilePath,
        hide_short_help = true,
        verbatim_doc_comment
    )]
    pub hex_dump: Option<String>,

    /// Append to the -o and --hex-dump files
    ///
    /// Default: they are truncated first.
    ///
    /// As ncat --append-output.
    #[arg(long = "append-output", hide_short_help = true, verbatim_doc_comment)]
    pub append_output: bool,

    /// Print this help (--help for more)
    #[arg(short = 'h', action = ArgAction::Help)]
    pub help_short: Option<bool>,

    /// Print the long help
    #[arg(long = "help", action = ArgAction::HelpLong, hide_short_help = true)]
    pub help_long: Option<bool>,

    /// Print the version
    #[arg(long = "version", action = ArgAction::Version, hide_short_help = true)]
    pub version: Option<bool>,

    /// Host to connect to (or address to listen on with -l), then the port
    ///
    /// The destination is a host name or address; with -l it is the local
    /// address to listen on and may be left out. The port is a number or a
    /// service name (http); -z takes several ports.
    #[arg(
        value_name = "destination",
        num_args = 0..,
        value_hint = ValueHint::Hostname,
        verbatim_doc_comment
    )]
    pub args: Vec<String>,
}

/// The end of `-h`: the flags beyond nc's, named so they can be found.
const AFTER_SHORT_HELP: &str = "\
More in rnc --help: -C -D -r -F -P --proxy --proxy-auth --proxy-dns -b -I -O -M -m -S
  -T -V -t -W -Z --send-only --recv-only --echo --chat --chat-names --broker --max-conns
  --stall-timeout --relay -e -c --allow --deny --allowfile --denyfile --parallel --json
  --ssl --ssl-cert --ssl-key --ssl-trustfile --ssl-pin --ssl-no-verify --ssl-verify
  --ssl-servername --ssl-alpn --ssl-ciphers --relay-ssl --retry --stats --progress -o
  --hex-dump --append-output";

/// The end of `--help`: what rnc does, a few examples, where the rest is.
const AFTER_LONG_HELP: &str = "\
Connect to destination port, listen with -l, or check ports with -z. Bytes move between
stdin/stdout and the socket unchanged; messages go to stderr.

Examples:
  rnc example.org 80            talk to a server
  rnc -l 9000 > file            receive a file
  rnc -N host 9000 < file       send a file, then a FIN
  rnc -zv host 22               is the port open?

The rnc(1) manual has the end-of-file rules, exit status and how rnc differs from the
other netcats.";
