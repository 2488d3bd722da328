//! The PostgreSQL half of a backup. The database is dumped by PostgreSQL's own `pg_dump`
//! (custom format: schema, rows, sequences, policies and grants, compressed) from the
//! snapshot the relay exported, streamed straight into the sealing writer — the plaintext
//! dump never touches a disk — and restored by `pg_restore` in one transaction, fed from the
//! opened stream. Both tools must be of the server's major version or newer (Debian:
//! `postgresql-client`); `KENSHIN_PG_BINDIR` names their directory if they are not on `PATH`.

use std::io::{self, Read as _};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStderr, Command, Stdio};
use std::thread::JoinHandle;

use kenshin_crypto::DataKey;
use zeroize::Zeroizing;

use crate::{check, open_from, seal_entry, BackupError, Entry, PartWriter};

/// At most this much of a tool's error output goes into the message.
const STDERR_LIMIT: u64 = 16 * 1024;

/// How libpq tools reach the database: the URL without its password, which goes into the
/// environment instead, so that it is never visible in the process list.
struct Libpq {
    dbname: String,
    password: Option<Zeroizing<String>>,
}

impl Libpq {
    fn from_url(database_url: &str) -> Result<Libpq, BackupError> {
        let mut url = url::Url::parse(database_url).map_err(|e| {
            BackupError::Invalid(format!("database_url is not a PostgreSQL URL: {e}"))
        })?;
        if !matches!(url.scheme(), "postgres" | "postgresql") {
            return Err(BackupError::Invalid(
                "database_url is not a postgres:// URL".into(),
            ));
        }
        let password = url
            .password()
            .map(|p| {
                percent_encoding::percent_decode_str(p)
                    .decode_utf8()
                    .map(|p| Zeroizing::new(p.into_owned()))
                    .map_err(|_| BackupError::Invalid("the database password is not UTF-8".into()))
            })
            .transpose()?;
        let _ = url.set_password(None);
        Ok(Libpq {
            dbname: url.to_string(),
            password,
        })
    }

    fn command(&self, tool: &str) -> Command {
        let mut command = Command::new(tool_path(tool));
        command
            .arg("--no-password")
            .arg(format!("--dbname={}", self.dbname))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if let Some(password) = &self.password {
            command.env("PGPASSWORD", password.as_str());
        }
        command
    }
}

fn tool_path(tool: &str) -> PathBuf {
    match std::env::var_os("KENSHIN_PG_BINDIR") {
        Some(dir) if !dir.is_empty() => Path::new(&dir).join(tool),
        _ => PathBuf::from(tool),
    }
}

fn spawn(mut command: Command, tool: &str) -> Result<(Child, JoinHandle<String>), BackupError> {
    let mut child = command.spawn().map_err(|e| {
        if e.kind() == io::ErrorKind::NotFound {
            BackupError::Invalid(format!(
                "{tool} not found: install PostgreSQL's client tools of the server's major \
                 version (Debian: postgresql-client) or set KENSHIN_PG_BINDIR to their directory"
            ))
        } else {
            BackupError::Invalid(format!("{tool} could not be started: {e}"))
        }
    })?;
    let stderr = child.stderr.take().map(collect_stderr);
    let stderr = stderr.unwrap_or_else(|| std::thread::spawn(String::new));
    Ok((child, stderr))
}

/// Reads a tool's error output on a thread of its own (so a chatty tool cannot block on a
/// full pipe), keeping the first `STDERR_LIMIT` bytes.
fn collect_stderr(stderr: ChildStderr) -> JoinHandle<String> {
    std::thread::spawn(move || {
        let mut text = Vec::new();
        let mut limited = stderr.take(STDERR_LIMIT);
        let _ = limited.read_to_end(&mut text);
        let _ = io::copy(&mut limited.into_inner(), &mut io::sink());
        String::from_utf8_lossy(&text).trim().to_owned()
    })
}

fn failed(tool: &str, status: std::process::ExitStatus, stderr: JoinHandle<String>) -> BackupError {
    let text = stderr.join().unwrap_or_default();
    BackupError::Invalid(format!("{tool} failed ({status}): {text}"))
}

/// Dumps the database as of the exported `snapshot` into the sealed part `part`; returns
/// its manifest entry and sealed size.
pub(crate) fn dump(
    database_url: &str,
    snapshot: &str,
    key: &DataKey,
    part: PartWriter,
) -> Result<(Entry, u64), BackupError> {
    let libpq = Libpq::from_url(database_url)?;
    let mut command = libpq.command("pg_dump");
    command
        .arg("--format=custom")
        .arg(format!("--snapshot={snapshot}"))
        .stdout(Stdio::piped());
    let (mut child, stderr) = spawn(command, "pg_dump")?;
    let mut stdout = child.stdout.take().expect("stdout is piped");
    let sealed = seal_entry(key, &mut stdout, part, "database", 0o600);
    drop(stdout);
    if sealed.is_err() {
        let _ = child.kill();
    }
    let status = child
        .wait()
        .map_err(|e| BackupError::Invalid(format!("pg_dump: {e}")))?;
    let (entry, bytes) = sealed?;
    if !status.success() {
        return Err(failed("pg_dump", status, stderr));
    }
    if entry.size == 0 {
        return Err(BackupError::Invalid("pg_dump wrote nothing".into()));
    }
    Ok((entry, bytes))
}

/// Restores the sealed dump read from `sealed` (found at `path`) into the (prepared, empty)
/// database: one transaction, committed only if every byte opened, matched the manifest and
/// was applied without error.
pub(crate) fn restore(
    database_url: &str,
    key: &DataKey,
    sealed: Box<dyn io::Read + Send>,
    path: &Path,
    entry: &Entry,
) -> Result<(), BackupError> {
    let libpq = Libpq::from_url(database_url)?;
    let mut command = libpq.command("pg_restore");
    command
        .args(["--single-transaction", "--exit-on-error", "--no-owner"])
        .stdin(Stdio::piped());
    let (mut child, stderr) = spawn(command, "pg_restore")?;
    let mut stdin = child.stdin.take().expect("stdin is piped");
    let fed =
        open_from(key, sealed, path, &mut stdin).and_then(|found| check(entry, found, "database"));
    if let Err(err) = fed {
        let stopped_reading = matches!(
            &err,
            BackupError::Io { source, .. } if source.kind() == io::ErrorKind::BrokenPipe
        );
        if !stopped_reading {
            // Killed before its input ends: the transaction never commits.
            let _ = child.kill();
        }
        drop(stdin);
        let status = child.wait();
        return Err(match status {
            // pg_restore stopped reading: its own message says why.
            Ok(status) if stopped_reading => failed("pg_restore", status, stderr),
            _ => err,
        });
    }
    drop(stdin);
    let status = child
        .wait()
        .map_err(|e| BackupError::Invalid(format!("pg_restore: {e}")))?;
    if !status.success() {
        return Err(failed("pg_restore", status, stderr));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::Libpq;

    #[test]
    fn the_password_leaves_the_url_for_the_environment() {
        let libpq =
            Libpq::from_url("postgres://kenshin:s%40cret@db:5432/relay?sslmode=require").unwrap();
        assert_eq!(
            libpq.dbname,
            "postgres://kenshin@db:5432/relay?sslmode=require"
        );
        assert_eq!(
            libpq.password.as_deref().map(String::as_str),
            Some("s@cret")
        );
        let libpq = Libpq::from_url("postgresql://db/relay").unwrap();
        assert!(libpq.password.is_none());
        assert!(Libpq::from_url("mysql://db/relay").is_err());
        assert!(Libpq::from_url("not a url").is_err());
    }
}
