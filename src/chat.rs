//! The chat line format, apart from any socket: cutting a byte stream into lines,
//! escaping what could drive a terminal, and checking `/nick` names.
//!
//! A relayed line is `-> ` + the line + LF, the format of the classic node.js chat
//! server. Lines are cut at LF (a CR just before it is part of the line ending); a line
//! longer than `PIECE` goes out in pieces of at most `PIECE` bytes, each cut on a UTF-8
//! boundary.
//! Control bytes other than TAB, DEL, the C1 controls, the bidi controls (U+202A-U+202E,
//! U+2066-U+2069, U+200E, U+200F, U+061C) and bytes that are not valid UTF-8 become
//! `\ooo` (three octal digits a byte, as ncat writes them); other valid UTF-8 passes
//! unchanged. Names refuse all of them.

/// The longest piece of a line relayed at once (before escaping).
pub const PIECE: usize = 64 * 1024;

/// The most bytes a `/nick` name may have.
pub const NAME_MAX: usize = 32;

/// Cuts one sender's byte stream into lines. Holds at most `PIECE` bytes of an
/// unterminated line (plus a CR that may start its line ending).
#[derive(Debug, Default)]
pub struct Framer {
    partial: Vec<u8>,
}

impl Framer {
    /// Bytes of an unterminated line held back.
    #[cfg(test)]
    pub fn held(&self) -> usize {
        self.partial.len()
    }

    /// Feed bytes; `emit` gets every complete line (without its line ending) and every
    /// `PIECE`-sized piece of a longer one, in order.
    pub fn feed(&mut self, mut data: &[u8], mut emit: impl FnMut(&[u8])) {
        while !data.is_empty() {
            match data.iter().position(|&b| b == b'\n') {
                Some(i) => {
                    if self.partial.is_empty() {
                        self.emit_pieces_of(&data[..i], &mut emit);
                    } else {
                        self.partial.extend_from_slice(&data[..i]);
                        let line = std::mem::take(&mut self.partial);
                        self.emit_pieces_of(&line, &mut emit);
                        self.partial = line;
                        self.partial.clear();
                    }
                    data = &data[i + 1..];
                }
                None => {
                    self.partial.extend_from_slice(data);
                    data = &[];
                    self.cut_long(&mut emit);
                }
            }
        }
    }

    /// The sender has gone: its unterminated last line, if any, goes out as a line.
    pub fn finish(&mut self, mut emit: impl FnMut(&[u8])) {
        if !self.partial.is_empty() {
            let line = std::mem::take(&mut self.partial);
            emit(&line);
        }
    }

    /// A whole line (without LF): drop a CR line ending, cut what is too long.
    fn emit_pieces_of(&self, line: &[u8], emit: &mut impl FnMut(&[u8])) {
        let mut line = line.strip_suffix(b"\r").unwrap_or(line);
        while line.len() > PIECE {
            let cut = utf8_cut(line, PIECE);
            emit(&line[..cut]);
            line = &line[cut..];
        }
        emit(line);
    }

    /// Send out full pieces of an unterminated line, keeping at most `PIECE` bytes
    /// (and a trailing CR, which may be the start of CR LF).
    fn cut_long(&mut self, emit: &mut impl FnMut(&[u8])) {
        let mut start = 0;
        loop {
            let rest = &self.partial[start..];
            let body = rest.strip_suffix(b"\r").unwrap_or(rest);
            if body.len() <= PIECE {
                break;
            }
            let cut = utf8_cut(rest, PIECE);
            emit(&rest[..cut]);
            start += cut;
        }
        if start > 0 {
            self.partial.drain(..start);
        }
    }
}

/// Where to cut `s` to keep at most `max` bytes without splitting a UTF-8 character
/// (when the bytes there are UTF-8 at all).
fn utf8_cut(s: &[u8], max: usize) -> usize {
    if s.len() <= max {
        return s.len();
    }
    // Step back over at most 3 continuation bytes to the start of the character.
    let mut cut = max;
    while cut > max.saturating_sub(3) && cut > 0 && (s[cut] & 0xC0) == 0x80 {
        cut -= 1;
    }
    if cut == 0 || (s[cut] & 0xC0) == 0x80 {
        max
    } else {
        cut
    }
}

/// True for characters that a terminal may take as a command, and for the bidi
/// controls, which make text read differently than it was sent (U+202E, right-to-left
/// override, turns `exe.txt` round).
fn is_control(c: char) -> bool {
    (c.is_control() && c != '\t') || ('\u{80}'..='\u{9f}').contains(&c) || is_bidi(c)
}

/// The bidi embedding, override and isolate controls, and the direction marks.
fn is_bidi(c: char) -> bool {
    matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}' | '\u{061c}')
}

fn push_octal(out: &mut Vec<u8>, b: u8) {
    out.extend_from_slice(&[
        b'\\',
        b'0' + (b >> 6),
        b'0' + ((b >> 3) & 7),
        b'0' + (b & 7),
    ]);
}

/// Append `line` to `out` with control bytes and invalid UTF-8 written as `\ooo`.
pub fn escape_into(out: &mut Vec<u8>, line: &[u8]) {
    // Fast path: printable ASCII and TAB only.
    if line
        .iter()
        .all(|&b| (0x20..0x7f).contains(&b) || b == b'\t')
    {
        out.extend_from_slice(line);
        return;
    }
    for chunk in line.utf8_chunks() {
        for c in chunk.valid().chars() {
            let mut tmp = [0u8; 4];
            let bytes = c.encode_utf8(&mut tmp).as_bytes();
            if is_control(c) {
                bytes.iter().for_each(|&b| push_octal(out, b));
            } else {
                out.extend_from_slice(bytes);
            }
        }
        chunk.invalid().iter().for_each(|&b| push_octal(out, b));
    }
}

/// One relayed line as receivers see it: `-> ` [`[name] `] line LF.
pub fn relay_line(out: &mut Vec<u8>, name: Option<&str>, line: &[u8]) {
    out.extend_from_slice(b"-> ");
    if let Some(n) = name {
        out.push(b'[');
        out.extend_from_slice(n.as_bytes());
        out.extend_from_slice(b"] ");
    }
    escape_into(out, line);
    out.push(b'\n');
}

/// A notice from the server to the room or one client: `-> * text` LF.
pub fn notice(out: &mut Vec<u8>, text: &str) {
    out.extend_from_slice(b"-> * ");
    escape_into(out, text.as_bytes());
    out.push(b'\n');
}

/// What a line means with `--chat-names`.
#[derive(Debug, PartialEq, Eq)]
pub enum Command<'a> {
    /// An ordinary line, relayed.
    Say,
    /// `/nick NAME`: NAME checked by `valid_name`.
    Nick(&'a str),
    /// `/nick` with a missing or unusable name; the text says why.
    BadNick(&'static str),
}

/// Read a line for `/nick`. Only the exact word `/nick` is a command.
pub fn command(line: &[u8]) -> Command<'_> {
    let Some(rest) = line.strip_prefix(b"/nick") else {
        return Command::Say;
    };
    if !(rest.is_empty() || rest[0] == b' ' || rest[0] == b'\t') {
        return Command::Say;
    }
    let Ok(rest) = std::str::from_utf8(rest) else {
        return Command::BadNick("names must be UTF-8");
    };
    let name = rest.trim();
    if name.is_empty() {
        return Command::BadNick("usage: /nick NAME");
    }
    match valid_name(name) {
        Ok(()) => Command::Nick(name),
        Err(why) => Command::BadNick(why),
    }
}

/// A name is 1 to `NAME_MAX` bytes of printable characters, without spaces, brackets
/// or bidi controls.
pub fn valid_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() || name.len() > NAME_MAX {
        return Err("names have 1 to 32 bytes");
    }
    if name
        .chars()
        .any(|c| c.is_whitespace() || is_control(c) || matches!(c, '[' | ']'))
    {
        return Err("names have no spaces, brackets, control or bidi characters");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(chunks: &[&[u8]]) -> Vec<Vec<u8>> {
        let mut f = Framer::default();
        let mut got = Vec::new();
        for c in chunks {
            f.feed(c, |l| got.push(l.to_vec()));
        }
        f.finish(|l| got.push(l.to_vec()));
        got
    }

    fn esc(b: &[u8]) -> String {
        let mut v = Vec::new();
        escape_into(&mut v, b);
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn lines_are_cut_at_lf_across_reads() {
        assert_eq!(
            lines(&[b"hel", b"lo\nwor", b"ld\n\nlast"]),
            vec![
                b"hello".to_vec(),
                b"world".to_vec(),
                b"".to_vec(),
                b"last".to_vec()
            ]
        );
    }

    #[test]
    fn crlf_counts_as_a_line_ending() {
        assert_eq!(
            lines(&[b"a\r\nb\r", b"\nc\rd\n"]),
            vec![b"a".to_vec(), b"b".to_vec(), b"c\rd".to_vec()]
        );
    }

    #[test]
    fn long_lines_go_in_pieces() {
        let long = vec![b'x'; 2 * PIECE + 10];
        let mut input = long.clone();
        input.push(b'\n');
        // Fed in odd chunks: the framer never holds more than one piece.
        let mut f = Framer::default();
        let mut got: Vec<Vec<u8>> = Vec::new();
        for c in input.chunks(10_000) {
            f.feed(c, |l| got.push(l.to_vec()));
            assert!(f.held() <= PIECE);
        }
        assert_eq!(
            got.iter().map(Vec::len).collect::<Vec<_>>(),
            [PIECE, PIECE, 10]
        );
        assert_eq!(got.concat(), long);
        // Exactly one piece long, with CR LF: one line, no empty tail.
        let mut exact = vec![b'y'; PIECE];
        exact.extend_from_slice(b"\r\n");
        assert_eq!(lines(&[&exact[..PIECE], &exact[PIECE..]]).len(), 1);
    }

    #[test]
    fn pieces_do_not_split_utf8() {
        let mut s = vec![b'a'; PIECE - 1];
        s.extend_from_slice("ñ".as_bytes()); // straddles the piece boundary
        s.extend_from_slice(b"b\n");
        let got = lines(&[&s]);
        assert_eq!(got[0].len(), PIECE - 1);
        assert_eq!(got[1], "ñb".as_bytes());
    }

    #[test]
    fn unterminated_last_line_comes_out_at_finish() {
        assert_eq!(lines(&[b"no newline"]), vec![b"no newline".to_vec()]);
        assert!(lines(&[b"done\n"]).len() == 1);
    }

    #[test]
    fn escaping_matches_ncat_for_controls_and_keeps_utf8() {
        assert_eq!(
            esc(b"ctrl\x01\x1b[31mred\ttab"),
            "ctrl\\001\\033[31mred\ttab"
        );
        assert_eq!(esc("señor ñ 日本".as_bytes()), "señor ñ 日本");
        assert_eq!(esc(b"bad \xc3 utf8 \xff"), "bad \\303 utf8 \\377");
        assert_eq!(esc(b"del\x7f nul\x00 cr\r"), "del\\177 nul\\000 cr\\015");
        // C1 controls (U+009B is CSI on some terminals).
        assert_eq!(esc("c1\u{9b}x".as_bytes()), "c1\\302\\233x");
        // Bidi controls: U+202E (right-to-left override) and an isolate.
        assert_eq!(esc("a\u{202e}b".as_bytes()), "a\\342\\200\\256b");
        assert_eq!(esc("\u{2067}x".as_bytes()), "\\342\\201\\247x");
        assert_eq!(esc("\u{61c}".as_bytes()), "\\330\\234");
        // Right-to-left text itself passes.
        assert_eq!(esc("שלום".as_bytes()), "שלום");
    }

    #[test]
    fn names_refuse_bidi_controls() {
        for c in [
            '\u{202a}', '\u{202e}', '\u{2066}', '\u{2069}', '\u{200e}', '\u{200f}', '\u{61c}',
        ] {
            let name = format!("ev{c}il");
            assert!(valid_name(&name).is_err(), "{c:?}");
            assert!(matches!(
                command(format!("/nick {name}").as_bytes()),
                Command::BadNick(_)
            ));
        }
        assert!(valid_name("שלום").is_ok());
    }

    #[test]
    fn relay_and_notice_format() {
        let mut v = Vec::new();
        relay_line(&mut v, None, b"hi");
        relay_line(&mut v, Some("alice"), b"yo\x07");
        notice(&mut v, "bob joined");
        assert_eq!(v, b"-> hi\n-> [alice] yo\\007\n-> * bob joined\n");
    }

    #[test]
    fn nick_commands() {
        assert_eq!(command(b"/nick alice"), Command::Nick("alice"));
        assert_eq!(command(b"/nick  ana\t"), Command::Nick("ana"));
        assert_eq!(command(b"/nickname x"), Command::Say);
        assert_eq!(command(b"hello /nick x"), Command::Say);
        assert!(matches!(command(b"/nick"), Command::BadNick(_)));
        assert!(matches!(command(b"/nick a b"), Command::BadNick(_)));
        assert!(matches!(command(b"/nick [x]"), Command::BadNick(_)));
        assert!(matches!(command(b"/nick \x1b"), Command::BadNick(_)));
        assert!(matches!(
            command(&[b'/', b'n', b'i', b'c', b'k', b' ', 0xff]),
            Command::BadNick(_)
        ));
        assert_eq!(command("/nick José".as_bytes()), Command::Nick("José"));
        assert!(valid_name(&"x".repeat(33)).is_err());
    }

    mod properties {
        use super::super::*;
        use proptest::prelude::*;

        /// A pseudo-random byte stream with LFs and CRs one byte in `2^sparse`.
        fn stream(seed: u64, len: usize, sparse: u32) -> Vec<u8> {
            let mut x = seed | 1;
            let mask = (1u64 << sparse) - 1;
            (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    match x & mask {
                        0 => b'\n',
                        1 => b'\r',
                        _ => (x >> 32) as u8,
                    }
                })
                .collect()
        }

        /// Every line of a stream, fed in one piece.
        fn lines_of(data: &[u8]) -> Vec<Vec<u8>> {
            let mut f = Framer::default();
            let mut out = Vec::new();
            f.feed(data, |l| out.push(l.to_vec()));
            f.finish(|l| out.push(l.to_vec()));
            out
        }

        proptest! {
            // PROPTEST_CASES raises the count for a longer run.
            #![proptest_config(ProptestConfig::with_cases(
                std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(64)
            ))]

            #[test]
            fn chunking_does_not_change_the_lines(
                seed in any::<u64>(),
                len in 0usize..200_000,
                // One byte in 2^k is a LF: short lines to lines far past PIECE.
                sparse in 1u32..18,
                cuts in proptest::collection::vec(1usize..70_000, 1..20),
            ) {
                let data = stream(seed, len, sparse);
                let want = lines_of(&data);
                let mut f = Framer::default();
                let mut got = Vec::new();
                let (mut at, mut i) = (0, 0);
                while at < data.len() {
                    let n = cuts[i % cuts.len()].min(data.len() - at);
                    f.feed(&data[at..at + n], |l| got.push(l.to_vec()));
                    prop_assert!(f.held() <= PIECE + 1, "holds {} bytes", f.held());
                    at += n;
                    i += 1;
                }
                f.finish(|l| got.push(l.to_vec()));
                prop_assert_eq!(&got, &want);
                for l in &got {
                    prop_assert!(l.len() <= PIECE);
                    prop_assert!(!l.contains(&b'\n'));
                }
            }

            #[test]
            fn escaped_lines_carry_no_terminal_controls(seed in any::<u64>(), len in 0usize..2000) {
                let line = stream(seed, len, 8);
                let mut out = Vec::new();
                relay_line(&mut out, None, &line);
                prop_assert!(out.starts_with(b"-> ") && out.ends_with(b"\n"));
                let body = &out[3..out.len() - 1];
                prop_assert!(std::str::from_utf8(body).is_ok(), "escaped text is UTF-8");
                for c in std::str::from_utf8(body).unwrap().chars() {
                    prop_assert!(c == '\t' || !c.is_control(), "{:?} passed", c);
                }
            }

            #[test]
            fn bidi_controls_never_pass(s in "[a-z \u{202a}-\u{202e}\u{2066}-\u{2069}\u{200e}\u{200f}\u{61c}\u{5d0}-\u{5ea}]{0,40}") {
                let mut out = Vec::new();
                relay_line(&mut out, None, s.as_bytes());
                let text = std::str::from_utf8(&out).unwrap();
                prop_assert!(!text.chars().any(is_bidi), "{:?}", text);
                prop_assert_eq!(valid_name(&s).is_ok() && s.chars().any(is_bidi), false);
            }

            #[test]
            fn valid_utf8_text_passes_unchanged(s in "[a-zA-Z0-9 ñéü€漢字\t.,!?]{0,200}") {
                let mut out = Vec::new();
                escape_into(&mut out, s.as_bytes());
                prop_assert_eq!(out, s.as_bytes().to_vec());
            }
        }
    }
}
