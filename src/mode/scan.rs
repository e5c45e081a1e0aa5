//! `rnc -z host port...`: connect, close, report; exit 0 if any port is open.

use std::time::Duration;

use anyhow::Result;

use crate::config::Config;
use crate::net::{self, Source};

/// Without -w a port check must not hang for the kernel's two minutes.
pub const DEFAULT_SCAN_TIMEOUT: Duration = Duration::from_secs(5);

pub fn run(cfg: &Config, host: &str, ports: &[u16]) -> Result<i32> {
    let timeout = cfg.wait.unwrap_or(DEFAULT_SCAN_TIMEOUT);
    // One port: its refusal is news with -v. Many: only with -vv, so a range stays readable.
    let report_failures = if ports.len() == 1 {
        cfg.verbose >= 1
    } else {
        cfg.verbose >= 2
    };
    let mut any_open = false;
    for &port in ports {
        let addrs = net::resolve(host, port, cfg.family, cfg.numeric)?;
        match super::connect::connect_any(
            cfg,
            host,
            port,
            &addrs,
            &Source::default(),
            Some(timeout),
        ) {
            Ok(s) => {
                let (local, peer) = (s.local_addr()?, s.peer_addr()?);
                // A connect to a free port of the ephemeral range can land on itself
                // (TCP simultaneous open): that port is not open.
                if local == peer {
                    if report_failures {
                        eprintln!(
                            "rnc: connect to {host} port {port} (tcp) failed: Connection refused"
                        );
                    }
                    continue;
                }
                any_open = true;
                if cfg.verbose > 0 {
                    eprintln!("{}", net::succeeded_line(host, &peer, "tcp"));
                }
            }
            Err(e) => {
                if report_failures {
                    eprintln!("rnc: {e:#}");
                }
            }
        }
    }
    Ok(if any_open { 0 } else { 1 })
}
