//! Where the blob store is: the `blob_url` setting read into a backend's settings.

use std::fmt;
use std::path::{Path, PathBuf};

/// A blob store's location.
#[derive(Clone, Debug)]
pub enum BlobLocation {
    /// A local directory.
    Local(PathBuf),
    /// A bucket (and key prefix) of an S3-compatible service.
    S3(S3Settings),
}

impl BlobLocation {
    /// Reads a `blob_url`: empty for the local directory `local_root`, or
    /// `s3://BUCKET[/PREFIX]` for a bucket whose endpoint, region and credentials come from
    /// the standard `AWS_*` environment variables. Credentials never belong in the URL: it
    /// is printed in configuration files and logs.
    pub fn from_url(url: &str, local_root: &Path) -> Result<BlobLocation, String> {
        let url = url.trim();
        if url.is_empty() {
            return Ok(BlobLocation::Local(local_root.to_path_buf()));
        }
        let usage = "blob_url must be empty (the data directory's blobs/) or s3://BUCKET[/PREFIX]";
        // Not echoed: a URL with user information may hold a secret.
        if url.contains('@') {
            return Err(format!(
                "{usage}, without credentials: they come from the AWS_* environment variables"
            ));
        }
        let rest = url
            .strip_prefix("s3://")
            .ok_or_else(|| format!("{usage}, not {url:?}"))?;
        if rest.contains(['?', '#']) {
            return Err(format!(
                "{usage}, without options (endpoint and region come from the AWS_* environment variables), not {url:?}"
            ));
        }
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let bucket_ok = (3..=63).contains(&bucket.len())
            && bucket
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-');
        if !bucket_ok {
            return Err(format!(
                "{usage}: {bucket:?} is not a bucket name (3 to 63 lowercase letters, digits, dots and hyphens)"
            ));
        }
        let prefix = prefix.trim_end_matches('/');
        if !prefix.is_empty()
            && prefix
                .split('/')
                .any(|part| part.is_empty() || part == "." || part == "..")
        {
            return Err(format!(
                "{usage}: the prefix {prefix:?} has an empty, `.` or `..` part"
            ));
        }
        Ok(BlobLocation::S3(S3Settings::from_environment(
            bucket, prefix,
        )))
    }
}

/// The directory, or `s3://bucket/prefix` (never credentials).
impl fmt::Display for BlobLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BlobLocation::Local(root) => write!(f, "{}", root.display()),
            BlobLocation::S3(s3) => f.write_str(&s3.url()),
        }
    }
}

/// How to reach a bucket. Fields left `None` fall back to the environment when `from_env` is
/// set (the object_store conventions: `AWS_ENDPOINT_URL`, `AWS_REGION`/`AWS_DEFAULT_REGION`,
/// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_ALLOW_HTTP`, and
/// the container and web-identity credential sources), and to object_store's defaults.
#[derive(Clone)]
pub struct S3Settings {
    pub bucket: String,
    /// Key prefix without leading or trailing slash; empty for the bucket's root.
    pub prefix: String,
    pub from_env: bool,
    pub endpoint: Option<String>,
    pub region: Option<String>,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    /// Plain HTTP is refused unless this (or `AWS_ALLOW_HTTP=true`) says otherwise: only a
    /// local test endpoint should ever need it.
    pub allow_http: Option<bool>,
}

impl S3Settings {
    /// Settings that read nothing from the environment.
    pub fn new(bucket: &str, prefix: &str) -> S3Settings {
        S3Settings {
            bucket: bucket.to_owned(),
            prefix: prefix.trim_matches('/').to_owned(),
            from_env: false,
            endpoint: None,
            region: None,
            access_key_id: None,
            secret_access_key: None,
            allow_http: None,
        }
    }

    /// Settings taken from the `AWS_*` environment variables.
    pub fn from_environment(bucket: &str, prefix: &str) -> S3Settings {
        S3Settings {
            from_env: true,
            ..S3Settings::new(bucket, prefix)
        }
    }

    /// `s3://bucket/prefix`.
    pub fn url(&self) -> String {
        if self.prefix.is_empty() {
            format!("s3://{}", self.bucket)
        } else {
            format!("s3://{}/{}", self.bucket, self.prefix)
        }
    }
}

impl fmt::Debug for S3Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Settings")
            .field("bucket", &self.bucket)
            .field("prefix", &self.prefix)
            .field("from_env", &self.from_env)
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id.as_ref().map(|_| "…"))
            .field(
                "secret_access_key",
                &self.secret_access_key.as_ref().map(|_| "…"),
            )
            .field("allow_http", &self.allow_http)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_is_local_and_s3_urls_name_bucket_and_prefix() {
        let root = Path::new("/data/blobs");
        assert!(matches!(
            BlobLocation::from_url("", root),
            Ok(BlobLocation::Local(path)) if path == root
        ));
        let Ok(BlobLocation::S3(s3)) = BlobLocation::from_url("s3://relay-blobs/prod/a/", root)
        else {
            panic!("an s3 url is S3");
        };
        assert_eq!(
            (s3.bucket.as_str(), s3.prefix.as_str()),
            ("relay-blobs", "prod/a")
        );
        assert!(s3.from_env);
        assert_eq!(s3.url(), "s3://relay-blobs/prod/a");
        let Ok(BlobLocation::S3(s3)) = BlobLocation::from_url("s3://relay-blobs", root) else {
            panic!("a bucket alone is S3");
        };
        assert_eq!(s3.prefix, "");
    }

    #[test]
    fn credentials_options_and_other_schemes_are_refused() {
        let root = Path::new("/data/blobs");
        for bad in [
            "s3://key:secret@bucket/prefix",
            "s3://bucket/prefix?endpoint=http://x",
            "file:///tmp/blobs",
            "https://bucket.s3.amazonaws.com",
            "s3://Bucket_Name/x",
            "s3://ab",
            "s3://bucket/a//b",
            "s3://bucket/../b",
        ] {
            let err = BlobLocation::from_url(bad, root).unwrap_err();
            assert!(err.contains("blob_url must be"), "{bad}: {err}");
            assert!(
                !err.contains("secret"),
                "{bad}: the message repeats a credential: {err}"
            );
        }
    }

    #[test]
    fn debug_output_hides_the_credentials() {
        let mut s3 = S3Settings::new("bucket", "p");
        s3.access_key_id = Some("AKIDVISIBLE".into());
        s3.secret_access_key = Some("very-secret".into());
        let text = format!("{s3:?}");
        assert!(
            !text.contains("AKIDVISIBLE") && !text.contains("very-secret"),
            "{text}"
        );
    }
}
