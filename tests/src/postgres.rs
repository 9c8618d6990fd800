//! A private PostgreSQL 15 cluster for a test, started by the test: `initdb` in a temporary
//! directory as the unprivileged `postgres` user (initdb refuses root), listening on
//! 127.0.0.1 on a free port, with a `sparekey` role and database whose password is in a
//! 0600 file; or a primary with a synchronous streaming standby (as
//! shared/recipes/postgresql-pair.sh does), which a test can fail over. Stopped
//! (immediately) and removed when dropped. The machine's own PostgreSQL, if any, is never
//! touched.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Debian's PostgreSQL 15 programs.
pub const PGBIN: &str = "/usr/lib/postgresql/15/bin";

/// Why PostgreSQL tests cannot run here, if they cannot.
pub fn unavailable() -> Option<String> {
    if !Path::new(PGBIN).join("initdb").exists() {
        return Some("PostgreSQL 15 is not installed (apt-get install postgresql-15)".into());
    }
    if Command::new("id")
        .arg("postgres")
        .output()
        .map(|o| !o.status.success())
        .unwrap_or(true)
    {
        return Some("there is no `postgres` user (apt-get install postgresql-15 makes it)".into());
    }
    None
}

/// Skips the calling test with a clear message when PostgreSQL cannot run here.
#[macro_export]
macro_rules! require_postgres {
    () => {
        if let Some(why) = $crate::postgres::unavailable() {
            eprintln!("skipped: {why}");
            return;
        }
    };
}

/// One running cluster.
#[derive(Debug)]
pub struct Cluster {
    dir: tempfile::TempDir,
    /// The port on 127.0.0.1.
    pub port: u16,
}

fn as_postgres(program: &str) -> Command {
    let mut c = Command::new("runuser");
    c.args(["-u", "postgres", "--", program]);
    c
}

fn run(mut c: Command, what: &str) {
    let out = c.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn pg_ctl(data: &Path, log: &Path, args: &[&str]) -> Command {
    let mut c = as_postgres(&format!("{PGBIN}/pg_ctl"));
    c.arg("-D").arg(data).arg("-l").arg(log).args(args);
    c
}

impl Cluster {
    /// Makes and starts a cluster with the `sparekey` role and database.
    pub fn start() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path();
        run(
            {
                let mut c = Command::new("chown");
                c.arg("postgres").arg(root);
                c
            },
            "chown the cluster's directory",
        );
        let port = free_port();
        let data = root.join("data");
        let mut init = as_postgres(&format!("{PGBIN}/initdb"));
        init.arg("-D").arg(&data).args([
            "-U",
            "postgres",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
        ]);
        run(init, "initdb");
        let conf = format!(
            "listen_addresses = '127.0.0.1'\nport = {port}\nunix_socket_directories = '{}'\nfsync = on\nsynchronous_commit = on\nmax_connections = 50\n",
            root.display()
        );
        let path = data.join("postgresql.conf");
        let mut text = std::fs::read_to_string(&path).unwrap();
        text.push_str(&conf);
        std::fs::write(&path, text).unwrap();
        let mut start = as_postgres(&format!("{PGBIN}/pg_ctl"));
        start
            .arg("-D")
            .arg(&data)
            .arg("-l")
            .arg(root.join("server.log"))
            .args(["-w", "start"]);
        run(start, "pg_ctl start");
        let password = "sparekey-test-password-0123456789";
        let mut psql = as_postgres("psql");
        psql.arg("-h")
            .arg(root)
            .args([
                "-p",
                &port.to_string(),
                "-U",
                "postgres",
                "-q",
                "-v",
                "ON_ERROR_STOP=1",
                "-c",
            ])
            .arg(format!(
                "CREATE ROLE sparekey WITH LOGIN PASSWORD '{password}'"
            ))
            .arg("-c")
            .arg("CREATE DATABASE sparekey OWNER sparekey");
        run(psql, "create the sparekey role and database");
        Cluster { dir, port }
    }

    /// The password of the `sparekey` role.
    pub fn password(&self) -> &'static str {
        "sparekey-test-password-0123456789"
    }

    /// The url of the `sparekey` database.
    pub fn url(&self) -> String {
        format!("postgresql://sparekey@127.0.0.1:{}/sparekey", self.port)
    }

    /// Writes the password to `dir/name` (mode 0600) and returns its path.
    pub fn password_file(&self, dir: &Path, name: &str) -> PathBuf {
        crate::radius::write_secret(dir, name, self.password())
    }

    /// Runs `sql` in the sparekey database as the superuser; returns what psql printed.
    pub fn psql(&self, sql: &str) -> String {
        let out = as_postgres("psql")
            .arg("-h")
            .arg(self.dir.path())
            .args([
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
                "-d",
                "sparekey",
                "-Atq",
                "-v",
                "ON_ERROR_STOP=1",
                "-c",
                sql,
            ])
            .output()
            .expect("psql");
        assert!(
            out.status.success(),
            "psql {sql}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = as_postgres(&format!("{PGBIN}/pg_ctl"))
            .arg("-D")
            .arg(self.dir.path().join("data"))
            .args(["-m", "immediate", "stop"])
            .output();
    }
}

impl Cluster {
    /// Turns TLS on, with a server certificate for 127.0.0.1 signed by a CA made here;
    /// returns the CA's certificate (PEM), for `[store] ca-file`.
    pub fn enable_tls(&self) -> PathBuf {
        let root = self.dir.path();
        let openssl = |args: &[&str]| {
            let mut c = Command::new("openssl");
            c.current_dir(root).args(args);
            run(c, "openssl");
        };
        openssl(&[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=sparekey test CA",
        ]);
        openssl(&[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=127.0.0.1",
        ]);
        std::fs::write(root.join("san.ext"), "subjectAltName = IP:127.0.0.1\n").unwrap();
        openssl(&[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "2",
            "-extfile",
            "san.ext",
        ]);
        for f in ["server.key", "server.pem"] {
            run(
                {
                    let mut c = Command::new("chown");
                    c.arg("postgres").arg(root.join(f));
                    c
                },
                "chown the server's key",
            );
        }
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(
            root.join("server.key"),
            std::fs::Permissions::from_mode(0o600),
        )
        .unwrap();
        let conf = root.join("data/postgresql.conf");
        let mut text = std::fs::read_to_string(&conf).unwrap();
        text.push_str(&format!(
            "ssl = on\nssl_cert_file = '{}'\nssl_key_file = '{}'\n",
            root.join("server.pem").display(),
            root.join("server.key").display()
        ));
        std::fs::write(&conf, text).unwrap();
        self.psql("SELECT pg_reload_conf()");
        std::thread::sleep(std::time::Duration::from_millis(300));
        root.join("ca.pem")
    }
}

/// A primary and a synchronous streaming standby (`synchronous_commit = on`): a commit is
/// answered only once the standby has it.
#[derive(Debug)]
pub struct Pair {
    /// The primary, the cluster whose directory holds both.
    pub primary: Cluster,
    /// The standby's port on 127.0.0.1.
    pub standby_port: u16,
}

impl Pair {
    /// Starts the primary, then the standby from a base backup, and waits until the standby
    /// is synchronous.
    pub fn start() -> Self {
        let primary = Cluster::start();
        let root = primary.dir.path().to_path_buf();
        let data = root.join("data");
        let conf = data.join("postgresql.conf");
        let mut text = std::fs::read_to_string(&conf).unwrap();
        text.push_str("wal_level = replica\nmax_wal_senders = 4\n");
        std::fs::write(&conf, text).unwrap();
        let hba = data.join("pg_hba.conf");
        let mut text = std::fs::read_to_string(&hba).unwrap();
        text.push_str("host replication replicator 127.0.0.1/32 scram-sha-256\n");
        std::fs::write(&hba, text).unwrap();
        run(
            pg_ctl(&data, &root.join("server.log"), &["-w", "restart"]),
            "restart the primary",
        );
        primary.psql(&format!(
            "CREATE ROLE replicator WITH REPLICATION LOGIN PASSWORD '{}'",
            primary.password()
        ));
        let pgpass = root.join(".pgpass");
        std::fs::write(
            &pgpass,
            format!(
                "127.0.0.1:{}:*:replicator:{}\n",
                primary.port,
                primary.password()
            ),
        )
        .unwrap();
        run(
            {
                let mut c = Command::new("chown");
                c.arg("postgres").arg(&pgpass);
                c
            },
            "chown .pgpass",
        );
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&pgpass, std::fs::Permissions::from_mode(0o600)).unwrap();
        let standby = root.join("standby");
        let mut backup = as_postgres("env");
        backup
            .arg(format!("PGPASSFILE={}", pgpass.display()))
            .arg(format!("{PGBIN}/pg_basebackup"))
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &primary.port.to_string(),
                "-U",
                "replicator",
                "-D",
            ])
            .arg(&standby)
            .args(["-R", "-X", "stream", "-c", "fast"]);
        run(backup, "pg_basebackup");
        let standby_port = free_port();
        let sconf = standby.join("postgresql.conf");
        let text = std::fs::read_to_string(&sconf).unwrap().replace(
            &format!("port = {}", primary.port),
            &format!("port = {standby_port}"),
        );
        std::fs::write(&sconf, text).unwrap();
        let auto = standby.join("postgresql.auto.conf");
        let text = std::fs::read_to_string(&auto).unwrap().replace(
            "primary_conninfo = '",
            &format!(
                "primary_conninfo = 'application_name=standby1 passfile={} ",
                pgpass.display()
            ),
        );
        std::fs::write(&auto, text).unwrap();
        run(
            pg_ctl(&standby, &root.join("standby.log"), &["-w", "start"]),
            "start the standby",
        );
        primary.psql("ALTER SYSTEM SET synchronous_standby_names = 'standby1'");
        primary.psql("SELECT pg_reload_conf()");
        for _ in 0..100 {
            let state = primary.psql(
                "SELECT sync_state FROM pg_stat_replication WHERE application_name = 'standby1'",
            );
            if state == "sync" {
                return Pair {
                    primary,
                    standby_port,
                };
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        panic!("the standby did not become synchronous");
    }

    /// Both, primary first, in the libpq url's host list: clients connect to whichever is
    /// the read-write one.
    pub fn url(&self) -> String {
        format!(
            "postgresql://sparekey@127.0.0.1:{},127.0.0.1:{}/sparekey?target_session_attrs=read-write&connect_timeout=2",
            self.primary.port, self.standby_port
        )
    }

    /// Stops the primary hard (as a crash would: `pg_ctl -m immediate`).
    pub fn kill_primary(&self) {
        let root = self.primary.dir.path();
        run(
            pg_ctl(
                &root.join("data"),
                &root.join("server.log"),
                &["-m", "immediate", "stop"],
            ),
            "stop the primary",
        );
    }

    /// Promotes the standby to primary.
    pub fn promote(&self) {
        let root = self.primary.dir.path();
        run(
            pg_ctl(
                &root.join("standby"),
                &root.join("standby.log"),
                &["-w", "promote"],
            ),
            "promote the standby",
        );
    }
}

impl Drop for Pair {
    fn drop(&mut self) {
        let _ = as_postgres(&format!("{PGBIN}/pg_ctl"))
            .arg("-D")
            .arg(self.primary.dir.path().join("standby"))
            .args(["-m", "immediate", "stop"])
            .output();
    }
}
