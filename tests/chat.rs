//! `rnc -l --chat`: the `-> line` format to every other client, whole lines,
//! escaping, the server's own stdin and stdout, names, and slow clients.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::os::fd::AsRawFd;
use std::thread;
use std::time::{Duration, Instant};

use crate::util::*;

/// A chat server and `n` clients, each known to be in the room.
fn room(extra: &[&str], n: usize) -> (Rnc, u16, Vec<TcpStream>) {
    let mut a = vec!["-v", "-n", "-l", "--chat"];
    a.extend_from_slice(extra);
    a.extend_from_slice(&["127.0.0.1", "0"]);
    let mut r = rnc(a).spawn();
    let port = r.listen_port();
    let clients = (0..n).map(|_| connect(port)).collect();
    r.wait_err_count("Connection received on", n, SECS5);
    (r, port, clients)
}

/// Read exactly `want` from a client.
fn expect(c: &mut TcpStream, want: &[u8]) {
    let got = read_n(c, want.len());
    assert_eq!(String::from_utf8_lossy(&got), String::from_utf8_lossy(want));
}

#[test]
fn arrow_format_to_others_and_no_copy_to_the_sender() {
    let (mut r, _port, mut c) = room(&[], 3);
    c[0].write_all(b"Client 1 says hi!\n").unwrap();
    expect(&mut c[1], b"-> Client 1 says hi!\n");
    expect(&mut c[2], b"-> Client 1 says hi!\n");
    c[1].write_all(b"Client 2 says hi!\n").unwrap();
    expect(&mut c[2], b"-> Client 2 says hi!\n");
    // The sender's next bytes are the other client's line, not its own.
    expect(&mut c[0], b"-> Client 2 says hi!\n");
    // The server's stdout shows the room.
    assert_eq!(
        r.read_out(42, SECS5),
        b"-> Client 1 says hi!\n-> Client 2 says hi!\n"
    );
}

#[test]
fn lines_are_relayed_whole() {
    let (_r, _port, mut c) = room(&[], 3);
    c[0].write_all(b"aaa").unwrap();
    c[1].write_all(b"bbb\n").unwrap();
    expect(&mut c[2], b"-> bbb\n");
    c[0].write_all(b"AAA\n").unwrap();
    expect(&mut c[2], b"-> aaaAAA\n");
    // Many lines in one write, and one line over many writes.
    c[1].write_all(b"one\ntwo\nthr").unwrap();
    c[1].write_all(b"ee\n").unwrap();
    expect(&mut c[2], b"-> one\n-> two\n-> three\n");
    expect(&mut c[0], b"-> bbb\n-> one\n-> two\n-> three\n");
}

#[test]
fn long_lines_go_in_64_kib_pieces() {
    let (_r, _port, mut c) = room(&[], 2);
    let piece = 64 * 1024;
    let line = vec![b'x'; 3 * piece + 100];
    let mut w = c[0].try_clone().unwrap();
    let mut data = line.clone();
    data.push(b'\n');
    let writer = thread::spawn(move || w.write_all(&data).unwrap());
    for len in [piece, piece, piece, 100] {
        let got = read_n(&mut c[1], 3 + len + 1);
        assert_eq!(&got[..3], b"-> ");
        assert!(got[3..3 + len].iter().all(|&b| b == b'x'));
        assert_eq!(got[3 + len], b'\n');
    }
    writer.join().unwrap();
}

#[test]
fn unterminated_last_line_is_relayed_when_its_client_leaves() {
    let (mut r, _port, mut c) = room(&[], 2);
    let mut leaving = c.remove(0);
    leaving.write_all(b"no newline").unwrap();
    drop(leaving);
    expect(&mut c[0], b"-> no newline\n");
    r.wait_err("Connection closed on 127.0.0.1", SECS5);
}

#[test]
fn control_bytes_are_escaped_and_utf8_passes() {
    let (_r, _port, mut c) = room(&[], 2);
    c[0].write_all(b"ctrl\x01\x1b[31mred\ttab\xc3\xa9\n")
        .unwrap();
    expect(&mut c[1], b"-> ctrl\\001\\033[31mred\ttab\xc3\xa9\n");
    c[0].write_all("ñ stays ñ, 日本語 too\r\n".as_bytes())
        .unwrap();
    expect(&mut c[1], "-> ñ stays ñ, 日本語 too\n".as_bytes());
    c[0].write_all(b"bad \xff utf8 \x7f\n").unwrap();
    expect(&mut c[1], b"-> bad \\377 utf8 \\177\n");
}

#[test]
fn server_stdin_goes_to_all_and_stdout_shows_the_room() {
    let (mut r, _port, mut c) = room(&[], 2);
    r.send(b"from the server\n");
    expect(&mut c[0], b"-> from the server\n");
    expect(&mut c[1], b"-> from the server\n");
    c[0].write_all(b"hi \x1b\n").unwrap();
    expect(&mut c[1], b"-> hi \\033\n");
    // stdin lines are not printed back; client lines are, escaped.
    assert_eq!(r.read_out(11, SECS5), b"-> hi \\033\n");
    // stdin at EOF: the chat goes on.
    r.close_stdin();
    c[1].write_all(b"after eof\n").unwrap();
    expect(&mut c[0], b"-> after eof\n");
    assert!(r.running());
}

#[test]
fn verbose_logs_joins_and_leaves_and_the_room_outlives_its_clients() {
    let (mut r, port, c) = room(&[], 2);
    drop(c);
    r.wait_err_count("Connection closed on 127.0.0.1", 2, SECS5);
    let mut c = [connect(port), connect(port)];
    r.wait_err_count("Connection received on", 4, SECS5);
    c[0].write_all(b"again\n").unwrap();
    expect(&mut c[1], b"-> again\n");
}

#[test]
fn names_announce_and_nick_renames() {
    let (mut r, port, mut c) = room(&["--chat-names"], 1);
    expect(&mut c[0], b"-> * you are user1; /nick NAME renames\n");
    c.push(connect(port));
    r.wait_err_count("Connection received on", 2, SECS5);
    expect(&mut c[1], b"-> * you are user2; /nick NAME renames\n");
    expect(&mut c[0], b"-> * user2 joined\n");
    c[0].write_all(b"/nick alice\n").unwrap();
    expect(&mut c[0], b"-> * user1 is now alice\n");
    expect(&mut c[1], b"-> * user1 is now alice\n");
    c[0].write_all(b"hi\n").unwrap();
    expect(&mut c[1], b"-> [alice] hi\n");
    c[1].write_all(b"/nick alice\n").unwrap();
    expect(&mut c[1], b"-> * alice is taken\n");
    c[1].write_all(b"/nick\n").unwrap();
    expect(&mut c[1], b"-> * usage: /nick NAME\n");
    c[1].write_all(b"/nick bob\n").unwrap();
    expect(&mut c[1], b"-> * user2 is now bob\n");
    expect(&mut c[0], b"-> * user2 is now bob\n");
    r.send(b"welcome\n");
    expect(&mut c[0], b"-> [server] welcome\n");
    expect(&mut c[1], b"-> [server] welcome\n");
    drop(c.remove(0));
    expect(&mut c[0], b"-> * alice left\n");
    let want = "-> * user1 joined\n-> * user2 joined\n-> * user1 is now alice\n\
                -> [alice] hi\n-> * user2 is now bob\n-> * alice left\n";
    assert_eq!(r.read_out(want.len(), SECS5), want.as_bytes());
}

#[test]
fn a_client_that_does_not_read_is_disconnected_and_slows_nobody() {
    let (mut r, port, _) = room(&["--stall-timeout", "1s"], 0);
    // The stalled client: small receive buffer, never reads.
    let stalled = connect(port);
    shrink_rcvbuf(&stalled);
    let mut reader = connect(port);
    let sender = connect(port);
    r.wait_err_count("Connection received on", 3, SECS5);

    // 16 MiB of lines, far past what the stalled client's socket holds. The room waits
    // for it (nothing is dropped) until the stall timeout, then goes on without it.
    let line = format!("{}\n", "z".repeat(99));
    let block = line.repeat(1000);
    let blocks = 16 * 1024 * 1024 / block.len();
    let want = blocks * 1000 * (3 + 100);
    let feeder = thread::spawn(move || {
        let mut sender = sender;
        for _ in 0..blocks {
            sender.write_all(block.as_bytes()).unwrap();
        }
        sender
    });
    let got = read_all_checked(&mut reader, want, |b| {
        matches!(b, b'z' | b'-' | b'>' | b' ' | b'\n')
    });
    assert_eq!(got, want);
    let _sender = feeder.join().unwrap();
    r.wait_err("took no data for 1000 ms (--stall-timeout)", SECS5);
    assert!(
        r.peak_rss_kb() < 48 * 1024,
        "peak RSS {} KiB",
        r.peak_rss_kb()
    );
    // The stalled client finds its connection closed.
    assert!(closed_after_draining(stalled, SECS10));
}

/// A client that reads, however slowly, gets every byte: the talker is held back.
#[test]
fn a_slow_reader_gets_every_byte_in_chat_and_broker() {
    for kind in ["--chat", "--broker"] {
        let (mut r, port) = server(&[kind]);
        let mut slow = connect(port);
        let talker = connect(port);
        r.wait_err_count("Connection received on", 2, SECS5);
        let data = random_bytes(8 * 1024 * 1024, 5)
            .iter()
            .map(|b| b'a' + b % 26)
            .collect::<Vec<u8>>();
        let lines: Vec<u8> = data
            .chunks(99)
            .flat_map(|c| c.iter().copied().chain([b'\n']))
            .collect();
        let want: Vec<u8> = match kind {
            "--chat" => lines
                .split_inclusive(|&b| b == b'\n')
                .flat_map(|l| b"-> ".iter().copied().chain(l.iter().copied()))
                .collect(),
            _ => lines.clone(),
        };
        let feeder = thread::spawn(move || {
            let mut talker = talker;
            talker.write_all(&lines).unwrap();
            talker
        });
        let mut got = Vec::with_capacity(want.len());
        let mut buf = vec![0u8; 64 * 1024];
        let end = Instant::now() + Duration::from_secs(60);
        while got.len() < want.len() {
            assert!(
                Instant::now() < end,
                "{kind}: got {}/{}",
                got.len(),
                want.len()
            );
            let n = slow.read(&mut buf).unwrap();
            assert!(n > 0, "{kind}: closed after {} bytes", got.len());
            got.extend_from_slice(&buf[..n]);
            // A reader a little slower than the talker.
            thread::sleep(Duration::from_micros(200));
        }
        assert!(got == want, "{kind}: bytes differ");
        drop(feeder.join().unwrap());
        assert!(r.running());
    }
}

/// Read until `want` bytes came, each passing `ok`; panics on a close or after 30 s.
fn read_all_checked(c: &mut TcpStream, want: usize, ok: impl Fn(u8) -> bool) -> usize {
    let mut got = 0;
    let mut buf = vec![0u8; 256 * 1024];
    let end = Instant::now() + Duration::from_secs(30);
    while got < want {
        assert!(Instant::now() < end, "reader got {got}/{want} bytes");
        let n = c.read(&mut buf).unwrap();
        assert!(n > 0, "reader closed after {got} bytes");
        assert!(buf[..n].iter().all(|&b| ok(b)));
        got += n;
    }
    got
}

fn shrink_rcvbuf(s: &TcpStream) {
    let size: libc::c_int = 4096;
    // SAFETY: valid socket, option and length.
    unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            (&size as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
}

/// Read everything; true if the connection ends (FIN or reset) within `within`.
fn closed_after_draining(mut s: TcpStream, within: Duration) -> bool {
    s.set_read_timeout(Some(within)).unwrap();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return true,
            Err(_) => return false,
        }
    }
}

#[test]
fn max_conns_closes_extra_chat_clients() {
    let (mut r, port, mut c) = room(&["--max-conns", "2"], 2);
    let mut extra = connect(port);
    r.wait_err("--max-conns 2 reached", SECS5);
    assert!(sees_eof(&mut extra, SECS5));
    c[0].write_all(b"two is company\n").unwrap();
    expect(&mut c[1], b"-> two is company\n");
}

#[test]
fn broker_relays_raw_bytes_to_the_others() {
    let mut r = rnc(["-v", "-n", "-l", "--broker", "127.0.0.1", "0"]).spawn();
    let port = r.listen_port();
    let mut c: Vec<TcpStream> = (0..3).map(|_| connect(port)).collect();
    r.wait_err_count("Connection received on", 3, SECS5);
    // No lines, no prefix, no escaping: bytes as they came.
    let raw = b"\x00\x1b[31mraw\xff no newline";
    c[0].write_all(raw).unwrap();
    assert_eq!(read_n(&mut c[1], raw.len()), raw);
    assert_eq!(read_n(&mut c[2], raw.len()), raw);
    c[2].write_all(b"back").unwrap();
    assert_eq!(
        read_n(&mut c[0], 4),
        b"back",
        "the sender got no copy of its own"
    );
    assert_eq!(read_n(&mut c[1], 4), b"back");
    // stdin goes to everyone; the traffic shows on stdout.
    r.send(b"from the server");
    for s in &mut c {
        assert_eq!(read_n(s, 15), b"from the server");
    }
    let mut shown = raw.to_vec();
    shown.extend_from_slice(b"back");
    assert_eq!(r.read_out(shown.len(), SECS5), shown);
}

#[test]
fn a_client_that_never_speaks_stays_and_hears_everything() {
    // One client connects and sends nothing for the whole test; the room goes on
    // around it and it is neither dropped nor able to hold anyone up.
    let (mut r, port, mut c) = room(&[], 3);
    let mut silent = c.pop().unwrap();
    for i in 0..200 {
        let line = format!("line {i}\n");
        c[i % 2].write_all(line.as_bytes()).unwrap();
        expect(&mut c[(i + 1) % 2], format!("-> {line}").as_bytes());
    }
    let mut heard = Vec::new();
    while heard.len()
        < (0..200)
            .map(|i| format!("-> line {i}\n").len())
            .sum::<usize>()
    {
        let mut buf = [0u8; 4096];
        let n = silent.read(&mut buf).unwrap();
        assert!(n > 0, "the silent client was closed");
        heard.extend_from_slice(&buf[..n]);
    }
    let want: String = (0..200).map(|i| format!("-> line {i}\n")).collect();
    assert_eq!(String::from_utf8_lossy(&heard), want);
    assert!(r.running());
    let _ = port;
}

#[test]
fn bidi_controls_are_escaped_in_lines_and_refused_in_names() {
    let (mut r, port, mut c) = room(&["--chat-names"], 1);
    expect(&mut c[0], b"-> * you are user1; /nick NAME renames\n");
    c.push(connect(port));
    r.wait_err_count("Connection received on", 2, SECS5);
    expect(&mut c[1], b"-> * you are user2; /nick NAME renames\n");
    expect(&mut c[0], b"-> * user2 joined\n");
    // U+202E would show "txt.exe" as "exe.txt"; it arrives as visible octal escapes.
    c[0].write_all("see \u{202e}txt.exe\n".as_bytes()).unwrap();
    expect(&mut c[1], b"-> [user1] see \\342\\200\\256txt.exe\n");
    c[0].write_all("/nick ad\u{2067}min\n".as_bytes()).unwrap();
    expect(
        &mut c[0],
        b"-> * names have no spaces, brackets, control or bidi characters\n",
    );
    c[0].write_all(b"still user1\n").unwrap();
    expect(&mut c[1], b"-> [user1] still user1\n");
}
