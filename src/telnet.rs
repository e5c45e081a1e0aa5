//! `-t`: answer telnet option negotiation as nc.openbsd does: DO and DON'T get WON'T,
//! WILL and WON'T get DON'T. The bytes still reach stdout unchanged (nc.openbsd does not
//! strip them), and, as nc.openbsd, each read is looked at on its own: a command split
//! across two reads is not answered.

const IAC: u8 = 255;
const DONT: u8 = 254;
const DO: u8 = 253;
const WONT: u8 = 252;
const WILL: u8 = 251;

/// The answers to the commands in one read from the network.
pub fn answers(read: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    if read.len() < 3 {
        return out;
    }
    let mut i = 0;
    while i + 2 < read.len() {
        if read[i] != IAC {
            i += 1;
            continue;
        }
        let verb = match read[i + 1] {
            WILL | WONT => DONT,
            DO | DONT => WONT,
            _ => {
                i += 2;
                continue;
            }
        };
        out.extend_from_slice(&[IAC, verb, read[i + 2]]);
        i += 3;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_as_nc_openbsd() {
        let read = b"\xff\xfd\x01hi\xff\xfb\x03x\xff\xfe\x05\xff\xfc\x06\xff\xff\xff\xf1end\n";
        assert_eq!(
            answers(read),
            b"\xff\xfc\x01\xff\xfe\x03\xff\xfc\x05\xff\xfe\x06"
        );
        assert_eq!(answers(b"\xff\xfd\x18"), b"\xff\xfc\x18");
        assert!(answers(b"ab\xff").is_empty());
        assert!(answers(b"\xfd\x01zz").is_empty());
    }
}
