//! sparekeyd: a thin shell over sparekey_daemon::run.
use clap::Parser;

fn main() -> std::process::ExitCode {
    sparekey_daemon::run::run(sparekey_daemon::run::Args::parse())
}
