//! What a fan-out server does with the bytes it hears: the messages of one step and
//! who gets each. Sockets stay out of here; the core (`hub.rs`) reads, delivers and
//! writes.
//!
//! - `--chat`: lines, framed and escaped, to every other client and to stdout;
//!   `--chat-names` adds names, `/nick` and announcements.
//! - `--broker`: each read, raw, to every other client and to stdout.
//! - `-l -k`: each client read to stdout only; stdin to every client.

use std::collections::HashSet;

use mio::Token;

use crate::chat::{self, Command, Framer};

/// How a room treats what it hears.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fanout {
    Chat {
        names: bool,
    },
    Broker,
    /// `-l -k`: clients talk to stdout, stdin talks to every client.
    Stdio,
}

/// Who gets a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum To {
    /// Every client but `except`.
    Room {
        except: Option<Token>,
    },
    One(Token),
    /// No client (stdout only).
    Nobody,
}

/// One message: `batch[start..end]`.
pub struct Msg {
    pub to: To,
    pub start: usize,
    pub end: usize,
    /// Printed on the server's stdout too.
    pub stdout: bool,
}

impl Msg {
    pub fn goes_to(&self, t: Token) -> bool {
        match self.to {
            To::Room { except } => except != Some(t),
            To::One(o) => o == t,
            To::Nobody => false,
        }
    }
}

/// A client as the room knows it.
#[derive(Default)]
pub struct Member {
    /// Chat: the client's unterminated line.
    framer: Framer,
    /// Chat with names: the client's name.
    name: Option<String>,
}

/// The name the server's own lines carry with `--chat-names`.
const SERVER_NAME: &str = "server";

pub struct Room {
    pub kind: Fanout,
    taken: HashSet<String>,
    next_user: u64,
    /// This step's messages, back to back.
    pub batch: Vec<u8>,
    pub msgs: Vec<Msg>,
    stdin_framer: Framer,
}

impl Room {
    pub fn new(kind: Fanout) -> Room {
        let mut taken = HashSet::new();
        taken.insert(SERVER_NAME.to_string());
        Room {
            kind,
            taken,
            next_user: 1,
            batch: Vec::new(),
            msgs: Vec::new(),
            stdin_framer: Framer::default(),
        }
    }

    fn names(&self) -> bool {
        self.kind == Fanout::Chat { names: true }
    }

    fn push(&mut self, to: To, stdout: bool, build: impl FnOnce(&mut Vec<u8>)) {
        let start = self.batch.len();
        build(&mut self.batch);
        let end = self.batch.len();
        self.msgs.push(Msg {
            to,
            start,
            end,
            stdout,
        });
    }

    fn line(&mut self, to: To, stdout: bool, name: Option<&str>, line: &[u8]) {
        match self.kind {
            Fanout::Chat { .. } => self.push(to, stdout, |b| chat::relay_line(b, name, line)),
            Fanout::Broker | Fanout::Stdio => self.push(to, stdout, |b| b.extend_from_slice(line)),
        }
    }

    fn notice(&mut self, to: To, stdout: bool, text: &str) {
        self.push(to, stdout, |b| chat::notice(b, text));
    }

    /// A free default name: `user1`, `user2`, ... skipping names someone chose.
    fn new_name(&mut self) -> String {
        loop {
            let n = format!("user{}", self.next_user);
            self.next_user += 1;
            if self.taken.insert(n.clone()) {
                return n;
            }
        }
    }

    pub fn join(&mut self, t: Token, m: &mut Member) {
        if self.names() {
            let name = self.new_name();
            let others = To::Room { except: Some(t) };
            self.notice(others, true, &format!("{name} joined"));
            let hello = format!("you are {name}; /nick NAME renames");
            self.notice(To::One(t), false, &hello);
            m.name = Some(name);
        }
    }

    /// Bytes a client sent: lines for the chat, whole reads otherwise.
    pub fn heard(&mut self, t: Token, m: &mut Member, bytes: &[u8]) {
        match self.kind {
            Fanout::Broker => self.line(To::Room { except: Some(t) }, true, None, bytes),
            Fanout::Stdio => self.line(To::Nobody, true, None, bytes),
            Fanout::Chat { .. } => {
                let mut framer = std::mem::take(&mut m.framer);
                framer.feed(bytes, |l| self.said(t, m, l));
                m.framer = framer;
            }
        }
    }

    /// The client has left the room: its last unterminated line goes out, then the news.
    pub fn leave(&mut self, t: Token, m: &mut Member) {
        let to = To::Room { except: Some(t) };
        let mut framer = std::mem::take(&mut m.framer);
        framer.finish(|l| self.line(to, true, m.name.as_deref(), l));
        if let Some(name) = m.name.take() {
            self.taken.remove(&name);
            self.notice(to, true, &format!("{name} left"));
        }
    }

    /// A chat line from client `t`: relayed, or a `/nick` with names on.
    fn said(&mut self, t: Token, m: &mut Member, line: &[u8]) {
        let to = To::Room { except: Some(t) };
        let cmd = match self.names() {
            true => chat::command(line),
            false => Command::Say,
        };
        match cmd {
            Command::Say => self.line(to, true, m.name.as_deref(), line),
            Command::BadNick(why) => self.notice(To::One(t), false, why),
            Command::Nick(new) if m.name.as_deref() == Some(new) => {}
            Command::Nick(new) if self.taken.contains(new) => {
                self.notice(To::One(t), false, &format!("{new} is taken"))
            }
            Command::Nick(new) => {
                let old = m.name.replace(new.to_string()).unwrap_or_default();
                self.taken.remove(&old);
                self.taken.insert(new.to_string());
                let text = format!("{old} is now {new}");
                self.notice(To::Room { except: None }, true, &text);
            }
        }
    }

    /// Bytes from the server's stdin, for every client (not echoed to stdout).
    pub fn stdin_said(&mut self, bytes: &[u8]) {
        let to = To::Room { except: None };
        match self.kind {
            Fanout::Chat { names } => {
                let name = names.then_some(SERVER_NAME);
                let mut f = std::mem::take(&mut self.stdin_framer);
                f.feed(bytes, |l| self.line(to, false, name, l));
                self.stdin_framer = f;
            }
            _ => self.line(to, false, None, bytes),
        }
    }

    /// stdin has ended: its unterminated last line goes out.
    pub fn stdin_ended(&mut self) {
        let name = self.names().then_some(SERVER_NAME);
        let to = To::Room { except: None };
        let mut f = std::mem::take(&mut self.stdin_framer);
        f.finish(|l| self.line(to, false, name, l));
    }

    /// The step's messages are delivered: start the next batch.
    pub fn clear(&mut self, keep: usize) {
        self.msgs.clear();
        self.batch.clear();
        if self.batch.capacity() > keep {
            self.batch = Vec::new();
        }
    }
}
