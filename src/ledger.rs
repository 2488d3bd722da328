//! `kenshin-relay ledger …` (offline receipt checks) and `client ledger …` (verification of
//! the service's ledger by a party, with split-view and rollback detection).

use std::path::{Path, PathBuf};

use anyhow::Context;
use base64::Engine;
use kenshin_client::RelayClient;
use kenshin_ledger::{Checkpoint, Verifier};
use serde::{Deserialize, Serialize};

/// What a client remembers between runs: the pinned key and the last checkpoint it accepted.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VerifierState {
    pub key: String,
    pub checkpoint: Option<String>,
}

/// The outcome of a verification run.
#[derive(Debug, Clone, Serialize)]
pub struct Verified {
    pub origin: String,
    pub size: u64,
    pub root: String,
    /// Size of the checkpoint remembered from the previous run, which the new one extends.
    pub previous_size: Option<u64>,
    pub entries_verified: u64,
}

fn decode_hashes(hashes: &[String]) -> anyhow::Result<Vec<kenshin_ledger::Hash>> {
    hashes
        .iter()
        .map(|h| {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(h)
                .context("a proof hash is not base64")?;
            bytes
                .try_into()
                .map_err(|_| anyhow::anyhow!("a proof hash is not 32 bytes"))
        })
        .collect()
}

/// Verifies the service's ledger as a party: the checkpoint's signature against the pinned
/// key, its consistency with the last checkpoint this client accepted (a smaller tree, or the
/// same size with another root, is a rollback or a fork and is refused), and the inclusion of
/// every entry about the organisation's files. The state is saved only when all of it holds.
pub async fn verify(
    client: &RelayClient,
    state_path: &Path,
    pinned_key: Option<&str>,
) -> anyhow::Result<Verified> {
    let previous: Option<VerifierState> =
        match std::fs::read_to_string(state_path) {
            Ok(text) => Some(serde_json::from_str(&text).with_context(|| {
                format!("the verifier state {} is damaged", state_path.display())
            })?),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => None,
            Err(err) => return Err(err).context(format!("cannot read {}", state_path.display())),
        };
    let served_key = client.ledger_key().await?;
    let key = match (pinned_key, &previous) {
        (Some(pinned), _) => pinned.trim().to_owned(),
        (None, Some(state)) => state.key.clone(),
        // First use: trust the served key and pin it from now on.
        (None, None) => served_key.clone(),
    };
    anyhow::ensure!(
        served_key == key,
        "サーバーの台帳の鍵が記録済みの鍵と違います / the server's ledger key {served_key} is not the pinned key {key}"
    );
    let verifier = Verifier::from_text(&key).context("the ledger key is malformed")?;
    let origin = verifier.name().to_owned();
    let note = client.ledger_checkpoint().await?;
    let opened = kenshin_ledger::open_checkpoint(&note, &verifier, &origin)
        .context("チェックポイントの署名を記録済みの鍵で確認できません / the checkpoint's signature does not verify with the pinned key")?;
    let checkpoint: Checkpoint = opened;
    let mut previous_size = None;
    if let Some(old_note) = previous.as_ref().and_then(|s| s.checkpoint.as_deref()) {
        let old = kenshin_ledger::open_checkpoint(old_note, &verifier, &origin)
            .context("the remembered checkpoint does not verify")?;
        anyhow::ensure!(
            checkpoint.size >= old.size,
            "巻き戻し: 台帳の記録は {} 件ですが、以前 {} 件を確認しています / ROLLBACK: the ledger now has {} entries but this client saw {} before",
            checkpoint.size,
            old.size,
            checkpoint.size,
            old.size
        );
        if checkpoint.size == old.size {
            anyhow::ensure!(
                checkpoint.root == old.root,
                "分岐: 同じ {} 件で根が異なる 2 つのチェックポイントがあります / FORK: two checkpoints of size {} with different roots",
                old.size,
                old.size
            );
        } else if old.size > 0 {
            let proof = client.ledger_consistency(old.size, checkpoint.size).await?;
            kenshin_ledger::verify_consistency(
                old.size,
                checkpoint.size,
                &old.root,
                &checkpoint.root,
                &decode_hashes(&proof.hashes)?,
            )
            .map_err(|e| {
                anyhow::anyhow!("分岐: 新しいチェックポイントが前回確認したものを延長していません（別の台帳を見せられている疑い） / FORK: the new checkpoint does not extend the old one: {e}")
            })?;
        }
        previous_size = Some(old.size);
    }
    let mut verified = 0;
    let mut after = None;
    loop {
        let entries = client.ledger_entries(None, after).await?;
        let Some(last) = entries.last() else { break };
        after = Some(last.index);
        for entry in &entries {
            if entry.index >= checkpoint.size {
                continue; // appended after the checkpoint; verified next time
            }
            let proof = client
                .ledger_inclusion(entry.index, checkpoint.size)
                .await?;
            kenshin_ledger::verify_inclusion(
                &kenshin_ledger::leaf_hash(entry.entry.as_bytes()),
                entry.index,
                checkpoint.size,
                &decode_hashes(&proof.hashes)?,
                &checkpoint.root,
            )
            .map_err(|e| {
                anyhow::anyhow!(
                    "台帳の記録 {} が署名された木に含まれていません（改ざんの疑い） / entry {} is not in the signed tree: {e}",
                    entry.index,
                    entry.index
                )
            })?;
            verified += 1;
        }
    }
    let state = VerifierState {
        key,
        checkpoint: Some(note),
    };
    std::fs::write(state_path, serde_json::to_vec_pretty(&state)?)
        .with_context(|| format!("cannot save {}", state_path.display()))?;
    Ok(Verified {
        origin,
        size: checkpoint.size,
        root: base64::engine::general_purpose::STANDARD.encode(checkpoint.root),
        previous_size,
        entries_verified: verified,
    })
}

/// One entry of a file's history, and whether its inclusion in the signed tree was proven.
#[derive(Debug, Clone, Serialize)]
pub struct ShownEntry {
    pub index: u64,
    pub entry: String,
    pub included: bool,
}

/// A file's ledger history, each entry proven against the latest checkpoint (whose signature
/// is checked with the server's key, or the pinned one when given).
pub async fn show(
    client: &RelayClient,
    submission: &str,
    pinned_key: Option<&str>,
) -> anyhow::Result<(u64, Vec<ShownEntry>)> {
    let key = match pinned_key {
        Some(key) => key.trim().to_owned(),
        None => client.ledger_key().await?,
    };
    let verifier = Verifier::from_text(&key).context("the ledger key is malformed")?;
    let origin = verifier.name().to_owned();
    let checkpoint =
        kenshin_ledger::open_checkpoint(&client.ledger_checkpoint().await?, &verifier, &origin)
            .context("the checkpoint's signature does not verify")?;
    let mut shown = Vec::new();
    for entry in client.ledger_entries(Some(submission), None).await? {
        let included = if entry.index < checkpoint.size {
            let proof = client
                .ledger_inclusion(entry.index, checkpoint.size)
                .await?;
            kenshin_ledger::verify_inclusion(
                &kenshin_ledger::leaf_hash(entry.entry.as_bytes()),
                entry.index,
                checkpoint.size,
                &decode_hashes(&proof.hashes)?,
                &checkpoint.root,
            )
            .is_ok()
        } else {
            false
        };
        shown.push(ShownEntry {
            index: entry.index,
            entry: entry.entry,
            included,
        });
    }
    Ok((checkpoint.size, shown))
}

/// Checks a receipt offline against a verifier key (text or a file holding it).
pub fn verify_receipt_file(
    receipt: &Path,
    key: &str,
) -> anyhow::Result<kenshin_ledger::VerifiedReceipt> {
    let key = if Path::new(key).exists() {
        std::fs::read_to_string(key).with_context(|| format!("cannot read {key}"))?
    } else {
        key.to_owned()
    };
    let verifier = Verifier::from_text(key.trim()).context("the ledger key is malformed")?;
    let text = std::fs::read_to_string(receipt)
        .with_context(|| format!("cannot read {}", receipt.display()))?;
    // What shells and editors add is not part of the receipt: `jq -r` a newline at the end,
    // Windows tools CRLF line ends.
    let text = format!("{}\n", text.replace("\r\n", "\n").trim_end_matches('\n'));
    let origin = verifier.name().to_owned();
    kenshin_ledger::verify_receipt(&text, &verifier, &origin).map_err(|e| {
        anyhow::anyhow!(
            "受領証を検証できません（台帳の記録と一致しません） / the receipt does NOT verify: {e}"
        )
    })
}

#[derive(clap::Args, Debug)]
pub struct LedgerArgs {
    #[command(subcommand)]
    command: LedgerCommand,
    #[arg(long, global = true)]
    pub json: bool,
}

#[derive(clap::Subcommand, Debug)]
enum LedgerCommand {
    /// Check a receipt (from an upload or a 受信完了) offline against the ledger key.
    VerifyReceipt {
        receipt: PathBuf,
        /// The ledger's verifier key, or a file holding it (`GET /ledger/key`).
        #[arg(long)]
        key: String,
    },
}

pub fn run(args: LedgerArgs) -> anyhow::Result<u8> {
    match args.command {
        LedgerCommand::VerifyReceipt { receipt, key } => {
            let verified = verify_receipt_file(&receipt, &key)?;
            let entry = verified
                .entry
                .as_deref()
                .map(|e| String::from_utf8_lossy(e).into_owned())
                .unwrap_or_default();
            let report = serde_json::json!({
                "verified": true,
                "index": verified.index,
                "checkpoint_size": verified.checkpoint.size,
                "entry": entry,
            });
            crate::output::emit(args.json, &report, || {
                format!(
                    "検証済み / verified: entry {} is in the ledger of {} entries signed by {}\n{}",
                    verified.index,
                    verified.checkpoint.size,
                    verified.checkpoint.origin,
                    entry.trim_end()
                )
            });
            Ok(0)
        }
    }
}
