//! Every token number rnc uses, in one place.
//!
//! mio routes events by token, so two parts of rnc must never share one. The layout:
//! the loop's signal pipes, then the stdio pair and the single peer of a bridge, then
//! the listening sockets, then the clients of a many-client session.

use mio::Token;

/// Tokens below this are the loop's own, one per caught signal.
pub const FIRST_SESSION: usize = 8;
/// The stdio pair.
pub const STDIN: Token = Token(8);
pub const STDOUT: Token = Token(9);
/// The one socket of a bridge.
pub const NET: Token = Token(10);
/// Listening (or datagram-receiving) sockets: at most `FIRST_CLIENT - FIRST_LISTENER`.
pub const FIRST_LISTENER: usize = 16;
/// Clients and links of a many-client session: as many as the session needs.
pub const FIRST_CLIENT: usize = 64;
/// TLS links, owned by the loop itself (two each: the socket and the plaintext end):
/// far above any session's.
pub const FIRST_TLS: usize = 1 << 40;

/// Hands out client tokens and takes them back, so a long-running server keeps its
/// numbers (and its maps) small.
#[derive(Debug)]
pub struct Tokens {
    next: usize,
    free: Vec<usize>,
    /// Tokens taken per client (a relay link has three).
    width: usize,
}

impl Tokens {
    /// Groups of `width` consecutive tokens, from `FIRST_CLIENT` up.
    pub fn new(width: usize) -> Tokens {
        Tokens {
            next: 0,
            free: Vec::new(),
            width,
        }
    }

    /// A free id; its tokens are `token(id, 0..width)`.
    pub fn take(&mut self) -> usize {
        self.free.pop().unwrap_or_else(|| {
            self.next += 1;
            self.next - 1
        })
    }

    /// The id is free again once every descriptor it named is deregistered.
    pub fn give_back(&mut self, id: usize) {
        self.free.push(id);
    }

    pub fn token(&self, id: usize, idx: usize) -> Token {
        Token(FIRST_CLIENT + id * self.width + idx)
    }

    /// The id and index of a token, if it is a client's.
    pub fn owner(&self, t: Token) -> Option<(usize, usize)> {
        let n = t.0.checked_sub(FIRST_CLIENT)?;
        Some((n / self.width, n % self.width))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_reused_and_tokens_round_trip() {
        let mut t = Tokens::new(3);
        let a = t.take();
        let b = t.take();
        assert_ne!(a, b);
        assert_eq!(t.owner(t.token(b, 2)), Some((b, 2)));
        assert_eq!(t.owner(Token(5)), None);
        t.give_back(a);
        assert_eq!(t.take(), a);
    }
}
