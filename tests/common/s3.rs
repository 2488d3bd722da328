//! A real S3-compatible server for tests: one `s3s-fs` process per test, on a free loopback
//! port, over a temporary root directory, with credentials generated for the test.
//!
//! The binary comes from `KENSHIN_TEST_S3S_FS` (`.ci/run` installs it). Without it a test
//! skips with the reason printed, except under `CI=true`, where it fails.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::free_port;

pub struct S3Server {
    child: Child,
    pub root: tempfile::TempDir,
    pub port: u16,
    pub bucket: String,
    pub access_key: String,
    pub secret_key: String,
}

/// The s3s-fs binary, or `None` (with the reason printed) when a test should skip.
pub fn s3s_fs_binary(test: &str) -> Option<PathBuf> {
    match std::env::var_os("KENSHIN_TEST_S3S_FS") {
        Some(path) if !path.is_empty() => {
            let path = PathBuf::from(path);
            assert!(
                path.is_file(),
                "KENSHIN_TEST_S3S_FS={} is not a file",
                path.display()
            );
            Some(path)
        }
        _ if std::env::var("CI").is_ok_and(|v| v == "true") => panic!(
            "{test}: KENSHIN_TEST_S3S_FS is not set under CI=true; .ci/run installs s3s-fs and sets it"
        ),
        _ => {
            eprintln!(
                "skipping {test}: set KENSHIN_TEST_S3S_FS to an s3s-fs binary \
                 (cargo install s3s-fs@0.14.1 --features binary --locked --root DIR)"
            );
            None
        }
    }
}

fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    aws_lc_rs::rand::fill(&mut buf).unwrap();
    hex::encode(buf)
}

impl S3Server {
    /// Starts s3s-fs with one empty bucket, or returns `None` when the test should skip.
    pub fn start(test: &str, bucket: &str) -> Option<S3Server> {
        let binary = s3s_fs_binary(test)?;
        let root = tempfile::tempdir().unwrap();
        // s3s-fs serves each directory of its root as a bucket.
        std::fs::create_dir(root.path().join(bucket)).unwrap();
        let access_key = format!("AK{}", random_hex(8).to_uppercase());
        let secret_key = random_hex(20);
        let port = free_port();
        let child = Command::new(&binary)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--access-key", &access_key, "--secret-key", &secret_key])
            .arg(root.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
        let server = S3Server {
            child,
            root,
            port,
            bucket: bucket.to_owned(),
            access_key,
            secret_key,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "s3s-fs did not listen on {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(server)
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn url(&self, prefix: &str) -> String {
        format!("s3://{}/{prefix}", self.bucket)
    }

    /// The standard AWS variables that point a relay process at this server.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint()),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_ACCESS_KEY_ID", self.access_key.clone()),
            ("AWS_SECRET_ACCESS_KEY", self.secret_key.clone()),
            ("AWS_ALLOW_HTTP", "true".into()),
        ]
    }

    /// Settings for a store in this process, without touching the environment.
    pub fn settings(&self, prefix: &str) -> kenshin_store::S3Settings {
        let mut settings = kenshin_store::S3Settings::new(&self.bucket, prefix);
        settings.endpoint = Some(self.endpoint());
        settings.region = Some("us-east-1".into());
        settings.access_key_id = Some(self.access_key.clone());
        settings.secret_access_key = Some(self.secret_key.clone());
        settings.allow_http = Some(true);
        settings
    }

    /// Every file under the server's root: objects, and whatever s3s-fs keeps of uploads.
    pub fn files(&self) -> Vec<PathBuf> {
        let mut files = Vec::new();
        super::walk(self.root.path(), &mut files);
        files
    }

    /// The object files under `<bucket>/<prefix>/objects/`.
    pub fn object_files(&self, prefix: &str) -> Vec<PathBuf> {
        let mut files = Vec::new();
        super::walk(&self.bucket_dir().join(prefix).join("objects"), &mut files);
        files
    }

    pub fn bucket_dir(&self) -> PathBuf {
        self.root.path().join(&self.bucket)
    }

    /// Whether `needle` occurs in any file under the server's root.
    pub fn any_file_contains(&self, needle: &[u8]) -> Option<PathBuf> {
        self.files().into_iter().find(|path| {
            std::fs::read(path)
                .map(|bytes| bytes.windows(needle.len()).any(|w| w == needle))
                .unwrap_or(false)
        })
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The file names (object ids) of `files`.
pub fn names(files: &[PathBuf]) -> Vec<String> {
    let mut names: Vec<String> = files
        .iter()
        .filter_map(|p| Path::new(p).file_name()?.to_str().map(str::to_owned))
        .collect();
    names.sort();
    names
}

/// Points a data directory initialised with local blobs (and holding none yet) at a bucket.
pub fn set_blob_url(data: &kenshin_server::DataDir, url: &str) {
    let path = data.config_path();
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("blob_url = \"\""), "init writes blob_url");
    std::fs::write(
        &path,
        text.replace("blob_url = \"\"", &format!("blob_url = {url:?}")),
    )
    .unwrap();
}
