//! HTTP Digest authentication (RFC 7616 with MD5, the form ncat's clients and server
//! speak) for the proxy server, beside Basic. Nonces are stateless: the time they were
//! made and a keyed hash of it, so any nonce this process made in the last five minutes
//! is accepted (a replay within that time is not detected).

use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::proxy::Auth;

/// The realm in every challenge.
pub const REALM: &str = "rnc";
/// How long a nonce is accepted.
const NONCE_LIFE_S: u64 = 300;

/// MD5 (the client's, `proxy::md5`) as lowercase hex: the only hash Digest clients are
/// sure to have.
fn md5_hex(s: &str) -> String {
    crate::proxy::md5::hex(s.as_bytes())
}

/// This process's key for nonces, from the kernel's random source.
fn secret() -> &'static [u8; 16] {
    static KEY: OnceLock<[u8; 16]> = OnceLock::new();
    KEY.get_or_init(|| {
        let mut k = [0u8; 16];
        // SAFETY: getrandom writes at most k.len() bytes into k.
        let n = unsafe { libc::getrandom(k.as_mut_ptr().cast(), k.len(), 0) };
        if n != k.len() as isize {
            // No random source: the time still makes nonces differ between runs.
            let t = now().to_le_bytes();
            k[..8].copy_from_slice(&t);
        }
        k
    })
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn nonce_at(t: u64) -> String {
    let key: String = secret().iter().map(|b| format!("{b:02x}")).collect();
    format!("{t:x}.{}", &md5_hex(&format!("{t:x}:{key}"))[..16])
}

fn nonce_ok(nonce: &str) -> bool {
    let Some(t) = nonce
        .split_once('.')
        .and_then(|(t, _)| u64::from_str_radix(t, 16).ok())
    else {
        return false;
    };
    now().saturating_sub(t) <= NONCE_LIFE_S && nonce_at(t) == nonce
}

/// The Digest challenge of a 407, with a fresh nonce.
pub fn challenge() -> String {
    format!(
        "Proxy-Authenticate: Digest realm=\"{REALM}\", nonce=\"{}\", qop=\"auth\", algorithm=MD5\r\n",
        nonce_at(now())
    )
}

/// `key=value, key="value", ...` after the scheme.
fn params(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = s.trim();
    while !rest.is_empty() {
        let Some((key, after)) = rest.split_once('=') else {
            break;
        };
        let after = after.trim_start();
        let (value, tail) = match after.strip_prefix('"') {
            Some(q) => match q.split_once('"') {
                Some((v, t)) => (v, t),
                None => (q, ""),
            },
            None => after.split_once(',').map_or((after, ""), |(v, t)| (v, t)),
        };
        out.push((key.trim().to_ascii_lowercase(), value.trim().to_string()));
        rest = tail.trim_start().trim_start_matches(',').trim_start();
    }
    out
}

/// Whether `Digest ...` (the field's value after the scheme) proves `a` for `method`.
pub fn verify(value: &str, method: &str, a: &Auth) -> bool {
    let p = params(value);
    let get = |k: &str| p.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let (Some(user), Some(realm), Some(nonce), Some(uri), Some(resp)) = (
        get("username"),
        get("realm"),
        get("nonce"),
        get("uri"),
        get("response"),
    ) else {
        return false;
    };
    if user != a.user || realm != REALM || !nonce_ok(nonce) {
        return false;
    }
    let ha1 = md5_hex(&format!("{}:{REALM}:{}", a.user, a.pass));
    let ha2 = md5_hex(&format!("{method}:{uri}"));
    let want = match (get("qop"), get("nc"), get("cnonce")) {
        (Some(qop), Some(nc), Some(cnonce)) if qop == "auth" => {
            md5_hex(&format!("{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}"))
        }
        (None, _, _) => md5_hex(&format!("{ha1}:{nonce}:{ha2}")),
        _ => return false,
    };
    want.eq_ignore_ascii_case(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_response_with_and_without_qop() {
        let a = Auth {
            user: "user".into(),
            pass: "pass".into(),
            basic: "user:pass".into(),
        };
        let nonce = nonce_at(now());
        let ha1 = md5_hex("user:rnc:pass");
        let ha2 = md5_hex("CONNECT:h:1");
        let r = md5_hex(&format!("{ha1}:{nonce}:{ha2}"));
        let v = format!(
            "username=\"user\", realm=\"rnc\", nonce=\"{nonce}\", uri=\"h:1\", response=\"{r}\""
        );
        assert!(verify(&v, "CONNECT", &a));
        assert!(!verify(&v, "GET", &a));
        assert!(!verify(&v.replace("\"user\"", "\"xxx\""), "CONNECT", &a));
        let r = md5_hex(&format!("{ha1}:{nonce}:00000001:abc:auth:{ha2}"));
        let v = format!(
            "username=\"user\", realm=\"rnc\", nonce=\"{nonce}\", uri=\"h:1\", qop=auth, \
             nc=00000001, cnonce=\"abc\", response=\"{r}\""
        );
        assert!(verify(&v, "CONNECT", &a));
        // A nonce this process did not make, or a missing field.
        assert!(!verify(
            &v.replace(&nonce, "1.0000000000000000"),
            "CONNECT",
            &a
        ));
        assert!(!verify(&v.replace("realm=\"rnc\", ", ""), "CONNECT", &a));
    }
}
