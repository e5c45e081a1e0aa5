//! The ports of a scan: numbers, service names, ranges and comma lists.
//!
//! nc.openbsd takes several positional ports and `lo-hi` ranges; rnc also takes comma
//! lists and mixes (`22,80-90,https`). A port named twice is scanned once. Pure: the
//! only outside call is the services lookup.

use anyhow::{bail, Context, Result};

use crate::net;

/// Every port the arguments name, each once, in the order first named.
/// `proto` (`tcp` or `udp`) picks the services entry for names.
pub fn parse_list<S: AsRef<str>>(args: &[S], proto: &str) -> Result<Vec<u16>> {
    let mut seen = vec![false; 1 << 16];
    let mut ports = Vec::new();
    for arg in args {
        let arg = arg.as_ref();
        for item in arg.split(',') {
            if item.is_empty() {
                bail!("port list invalid: {arg}");
            }
            let (lo, hi) = parse_item(item, proto)?;
            for p in lo..=hi {
                if !seen[usize::from(p)] {
                    seen[usize::from(p)] = true;
                    ports.push(p);
                }
            }
        }
    }
    Ok(ports)
}

/// One element of a list: a port, a service name, or `lo-hi` of either.
fn parse_item(item: &str, proto: &str) -> Result<(u16, u16)> {
    // A service name may contain a dash (`kerberos-adm`): try the whole item first.
    if !item.bytes().all(|b| b.is_ascii_digit() || b == b'-') {
        if let Ok(p) = net::service_port_proto(item, proto) {
            return Ok((p, p));
        }
    }
    match item.split_once('-') {
        None => {
            let p = parse_one(item, proto)?;
            Ok((p, p))
        }
        Some((a, b)) if a.is_empty() || b.is_empty() => bail!("port range invalid: {item}"),
        Some((a, b)) => {
            let (lo, hi) = (parse_one(a, proto)?, parse_one(b, proto)?);
            if lo > hi {
                bail!("port range invalid: {item} (low end above high end)");
            }
            Ok((lo, hi))
        }
    }
}

/// A single port number or service name; 0 is refused (there is no port 0 to scan).
fn parse_one(s: &str, proto: &str) -> Result<u16> {
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        return match s.parse::<u64>() {
            Ok(0) => bail!("port number too small: {s}"),
            Ok(n) if n <= 65535 => Ok(n as u16),
            _ => bail!("port number too large: {s}"),
        };
    }
    net::service_port_proto(s, proto).with_context(|| format!("port number invalid: {s}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ports(args: &[&str]) -> Vec<u16> {
        parse_list(args, "tcp").unwrap()
    }

    fn err(args: &[&str]) -> String {
        format!("{:#}", parse_list(args, "tcp").unwrap_err())
    }

    #[test]
    fn single_ports_and_names() {
        assert_eq!(ports(&["22"]), [22]);
        assert_eq!(ports(&["1"]), [1]);
        assert_eq!(ports(&["65535"]), [65535]);
        assert_eq!(ports(&["http"]), [80]);
        assert_eq!(ports(&["https"]), [443]);
    }

    #[test]
    fn ranges_lists_and_mixes() {
        assert_eq!(ports(&["20-25"]), [20, 21, 22, 23, 24, 25]);
        assert_eq!(ports(&["7-7"]), [7]);
        assert_eq!(ports(&["22,80,443"]), [22, 80, 443]);
        assert_eq!(ports(&["22,80-82,https"]), [22, 80, 81, 82, 443]);
        assert_eq!(ports(&["ssh-telnet"]), [22, 23]);
        assert_eq!(ports(&["1-65535"]).len(), 65535);
    }

    #[test]
    fn several_arguments_keep_first_order_and_drop_repeats() {
        assert_eq!(ports(&["443", "22", "80"]), [443, 22, 80]);
        assert_eq!(ports(&["1-3", "2", "3,1,4"]), [1, 2, 3, 4]);
        assert_eq!(ports(&["80", "http"]), [80]);
    }

    #[test]
    fn udp_names_use_the_udp_entry() {
        // `domain` is 53 for both; the lookup must not fail for udp.
        assert_eq!(parse_list(&["domain"], "udp").unwrap(), [53]);
    }

    #[test]
    fn bad_ports_name_the_value() {
        assert_eq!(err(&["0"]), "port number too small: 0");
        assert_eq!(err(&["70000"]), "port number too large: 70000");
        assert_eq!(
            err(&["99999999999999999999"]),
            "port number too large: 99999999999999999999"
        );
        assert_eq!(
            err(&["25-20"]),
            "port range invalid: 25-20 (low end above high end)"
        );
        assert!(err(&["abc"]).starts_with("port number invalid: abc"));
        assert!(err(&["20-abc"]).starts_with("port number invalid: abc"));
        assert_eq!(err(&["0-5"]), "port number too small: 0");
        assert_eq!(err(&["22,,80"]), "port list invalid: 22,,80");
        assert_eq!(err(&["22,"]), "port list invalid: 22,");
        assert_eq!(err(&["5-"]), "port range invalid: 5-");
        assert!(err(&["80", "1-2-3"]).starts_with("port number invalid: 2-3"));
    }
}
