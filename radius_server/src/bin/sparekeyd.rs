//! sparekeyd: a thin shell over sparekey_radius::daemon.
use clap::Parser;

fn main() -> std::process::ExitCode {
    sparekey_radius::daemon::run(sparekey_radius::daemon::Args::parse())
}
