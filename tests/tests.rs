//! Integration tests: the real `rnc` binary against `std::net` peers on loopback.
//! Every wait has a deadline; nothing sleeps to synchronise.

mod util;

mod chat;
mod cli;
mod connect;
mod echo;
mod listen;
mod scan;
