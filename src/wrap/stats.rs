//! `--stats` and `--json`: the figures at exit, as one line or one JSON object.

use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    Line,
    Json,
}

pub struct Figures {
    pub sent: u64,
    pub received: u64,
    pub elapsed: Duration,
    /// Listeners only: connections accepted.
    pub connections: Option<u64>,
}

impl Figures {
    fn rate(&self, bytes: u64) -> f64 {
        match self.elapsed.as_secs_f64() {
            s if s > 0.0 => bytes as f64 / s,
            _ => 0.0,
        }
    }

    pub fn render(&self, form: Form) -> String {
        let secs = self.elapsed.as_secs_f64();
        let (up, down) = (self.rate(self.sent), self.rate(self.received));
        match form {
            Form::Line => {
                let mut l = format!(
                    "rnc: {} bytes sent, {} bytes received in {secs:.3} s ({} up, {} down)",
                    self.sent,
                    self.received,
                    human_rate(up),
                    human_rate(down)
                );
                if let Some(c) = self.connections {
                    let s = if c == 1 { "" } else { "s" };
                    l.push_str(&format!(", {c} connection{s}"));
                }
                l
            }
            Form::Json => {
                let mut j = format!(
                    "{{\"sent\":{},\"received\":{},\"elapsed_s\":{secs:.3},\
                     \"sent_per_s\":{up:.0},\"received_per_s\":{down:.0}",
                    self.sent, self.received
                );
                if let Some(c) = self.connections {
                    j.push_str(&format!(",\"connections\":{c}"));
                }
                j.push('}');
                j
            }
        }
    }
}

/// Bytes in binary units, as pv shows them: `512 B`, `1.5 KiB`, `20.0 MiB`.
pub fn human_bytes(n: f64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n;
    let mut i = 0;
    while v >= 1024.0 && i + 1 < UNITS.len() {
        v /= 1024.0;
        i += 1;
    }
    match i {
        0 => format!("{v:.0} {}", UNITS[0]),
        _ => format!("{v:.1} {}", UNITS[i]),
    }
}

pub fn human_rate(per_s: f64) -> String {
    format!("{}/s", human_bytes(per_s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_json() {
        let f = Figures {
            sent: 2048,
            received: 0,
            elapsed: Duration::from_secs(2),
            connections: Some(1),
        };
        assert_eq!(
            f.render(Form::Line),
            "rnc: 2048 bytes sent, 0 bytes received in 2.000 s (1.0 KiB/s up, 0 B/s down), 1 connection"
        );
        assert_eq!(
            f.render(Form::Json),
            "{\"sent\":2048,\"received\":0,\"elapsed_s\":2.000,\"sent_per_s\":1024,\"received_per_s\":0,\"connections\":1}"
        );
    }
}
