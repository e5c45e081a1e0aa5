//! `--allow`, `--deny`, `--allowfile`, `--denyfile`: who may talk to a listener.
//!
//! Entries are addresses, CIDR ranges (`10.0.0.0/8`, `fd00::/8`) or host names
//! (resolved once at start). With any allow entry, only matching peers get in; a deny
//! entry always wins. IPv4-mapped IPv6 peers (`::ffff:a.b.c.d`) match IPv4 rules. Unix
//! socket peers have no address and are not filtered.

use std::net::IpAddr;

use anyhow::{bail, Context, Result};

use crate::net::{self, Family};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    net: IpAddr,
    prefix: u8,
}

impl Cidr {
    fn new(ip: IpAddr, prefix: u8) -> Result<Cidr> {
        let max = if ip.is_ipv4() { 32 } else { 128 };
        if prefix > max {
            bail!("prefix /{prefix} too long for {ip}");
        }
        Ok(Cidr {
            net: ip.to_canonical(),
            prefix: if ip.to_canonical().is_ipv4() && ip.is_ipv6() {
                prefix.saturating_sub(96)
            } else {
                prefix
            },
        })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.net, ip.to_canonical()) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

/// Parse one entry: `addr`, `addr/len` or a host name (every address it has).
pub fn parse_entry(s: &str, numeric: bool) -> Result<Vec<Cidr>> {
    let s = s.trim();
    let ctx = || format!("access entry invalid: {s}");
    if let Some((a, p)) = s.split_once('/') {
        let ip: IpAddr = a.parse().with_context(ctx)?;
        let prefix: u8 = p.parse().with_context(ctx)?;
        return Ok(vec![Cidr::new(ip, prefix).with_context(ctx)?]);
    }
    if let Ok(ip) = s.parse::<IpAddr>() {
        let full = if ip.is_ipv4() { 32 } else { 128 };
        return Ok(vec![Cidr::new(ip, full)?]);
    }
    if s.is_empty() || numeric {
        bail!("access entry invalid: {s}");
    }
    let addrs = net::resolve(s, 0, Family::Any, false).with_context(ctx)?;
    addrs
        .iter()
        .map(|a| Cidr::new(a.ip(), if a.is_ipv4() { 32 } else { 128 }))
        .collect()
}

/// Entries from a file: one a line, `#` starts a comment, blank lines skipped.
pub fn parse_file(path: &str, numeric: bool) -> Result<Vec<Cidr>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {path}"))?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let entry = line.split('#').next().unwrap_or("").trim();
        if entry.is_empty() {
            continue;
        }
        out.extend(parse_entry(entry, numeric).with_context(|| format!("{path} line {}", i + 1))?);
    }
    Ok(out)
}

/// The rules in force for one run.
#[derive(Debug, Clone, Default)]
pub struct Access {
    allow: Vec<Cidr>,
    deny: Vec<Cidr>,
    /// An allow list was given (possibly from an empty file): only its entries get in.
    restricted: bool,
}

impl Access {
    pub fn new(
        allow: &[String],
        deny: &[String],
        allowfiles: &[String],
        denyfiles: &[String],
        numeric: bool,
    ) -> Result<Access> {
        let mut a = Access {
            restricted: !allow.is_empty() || !allowfiles.is_empty(),
            ..Access::default()
        };
        for e in allow {
            a.allow.extend(parse_entry(e, numeric)?);
        }
        for f in allowfiles {
            a.allow.extend(parse_file(f, numeric)?);
        }
        for e in deny {
            a.deny.extend(parse_entry(e, numeric)?);
        }
        for f in denyfiles {
            a.deny.extend(parse_file(f, numeric)?);
        }
        Ok(a)
    }

    /// No rules at all: everyone gets in.
    pub fn is_open(&self) -> bool {
        !self.restricted && self.deny.is_empty()
    }

    pub fn permits(&self, ip: IpAddr) -> bool {
        if self.deny.iter().any(|c| c.contains(ip)) {
            return false;
        }
        !self.restricted || self.allow.iter().any(|c| c.contains(ip))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn cidr_matching() {
        let c = parse_entry("10.1.0.0/16", true).unwrap()[0];
        assert!(c.contains(ip("10.1.200.3")));
        assert!(!c.contains(ip("10.2.0.1")));
        assert!(
            c.contains(ip("::ffff:10.1.0.9")),
            "mapped IPv4 matches IPv4 rules"
        );
        let c = parse_entry("fd00::/8", true).unwrap()[0];
        assert!(c.contains(ip("fd12::1")));
        assert!(!c.contains(ip("fe80::1")));
        let c = parse_entry("0.0.0.0/0", true).unwrap()[0];
        assert!(c.contains(ip("8.8.8.8")));
        assert!(!c.contains(ip("::1")));
        let c = parse_entry("::ffff:192.168.0.0/112", true).unwrap()[0];
        assert!(c.contains(ip("192.168.4.4")));
    }

    #[test]
    fn bad_entries_name_themselves() {
        for bad in ["10.0.0.0/33", "1.2.3/8", "x/8", "", "::1/129"] {
            let e = format!("{:#}", parse_entry(bad, true).unwrap_err());
            assert!(e.contains(bad), "{bad}: {e}");
        }
        assert!(parse_entry("localhost", true).is_err(), "-n: no names");
    }

    #[test]
    fn allow_then_deny() {
        let a = Access::new(
            &["127.0.0.0/8".into()],
            &["127.0.0.2".into()],
            &[],
            &[],
            true,
        )
        .unwrap();
        assert!(a.permits(ip("127.0.0.1")));
        assert!(!a.permits(ip("127.0.0.2")));
        assert!(!a.permits(ip("10.0.0.1")));
        let open = Access::default();
        assert!(open.is_open() && open.permits(ip("10.0.0.1")));
        let deny_only = Access::new(&[], &["::1".into()], &[], &[], true).unwrap();
        assert!(!deny_only.permits(ip("::1")) && deny_only.permits(ip("127.0.0.1")));
    }

    proptest::proptest! {
        #[test]
        fn any_entry_parses_or_fails_cleanly(s in "[0-9a-f:./]{0,45}") {
            let _ = parse_entry(&s, true);
        }

        #[test]
        fn a_prefix_contains_its_own_network(a in proptest::prelude::any::<u32>(), len in 0u8..=32) {
            let ip = IpAddr::V4(a.into());
            let c = Cidr::new(ip, len).unwrap();
            proptest::prop_assert!(c.contains(ip));
        }
    }

    #[test]
    fn files_with_comments() {
        let dir = std::env::temp_dir().join(format!("rnc-acl-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("allow");
        std::fs::write(&f, "# trusted\n127.0.0.1   # me\n\n10.0.0.0/8\n").unwrap();
        let v = parse_file(f.to_str().unwrap(), true).unwrap();
        assert_eq!(v.len(), 2);
        std::fs::write(&f, "127.0.0.1\nnonsense/x\n").unwrap();
        let e = format!("{:#}", parse_file(f.to_str().unwrap(), true).unwrap_err());
        assert!(e.contains("line 2") && e.contains("nonsense/x"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
