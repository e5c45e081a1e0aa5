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

/// MD5 (RFC 1321): the only hash Digest clients are sure to have.
pub fn md5(data: &[u8]) -> [u8; 16] {
    const SHIFT: [[u32; 4]; 4] = [
        [7, 12, 17, 22],
        [5, 9, 14, 20],
        [4, 11, 16, 23],
        [6, 10, 15, 21],
    ];
    // The sine table of RFC 1321 §3.4, computed.
    let k: Vec<u32> = (0..64)
        .map(|i| ((i as f64 + 1.0).sin().abs() * 4294967296.0) as u32)
        .collect();
    let mut msg = data.to_vec();
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&((data.len() as u64).wrapping_mul(8)).to_le_bytes());
    let mut h: [u32; 4] = [0x6745_2301, 0xefcd_ab89, 0x98ba_dcfe, 0x1032_5476];
    for chunk in msg.chunks(64) {
        let m: Vec<u32> = chunk
            .chunks(4)
            .map(|w| u32::from_le_bytes([w[0], w[1], w[2], w[3]]))
            .collect();
        let [mut a, mut b, mut c, mut d] = h;
        for i in 0..64 {
            let (f, g) = match i / 16 {
                0 => ((b & c) | (!b & d), i),
                1 => ((d & b) | (!d & c), (5 * i + 1) % 16),
                2 => (b ^ c ^ d, (3 * i + 5) % 16),
                _ => (c ^ (b | !d), (7 * i) % 16),
            };
            let f = f.wrapping_add(a).wrapping_add(k[i]).wrapping_add(m[g]);
            (a, d, c) = (d, c, b);
            b = b.wrapping_add(f.rotate_left(SHIFT[i / 16][i % 4]));
        }
        for (x, y) in h.iter_mut().zip([a, b, c, d]) {
            *x = x.wrapping_add(y);
        }
    }
    let mut out = [0u8; 16];
    for (i, w) in h.iter().enumerate() {
        out[i * 4..i * 4 + 4].copy_from_slice(&w.to_le_bytes());
    }
    out
}

fn md5_hex(s: &str) -> String {
    md5(s.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
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
    fn md5_matches_rfc1321_vectors() {
        for (i, o) in [
            ("", "d41d8cd98f00b204e9800998ecf8427e"),
            ("a", "0cc175b9c0f1b6a831c399e269772661"),
            ("abc", "900150983cd24fb0d6963f7d28e17f72"),
            ("message digest", "f96b697d7cb7938d525a2f31aaf161d0"),
            (
                "12345678901234567890123456789012345678901234567890123456789012345678901234567890",
                "57edf4a22be3c955ac49da2e2107b67a",
            ),
        ] {
            assert_eq!(md5_hex(i), o, "{i:?}");
        }
    }

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
