//! sparekey-bench-reflector: the cheapest correct RADIUS server, to measure the load
//! generator itself. It verifies each Access-Request's Message-Authenticator and answers
//! Access-Accept (Message-Authenticator first) to everything, from `--threads` threads
//! sharing one socket. Its CPU per request is a floor no real server gets under.

use clap::Parser;
use sparekey_radius_codec::{MessageAuthenticatorPolicy, PacketRef, ReplyBuilder, SharedSecret};
use std::net::{SocketAddr, UdpSocket};
use std::process::ExitCode;
use std::sync::Arc;

#[derive(Debug, Parser)]
#[command(
    name = "sparekey-bench-reflector",
    version,
    about = "Answers every valid Access-Request with Access-Accept (for measuring the generator)"
)]
struct Args {
    /// Where to listen.
    #[arg(long, default_value = "127.0.0.1:18799")]
    listen: SocketAddr,
    /// The shared secret.
    #[arg(long)]
    secret: String,
    /// Answering threads (on one socket).
    #[arg(long, default_value_t = 1)]
    threads: usize,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let socket = match UdpSocket::bind(args.listen) {
        Ok(s) => Arc::new(s),
        Err(e) => {
            eprintln!("sparekey-bench-reflector: cannot bind {}: {e}", args.listen);
            return ExitCode::FAILURE;
        }
    };
    let _ =
        nix::sys::socket::setsockopt(&*socket, nix::sys::socket::sockopt::RcvBuf, &(4usize << 20));
    let secret = match SharedSecret::new(args.secret.as_bytes()) {
        Ok(s) => Arc::new(s),
        Err(e) => {
            eprintln!("sparekey-bench-reflector: secret: {e}");
            return ExitCode::FAILURE;
        }
    };
    let handles: Vec<_> = (0..args.threads.max(1))
        .map(|_| {
            let (socket, secret) = (socket.clone(), secret.clone());
            std::thread::spawn(move || {
                let mut buf = [0u8; 4097];
                while let Ok((len, from)) = socket.recv_from(&mut buf) {
                    let Ok(p) = PacketRef::decode(&buf[..len]) else {
                        continue;
                    };
                    if p.verify_request(&secret, MessageAuthenticatorPolicy::Required)
                        .is_err()
                    {
                        continue;
                    }
                    let reply = ReplyBuilder::accept(&p, &secret).finish();
                    let _ = socket.send_to(&reply, from);
                }
            })
        })
        .collect();
    for h in handles {
        let _ = h.join();
    }
    ExitCode::SUCCESS
}
