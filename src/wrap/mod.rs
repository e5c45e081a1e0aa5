//! What scripts wrap around nc, built in: `--stats` and `--json` (a summary at exit),
//! `--progress` (a live line on a terminal), `-o` and `--hex-dump` (session logs).
//! `--retry` is in `retry.rs`.
//!
//! The data paths report every byte that crosses the network with `count` (and, when
//! a log is open, `log`): two relaxed atomic adds per write, so the figures are exact
//! and cost nothing measurable. The rest lives in one per-process state that `install`
//! sets up before the mode runs and `finish` reports at exit. rnc has one thread.

mod log;
mod progress;
mod stats;

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use anyhow::Result;

use crate::cli::Cli;
use crate::config::{parse_secs, Config, Mode};

/// The flags of this module, parsed.
#[derive(Debug, Clone, Default)]
pub struct Wrap {
    /// `--retry`
    pub retry: Option<Duration>,
    /// `--stats`, or `--json` outside -z.
    pub stats: Option<stats::Form>,
    /// `--progress`
    pub progress: bool,
    /// `-o`
    pub output: Option<String>,
    /// `--hex-dump`
    pub hex_dump: Option<String>,
    /// `--append-output`
    pub append: bool,
}

impl Wrap {
    pub fn from_cli(cli: &Cli) -> Result<Wrap> {
        if cli.append_output && cli.output.is_none() && cli.hex_dump.is_none() {
            anyhow::bail!("--append-output needs -o or --hex-dump");
        }
        Ok(Wrap {
            retry: cli
                .retry
                .as_deref()
                .map(|s| parse_secs(s, "--retry"))
                .transpose()?,
            stats: match (cli.stats, cli.json && !cli.zero_io) {
                (_, true) => Some(stats::Form::Json),
                (true, false) => Some(stats::Form::Line),
                _ => None,
            },
            progress: cli.progress,
            output: cli.output.clone(),
            hex_dump: cli.hex_dump.clone(),
            append: cli.append_output,
        })
    }
}

/// Which way bytes went, seen from rnc's side of the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dir {
    /// Written to a network peer.
    Sent,
    /// Read from a network peer.
    Received,
}

static SENT: AtomicU64 = AtomicU64::new(0);
static RECEIVED: AtomicU64 = AtomicU64::new(0);
static CONNECTIONS: AtomicU64 = AtomicU64::new(0);
/// A session log is open: the data paths keep bytes in memory (no splice) and log them.
static LOGGING: AtomicBool = AtomicBool::new(false);
/// `--progress` is drawing: the loop calls `tick`.
static DRAWING: AtomicBool = AtomicBool::new(false);

/// `n` bytes crossed the network.
pub fn count(dir: Dir, n: usize) {
    let c = match dir {
        Dir::Sent => &SENT,
        Dir::Received => &RECEIVED,
    };
    c.fetch_add(n as u64, Relaxed);
}

/// Bytes as they cross the network, for the session logs.
pub fn log(dir: Dir, bytes: &[u8]) {
    log_peer(dir, bytes, None);
}

/// The same, for one of a server's clients: the hex dump names it.
pub fn log_peer(dir: Dir, bytes: &[u8], peer: Option<&str>) {
    if LOGGING.load(Relaxed) && !bytes.is_empty() {
        with_state(|s| s.logs.record(dir, bytes, peer));
    }
}

/// `count` and `log` at once, where the bytes are at hand when they move.
pub fn moved(dir: Dir, bytes: &[u8]) {
    count(dir, bytes.len());
    log(dir, bytes);
}

/// A listener accepted a connection.
pub fn connection() {
    CONNECTIONS.fetch_add(1, Relaxed);
}

/// Whether the data must pass through memory, for the logs.
pub fn logging() -> bool {
    LOGGING.load(Relaxed)
}

/// The byte counts so far: (sent, received, connections).
fn totals() -> (u64, u64, u64) {
    (
        SENT.load(Relaxed),
        RECEIVED.load(Relaxed),
        CONNECTIONS.load(Relaxed),
    )
}

struct State {
    started: Instant,
    stats: Option<stats::Form>,
    /// Stream listeners report their connections.
    listener: bool,
    logs: log::Logs,
    progress: Option<progress::Progress>,
}

thread_local! {
    static STATE: RefCell<Option<State>> = const { RefCell::new(None) };
}

fn with_state<R>(f: impl FnOnce(&mut State) -> R) -> Option<R> {
    STATE.with(|s| s.try_borrow_mut().ok()?.as_mut().map(f))
}

/// Open the logs and start the clock, before the mode runs. A log file that cannot be
/// opened is an error: nothing has been sent yet.
pub fn install(cfg: &Config) -> Result<()> {
    let w = &cfg.wrap;
    let logs = log::Logs::open(w.output.as_deref(), w.hex_dump.as_deref(), w.append)?;
    LOGGING.store(logs.any(), Relaxed);
    let progress = match w.progress {
        true => progress::Progress::on_terminal(!cfg.io.no_stdin),
        false => None,
    };
    DRAWING.store(progress.is_some(), Relaxed);
    let state = State {
        started: Instant::now(),
        stats: w.stats,
        // A datagram listener has peers, not connections.
        listener: matches!(cfg.mode, Mode::Listen { .. }) && !cfg.transport.is_datagram(),
        logs,
        progress,
    };
    STATE.with(|s| *s.borrow_mut() = Some(state));
    Ok(())
}

/// After each step of the loop: redraw the progress line when it is due. Returns when
/// the loop should wake for the next redraw.
pub fn tick(now: Instant) -> Option<Instant> {
    if !DRAWING.load(Relaxed) {
        return None;
    }
    with_state(|s| {
        let started = s.started;
        s.progress.as_mut().map(|p| p.tick(now, started, totals()))
    })
    .flatten()
}

/// At exit: clear the progress line, flush the logs, print the stats.
pub fn finish() {
    let Some(s) = STATE.with(|s| s.borrow_mut().take()) else {
        return;
    };
    if s.progress.is_some() {
        crate::report::clear_status();
    }
    let mut logs = s.logs;
    logs.finish();
    if let Some(form) = s.stats {
        let (sent, received, conns) = totals();
        let figures = stats::Figures {
            sent,
            received,
            elapsed: s.started.elapsed(),
            connections: s.listener.then_some(conns),
        };
        crate::say!("{}", figures.render(form));
    }
}
