//! Integration tests: the real `rnc` binary against `std::net` peers on loopback.
//! Every wait has a deadline; nothing sleeps to synchronise.

mod util;

mod bin;

mod access;
mod chat;
mod cli;
mod connect;
mod core;
mod docs;
mod echo;
mod faults;
mod fdpass;
mod flag_effects;
mod flags;
mod listen;
mod parity;
mod proxy;
mod proxy_server;
mod relay;
mod scan;
mod sockopt;
mod tls;
mod udp;
mod unix;
mod wrap;
