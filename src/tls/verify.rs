//! The client's check of the server certificate: webpki against a trust store (the
//! default), a pin, or nothing at all. Every failure becomes one reason a user can act
//! on, and for a certificate nobody vouches for, the `--ssl-pin` that would accept it.

use std::fmt;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, Error, OtherError, SignatureScheme};

use super::cert;

/// How the server's certificate is checked.
#[derive(Debug)]
pub enum Check {
    /// Chain to a trusted root, name, dates. `None`: the store has no certificate.
    Store(Option<Arc<WebPkiServerVerifier>>),
    /// `--ssl-pin`: exactly this leaf.
    Pin([u8; 32]),
    /// `--ssl-no-verify`.
    Off,
}

#[derive(Debug)]
pub struct ServerCheck {
    pub check: Check,
    pub algs: WebPkiSupportedAlgorithms,
    /// SHA-256 of each trusted certificate (--ssl-trustfile or the store): a
    /// self-signed certificate made with `openssl req -x509` is marked as a CA, which
    /// webpki refuses as a leaf even when it is trusted itself. Such a certificate is
    /// accepted as OpenSSL accepts it: its name checked, the rest taken as the user's
    /// word.
    pub trusted: Vec<[u8; 32]>,
}

/// Why a certificate was refused, with what the user needs to decide about it.
#[derive(Debug)]
pub struct Refused {
    reason: String,
    /// The leaf's fingerprint, offered as a pin (self-signed or unknown issuer only).
    offer: Option<String>,
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "certificate verify failed: {}", self.reason)?;
        if let Some(fp) = &self.offer {
            write!(
                f,
                " (SHA-256 {fp}); to trust exactly this certificate: --ssl-pin {fp}"
            )?;
        }
        Ok(())
    }
}

impl std::error::Error for Refused {}

fn refuse(reason: String, offer: Option<&CertificateDer<'_>>) -> Error {
    let offer = offer.map(|c| cert::hex_colons(&cert::sha256(c)));
    let r = Refused { reason, offer };
    Error::InvalidCertificate(CertificateError::Other(OtherError(Arc::new(r))))
}

/// webpki's verdict in the words of the failure line.
fn explain(e: Error, leaf: &CertificateDer<'_>, name: &ServerName<'_>) -> Error {
    let Error::InvalidCertificate(ce) = &e else {
        return e;
    };
    let chain_error = matches!(
        ce,
        CertificateError::UnknownIssuer
            | CertificateError::Other(_)
            | CertificateError::BadEncoding
    );
    match ce {
        _ if chain_error && cert::is_self_signed(leaf) => {
            refuse("self-signed certificate".into(), Some(leaf))
        }
        CertificateError::UnknownIssuer => refuse("unknown issuer".into(), Some(leaf)),
        CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
            refuse("certificate has expired".into(), None)
        }
        CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
            refuse("certificate is not valid yet".into(), None)
        }
        CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
            refuse(
                format!(
                    "name mismatch: the certificate is not for {} (see --ssl-servername)",
                    name.to_str()
                ),
                None,
            )
        }
        other => refuse(Error::InvalidCertificate(other.clone()).to_string(), None),
    }
}

/// The name check of a certificate the trust file holds itself: its subjectAltNames,
/// or without any, its common name (as OpenSSL checks `openssl req -x509` certificates).
fn trusted_name(leaf: &CertificateDer<'_>, name: &ServerName<'_>) -> Result<(), Error> {
    if let Some(cn) = cert::legacy_common_name(leaf) {
        if cn.eq_ignore_ascii_case(&name.to_str()) {
            return Ok(());
        }
    }
    let parsed = rustls::server::ParsedCertificate::try_from(leaf)?;
    rustls::client::verify_server_name(&parsed, name).map_err(|e| explain(e, leaf, name))
}

impl ServerCertVerifier for ServerCheck {
    fn verify_server_cert(
        &self,
        leaf: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        match &self.check {
            Check::Off => Ok(ServerCertVerified::assertion()),
            Check::Pin(want) => {
                let got = cert::sha256(leaf);
                match &got == want {
                    true => Ok(ServerCertVerified::assertion()),
                    false => Err(refuse(
                        format!(
                            "pin mismatch: the certificate's SHA-256 is {}, --ssl-pin wants {}",
                            cert::hex_colons(&got),
                            cert::hex_colons(want)
                        ),
                        None,
                    )),
                }
            }
            Check::Store(None) => Err(explain(
                Error::InvalidCertificate(CertificateError::UnknownIssuer),
                leaf,
                name,
            )),
            Check::Store(Some(v)) => {
                match v.verify_server_cert(leaf, intermediates, name, ocsp, now) {
                    Ok(ok) => Ok(ok),
                    Err(_) if self.trusted.contains(&cert::sha256(leaf)) => {
                        trusted_name(leaf, name)?;
                        Ok(ServerCertVerified::assertion())
                    }
                    Err(e) => Err(explain(e, leaf, name)),
                }
            }
        }
    }

    // Signatures are checked whatever the trust decision: a pinned certificate proves
    // nothing unless the server holds its key.
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algs)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algs)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algs.supported_schemes()
    }
}

/// The failure line's words for a handshake error: our own reasons as they are, rustls's
/// with its own Display.
pub fn describe(e: &Error) -> String {
    match e {
        Error::InvalidCertificate(CertificateError::Other(OtherError(o))) => o.to_string(),
        Error::AlertReceived(a) => format!("the peer sent alert {a:?}"),
        Error::NoApplicationProtocol => "no ALPN protocol in common (--ssl-alpn)".into(),
        Error::InvalidMessage(rustls::InvalidMessage::InvalidContentType) => {
            "the peer does not speak TLS (plain text?)".into()
        }
        other => other.to_string(),
    }
}
