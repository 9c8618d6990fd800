//! sparekeyctl: a thin shell over sparekey_admin::ctl.
use clap::Parser;

fn main() -> std::process::ExitCode {
    sparekey_admin::ctl::run(sparekey_admin::ctl::Cli::parse())
}
