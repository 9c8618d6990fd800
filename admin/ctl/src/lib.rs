//! sparekeyctl: the helpdesk's and admin's tool. Parses the command line, sends one request
//! to the admin socket, prints the answer for a person or, with --json, as one JSON object.
//! It shares only the protocol (sparekey-admin-protocol) and the configuration's schema
//! (sparekey-conf, for `check-config` and the socket path) with the daemon.
#![forbid(unsafe_code)]

mod args;
pub mod client;
mod error;
mod output;
mod passcode;
mod time_arg;

pub use args::Cli;
pub use error::Error;

use args::Command;
use sparekey_admin_protocol::{Request, Response};
use std::path::PathBuf;
use std::process::ExitCode;

/// Exit status when the daemon cannot be reached (EX_UNAVAILABLE).
const EXIT_UNAVAILABLE: u8 = 69;
/// Exit status for a configuration error (EX_CONFIG).
const EXIT_CONFIG: u8 = 78;

/// Runs sparekeyctl with parsed arguments.
pub fn run(cli: Cli) -> ExitCode {
    if let Command::CheckConfig = cli.command {
        let path = cli
            .config
            .clone()
            .unwrap_or_else(|| PathBuf::from(sparekey_conf::DEFAULT_CONFIG_PATH));
        return match sparekey_conf::load(&path) {
            Ok(c) => {
                output::config_ok(&c, cli.json);
                ExitCode::SUCCESS
            }
            Err(e) => {
                output::error(&e.to_string(), cli.json);
                ExitCode::from(EXIT_CONFIG)
            }
        };
    }
    let socket = match socket_path(&cli) {
        Ok(s) => s,
        Err(msg) => {
            output::error(&msg, cli.json);
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    let request = match args::request(&cli.command) {
        Ok(r) => r,
        Err(msg) => {
            output::error(&msg, cli.json);
            return ExitCode::from(2);
        }
    };
    let verify = matches!(request, Request::Audit { verify: true, .. });
    match client::call(&socket, &request) {
        Ok((raw, response)) => {
            if cli.json {
                println!("{raw}");
            } else {
                output::human(&response);
            }
            match response {
                Response::Error { .. } => ExitCode::FAILURE,
                Response::Verified {
                    intact, tampered, ..
                } if verify && (!intact || !tampered.is_empty()) => ExitCode::FAILURE,
                _ => ExitCode::SUCCESS,
            }
        }
        Err(e) => {
            output::error(&e.to_string(), cli.json);
            ExitCode::from(EXIT_UNAVAILABLE)
        }
    }
}

fn socket_path(cli: &Cli) -> Result<PathBuf, String> {
    if let Some(s) = &cli.socket {
        return Ok(s.clone());
    }
    match &cli.config {
        Some(path) => sparekey_conf::load(path)
            .map(|c| c.daemon.admin.socket)
            .map_err(|e| e.to_string()),
        None => Ok(sparekey_conf::AdminConfig::default().socket),
    }
}
