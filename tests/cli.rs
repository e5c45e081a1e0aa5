//! Bad input gets one `rnc: ...` line naming the value and exit 1; help exits 0.

use std::process::Command;

use crate::util::bin;

fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(bin()).args(args).output().unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

fn one_error_line(args: &[&str], needle: &str) {
    let (code, out, err) = run(args);
    assert_eq!(code, 1, "{args:?}: {err}");
    assert!(out.is_empty(), "{args:?}: stdout {out:?}");
    assert_eq!(err.lines().count(), 1, "{args:?}: {err:?}");
    assert!(err.starts_with("rnc: "), "{args:?}: {err:?}");
    assert!(err.contains(needle), "{args:?}: {err:?} lacks {needle:?}");
}

#[test]
fn bad_ports_and_flags_name_the_value() {
    one_error_line(&["-l"], "port");
    one_error_line(&["-l", "-z", "9000"], "cannot use -z and -l");
    one_error_line(&["-l", "-p", "9000", "9001"], "9001");
    one_error_line(&["127.0.0.1", "70000"], "70000");
    one_error_line(&["127.0.0.1", "abc"], "abc");
    one_error_line(&["-l", "99999"], "99999");
    one_error_line(&["-j", "127.0.0.1", "1"], "-j");
    one_error_line(&["-w", "soon", "127.0.0.1", "1"], "soon");
    one_error_line(&["-4", "-6", "127.0.0.1", "1"], "--ipv6");
    one_error_line(
        &["-n", "no-such-host.invalid", "80"],
        "no-such-host.invalid",
    );
    one_error_line(&["127.0.0.1"], "port");
    one_error_line(
        &["-l", "--echo", "--chat", "0"],
        "use one of --echo, --chat and --broker",
    );
    one_error_line(&["--chat", "127.0.0.1", "1"], "must use -l with --chat");
    one_error_line(
        &["-l", "--chat", "--max-conns", "0", "1"],
        "max-conns invalid: 0",
    );
}

#[test]
fn help_and_version_exit_zero() {
    let (code, out, _) = run(&["-h"]);
    assert_eq!(code, 0);
    assert!(out.contains("-l, --listen"));
    let (code, out, _) = run(&["--version"]);
    assert_eq!(code, 0);
    assert!(out.starts_with("rnc "));
}

#[test]
fn bind_in_use_is_one_line() {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port().to_string();
    one_error_line(&["-l", "127.0.0.1", &port], "Address already in use");
}
