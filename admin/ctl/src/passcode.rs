//! Reading a fixed passcode twice: from the terminal without echo, or two lines of stdin.

use nix::sys::termios::{self, LocalFlags, SetArg};
use std::io::{BufRead, IsTerminal, Write};
use zeroize::Zeroizing;

/// Reads the passcode for `user` twice and returns it when both entries match.
pub fn read_twice(user: &str) -> Result<Zeroizing<String>, String> {
    let stdin = std::io::stdin();
    let (first, second) = if stdin.is_terminal() {
        (
            prompt(&format!("New fixed passcode for {user}: "))?,
            prompt("Again: ")?,
        )
    } else {
        let mut lines = stdin.lock();
        (line(&mut lines)?, line(&mut lines)?)
    };
    if first.is_empty() {
        return Err("no passcode given; expected it twice, on two lines".into());
    }
    if *first != *second {
        return Err("the two entries differ; nothing was changed".into());
    }
    Ok(first)
}

fn line(input: &mut impl BufRead) -> Result<Zeroizing<String>, String> {
    let mut s = Zeroizing::new(String::new());
    input
        .read_line(&mut s)
        .map_err(|e| format!("cannot read the passcode from stdin: {e}"))?;
    let trimmed = Zeroizing::new(s.trim_end_matches(['\n', '\r']).to_string());
    Ok(trimmed)
}

fn prompt(text: &str) -> Result<Zeroizing<String>, String> {
    let stdin = std::io::stdin();
    let mut err = std::io::stderr();
    let _ = write!(err, "{text}");
    let _ = err.flush();
    let saved = termios::tcgetattr(&stdin)
        .map_err(|e| format!("cannot read the terminal settings: {e}"))?;
    let mut quiet = saved.clone();
    quiet.local_flags.remove(LocalFlags::ECHO);
    termios::tcsetattr(&stdin, SetArg::TCSANOW, &quiet)
        .map_err(|e| format!("cannot turn off echo: {e}"))?;
    let result = line(&mut stdin.lock());
    let _ = termios::tcsetattr(&stdin, SetArg::TCSANOW, &saved);
    let _ = writeln!(err);
    result
}
