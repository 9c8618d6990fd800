//! sparekeyctl: a thin shell over sparekey_ctl.
use clap::Parser;

fn main() -> std::process::ExitCode {
    sparekey_ctl::run(sparekey_ctl::Cli::parse())
}
