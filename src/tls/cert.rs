//! Certificates as rnc shows and makes them: SHA-256 fingerprints in openssl's form,
//! `--ssl-pin` parsing, the subject and issuer of a DER certificate, and the ephemeral
//! listener certificate.

use anyhow::{bail, Context, Result};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// SHA-256 of a DER certificate.
pub fn sha256(der: &[u8]) -> [u8; 32] {
    let d = ring::digest::digest(&ring::digest::SHA256, der);
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// `AB:CD:...`, as `openssl x509 -noout -fingerprint -sha256` prints it.
pub fn hex_colons(fp: &[u8]) -> String {
    fp.iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// `--ssl-pin`: 64 hex digits, colons and case optional; a `sha256` / `SHA256
/// Fingerprint=` prefix as openssl prints it is allowed too.
pub fn parse_pin(s: &str) -> Result<[u8; 32]> {
    let t = s.trim();
    let t = t.rsplit_once('=').map_or(t, |(_, v)| v);
    let t = t
        .strip_prefix("sha256:")
        .or_else(|| t.strip_prefix("SHA256:"))
        .unwrap_or(t);
    let hex: String = t.chars().filter(|&c| c != ':').collect();
    if hex.len() != 64 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        bail!("--ssl-pin wants a SHA-256 fingerprint (64 hex digits, colons optional): {s}");
    }
    let mut out = [0u8; 32];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).expect("checked hex");
    }
    Ok(out)
}

/// A certificate made for this run: self-signed, ECDSA P-256, for `names` (host names
/// and addresses).
pub fn ephemeral(names: Vec<String>) -> Result<(CertificateDer<'static>, PrivateKeyDer<'static>)> {
    let key = rcgen::KeyPair::generate().context("generating a key")?;
    let mut params = rcgen::CertificateParams::new(names.clone()).context("certificate names")?;
    let cn = names.first().cloned().unwrap_or_else(|| "rnc".into());
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, cn);
    let cert = params.self_signed(&key).context("signing a certificate")?;
    let key = PrivatePkcs8KeyDer::from(key.serialize_der());
    Ok((cert.der().clone(), key.into()))
}

/// One DER element: (tag, contents, what follows).
fn tlv(buf: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = buf.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = match first {
        n if n < 0x80 => (n as usize, rest),
        n => {
            let k = (n & 0x7f) as usize;
            if k == 0 || k > 4 || rest.len() < k {
                return None;
            }
            let len = rest[..k].iter().fold(0usize, |a, &b| (a << 8) | b as usize);
            (len, &rest[k..])
        }
    };
    (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
}

/// The issuer and subject Names of a certificate, as raw DER.
fn issuer_subject(der: &[u8]) -> Option<(&[u8], &[u8])> {
    let (_, cert, _) = tlv(der)?;
    let (_, mut tbs, _) = tlv(cert)?;
    // An explicit [0] version comes first when present.
    if tbs.first() == Some(&0xa0) {
        tbs = tlv(tbs)?.2;
    }
    let (_, _serial, rest) = tlv(tbs)?;
    let (_, _alg, rest) = tlv(rest)?;
    let (_, issuer, rest) = tlv(rest)?;
    let (_, _validity, rest) = tlv(rest)?;
    let (_, subject, _) = tlv(rest)?;
    Some((issuer, subject))
}

/// Signed by its own subject: what webpki calls an unknown issuer, said plainly.
pub fn is_self_signed(der: &[u8]) -> bool {
    issuer_subject(der).is_some_and(|(i, s)| i == s)
}

/// The names of a certificate that has no subjectAltName extension (OID 2.5.29.17):
/// its subject's common name, which OpenSSL still checks in that case.
pub fn legacy_common_name(der: &[u8]) -> Option<String> {
    if der.windows(5).any(|w| w == [0x06, 0x03, 0x55, 0x1d, 0x11]) {
        return None;
    }
    subject(der)
        .split(", ")
        .find_map(|kv| kv.strip_prefix("CN=").map(String::from))
}

/// `CN=host, O=org`: the attributes rnc knows by name, others by OID.
pub fn subject(der: &[u8]) -> String {
    let Some((_, mut name)) = issuer_subject(der) else {
        return "(unreadable subject)".into();
    };
    let mut parts = Vec::new();
    while let Some((_, set, rest)) = tlv(name) {
        name = rest;
        let Some((_, atv, _)) = tlv(set) else { break };
        let Some((_, oid, rest)) = tlv(atv) else {
            break;
        };
        let Some((_, value, _)) = tlv(rest) else {
            break;
        };
        let key = match oid {
            [0x55, 0x04, 0x03] => "CN".to_string(),
            [0x55, 0x04, 0x06] => "C".into(),
            [0x55, 0x04, 0x07] => "L".into(),
            [0x55, 0x04, 0x08] => "ST".into(),
            [0x55, 0x04, 0x0a] => "O".into(),
            [0x55, 0x04, 0x0b] => "OU".into(),
            other => format!("OID {}", hex_colons(other)),
        };
        parts.push(format!("{key}={}", String::from_utf8_lossy(value)));
    }
    match parts.is_empty() {
        true => "(empty subject)".into(),
        false => parts.join(", "),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_parse_in_openssl_form_and_bare() {
        let fp = [0xabu8; 32];
        let colons = hex_colons(&fp);
        assert_eq!(parse_pin(&colons).unwrap(), fp);
        assert_eq!(
            parse_pin(&colons.replace(':', "").to_lowercase()).unwrap(),
            fp
        );
        assert_eq!(
            parse_pin(&format!("sha256 Fingerprint={colons}")).unwrap(),
            fp
        );
        assert!(parse_pin("AB:CD").is_err());
        assert!(parse_pin(&"zz".repeat(32)).is_err());
    }

    #[test]
    fn ephemeral_certificate_is_self_signed_with_its_name() {
        let (cert, _) = ephemeral(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
        assert!(is_self_signed(&cert));
        assert_eq!(subject(&cert), "CN=localhost");
    }

    #[test]
    fn garbage_is_not_read_past_its_end() {
        assert!(!is_self_signed(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]));
        assert_eq!(subject(&[0x30]), "(unreadable subject)");
    }
}
