//! The values of flags and operands: ports, durations, counts and relay targets.

use std::time::Duration;

use anyhow::{bail, Context, Result};

use super::Attach;
use crate::net;

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
/// (`500ms`, `2s`, `1m`, `1h`). `what` names the flag and its value (`-w timeout`).
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
        _ => bail!("{what} invalid: {s} ({DURATION_FORMS})"),
    }
}

/// What a duration may look like, for the error line.
const DURATION_FORMS: &str = "seconds, or a number with ms, s, m or h";

/// A count of at least one (`--parallel`, `--max-conns`); `what` names it in the error.
pub fn parse_count(s: &str, what: &str) -> Result<usize> {
    match s.parse::<usize>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => bail!("{what} invalid: {s}"),
    }
}

pub fn parse_signed_secs(s: &str) -> Result<()> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(()),
        _ => bail!("-q quit time invalid: {s} ({DURATION_FORMS})"),
    }
}
