//! `--allow`, `--deny`, `--allowfile`, `--denyfile`: who may talk to a listener.
//!
//! Entries are addresses, CIDR ranges (`10.0.0.0/8`, `fd00::/8`) or host names
//! (resolved once at start). Files hold them as ncat's do: several a line, `#`
//! comments, blank lines. Reading (`read_files`), checking (`Rules::new`, pure) and
//! resolving (`Rules::resolve`) are separate steps. With any allow entry, only matching peers get in; a deny
//! entry always wins. IPv4-mapped IPv6 peers (`::ffff:a.b.c.d`) match IPv4 rules. Unix
//! socket peers have no address: config refuses rules with `-U`.

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

/// One entry as written: a network, or a host name to resolve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    Net(Cidr),
    Name(String),
}

/// Check one entry's form: `addr`, `addr/len` or a host name (not resolved here).
pub fn check_entry(s: &str, numeric: bool) -> Result<Entry> {
    let s = s.trim();
    let ctx = || format!("access entry invalid: {s}");
    if let Some((a, p)) = s.split_once('/') {
        let ip: IpAddr = a.parse().with_context(ctx)?;
        let prefix: u8 = p.parse().with_context(ctx)?;
        return Ok(Entry::Net(Cidr::new(ip, prefix).with_context(ctx)?));
    }
    if let Ok(ip) = s.parse::<IpAddr>() {
        let full = if ip.is_ipv4() { 32 } else { 128 };
        return Ok(Entry::Net(Cidr::new(ip, full)?));
    }
    if s.is_empty() || numeric || s.contains(char::is_whitespace) {
        bail!("access entry invalid: {s}");
    }
    Ok(Entry::Name(s.to_string()))
}

/// The networks of one entry: a host name gives every address it has.
fn resolve(e: &Entry) -> Result<Vec<Cidr>> {
    match e {
        Entry::Net(c) => Ok(vec![*c]),
        Entry::Name(n) => {
            let addrs = net::resolve(n, 0, Family::Any, false)
                .with_context(|| format!("access entry invalid: {n}"))?;
            addrs
                .iter()
                .map(|a| Cidr::new(a.ip(), if a.is_ipv4() { 32 } else { 128 }))
                .collect()
        }
    }
}

/// Parse one entry and resolve it: `addr`, `addr/len` or a host name.
#[cfg(test)]
fn parse_entry(s: &str, numeric: bool) -> Result<Vec<Cidr>> {
    resolve(&check_entry(s, numeric)?)
}

/// The entries of a file's text, in ncat's form: any number a line, separated by
/// white space; `#` starts a comment; blank lines are skipped. `name` is for errors.
pub fn check_file(name: &str, text: &str, numeric: bool) -> Result<Vec<Entry>> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("");
        for word in line.split_whitespace() {
            out.push(check_entry(word, numeric).with_context(|| format!("{name} line {}", i + 1))?);
        }
    }
    Ok(out)
}

/// Read `--allowfile`/`--denyfile` files: (path, text) each, for `Rules::new`.
pub fn read_files(paths: &[String]) -> Result<Vec<(String, String)>> {
    paths
        .iter()
        .map(|p| {
            let text = std::fs::read_to_string(p).with_context(|| format!("cannot read {p}"))?;
            Ok((p.clone(), text))
        })
        .collect()
}

/// The rules as given, checked but not resolved: `Rules::new` does no I/O, and
/// `resolve` looks the names up.
#[derive(Debug, Clone, Default)]
pub struct Rules {
    allow: Vec<Entry>,
    deny: Vec<Entry>,
    restricted: bool,
}

impl Rules {
    /// From `--allow`/`--deny` entries and the (path, text) of the files already read.
    pub fn new(
        allow: &[String],
        deny: &[String],
        allow_files: &[(String, String)],
        deny_files: &[(String, String)],
        numeric: bool,
    ) -> Result<Rules> {
        let mut r = Rules {
            restricted: !allow.is_empty() || !allow_files.is_empty(),
            ..Rules::default()
        };
        for e in allow {
            r.allow.push(check_entry(e, numeric)?);
        }
        for (name, text) in allow_files {
            r.allow.extend(check_file(name, text, numeric)?);
        }
        for e in deny {
            r.deny.push(check_entry(e, numeric)?);
        }
        for (name, text) in deny_files {
            r.deny.extend(check_file(name, text, numeric)?);
        }
        Ok(r)
    }

    /// Look up the host names: the rules in force.
    pub fn resolve(&self) -> Result<Access> {
        let mut a = Access {
            restricted: self.restricted,
            ..Access::default()
        };
        for e in &self.allow {
            a.allow.extend(resolve(e)?);
        }
        for e in &self.deny {
            a.deny.extend(resolve(e)?);
        }
        Ok(a)
    }
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
    /// Read the files, check every entry, resolve the names: `read_files`,
    /// `Rules::new` and `Rules::resolve` in one.
    pub fn new(
        allow: &[String],
        deny: &[String],
        allowfiles: &[String],
        denyfiles: &[String],
        numeric: bool,
    ) -> Result<Access> {
        let (af, df) = (read_files(allowfiles)?, read_files(denyfiles)?);
        Rules::new(allow, deny, &af, &df, numeric)?.resolve()
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
        let path = f.to_str().unwrap().to_string();
        let a = Access::new(&[], &[], std::slice::from_ref(&path), &[], true).unwrap();
        assert!(a.permits(ip("127.0.0.1")) && a.permits(ip("10.9.9.9")));
        assert!(!a.permits(ip("127.0.0.2")));
        std::fs::write(&f, "127.0.0.1\nnonsense/x\n").unwrap();
        let e = Access::new(&[], &[], &[path], &[], true).unwrap_err();
        let e = format!("{e:#}");
        assert!(e.contains("line 2") && e.contains("nonsense/x"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn ncat_files_have_several_entries_a_line() {
        let text = "\n  # only a comment\n1.2.3.4 localhost\t10.0.0.0/8  # three\n\n::1\n";
        let v = check_file("f", text, false).unwrap();
        assert_eq!(v.len(), 4, "{v:?}");
        assert_eq!(v[1], Entry::Name("localhost".into()));
        let e = format!("{:#}", check_file("f", "1.2.3.4 x/8\n", true).unwrap_err());
        assert!(e.contains("f line 1") && e.contains("x/8"), "{e}");
        // -n: names are refused before any lookup.
        assert!(check_file("f", "1.2.3.4 localhost", true).is_err());
    }

    #[test]
    fn rules_check_without_io_then_resolve() {
        let files = [("a".to_string(), "127.0.0.1 ::1\n".to_string())];
        let r = Rules::new(&[], &["127.0.0.2".into()], &files, &[], true).unwrap();
        let a = r.resolve().unwrap();
        assert!(a.permits(ip("127.0.0.1")) && a.permits(ip("::1")));
        assert!(!a.permits(ip("127.0.0.2")) && !a.permits(ip("10.0.0.1")));
        let empty = Rules::new(&[], &[], &[("a".into(), "# none\n".into())], &[], true);
        assert!(!empty.unwrap().resolve().unwrap().permits(ip("127.0.0.1")));
    }
}
