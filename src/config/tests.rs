//! `Cli` → `Config`: every form and every refusal.
use super::*;
use clap::Parser;

fn cfg(args: &[&str]) -> Result<Config> {
    let mut v = vec!["rnc"];
    v.extend_from_slice(args);
    Config::from_cli(Cli::try_parse_from(v).expect("clap accepts"))
}

fn err(args: &[&str]) -> String {
    format!("{:#}", cfg(args).unwrap_err())
}

#[test]
fn connect_forms() {
    let c = cfg(&["example.org", "80"]).unwrap();
    assert!(matches!(
        c.mode,
        Mode::Connect { ref to, meets: Meets::Stdio, .. }
            if *to == At::Inet { host: Some("example.org".into()), port: 80 }
    ));
    let c = cfg(&["-p", "4000", "-s", "127.0.0.1", "h", "http"]).unwrap();
    match c.mode {
        Mode::Connect {
            to,
            source_port,
            source,
            ..
        } => {
            assert_eq!(to.port(), 80);
            assert_eq!(source_port, Some(4000));
            assert_eq!(source.as_deref(), Some("127.0.0.1"));
        }
        m => panic!("{m:?}"),
    }
}

#[test]
fn listen_forms() {
    for (args, want_addr, want_port) in [
        (&["-l", "9000"][..], None, 9000),
        (&["-l", "127.0.0.1", "9000"][..], Some("127.0.0.1"), 9000),
        (&["-l", "-p", "9000"][..], None, 9000),
        (&["-l", "-p", "9000", "::1"][..], Some("::1"), 9000),
        (&["-l", "0"][..], None, 0),
        (
            &["-l", "-s", "127.0.0.1", "-p", "9000"][..],
            Some("127.0.0.1"),
            9000,
        ),
    ] {
        match cfg(args).unwrap().mode {
            Mode::Listen { at, many, .. } => {
                assert_eq!(at.name(), want_addr, "{args:?}");
                assert_eq!(at.port(), want_port, "{args:?}");
                assert!(!many);
            }
            m => panic!("{m:?}"),
        }
    }
}

#[test]
fn conflicts_name_the_value() {
    assert_eq!(
        err(&["-l"]),
        "missing port number: listen mode needs a port (-l PORT)"
    );
    assert_eq!(err(&["-l", "-z", "9000"]), "cannot use -z and -l");
    assert_eq!(err(&["-k", "h", "1"]), "must use -l with -k");
    assert!(err(&["-l", "-p", "9000", "9001"]).contains("9001"));
    assert_eq!(err(&["h", "99999"]), "port number too large: 99999");
    assert!(err(&["h", "abc"]).starts_with("port number invalid: abc"));
    assert_eq!(err(&["h", "0"]), "port number too small: 0");
    assert_eq!(
        err(&["-w", "x", "h", "1"]),
        "-w timeout invalid: x (seconds, or a number with ms, s, m or h)"
    );
    assert_eq!(err(&["h"]), "missing port number after h");
    assert_eq!(err(&[]), "missing destination and port");
}

#[test]
fn quit_implies_send_eof_and_idle_in_connect_and_listen_once() {
    let c = cfg(&["-q", "1", "h", "1"]).unwrap();
    assert!(c.io.send_eof);
    assert_eq!(c.io.quit_after_eof, Some(Duration::from_secs(1)));
    let c = cfg(&["-q", "-1", "h", "1"]).unwrap();
    assert_eq!(c.io.quit_after_eof, None);
    assert!(!c.io.send_eof);
    let c = cfg(&["-w", "2", "-l", "1"]).unwrap();
    assert_eq!(c.io.idle_timeout, Some(Duration::from_secs(2)));
    let c = cfg(&["-w", "2", "-z", "h", "1"]).unwrap();
    assert_eq!(c.io.idle_timeout, None);
    let c = cfg(&["-w", "500ms", "h", "1"]).unwrap();
    assert_eq!(c.io.idle_timeout, Some(Duration::from_millis(500)));
}

#[test]
fn unix_paths_take_the_place_of_host_and_port() {
    match cfg(&["-U", "/tmp/s"]).unwrap().mode {
        Mode::Connect { to, .. } => assert_eq!(to, At::Path("/tmp/s".into())),
        m => panic!("{m:?}"),
    }
    match cfg(&["-l", "-U", "@name"]).unwrap().mode {
        Mode::Listen { at, .. } => assert_eq!(at, At::Path("@name".into())),
        m => panic!("{m:?}"),
    }
    assert_eq!(err(&["-U"]), "missing socket path: -U needs a path");
    assert_eq!(err(&["-zU", "/tmp/s"]), "cannot use -z and -U");
}

#[test]
fn relay_targets() {
    assert_eq!(
        parse_relay("example.org:80").unwrap(),
        Attach::Tcp {
            host: "example.org".into(),
            port: 80
        }
    );
    assert_eq!(
        parse_relay("[::1]:https").unwrap(),
        Attach::Tcp {
            host: "::1".into(),
            port: 443
        }
    );
    assert_eq!(parse_relay("unix:@x").unwrap(), Attach::Unix("@x".into()));
    assert!(format!("{:#}", parse_relay("::1:80").unwrap_err()).contains("::1:80"));
    assert!(format!("{:#}", parse_relay("h:0").unwrap_err()).contains("0"));
    let c = cfg(&["-l", "9000", "-e", "/bin/cat -n"]).unwrap();
    assert_eq!(
        c.attach(),
        Some(&Attach::Exec(vec!["/bin/cat".into(), "-n".into()]))
    );
    assert_eq!(
        err(&["-z", "h", "1", "--relay", "x:1"]),
        "cannot use -z with --relay, --exec or --sh-exec"
    );
}

proptest::proptest! {
    #[test]
    fn any_port_text_parses_or_fails_cleanly(s in ".{0,12}") {
        if let Ok(p) = parse_port(&s, true) {
            proptest::prop_assert!(s.parse::<u16>().map(|n| n == p).unwrap_or(true));
        }
    }

    #[test]
    fn every_port_number_round_trips(n in 1u16..) {
        proptest::prop_assert_eq!(parse_port(&n.to_string(), false).unwrap(), n);
    }

    #[test]
    fn any_host_text_resolves_or_fails_cleanly(s in "[0-9a-f:.\\[\\]%]{0,40}") {
        // -n: literal addresses only, never a lookup, never a panic.
        let _ = crate::net::resolve(&s, 80, Family::Any, true);
    }

    #[test]
    fn any_relay_target_parses_or_fails_cleanly(s in ".{0,30}") {
        let _ = parse_relay(&s);
    }
}

#[test]
fn scan_forms() {
    let c = cfg(&["-z", "h", "443", "20-22,http", "22"]).unwrap();
    match c.mode {
        Mode::Scan(plan) => {
            assert_eq!(plan.host, "h");
            assert_eq!(plan.ports, [443, 20, 21, 22, 80]);
            assert_eq!(plan.parallel, None);
            assert!(!plan.random && !plan.json);
        }
        m => panic!("{m:?}"),
    }
    let c = cfg(&["-zr", "--json", "--parallel", "8", "-p", "4000", "h", "1"]).unwrap();
    match c.mode {
        Mode::Scan(plan) => {
            assert_eq!(plan.parallel, Some(8));
            assert_eq!(plan.source_port, Some(4000));
            assert!(plan.random && plan.json);
        }
        m => panic!("{m:?}"),
    }
}

#[test]
fn scan_conflicts_name_the_value() {
    assert_eq!(
        err(&["-z", "h", "25-20"]),
        "port range invalid: 25-20 (low end above high end)"
    );
    assert_eq!(err(&["-z", "h", "70000"]), "port number too large: 70000");
    assert_eq!(err(&["-z", "h", "0"]), "port number too small: 0");
    assert_eq!(
        err(&["-z", "--parallel", "0", "h", "1"]),
        "parallel count invalid: 0"
    );
    assert_eq!(
        err(&["-z", "--parallel", "x", "h", "1"]),
        "parallel count invalid: x"
    );
    assert_eq!(
        err(&["--stats", "-z", "h", "1"]),
        "cannot use --stats with -z"
    );
    assert_eq!(err(&["--parallel", "4", "h", "1"]), "--parallel needs -z");
}

#[test]
fn serve_forms() {
    match cfg(&["-l", "--echo", "127.0.0.1", "7"]).unwrap().mode {
        Mode::Listen { at, many, meets } => {
            assert_eq!(at.name(), Some("127.0.0.1"));
            assert_eq!(at.port(), 7);
            assert!(many, "a server serves many");
            assert_eq!(meets, Meets::Server(ServeKind::Echo));
        }
        m => panic!("{m:?}"),
    }
    let c = cfg(&["-l", "--chat", "--chat-names", "-p", "9000"]).unwrap();
    assert!(matches!(
        c.mode,
        Mode::Listen {
            meets: Meets::Server(ServeKind::Chat { names: true }),
            ..
        }
    ));
    // -k is implied and allowed; UDP echo is a server too.
    let c = cfg(&["-l", "-k", "--chat", "0"]).unwrap();
    assert!(matches!(c.mode, Mode::Listen { many: true, .. }));
    let c = cfg(&["-u", "-l", "--echo", "0"]).unwrap();
    assert_eq!(c.transport, Transport::Udp);
}

#[test]
fn the_mode_is_one_type() {
    let c = cfg(&["-U", "-u", "-l", "-k", "/tmp/s"]).unwrap();
    assert_eq!(c.transport, Transport::UnixDgram);
    assert!(matches!(
        c.mode,
        Mode::Listen {
            many: true,
            meets: Meets::Stdio,
            ..
        }
    ));
    let c = cfg(&["-l", "--relay", "unix:/tmp/t", "9000"]).unwrap();
    assert!(matches!(
        c.mode,
        Mode::Listen {
            many: false,
            meets: Meets::Attach(Attach::Unix(_)),
            ..
        }
    ));
    // Files and names wait for `resolve`: a missing allow file is no error yet.
    let c = cfg(&["-l", "--allowfile", "/nonexistent", "0"]).unwrap();
    assert!(c.resolve().is_err());
}

#[test]
fn max_conns_default_and_value() {
    assert_eq!(cfg(&["-l", "--chat", "0"]).unwrap().max_conns, 10_000);
    assert_eq!(
        cfg(&["-l", "--echo", "--max-conns", "3", "0"])
            .unwrap()
            .max_conns,
        3
    );
    assert_eq!(
        cfg(&["-l", "-k", "--max-conns", "5", "0"])
            .unwrap()
            .max_conns,
        5
    );
}

#[test]
fn echo_and_chat_exclude_each_other() {
    assert_eq!(
        err(&["-l", "--echo", "--chat", "0"]),
        "use one of --echo, --chat and --broker"
    );
}

#[test]
fn echo_and_chat_need_listen() {
    assert_eq!(err(&["--echo", "h", "1"]), "must use -l with --echo");
    assert_eq!(err(&["--chat", "h", "1"]), "must use -l with --chat");
}

#[test]
fn echo_and_chat_refuse_zero_io() {
    assert_eq!(err(&["-l", "-z", "--echo", "0"]), "cannot use -z and -l");
    assert_eq!(err(&["-z", "--chat", "h", "1"]), "must use -l with --chat");
}

#[test]
fn chat_names_needs_chat() {
    assert_eq!(
        err(&["-l", "--chat-names", "0"]),
        "must use --chat with --chat-names"
    );
    assert_eq!(
        err(&["-l", "--echo", "--chat-names", "0"]),
        "must use --chat with --chat-names"
    );
}

#[test]
fn chat_is_tcp_only() {
    assert_eq!(
        err(&["-u", "-l", "--chat", "0"]),
        "cannot use -u with --chat or --broker"
    );
}

#[test]
fn max_conns_needs_listen_and_a_count() {
    assert_eq!(
        err(&["--max-conns", "5", "h", "1"]),
        "must use -l with --max-conns"
    );
    assert_eq!(
        err(&["-l", "--echo", "--max-conns", "0", "1"]),
        "max-conns invalid: 0"
    );
    assert_eq!(
        err(&["-l", "--echo", "--max-conns", "many", "1"]),
        "max-conns invalid: many"
    );
}

#[test]
fn service_names() {
    assert_eq!(parse_port("http", false).unwrap(), 80);
    assert_eq!(parse_port("https", false).unwrap(), 443);
}
