//! sparekeyctl: the helpdesk's and admin's tool. Parses the command line, sends one request
//! to the admin socket, prints the answer for a person or, with --json, as one JSON object.
//! It shares only the protocol (sparekey-admin-protocol) and the configuration's schema
//! (sparekey-conf, for `check-config` and the socket path) with the daemon.
#![forbid(unsafe_code)]

mod args;
pub mod client;
mod error;
mod host_file;
mod output;
mod passcode;
mod time_arg;

pub use args::Cli;
pub use error::Error;

use args::{Command, HostCommand};
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
    // A host file is made before the daemon is asked, so that a path in the way costs no
    // enrollment; its keys go to the file alone, never to the terminal.
    let out = match &cli.command {
        Command::Host {
            action: HostCommand::Enroll { out, .. },
        } => match host_file::reserve(out) {
            Ok(file) => Some((file, out.clone())),
            Err(msg) => {
                output::error(&msg, cli.json);
                return ExitCode::FAILURE;
            }
        },
        _ => None,
    };
    if let Some((file, path)) = out {
        return enroll(&socket, &request, file, &path, cli.json);
    }
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

/// `host enroll`: asks the daemon, writes the host file to `path`, says so.
fn enroll(
    socket: &std::path::Path,
    request: &Request,
    file: std::fs::File,
    path: &std::path::Path,
    json: bool,
) -> ExitCode {
    let response = match client::call(socket, request) {
        Ok((_, response)) => response,
        Err(e) => {
            host_file::release(path);
            output::error(&e.to_string(), json);
            return ExitCode::from(EXIT_UNAVAILABLE);
        }
    };
    match response {
        Response::HostEnrolled { host, file: text } => {
            if let Err(msg) = host_file::fill(file, path, &text) {
                host_file::release(path);
                output::error(
                    &format!("{msg}; host {:?} is enrolled, but its file is lost: revoke it and enroll it again", host.name),
                    json,
                );
                return ExitCode::FAILURE;
            }
            output::host_enrolled(&host, path, json);
            ExitCode::SUCCESS
        }
        Response::Error { error } => {
            host_file::release(path);
            output::error(&error, json);
            ExitCode::FAILURE
        }
        other => {
            host_file::release(path);
            output::error(
                &format!("unexpected answer from sparekeyd: {other:?}"),
                json,
            );
            ExitCode::FAILURE
        }
    }
}
