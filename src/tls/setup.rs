//! The TLS flags → rustls client and server configurations.

use std::sync::Arc;

use anyhow::{anyhow, bail, Context, Result};
use rustls::crypto::{ring, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::SupportedCipherSuite;
use rustls::{ClientConfig, RootCertStore, ServerConfig};

use super::verify::{Check, ServerCheck};
use super::{cert, Opts};
use crate::cli::Cli;

impl Opts {
    /// The TLS flags, checked; `None` when rnc speaks no TLS.
    pub fn from_cli(cli: &Cli) -> Result<Option<Opts>> {
        let any_ssl_flag = cli.ssl_cert.is_some()
            || cli.ssl_key.is_some()
            || cli.ssl_trustfile.is_some()
            || cli.ssl_servername.is_some()
            || cli.ssl_alpn.is_some()
            || cli.ssl_ciphers.is_some()
            || cli.ssl_pin.is_some()
            || cli.ssl_verify
            || cli.ssl_no_verify;
        // As ncat: any --ssl-* flag means --ssl, unless it is there for --relay-ssl.
        let ssl = cli.ssl || (any_ssl_flag && !cli.relay_ssl);
        if !ssl && !cli.relay_ssl {
            return Ok(None);
        }
        if cli.udp {
            bail!("cannot use --ssl with -u: DTLS is not supported");
        }
        if cli.zero_io {
            bail!("cannot use --ssl with -z");
        }
        if cli.relay_ssl && cli.relay.as_deref().is_some_and(|t| t.starts_with("unix:")) {
            bail!("--relay-ssl needs a host:port relay target");
        }
        let alpn = match &cli.ssl_alpn {
            Some(list) => {
                let protos: Vec<Vec<u8>> = list
                    .split(',')
                    .map(|p| p.trim().as_bytes().to_vec())
                    .collect();
                if protos.iter().any(|p| p.is_empty() || p.len() > 255) {
                    bail!("--ssl-alpn wants a comma-separated list of protocol names: {list}");
                }
                protos
            }
            None => Vec::new(),
        };
        Ok(Some(Opts {
            ssl,
            relay_out: cli.relay_ssl,
            cert: cli.ssl_cert.clone(),
            key: cli.ssl_key.clone(),
            trustfile: cli.ssl_trustfile.clone(),
            servername: cli.ssl_servername.clone(),
            alpn,
            suites: cli.ssl_ciphers.as_deref().map(suites).transpose()?,
            pin: cli.ssl_pin.as_deref().map(cert::parse_pin).transpose()?,
            no_verify: cli.ssl_no_verify,
        }))
    }
}

/// OpenSSL's names for the TLS 1.2 suites rustls has (TLS 1.3 names are the IANA ones).
const OPENSSL_NAMES: [(&str, &str); 6] = [
    (
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    ),
    (
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    ),
    (
        "ECDHE-ECDSA-CHACHA20-POLY1305",
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
    ),
    (
        "ECDHE-RSA-AES128-GCM-SHA256",
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    ),
    (
        "ECDHE-RSA-AES256-GCM-SHA384",
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    ),
    (
        "ECDHE-RSA-CHACHA20-POLY1305",
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
    ),
];

/// A suite's IANA name as rustls spells it, without its `TLS13_` quirk.
fn iana(s: &SupportedCipherSuite) -> String {
    let n = s.suite().as_str().unwrap_or("");
    n.replacen("TLS13_", "TLS_", 1)
}

/// `--ssl-ciphers`: the suites named, in rustls's order of preference.
fn suites(list: &str) -> Result<Vec<SupportedCipherSuite>> {
    let all = ring::DEFAULT_CIPHER_SUITES;
    let mut picked = Vec::new();
    let mut named_any = false;
    for word in list.split([':', ',', ' ']).filter(|w| !w.is_empty()) {
        let keyword = word.starts_with(['!', '-', '+', '@'])
            || matches!(
                word.to_ascii_uppercase().as_str(),
                "ALL" | "DEFAULT" | "HIGH" | "MEDIUM" | "AESGCM" | "CHACHA20" | "ECDHE" | "EECDH"
            );
        if keyword {
            continue;
        }
        let upper = word.to_ascii_uppercase();
        let name = OPENSSL_NAMES
            .iter()
            .find(|(o, _)| *o == upper)
            .map_or(upper.replacen("TLS13_", "TLS_", 1), |(_, i)| i.to_string());
        let Some(s) = all.iter().find(|s| iana(s) == name) else {
            let have: Vec<String> = all.iter().map(iana).collect();
            bail!(
                "--ssl-ciphers: rustls has no suite {word} (it has {})",
                have.join(", ")
            );
        };
        named_any = true;
        picked.push(*s);
    }
    if !named_any {
        return Ok(all.to_vec());
    }
    Ok(all.iter().filter(|s| picked.contains(s)).copied().collect())
}

/// rnc's order of preference: TLS 1.3 first, and in each version AES-128-GCM, then
/// AES-256-GCM, then ChaCha20. AES-128 matches the strength of the X25519 and P-256
/// key exchange, and its SHA-256 runs on the CPU's SHA instructions where SHA-384 has
/// none, so handshakes cost less (about 15% of a listener's CPU) and bulk data too.
fn preferred(mut suites: Vec<SupportedCipherSuite>) -> Vec<SupportedCipherSuite> {
    let rank = |s: &SupportedCipherSuite| {
        let name = iana(s);
        let cipher = ["AES_128_GCM", "AES_256_GCM"]
            .iter()
            .position(|c| name.contains(c))
            .unwrap_or(2);
        (matches!(s, SupportedCipherSuite::Tls12(_)), cipher)
    };
    suites.sort_by_key(rank);
    suites
}

fn provider(opts: &Opts) -> Arc<CryptoProvider> {
    let mut p = ring::default_provider();
    p.cipher_suites = preferred(opts.suites.clone().unwrap_or(p.cipher_suites));
    Arc::new(p)
}

const ONLY_13: &[&rustls::SupportedProtocolVersion] = &[&rustls::version::TLS13];
const ONLY_12: &[&rustls::SupportedProtocolVersion] = &[&rustls::version::TLS12];

fn versions(opts: &Opts) -> Result<&'static [&'static rustls::SupportedProtocolVersion]> {
    // A TLS 1.2-only suite list must not leave TLS 1.3 with nothing to offer.
    let has13 = opts.suites.as_ref().is_none_or(|s| {
        s.iter()
            .any(|s| matches!(s, SupportedCipherSuite::Tls13(_)))
    });
    let has12 = opts.suites.as_ref().is_none_or(|s| {
        s.iter()
            .any(|s| matches!(s, SupportedCipherSuite::Tls12(_)))
    });
    Ok(match (has12, has13) {
        (true, true) => rustls::ALL_VERSIONS,
        (false, true) => ONLY_13,
        (true, false) => ONLY_12,
        (false, false) => bail!("--ssl-ciphers names no suite"),
    })
}

fn read_certs(path: &str) -> Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| anyhow!("{path}: {e}"))?;
    if certs.is_empty() {
        bail!("{path}: no PEM certificate in it");
    }
    Ok(certs)
}

fn read_key(path: &str) -> Result<PrivateKeyDer<'static>> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| anyhow!("{path}: no private key in it ({e})"))
}

/// `--ssl-trustfile`, or the system store; and the SHA-256 of each certificate in it.
fn roots(opts: &Opts) -> Result<(RootCertStore, Vec<[u8; 32]>)> {
    let mut store = RootCertStore::empty();
    let certs = match &opts.trustfile {
        Some(path) => {
            let certs = read_certs(path)?;
            for c in &certs {
                store
                    .add(c.clone())
                    .map_err(|e| anyhow!("{path}: a certificate rustls cannot use: {e}"))?;
            }
            certs
        }
        None => {
            // Unreadable files in the store are skipped, as OpenSSL does.
            let found = rustls_native_certs::load_native_certs().certs;
            store.add_parsable_certificates(found.iter().cloned());
            found
        }
    };
    let prints = certs.iter().map(|c| cert::sha256(c)).collect();
    Ok((store, prints))
}

/// The configuration of a client (connect mode, or a relay's far side).
pub fn client(opts: &Opts) -> Result<Arc<ClientConfig>> {
    let prov = provider(opts);
    let (check, trusted) = if opts.no_verify {
        (Check::Off, Vec::new())
    } else if let Some(pin) = opts.pin {
        (Check::Pin(pin), Vec::new())
    } else {
        let (store, trusted) = roots(opts)?;
        let check = match store.is_empty() {
            true => Check::Store(None),
            false => Check::Store(Some(
                rustls::client::WebPkiServerVerifier::builder_with_provider(
                    Arc::new(store),
                    prov.clone(),
                )
                .build()
                .context("trust store")?,
            )),
        };
        (check, trusted)
    };
    let verifier = Arc::new(ServerCheck {
        check,
        algs: prov.signature_verification_algorithms,
        trusted,
    });
    let builder = ClientConfig::builder_with_provider(prov.clone())
        .with_protocol_versions(versions(opts)?)
        .context("--ssl-ciphers")?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let mut cfg = match &opts.cert {
        Some(c) => {
            let key = read_key(opts.key.as_deref().unwrap_or(c))?;
            builder
                .with_client_auth_cert(read_certs(c)?, key)
                .context("--ssl-cert")?
        }
        None => builder.with_no_client_auth(),
    };
    cfg.alpn_protocols = opts.alpn.clone();
    Ok(Arc::new(cfg))
}

/// The configuration of a listener; `names` are those of the ephemeral certificate.
pub fn server(opts: &Opts, names: Vec<String>) -> Result<Arc<ServerConfig>> {
    let prov = provider(opts);
    let builder = ServerConfig::builder_with_provider(prov.clone())
        .with_protocol_versions(versions(opts)?)
        .context("--ssl-ciphers")?;
    let builder = match &opts.trustfile {
        Some(_) => builder.with_client_cert_verifier(
            WebPkiClientVerifier::builder_with_provider(Arc::new(roots(opts)?.0), prov)
                .build()
                .context("--ssl-trustfile")?,
        ),
        None => builder.with_no_client_auth(),
    };
    let (chain, key) = match &opts.cert {
        Some(c) => (read_certs(c)?, read_key(opts.key.as_deref().unwrap_or(c))?),
        None => {
            let (c, k) = cert::ephemeral(names)?;
            crate::say!(
                "rnc: tls: certificate for this run, SHA-256 {}",
                cert::hex_colons(&cert::sha256(&c))
            );
            (vec![c], k)
        }
    };
    let mut cfg = builder
        .with_single_cert(chain, key)
        .context("--ssl-cert and --ssl-key")?;
    cfg.alpn_protocols = opts.alpn.clone();
    cfg.ignore_client_order = true;
    // Stateless tickets: resumption costs the listener no memory per client and
    // works for every client, where the default cache keeps the last 256 sessions.
    cfg.ticketer = ring::Ticketer::new().context("session tickets")?;
    Ok(Arc::new(cfg))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cipher_lists_take_iana_and_openssl_names_and_skip_keywords() {
        let s = suites("ALL:!aNULL:ECDHE-RSA-AES128-GCM-SHA256:TLS_AES_256_GCM_SHA384").unwrap();
        let names: Vec<String> = s.iter().map(iana).collect();
        assert_eq!(
            names,
            [
                "TLS_AES_256_GCM_SHA384",
                "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"
            ]
        );
        assert_eq!(
            suites("HIGH:!MD5").unwrap().len(),
            ring::DEFAULT_CIPHER_SUITES.len()
        );
        assert!(format!("{:#}", suites("RC4-MD5").unwrap_err()).contains("RC4-MD5"));
    }

    #[test]
    fn aes_128_comes_first_in_each_version() {
        let names: Vec<String> = preferred(ring::DEFAULT_CIPHER_SUITES.to_vec())
            .iter()
            .map(iana)
            .collect();
        assert_eq!(names[0], "TLS_AES_128_GCM_SHA256");
        assert_eq!(names[1], "TLS_AES_256_GCM_SHA384");
        assert_eq!(names[2], "TLS_CHACHA20_POLY1305_SHA256");
        assert!(names[3].starts_with("TLS_ECDHE_") && names[3].contains("AES_128_GCM"));
        assert_eq!(names.len(), ring::DEFAULT_CIPHER_SUITES.len());
    }
}
