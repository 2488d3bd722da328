//! Prints the permission matrix (the single source of truth in `kenshin-auth`) as Markdown;
//! `docs/SECURITY.md` embeds it, and a test keeps the two equal.
fn main() {
    print!("{}", kenshin_auth::matrix_markdown());
}
