//! `-z`: the port check.

use crate::util::*;

#[test]
fn open_port_succeeds_with_nc_wording() {
    let (_l, port) = peer_listener();
    let mut r = rnc(["-zv", "127.0.0.1", &port.to_string()]).spawn();
    assert_eq!(r.code(SECS10), 0);
    assert_eq!(
        r.err_lines,
        [format!(
            "Connection to 127.0.0.1 {port} port [tcp/*] succeeded!"
        )]
    );
    assert!(r.read_out_to_end(SECS5).is_empty());
}

#[test]
fn closed_port_fails_and_quiet_without_v() {
    let port = {
        let (_l, p) = peer_listener();
        p
    };
    let mut r = rnc(["-zv", "127.0.0.1", &port.to_string()]).spawn();
    assert_eq!(r.code(SECS10), 1);
    assert_eq!(
        r.err_lines,
        [format!(
            "rnc: connect to 127.0.0.1 port {port} (tcp) failed: Connection refused"
        )]
    );
    let mut r = rnc(["-z", "127.0.0.1", &port.to_string()]).spawn();
    assert_eq!(r.code(SECS10), 1);
    assert!(r.err_lines.is_empty(), "{:?}", r.err_lines);
}
