//! The man page and the shell completions come from the clap definitions in
//! `src/cli.rs`, so they cannot drift from the flags rnc takes.
//!
//! - `man/rnc.1` is `man/rnc.1.in` (written by hand) with `@SYNOPSIS@`, `@OPTIONS@` and
//!   `@VERSION@` filled from the clap command.
//! - `completions/rnc.bash`, `completions/_rnc` and `completions/rnc.fish` are
//!   clap_complete's output plus what clap cannot say: the first operand is a host
//!   (a socket path with `-U`), the operands after it and every option whose value is
//!   named `*port` are ports, which complete as service names. For bash and fish that
//!   is `completions/rnc.{bash,fish}.in` appended (its slots filled from the flags);
//!   for zsh, two lines of clap's `_arguments` call changed (`render_zsh` says why).
//!
//! The tests render all of it and compare with the committed files. After changing a
//! flag, rewrite them with
//!
//! ```sh
//! RNC_BLESS=1 cargo test --test integration docs
//! ```
//!
//! Further tests check that the man page is clean roff (`groff -ww` and `mandoc -Tlint`
//! when they are installed, a macro check always), that each completion file loads in its shell
//! (skipped with a message when zsh or fish is missing), that the README shows the man
//! page's examples, and that `rnc -h` stays one line per flag.

use std::fs;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use clap::{Arg, CommandFactory, ValueHint};
use clap_complete::Shell;

use crate::bin::{cli, flags};

const BLESS: &str = "RNC_BLESS=1 cargo test --test integration docs";

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn command() -> clap::Command {
    let mut cmd = cli::Cli::command();
    cmd.build();
    cmd
}

/// Compare `rel` with `fresh`; with RNC_BLESS set, write `fresh` instead.
fn check_fresh(rel: &str, fresh: &str) {
    if let Err(e) = fresh_or_bless(rel, fresh) {
        panic!("{e}");
    }
}

/// The work of `check_fresh`; the error says what to run.
fn fresh_or_bless(rel: &str, fresh: &str) -> Result<(), String> {
    let path = root().join(rel);
    if std::env::var_os("RNC_BLESS").is_some_and(|v| !v.is_empty() && v != "0") {
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).unwrap();
        }
        if fs::read_to_string(&path).ok().as_deref() != Some(fresh) {
            // Write then rename, so a test reading the file never sees half of it.
            let tmp = path.with_extension("bless-tmp");
            fs::write(&tmp, fresh).unwrap_or_else(|e| panic!("write {rel}: {e}"));
            fs::rename(&tmp, &path).unwrap_or_else(|e| panic!("rename to {rel}: {e}"));
            eprintln!("rewrote {rel}");
        }
        return Ok(());
    }
    let committed = fs::read_to_string(&path).unwrap_or_default();
    if committed == fresh {
        return Ok(());
    }
    let (line, old, new) = first_difference(&committed, fresh);
    Err(format!(
        "{rel} is outdated: run `{BLESS}`\n\
         first difference at line {line}:\n  committed: {old:?}\n  generated: {new:?}"
    ))
}

fn first_difference<'a>(a: &'a str, b: &'a str) -> (usize, &'a str, &'a str) {
    let (mut la, mut lb) = (a.lines(), b.lines());
    let mut n = 1;
    loop {
        match (la.next(), lb.next()) {
            (Some(x), Some(y)) if x == y => n += 1,
            (x, y) => {
                return (
                    n,
                    x.unwrap_or("<end of file>"),
                    y.unwrap_or("<end of file>"),
                )
            }
        }
    }
}

fn read(rel: &str) -> String {
    fs::read_to_string(root().join(rel)).unwrap_or_else(|e| panic!("read {rel}: {e}"))
}

// ---------------------------------------------------------------------------------------
// The man page

/// `man/rnc.1.in` with its slots filled.
fn render_man() -> String {
    let template = read("man/rnc.1.in");
    let cmd = command();
    let mut out = template;
    for (slot, value) in [
        ("@SYNOPSIS@", man_synopsis(&cmd)),
        ("@OPTIONS@", man_options(&cmd)),
        ("@FLAG_TABLE@", man_flag_table()),
        ("@VERSION@", env!("CARGO_PKG_VERSION").to_string()),
    ] {
        assert!(out.contains(slot), "man/rnc.1.in has no {slot} slot");
        out = out.replace(slot, value.trim_end());
    }
    out
}

/// src/flags.rs as a preformatted matrix: "yes", "n" for the generic refusal, or the
/// number of a line listed below it.
fn man_flag_table() -> String {
    use flags::{Says, COLS, ROWS};
    let mut lines: Vec<String> = Vec::new();
    let mut out = String::from(".nf\n");
    // Short headings, so that the matrix fits a terminal of 80 columns.
    let short = [
        "conn", "-l", "-lk", "-u", "-U", "-z", "echo", "chat", "brkr", "rely", "exec", "prxy",
    ];
    let head: Vec<String> = short.iter().map(|c| format!("{c:<5}")).collect();
    out += &roff_escape(&format!("{:<18}{}", "", head.join("").trim_end()));
    out += "\n";
    for row in ROWS {
        let mut text = format!("{:<18}", row.flag);
        for &col in &COLS {
            let cell = match row.cell(col) {
                None => "yes".to_string(),
                Some(line)
                    if row.says == Says::CannotUse
                        && line.starts_with("cannot use ")
                        && line.ends_with(col.name()) =>
                {
                    "n".to_string()
                }
                Some(line) => {
                    let i = match lines.iter().position(|l| *l == line) {
                        Some(i) => i,
                        None => {
                            lines.push(line);
                            lines.len() - 1
                        }
                    };
                    (i + 1).to_string()
                }
            };
            text += &format!("{cell:<5}");
        }
        out += &roff_escape(text.trim_end());
        out += "\n";
    }
    out += ".fi\n.PP\n";
    out +=
        "conn: connect; \\-lk: \\-l \\-k; echo, chat, brkr: \\-\\-echo, \\-\\-chat, \\-\\-broker; ";
    out += "rely: \\-\\-relay; exec: \\-e and \\-c; prxy: \\-l \\-\\-proxy\\-type (the proxy server).\n";
    out += "n: refused with \\(lqrnc: cannot use FLAG with MODE\\(rq, MODE being the column\n";
    out += "(connect, \\-l, \\-l \\-k, \\-u, \\-U, \\-z, \\-\\-echo, \\-\\-chat, \\-\\-broker, \\-\\-relay, \\-e/\\-c, \\-l \\-\\-proxy\\-type).\n";
    out += "A number: refused with that line:\n.nf\n";
    for (i, l) in lines.iter().enumerate() {
        out += &roff_escape(&format!("{:>2}  rnc: {l}", i + 1));
        out += "\n";
    }
    out += ".fi\n";
    out
}

/// The usage line as roff: the command bold, flags bold, their values italic, one
/// bracketed group per line (the output is filled, so it reads as one paragraph).
fn man_synopsis(cmd: &clap::Command) -> String {
    let usage = match cmd.get_overridden_usage() {
        Some(u) => u.to_string(),
        None => {
            let u = cmd.clone().render_usage().to_string();
            u.trim_start_matches("Usage:").trim().to_string()
        }
    };
    let mut lines = Vec::new();
    for form in usage.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if !lines.is_empty() {
            lines.push(".br".to_string());
        }
        let mut groups = Vec::new();
        let mut depth = 0;
        let mut cur = String::new();
        for ch in form.chars() {
            match ch {
                '[' => {
                    if depth == 0 && !cur.trim().is_empty() {
                        groups.push(std::mem::take(&mut cur));
                    }
                    depth += 1;
                    cur.push(ch);
                }
                ']' => {
                    depth -= 1;
                    cur.push(ch);
                    if depth == 0 {
                        groups.push(std::mem::take(&mut cur));
                    }
                }
                ' ' if depth == 0 => {
                    if !cur.trim().is_empty() {
                        groups.push(std::mem::take(&mut cur));
                    }
                    cur.clear();
                }
                _ => cur.push(ch),
            }
        }
        if !cur.trim().is_empty() {
            groups.push(cur);
        }
        for (i, g) in groups.iter().enumerate() {
            lines.push(if i == 0 && g == cmd.get_name() {
                format!(".B {g}")
            } else {
                roff_usage_group(g)
            });
        }
    }
    lines.join("\n")
}

/// `[-i interval]` → `[\fB\-i\fR \fIinterval\fR]`; `...` and brackets stay roman.
fn roff_usage_group(g: &str) -> String {
    let mut out = String::new();
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        if word.is_empty() {
            return;
        }
        let w = roff_escape(word);
        if word.starts_with('-') {
            out.push_str(&format!("\\fB{w}\\fR"));
        } else if word.chars().all(|c| c == '.') {
            out.push_str(&w);
        } else {
            out.push_str(&format!("\\fI{w}\\fR"));
        }
        word.clear();
    };
    for ch in g.chars() {
        match ch {
            '[' | ']' | ' ' | '|' => {
                flush(&mut word, &mut out);
                out.push(ch);
            }
            _ => word.push(ch),
        }
    }
    flush(&mut word, &mut out);
    if out.starts_with('.') || out.starts_with('\'') {
        out.insert_str(0, "\\&");
    }
    out
}

fn roff_escape(s: &str) -> String {
    s.replace('\\', "\\e").replace('-', "\\-")
}

/// clap_mangen's OPTIONS section. Every flag is listed, also those `-h` leaves out;
/// a blank line between paragraphs of a flag's help becomes `.IP` (same indent, no
/// blank input lines); the apostrophe string clap_mangen uses is defined by the
/// template, not here.
fn man_options(cmd: &clap::Command) -> String {
    let cmd = cmd.clone().mut_args(|a| a.hide_short_help(false));
    let mut buf = Vec::new();
    clap_mangen::Man::new(cmd)
        .render_options_section(&mut buf)
        .unwrap();
    let roff = String::from_utf8(buf).unwrap();
    let mut out = Vec::new();
    for line in roff.lines() {
        if line.starts_with(".ie \\n(.g .ds Aq") || line.starts_with(".el .ds Aq") {
            continue;
        }
        if line.trim().is_empty() {
            if out.last() != Some(&".IP") {
                out.push(".IP");
            }
            continue;
        }
        out.push(line);
    }
    out.join("\n")
}

#[test]
fn man_page_is_fresh() {
    check_fresh("man/rnc.1", &render_man());
}

/// Macros a man(7) page may use (plus the few requests clap_mangen emits).
const KNOWN_MACROS: &[&str] = &[
    "TH", "SH", "SS", "TP", "TQ", "PP", "LP", "P", "IP", "HP", "RS", "RE", "B", "I", "BR", "BI",
    "IB", "IR", "RB", "RI", "SM", "SB", "nf", "fi", "br", "sp", "EX", "EE", "UR", "UE", "MT", "ME",
    "ie", "el", "ds", "ad", "na", "nh", "hy", "in", "ne",
];

/// Every control line uses a known macro, `.TH` comes first, `.SH` has a title, and
/// `.RS/.RE`, `.nf/.fi`, `.EX/.EE` pair up. Returns the problems found.
fn lint_man(text: &str) -> Vec<String> {
    let mut problems = Vec::new();
    let mut seen_th = false;
    let (mut rs, mut nf, mut ex) = (0i32, 0i32, 0i32);
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        if line.starts_with(".\\\"") || line.starts_with("'\\\"") || line == "." {
            continue;
        }
        if line.contains('@') && line.split('@').nth(1).is_some_and(is_slot) {
            problems.push(format!("line {n}: unfilled slot: {line}"));
        }
        if line.starts_with('\'') {
            problems.push(format!("line {n}: starts with an apostrophe: {line}"));
            continue;
        }
        if line.trim().is_empty() {
            problems.push(format!("line {n}: blank line (use .PP or .IP)"));
            continue;
        }
        let Some(rest) = line.strip_prefix('.') else {
            if !seen_th {
                problems.push(format!("line {n}: text before .TH"));
            }
            continue;
        };
        let mut parts = rest.splitn(2, [' ', '\t']);
        let name = parts.next().unwrap_or("");
        let args = parts.next().unwrap_or("").trim();
        if !KNOWN_MACROS.contains(&name) {
            problems.push(format!("line {n}: unknown macro .{name}"));
        }
        match name {
            "TH" if seen_th => problems.push(format!("line {n}: second .TH")),
            "TH" => seen_th = true,
            _ if !seen_th && !matches!(name, "ie" | "el" | "ds") => {
                problems.push(format!("line {n}: .{name} before .TH"))
            }
            "SH" | "SS" if args.is_empty() => {
                problems.push(format!("line {n}: .{name} without a title"))
            }
            "RS" => rs += 1,
            "RE" => rs -= 1,
            "nf" => nf += 1,
            "fi" => nf -= 1,
            "EX" => ex += 1,
            "EE" => ex -= 1,
            _ => {}
        }
        if rs < 0 || nf < 0 || ex < 0 || nf > 1 || ex > 1 {
            problems.push(format!("line {n}: unbalanced .{name}"));
            (rs, nf, ex) = (rs.max(0), nf.clamp(0, 1), ex.clamp(0, 1));
        }
    }
    for (open, count) in [(".RS", rs), (".nf", nf), (".EX", ex)] {
        if count != 0 {
            problems.push(format!("{open} opened {count} more time(s) than closed"));
        }
    }
    if !seen_th {
        problems.push("no .TH".into());
    }
    problems
}

fn is_slot(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_uppercase() || c == '_')
}

#[test]
fn man_page_uses_known_macros() {
    // The rendered page, so this holds while man/rnc.1 is being rewritten.
    let problems = lint_man(&render_man());
    assert!(problems.is_empty(), "man/rnc.1:\n{}", problems.join("\n"));
}

#[test]
fn lint_catches_broken_roff() {
    assert!(lint_man(".TH X 1\n.SH NAME\nx\n").is_empty());
    assert!(!lint_man(".TH X 1\n.SX NAME\n").is_empty());
    assert!(!lint_man(".TH X 1\n.SH\n").is_empty());
    assert!(!lint_man(".TH X 1\n.RS\ntext\n").is_empty());
    assert!(!lint_man(".TH X 1\n\ntext\n").is_empty());
    assert!(!lint_man(".SH NAME\n").is_empty());
    assert!(!lint_man(".TH X 1\n@OPTIONS@\n").is_empty());
}

/// Sections in nc(1)'s order; others may sit between them.
const SECTIONS: &[&str] = &[
    "NAME",
    "SYNOPSIS",
    "DESCRIPTION",
    "OPTIONS",
    "CLIENT/SERVER MODEL",
    "DATA TRANSFER",
    "TALKING TO SERVERS",
    "PORT SCANNING",
    "EXIT STATUS",
    "EXAMPLES",
    "COMPATIBILITY",
    "SEE ALSO",
];

fn man_sections(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.strip_prefix(".SH "))
        .map(|t| t.trim().trim_matches('"').to_string())
        .collect()
}

#[test]
fn man_page_has_sections_in_order() {
    let found = man_sections(&render_man());
    let mut at = 0;
    for want in SECTIONS {
        match found[at..].iter().position(|s| s == want) {
            Some(i) => at += i + 1,
            None => {
                panic!("man/rnc.1: section {want} missing or out of order; sections: {found:?}")
            }
        }
    }
}

fn run(cmd: &mut Command) -> Option<Output> {
    cmd.current_dir(root()).output().ok()
}

/// Run `cmd` with `input` on its stdin; None if it cannot be started.
fn run_with_input(cmd: &mut Command, input: &str) -> Option<Output> {
    use std::io::Write;
    let mut child = cmd
        .current_dir(root())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .ok()?;
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_string();
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let out = child.wait_with_output().ok()?;
    writer.join().unwrap().unwrap();
    Some(out)
}

#[test]
fn man_page_renders_without_groff_warnings() {
    // groff reads the rendered page on stdin; man_page_is_fresh ties it to man/rnc.1.
    let Some(out) = run_with_input(
        Command::new("groff").args(["-man", "-ww", "-z"]),
        &render_man(),
    ) else {
        eprintln!("groff is not installed: skipping the groff check (the macro check still runs)");
        return;
    };
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && said.is_empty(),
        "groff -man -ww -z man/rnc.1 complained:\n{said}"
    );
}

#[test]
fn man_page_passes_mandoc_lint() {
    let Some(out) = run_with_input(
        Command::new("mandoc").args(["-man", "-Tlint", "-W", "warning"]),
        &render_man(),
    ) else {
        eprintln!("mandoc is not installed: skipping the mandoc check");
        return;
    };
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && said.is_empty(),
        "mandoc -Tlint -W warning complained about man/rnc.1:\n{said}"
    );
}

/// Man page text as it reads: the escapes the EXAMPLES use, undone.
fn unroff(line: &str) -> String {
    line.replace("\\(aq", "'")
        .replace("\\(dq", "\"")
        .replace("\\-", "-")
        .replace("\\&", "")
        .replace("\\e", "\\")
}

/// The command lines of the man page's EXAMPLES (the `.EX` blocks).
fn man_example_commands(text: &str) -> Vec<String> {
    let section = text
        .split("\n.SH ")
        .find(|s| s.starts_with("EXAMPLES"))
        .expect("man page has EXAMPLES");
    let mut cmds = Vec::new();
    let mut inside = false;
    for line in section.lines() {
        match line {
            ".EX" => inside = true,
            ".EE" => inside = false,
            l if inside => cmds.push(unroff(l)),
            _ => {}
        }
    }
    cmds
}

#[test]
fn readme_shows_the_man_page_examples() {
    let man = render_man();
    let readme = read("README.md");
    let cmds = man_example_commands(&man);
    assert!(cmds.len() >= 5, "EXAMPLES has too few commands: {cmds:?}");
    let missing: Vec<_> = cmds
        .iter()
        .filter(|c| !readme.lines().any(|l| l.trim_end() == c.trim_end()))
        .collect();
    assert!(
        missing.is_empty(),
        "README.md lacks these lines of the man page's EXAMPLES:\n{missing:#?}"
    );
}

// ---------------------------------------------------------------------------------------
// Completions

/// What the operand and value completions need to know about the flags.
struct Words {
    /// Every spelling of an option that takes a value (`-p`, `--source-port`).
    takes_value: Vec<String>,
    /// Letters of the short options that take a value (`ipqsw`).
    short_values: String,
    /// Spellings of options whose value is a port.
    ports: Vec<String>,
    /// Spellings of options whose value is a host name.
    hosts: Vec<String>,
    /// Spellings of `-U`: with it the destination is a path.
    unix: Vec<String>,
}

fn spellings(a: &Arg) -> Vec<String> {
    let mut v: Vec<String> = a.get_short().map(|c| format!("-{c}")).into_iter().collect();
    v.extend(a.get_long().map(|l| format!("--{l}")));
    v
}

fn takes_value(a: &Arg) -> bool {
    a.get_num_args().is_some_and(|r| r.takes_values())
}

fn is_port_value(a: &Arg) -> bool {
    a.get_value_names()
        .and_then(|v| v.first())
        .is_some_and(|n| n.to_ascii_lowercase().ends_with("port"))
}

fn words(cmd: &clap::Command) -> Words {
    let opts: Vec<&Arg> = cmd.get_arguments().filter(|a| !a.is_positional()).collect();
    let valued: Vec<&Arg> = opts.iter().copied().filter(|a| takes_value(a)).collect();
    let spelled = |f: &dyn Fn(&Arg) -> bool| -> Vec<String> {
        valued
            .iter()
            .filter(|a| f(a))
            .flat_map(|a| spellings(a))
            .collect()
    };
    Words {
        takes_value: spelled(&|_| true),
        short_values: valued.iter().filter_map(|a| a.get_short()).collect(),
        ports: spelled(&is_port_value),
        hosts: spelled(&|a| a.get_value_hint() == ValueHint::Hostname),
        unix: opts
            .iter()
            .filter(|a| a.get_id() == "unixsock")
            .flat_map(|a| spellings(a))
            .collect(),
    }
}

fn clap_complete(shell: Shell) -> String {
    let mut cmd = command();
    let mut buf = Vec::new();
    clap_complete::generate(shell, &mut cmd, "rnc", &mut buf);
    String::from_utf8(buf).unwrap()
}

/// `completions/rnc.SHELL.in` with its slots filled from the flags: the spellings
/// joined by `sep` (a `case` pattern), or as fish's `-s X -l LONG` for the ports.
fn fill_completion(rel: &str, sep: &str, fish_ports: bool) -> String {
    let w = words(&command());
    let ports = match fish_ports {
        true => fish_spelled(&w.ports),
        false => w.ports.join(sep),
    };
    let mut out: String = read(rel)
        .lines()
        .filter(|l| !l.starts_with("#@"))
        .map(|l| format!("{l}\n"))
        .collect();
    for (slot, list) in [
        ("@PORT_OPTS@", ports),
        ("@HOST_OPTS@", w.hosts.join(sep)),
        ("@UNIX_OPTS@", w.unix.join(sep)),
        ("@VALUE_OPTS@", w.takes_value.join(sep)),
        ("@SHORT_VALUES@", w.short_values.clone()),
    ] {
        // An empty list would leave a `case` arm without a pattern.
        assert!(!list.is_empty(), "{rel}: nothing for {slot}");
        out = out.replace(slot, &list);
    }
    // `@NAME@` left over is a slot this function does not know (`"$@"` is shell).
    let parts: Vec<&str> = out.split('@').collect();
    let slot = |w: &str| !w.is_empty() && w.bytes().all(|b| b.is_ascii_uppercase() || b == b'_');
    let left = parts
        .iter()
        .skip(1)
        .take(parts.len().saturating_sub(2))
        .find(|w| slot(w));
    assert!(
        left.is_none(),
        "{rel}: unknown slot @{}@",
        left.unwrap_or(&"")
    );
    out
}

/// `-s p -l source-port`: fish's spelling of options.
fn fish_spelled(list: &[String]) -> String {
    list.iter()
        .map(|s| match s.strip_prefix("--") {
            Some(long) => format!("-l {long}"),
            None => format!("-s {}", &s[1..]),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// bash: clap_complete's script, then `_rnc_operands`, which handles the operands and
/// the port and host values and leaves the rest to clap's `_rnc`.
fn render_bash() -> String {
    clap_complete(Shell::Bash) + "\n" + &fill_completion("completions/rnc.bash.in", "|", false)
}

/// fish: clap_complete's script, then the operands and the port values (fish adds up
/// `complete` lines, so nothing of clap's is changed).
fn render_fish() -> String {
    clap_complete(Shell::Fish) + "\n" + &fill_completion("completions/rnc.fish.in", " ", true)
}

/// zsh: clap_complete's script with two lines changed, since an `_arguments` spec
/// cannot be added to from outside: the port options' values complete with `_ports`
/// (no clap value hint means "port"), and the operands are a host (`_files` with -U)
/// then ports, where clap has one catch-all line for them.
fn render_zsh() -> String {
    let cmd = command();
    let w = words(&cmd);
    let mut out = clap_complete(Shell::Zsh);
    // Each spelling of a port option has a line `'-p+[help]:name:ACTION' \`.
    for a in cmd
        .get_arguments()
        .filter(|a| takes_value(a) && is_port_value(a))
    {
        let value = format!(":{}:", a.get_value_names().unwrap()[0]);
        for spelled in spellings(a) {
            let starts = [format!("'{spelled}+["), format!("'{spelled}=[")];
            let line = out
                .lines()
                .find(|l| starts.iter().any(|s| l.starts_with(s.as_str())))
                .unwrap_or_else(|| panic!("clap_complete's zsh output: no line for {spelled}"));
            let at = line.rfind(&value).expect("the value's name") + value.len();
            let new = format!("{}_ports' \\", &line[..at]);
            out = out.replace(line, &new);
        }
    }
    // The operands' catch-all line.
    let pos = cmd.get_positionals().next().expect("rnc has operands");
    let prefix = format!("'*::{} -- ", pos.get_id());
    let start = out
        .find(&prefix)
        .unwrap_or_else(|| panic!("clap_complete's zsh output: no `{prefix}` line"));
    let end = start + out[start..].find('\n').unwrap() + 1;
    let unix = w
        .unix
        .iter()
        .map(|u| format!("${{+opt_args[{u}]}}"))
        .collect::<Vec<_>>()
        .join(" || ");
    let operands = format!(
        "'1:destination:{{if (( {unix} )); then _files; else _hosts; fi}}' \\\n'*:port:_ports' \\\n"
    );
    out.replace_range(start..end, &operands);
    out
}

#[test]
fn completions_are_fresh() {
    let stale: Vec<String> = [
        ("completions/rnc.bash", render_bash()),
        ("completions/_rnc", render_zsh()),
        ("completions/rnc.fish", render_fish()),
    ]
    .iter()
    .filter_map(|(rel, fresh)| fresh_or_bless(rel, fresh).err())
    .collect();
    assert!(stale.is_empty(), "{}", stale.join("\n"));
}

fn shell_available(shell: &str) -> bool {
    run(Command::new(shell).args(["-c", "exit 0"])).is_some_and(|o| o.status.success())
}

/// Run a bash snippet after sourcing the completion; its stdout, lines.
fn bash(script: &str) -> Vec<String> {
    let full = format!("source completions/rnc.bash\n{script}");
    let out =
        run(Command::new("bash").args(["--norc", "--noprofile", "-c", &full])).expect("bash runs");
    assert!(
        out.status.success(),
        "bash failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(String::from)
        .collect()
}

/// What bash offers for the last word of `line` (split at spaces).
fn bash_complete(line: &str) -> Vec<String> {
    let script = format!(
        r#"COMP_WORDS=({line})
[[ "{line}" == *" " ]] && COMP_WORDS+=("")
COMP_CWORD=$(( ${{#COMP_WORDS[@]}} - 1 ))
COMP_LINE="{line}"; COMP_POINT=${{#COMP_LINE}}
prev=""; ((COMP_CWORD > 0)) && prev="${{COMP_WORDS[COMP_CWORD-1]}}"
_rnc_operands rnc "${{COMP_WORDS[COMP_CWORD]}}" "$prev"
printf '%s\n' "${{COMPREPLY[@]}}""#
    );
    bash(&script)
}

fn has_services() -> bool {
    fs::read_to_string("/etc/services").is_ok_and(|s| s.contains("\n22/tcp") || s.contains("ssh"))
}

#[test]
fn bash_completion_loads_and_completes() {
    if !shell_available("bash") {
        eprintln!("bash is not installed: skipping the bash completion check");
        return;
    }
    let spec = bash("complete -p rnc");
    assert_eq!(spec.len(), 1, "{spec:?}");
    assert!(spec[0].starts_with("complete "), "{spec:?}");
    assert!(spec[0].contains(" -F _rnc_operands "), "{spec:?}");
    assert!(spec[0].ends_with(" rnc"), "{spec:?}");

    assert!(bash_complete("rnc --lis").contains(&"--listen".to_string()));
    assert!(bash_complete("rnc -").contains(&"-N".to_string()));
    if has_services() {
        assert!(bash_complete("rnc -p ss").contains(&"ssh".to_string()));
        assert!(bash_complete("rnc --source-port ss").contains(&"ssh".to_string()));
        assert!(bash_complete("rnc -v -w 3 somehost ss").contains(&"ssh".to_string()));
        assert!(bash_complete("rnc -vw3 somehost ss").contains(&"ssh".to_string()));
        // "3" is -w's value, so "ss" is the first operand: a host, not a service.
        assert!(!bash_complete("rnc -vw 3 ss").contains(&"ssh".to_string()));
    }
    let files = bash_complete("rnc -U Cargo.to");
    assert_eq!(files, ["Cargo.toml"], "-U completes paths");
}

#[test]
fn zsh_completion_loads() {
    if !shell_available("zsh") {
        eprintln!("zsh is not installed: skipping the zsh completion check");
        return;
    }
    // The file parses, and compinit registers it for rnc.
    let script = r#"
        fpath=(completions $fpath)
        autoload -Uz compinit && compinit -u -D
        source completions/_rnc
        print -r -- $_comps[rnc]
        (( $+functions[_rnc] )) && print defined
    "#;
    let out = run(Command::new("zsh").args(["-f", "-c", script])).expect("zsh runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "zsh failed: {stderr}");
    assert!(stderr.is_empty(), "zsh said: {stderr}");
    assert_eq!(stdout.lines().collect::<Vec<_>>(), ["_rnc", "defined"]);
}

/// What fish offers for `line` (`complete -C`), first column only.
fn fish_complete(line: &str) -> Vec<String> {
    let script = format!("source completions/rnc.fish; complete -C '{line}'");
    let out = run(Command::new("fish").args(["--no-config", "-c", &script])).expect("fish runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && stderr.is_empty(), "fish: {stderr}");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.split('\t').next().unwrap_or("").to_string())
        .collect()
}

#[test]
fn fish_completion_loads_and_completes() {
    if !shell_available("fish") {
        eprintln!("fish is not installed: skipping the fish completion check");
        return;
    }
    assert!(fish_complete("rnc --lis").contains(&"--listen".to_string()));
    if has_services() {
        assert!(fish_complete("rnc -p ss").contains(&"ssh".to_string()));
        assert!(fish_complete("rnc -v -w 3 somehost ss").contains(&"ssh".to_string()));
        assert!(!fish_complete("rnc -vw 3 ss").contains(&"ssh".to_string()));
    }
    assert!(fish_complete("rnc -U Cargo.to").contains(&"Cargo.toml".to_string()));
}

// ---------------------------------------------------------------------------------------
// -h

#[test]
fn short_help_is_one_line_per_flag() {
    let out = Command::new(env!("CARGO_BIN_EXE_rnc"))
        .arg("-h")
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let usage = lines
        .iter()
        .position(|l| l.starts_with("Usage: rnc "))
        .expect("a usage line");
    assert!(usage <= 1, "at most a title above the usage line:\n{text}");
    let cmd = command();
    let flags: Vec<&Arg> = cmd
        .get_arguments()
        .filter(|a| !a.is_positional() && !a.is_hide_set() && !a.is_hide_short_help_set())
        .collect();
    // The flags, then a blank line and the line that names the flags kept for --help.
    let end = lines
        .iter()
        .position(|l| l.is_empty())
        .unwrap_or(lines.len());
    let body = &lines[usage + 1..end];
    let more = lines[end..].join(" ");
    let listed = |a: &&Arg| !matches!(a.get_long(), Some("help" | "version"));
    for flag in cmd
        .get_arguments()
        .filter(|a| a.is_hide_short_help_set())
        .filter(listed)
    {
        let spelled = spellings(flag);
        assert!(
            spelled
                .iter()
                .any(|s| more.split_whitespace().any(|w| w == s)),
            "-h does not name {spelled:?} among the flags left to --help:\n{text}"
        );
    }
    assert_eq!(
        body.len(),
        flags.len(),
        "one line per flag after the usage line:\n{text}"
    );
    for (line, flag) in body.iter().zip(&flags) {
        assert!(line.trim_start().starts_with('-'), "{line:?}");
        let spelled = spellings(flag);
        assert!(
            spelled.iter().any(|s| line.contains(s.as_str())),
            "{line:?}"
        );
    }
    // One line per nc.openbsd flag, as its own -h (about 40 lines), and no more.
    assert!(lines.len() <= 42, "rnc -h has grown past nc's:\n{text}");
}
