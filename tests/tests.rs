//! Integration tests: the real `rnc` binary against `std::net` peers on loopback.
//! Every wait has a deadline; nothing sleeps to synchronise.

mod util;

mod cli;
mod connect;
mod docs;
mod listen;
mod scan;
