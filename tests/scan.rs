//! `-z`: the port check and the scan.
//!
//! Ports are held by the test's own sockets: a bound socket that does not listen
//! makes a port that refuses and that no connect can pick as its source port.

use std::net::{SocketAddr, TcpListener};
use std::time::{Duration, Instant};

use socket2::{Domain, Socket, Type};

use crate::util::*;

/// A bound, not listening, socket on 127.0.0.1: its port refuses connects.
fn closed_port() -> (Socket, u16) {
    let s = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    s.bind(&"127.0.0.1:0".parse::<SocketAddr>().unwrap().into())
        .unwrap();
    let port = s.local_addr().unwrap().as_socket().unwrap().port();
    (s, port)
}

/// `n` consecutive ports on 127.0.0.1, each held by a bound socket (none listening).
/// They are picked below the ephemeral range, where the clients of other tests leave
/// runs of ports in TIME_WAIT; SO_REUSEADDR lets a bind share a port with those.
fn consecutive_ports(n: u16) -> (Vec<Socket>, u16) {
    let mut x = u64::from(std::process::id())
        ^ std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos() as u64;
    'retry: for _ in 0..500 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let p = 20_000 + (x % 10_000) as u16;
        let mut held = Vec::new();
        for q in p..p + n {
            let s = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
            s.set_reuse_address(true).unwrap();
            let addr: SocketAddr = ([127, 0, 0, 1], q).into();
            if s.bind(&addr.into()).is_err() {
                continue 'retry;
            }
            held.push(s);
        }
        return (held, p);
    }
    panic!("no {n} consecutive free ports");
}

fn run(args: &[&str]) -> Rnc {
    let mut r = rnc(args).spawn();
    r.wait(SECS10);
    r
}

fn succeeded(port: u16) -> String {
    format!("Connection to 127.0.0.1 {port} port [tcp/*] succeeded!")
}

fn refused(port: u16) -> String {
    format!("rnc: connect to 127.0.0.1 port {port} (tcp) failed: Connection refused")
}

#[test]
fn open_port_succeeds_with_nc_wording() {
    let (_l, port) = peer_listener();
    let mut r = rnc(["-zv", "127.0.0.1", &port.to_string()]).spawn();
    assert_eq!(r.code(SECS10), 0);
    assert_eq!(r.err_lines, [succeeded(port)]);
    assert!(r.read_out_to_end(SECS5).is_empty());
}

#[test]
fn closed_port_fails_and_quiet_without_v() {
    let (_held, port) = closed_port();
    let mut r = rnc(["-zv", "127.0.0.1", &port.to_string()]).spawn();
    assert_eq!(r.code(SECS10), 1);
    assert_eq!(r.err_lines, [refused(port)]);
    let mut r = rnc(["-z", "127.0.0.1", &port.to_string()]).spawn();
    assert_eq!(r.code(SECS10), 1);
    assert!(r.err_lines.is_empty(), "{:?}", r.err_lines);
}

#[test]
fn open_and_closed_without_v_print_nothing() {
    let (_l, open) = peer_listener();
    let (_held, closed) = closed_port();
    let mut r = rnc(["-z", "127.0.0.1", &format!("{closed},{open}")]).spawn();
    assert_eq!(r.code(SECS10), 0);
    assert!(r.err_lines.is_empty(), "{:?}", r.err_lines);
    assert!(r.read_out_to_end(SECS5).is_empty());
}

#[test]
fn ranges_lists_and_several_arguments() {
    // p..p+5 held; p+1, p+3 and p+4 listen.
    let (held, p) = consecutive_ports(6);
    for i in [1, 3, 4] {
        held[i].listen(16).unwrap();
    }
    let open = [p + 1, p + 3, p + 4];
    let want: Vec<String> = open.iter().map(|&q| succeeded(q)).collect();
    for args in [
        vec![format!("{p}-{}", p + 5)],
        vec![format!("{},{}", p + 4, p), format!("{}-{}", p + 1, p + 3)],
        vec![
            (p + 4).to_string(),
            (p + 3).to_string(),
            (p + 1).to_string(),
        ],
        vec![
            format!("{}-{},{}", p, p + 2, p + 1),
            format!("{}-{}", p + 3, p + 5),
        ],
    ] {
        let mut all = vec!["-zv".to_string(), "127.0.0.1".to_string()];
        all.extend(args.clone());
        let mut r = rnc(&all).spawn();
        assert_eq!(r.code(SECS10), 0, "{args:?}");
        assert_eq!(r.err_lines, want, "{args:?}");
    }
}

#[test]
fn all_closed_exits_one_and_vv_shows_refusals_in_order() {
    let (_held, p) = consecutive_ports(4);
    let range = format!("{p}-{}", p + 3);
    let r = run(&["-zv", "127.0.0.1", &range]);
    // Several ports: refusals need -vv.
    assert!(r.err_lines.is_empty(), "{:?}", r.err_lines);
    let mut r = rnc(["-zvv", "127.0.0.1", &range]).spawn();
    assert_eq!(r.code(SECS10), 1);
    let want: Vec<String> = (p..p + 4).map(refused).collect();
    assert_eq!(r.err_lines, want);
}

#[test]
fn output_is_ascending_whatever_the_order() {
    let (held, p) = consecutive_ports(8);
    for s in &held[..] {
        s.listen(16).unwrap();
    }
    let args: Vec<String> = (p..p + 8).rev().map(|q| q.to_string()).collect();
    for extra in [&[][..], &["-r"][..], &["-r", "--parallel", "1"][..]] {
        let mut all: Vec<String> = vec!["-zvv".into(), "127.0.0.1".into()];
        all.extend(extra.iter().map(|s| s.to_string()));
        all.extend(args.clone());
        let mut r = rnc(&all).spawn();
        assert_eq!(r.code(SECS10), 0);
        let want: Vec<String> = (p..p + 8).map(succeeded).collect();
        assert_eq!(r.err_lines, want, "{extra:?}");
    }
}

#[test]
fn bad_ports_are_one_line_naming_the_value() {
    for (arg, needle) in [
        ("0", "port number too small: 0"),
        ("70000", "port number too large: 70000"),
        ("25-20", "port range invalid: 25-20"),
        ("abc", "port number invalid: abc"),
        ("22,,80", "port list invalid: 22,,80"),
        ("20-xyz", "port number invalid: xyz"),
    ] {
        let mut r = rnc(["-zv", "127.0.0.1", "22", arg]).spawn();
        assert_eq!(r.code(SECS10), 1, "{arg}");
        assert_eq!(r.err_lines.len(), 1, "{arg}: {:?}", r.err_lines);
        assert!(
            r.err_lines[0].starts_with(&format!("rnc: {needle}")),
            "{arg}: {:?}",
            r.err_lines
        );
    }
}

#[test]
fn self_connect_is_not_an_open_port() {
    // From port P to port P with nothing listening: TCP simultaneous open connects
    // the socket to itself (nc.openbsd reports "succeeded!" here).
    let port = {
        let (_s, p) = closed_port();
        p
    };
    let mut r = rnc([
        "-zv",
        "-p",
        &port.to_string(),
        "127.0.0.1",
        &port.to_string(),
    ])
    .spawn();
    assert_eq!(r.code(SECS10), 1, "{:?}", r.err_lines);
    assert_eq!(r.err_lines, [refused(port)]);
}

#[test]
fn ipv6_and_family_flags() {
    let l = match TcpListener::bind("[::1]:0") {
        Ok(l) => l,
        Err(e) => {
            eprintln!("skipped: no IPv6 loopback ({e})");
            return;
        }
    };
    let port = l.local_addr().unwrap().port().to_string();
    let mut r = rnc(["-zv", "::1", &port]).spawn();
    assert_eq!(r.code(SECS10), 0);
    assert_eq!(
        r.err_lines,
        [format!("Connection to ::1 {port} port [tcp/*] succeeded!")]
    );
    let mut r = rnc(["-zv", "-6", "[::1]", &port]).spawn();
    assert_eq!(r.code(SECS10), 0, "{:?}", r.err_lines);
    let mut r = rnc(["-zv", "-4", "::1", &port]).spawn();
    assert_eq!(r.code(SECS10), 1);
    assert!(
        r.err_lines[0].contains("no address of the requested family"),
        "{:?}",
        r.err_lines
    );
}

#[test]
fn json_one_object_per_open_port_on_stdout() {
    let (held, p) = consecutive_ports(3);
    held[0].listen(16).unwrap();
    held[2].listen(16).unwrap();
    let mut r = rnc(["-z", "--json", "127.0.0.1", &format!("{p}-{}", p + 2)]).spawn();
    let out = String::from_utf8(r.read_out_to_end(SECS10)).unwrap();
    assert_eq!(r.code(SECS10), 0);
    assert!(r.err_lines.is_empty(), "{:?}", r.err_lines);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    for (line, port) in lines.iter().zip([p, p + 2]) {
        let head = format!(
            "{{\"host\":\"127.0.0.1\",\"address\":\"127.0.0.1\",\"port\":{port},\"proto\":\"tcp\",\"service\":"
        );
        assert!(line.starts_with(&head), "{line}");
        let ms = line
            .split("\"latency_ms\":")
            .nth(1)
            .and_then(|s| s.strip_suffix('}'))
            .expect("latency_ms last");
        let ms: f64 = ms.parse().expect("a number");
        assert!((0.0..10_000.0).contains(&ms), "{line}");
    }
}

#[test]
fn interval_makes_it_sequential() {
    let (held, p) = consecutive_ports(3);
    held[1].listen(16).unwrap();
    let t = Instant::now();
    let mut r = rnc(["-zv", "-i", "0.3", "127.0.0.1", &format!("{p}-{}", p + 2)]).spawn();
    assert_eq!(r.code(SECS10), 0);
    // Two pauses between three ports.
    assert!(
        t.elapsed() >= Duration::from_millis(600),
        "{:?}",
        t.elapsed()
    );
    assert_eq!(r.err_lines, [succeeded(p + 1)]);
}

#[test]
fn udp_open_means_no_refusal_seen() {
    let quiet = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let open = quiet.local_addr().unwrap().port();
    let closed = std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut r = rnc(["-zvu", "-w", "0.5", "127.0.0.1", &open.to_string()]).spawn();
    assert_eq!(r.code(SECS10), 0);
    assert_eq!(
        r.err_lines,
        [format!(
            "Connection to 127.0.0.1 {open} port [udp/*] succeeded!"
        )]
    );
    let mut r = rnc(["-zvu", "-w", "0.5", "127.0.0.1", &closed.to_string()]).spawn();
    assert_eq!(r.code(SECS10), 1);
    assert_eq!(
        r.err_lines,
        [format!(
            "rnc: connect to 127.0.0.1 port {closed} (udp) failed: Connection refused"
        )]
    );
    // The empty datagrams arrived.
    quiet.set_read_timeout(Some(SECS5)).unwrap();
    let mut buf = [0u8; 16];
    assert_eq!(quiet.recv(&mut buf).unwrap(), 0);
}

#[test]
fn flags_need_z() {
    for flag in ["-r", "--parallel=4"] {
        let mut r = rnc([flag, "127.0.0.1", "1"]).spawn();
        assert_eq!(r.code(SECS10), 1);
        assert_eq!(r.err_lines.len(), 1, "{:?}", r.err_lines);
        assert!(r.err_lines[0].contains("needs -z"), "{:?}", r.err_lines);
    }
}

// Namespace tests: a network of the test's own. They skip (with a line on stderr)
// where `ip netns` is unavailable.

#[test]
fn w_bounds_a_connect_whose_syns_are_dropped() {
    let Some(ns) = NetNs::new("w") else { return };
    let Some(host) = ns.blackhole() else { return };
    let t = Instant::now();
    let mut r = ns.rnc(["-zv", "-w", "1", host, "80"]).spawn();
    assert_eq!(r.code(SECS10), 1);
    let took = t.elapsed();
    assert!(
        (Duration::from_millis(900)..Duration::from_secs(4)).contains(&took),
        "{took:?}"
    );
    assert_eq!(
        r.err_lines,
        [format!(
            "rnc: connect to {host} port 80 (tcp) failed: Connection timed out"
        )]
    );
}

#[test]
fn filtered_ports_time_out_together() {
    let Some(ns) = NetNs::new("wmany") else {
        return;
    };
    let Some(host) = ns.blackhole() else { return };
    let t = Instant::now();
    let mut r = ns.rnc(["-zvv", "-w", "1", host, "1-300"]).spawn();
    assert_eq!(r.code(SECS10), 1);
    // One deadline for all 300, not 300 in a row.
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    assert_eq!(r.err_lines.len(), 300);
    let want: Vec<String> = (1..=300)
        .map(|p| format!("rnc: connect to {host} port {p} (tcp) failed: Connection timed out"))
        .collect();
    assert_eq!(r.err_lines, want);
}

#[test]
fn default_timeout_without_w_is_five_seconds() {
    let Some(ns) = NetNs::new("w5") else { return };
    let Some(host) = ns.blackhole() else { return };
    let t = Instant::now();
    let mut r = ns.rnc(["-z", host, "443"]).spawn();
    assert_eq!(r.code(SECS10), 1);
    let took = t.elapsed();
    assert!(
        (Duration::from_millis(4900)..Duration::from_secs(8)).contains(&took),
        "{took:?}"
    );
}

#[test]
fn self_connect_from_the_ephemeral_range_is_excluded() {
    let Some(ns) = NetNs::new("self") else { return };
    // One ephemeral port: a connect to it from this namespace must land on itself.
    if !ns.exec(&[
        "sysctl",
        "-q",
        "-w",
        "net.ipv4.ip_local_port_range=45000 45000",
    ]) {
        eprintln!("skipped: cannot narrow the namespace's ephemeral port range");
        return;
    }
    let mut r = ns.rnc(["-zv", "127.0.0.1", "45000"]).spawn();
    assert_eq!(r.code(SECS10), 1, "{:?}", r.err_lines);
    assert_eq!(r.err_lines, [refused(45000)]);
}

#[test]
fn service_names_in_arguments_and_reports() {
    let Some(ns) = NetNs::new("svc") else { return };
    // Inside the namespace nothing else listens: rnc listens on http-alt (8080).
    let mut server = ns.rnc(["-v", "-l", "-k", "127.0.0.1", "8080"]).spawn();
    server.listen_port();
    let mut r = ns.rnc(["-zvv", "127.0.0.1", "http", "http-alt"]).spawn();
    assert_eq!(r.code(SECS10), 0);
    let svc = |p: u16| {
        let out = std::process::Command::new("getent")
            .args(["services", &format!("{p}/tcp")])
            .output();
        match out {
            Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout)
                .split_whitespace()
                .next()
                .unwrap_or("*")
                .to_string(),
            _ => "*".to_string(),
        }
    };
    assert_eq!(
        r.err_lines,
        [
            "rnc: connect to 127.0.0.1 port 80 (tcp) failed: Connection refused".to_string(),
            format!(
                "Connection to 127.0.0.1 8080 port [tcp/{}] succeeded!",
                svc(8080)
            ),
        ]
    );
    // -n: names are still read in arguments, but not printed (nc prints `*`).
    let mut r = ns.rnc(["-zvn", "127.0.0.1", "http-alt"]).spawn();
    assert_eq!(r.code(SECS10), 0);
    assert_eq!(
        r.err_lines,
        ["Connection to 127.0.0.1 8080 port [tcp/*] succeeded!"]
    );
}
