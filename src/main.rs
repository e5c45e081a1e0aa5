//! rnc: a netcat that scripts can rely on.
//!
//! # Layout
//! - `cli`: the command line (clap derive only).
//! - `access`: `--allow`/`--deny` rules.
//! - `config`: `Cli` → `Config`, nc's conflict checks.
//! - `net`: resolve, connect, bind, nc's `-v` wording.
//! - `fdpass`: `-F`, the connected socket sent over stdout with SCM_RIGHTS.
//! - `ports`: the port lists, ranges and service names of `-z`.
//! - `child`: the processes of `--exec`/`--sh-exec`, and ending them all at exit.
//! - `proxy/`: the SOCKS4, SOCKS5 and HTTP CONNECT client handshakes (`-x`, `--proxy`).
//! - `secret`: passwords from the environment or the terminal (`-P`, `-S`).
//! - `sockopt`: nc.openbsd's socket flags (-T -I -O -M -m -b -S -V), parsed and applied.
//! - `stdio`: stdin/stdout kinds and the O_NONBLOCK guard.
//! - `buf`: bounded queues (splice pipe or memory); `pump`: one direction with EOF.
//! - `endpoint`: one descriptor's readiness and registration.
//! - `event_loop`: the only `Poll::poll`, signals, the `Session` trait.
//! - `bridge`: stdin/stdout ⇄ one socket with nc's half-close rules.
//! - `conn`: the socket at the far end (TCP, UDP, Unix stream or datagram).
//! - `unix`: Unix-domain paths, abstract names, stale socket files.
//! - `listener`: listening sockets, accept with EMFILE back-off, access rules, `--max-conns`.
//! - `hub`: `--echo`, `--chat` and `--broker` servers: many clients, a bounded queue each.
//! - `chat`: the chat line format: framing, escaping, `/nick` names.
//! - `wrap`: --stats, --json, --progress, -o and --hex-dump; `retry`: --retry.
//! - `tls`: TLS (rustls) as one transport between the socket and the mode.
//! - `mode/`: one file per mode.

#![deny(clippy::print_stderr)]

mod access;
mod bridge;
mod buf;
mod chat;
mod child;
mod cli;
mod config;
mod conn;
mod endpoint;
mod event_loop;
mod fdpass;
mod flags;
mod hub;
mod listener;
mod mode;
mod net;
mod ports;
mod proxy;
mod pump;
mod report;
mod retry;
mod room;
mod secret;
mod sockopt;
mod stdio;
mod stdio_pair;
mod tls;
mod token;
mod unix;
mod wrap;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    stdio::fill_closed_std_fds();
    stdio::raise_nofile_limit();
    // Dropped last, on every way out (signals end the loop normally): no child of
    // --exec outlives rnc.
    let _children = child::EndAllOnDrop;
    let code = match cli::Cli::try_parse() {
        Err(e) if e.use_stderr() => {
            say!("rnc: {}", clap_one_line(&e));
            1
        }
        // Help and version: clap prints them; exit 0.
        Err(e) => {
            let _ = e.print();
            0
        }
        Ok(cli) => {
            let code = match config::Config::from_cli(cli)
                .and_then(config::Config::resolve)
                .and_then(|cfg| {
                    wrap::install(&cfg)?;
                    mode::run(&cfg)
                }) {
                Ok(code) => code,
                Err(e) => {
                    say!("rnc: {}", error_line(&e));
                    1
                }
            };
            // The figures of --stats come last, after any error line.
            wrap::finish();
            code
        }
    };
    ExitCode::from(code.clamp(0, 255) as u8)
}

/// err(3)'s form: every context, then the cause, with strerror's words for OS errors.
fn error_line(e: &anyhow::Error) -> String {
    e.chain()
        .map(|c| match c.downcast_ref::<std::io::Error>() {
            Some(io) => net::os_message(io),
            None => c.to_string(),
        })
        .collect::<Vec<_>>()
        .join(": ")
}

/// clap's first line without its `error: ` prefix (usage and tips stay out).
fn clap_one_line(e: &clap::Error) -> String {
    let text = e.render().to_string();
    let first = text.lines().next().unwrap_or("invalid arguments");
    first.strip_prefix("error: ").unwrap_or(first).to_string()
}
