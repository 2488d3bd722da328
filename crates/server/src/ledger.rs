//! The transparency ledger in the service: the sequencer that turns events into ledger
//! entries, the signed checkpoints, proofs for the parties, and the audit of the stored tree.
//!
//! Events are written in the same transaction as the state change they describe; the
//! sequencer then appends them, in order and in batches, to the RFC 6962 log and signs a
//! checkpoint for the new size. Entry `i` is event `seq = i + 1`. A caller that needs its
//! event covered by a signed checkpoint (a receipt) runs the sequencer itself.

use std::collections::HashMap;
use std::sync::Arc;

use kenshin_ledger::{Checkpoint, Hash, NodeStore, Signer};
use kenshin_store::{Database, EventRecord, NewLedgerEntry, StoreError, StoredCheckpoint};
use time::OffsetDateTime;

/// Events appended per transaction.
const BATCH: u32 = 1000;

#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("ledger: {0}")]
    Tree(String),
    #[error("signing: {0}")]
    Sign(String),
    #[error("the event is not in the ledger")]
    NotInLedger,
}

/// How long a response waits for another node's sequencer to put its event in the ledger.
const RECEIPT_WAIT: std::time::Duration = std::time::Duration::from_secs(3);

#[derive(Clone)]
pub struct Ledger {
    db: Database,
    signer: Arc<Signer>,
    origin: String,
    /// The sequencer's lease, once this node holds it: one sequencer at a time in this
    /// process (the mutex) and across nodes (the lease, a PostgreSQL advisory lock).
    lease: Arc<tokio::sync::Mutex<Option<kenshin_store::SequencerLease>>>,
}

/// Reads subtree hashes from the database, with the nodes of the batch being built on top.
/// Runs on a blocking thread, where waiting for the database is allowed.
struct DbNodes<'a> {
    db: &'a Database,
    handle: tokio::runtime::Handle,
    overlay: HashMap<(u8, u64), Hash>,
}

impl NodeStore for DbNodes<'_> {
    type Error = StoreError;

    fn get(&self, level: u8, index: u64) -> Result<Option<Hash>, StoreError> {
        if let Some(hash) = self.overlay.get(&(level, index)) {
            return Ok(Some(*hash));
        }
        self.handle.block_on(self.db.ledger_node(level, index))
    }
}

impl Ledger {
    /// `origin` names the log in its checkpoints (e.g. `relay.example.jp/ledger`); the key file
    /// is created on first use.
    pub fn open(db: Database, key_path: &std::path::Path, origin: &str) -> anyhow::Result<Ledger> {
        let signer = if key_path.exists() {
            Signer::load_file(key_path)?
        } else {
            tracing::warn!(path = %key_path.display(), "creating the ledger signing key");
            Signer::create_file(key_path, origin)?
        };
        anyhow::ensure!(
            signer.name() == origin,
            "the ledger key at {} is for origin {:?}, but the configuration says {origin:?}",
            key_path.display(),
            signer.name()
        );
        Ok(Ledger {
            db,
            signer: Arc::new(signer),
            origin: origin.to_owned(),
            lease: Arc::new(tokio::sync::Mutex::new(None)),
        })
    }

    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The verifier key, `<name>+<key id>+<base64 key>`, to be published and pinned.
    pub fn verifier_text(&self) -> String {
        self.signer.verifier().to_text()
    }

    /// Gives up the sequencer's lease (at shutdown: another node takes over at its next tick,
    /// and the lease's connection must not keep the pool from closing).
    pub async fn resign(&self) {
        self.lease.lock().await.take();
    }

    /// Appends every event not yet in the ledger and signs a checkpoint for the new size.
    /// Returns the number of entries appended; 0 when another node holds the sequencer's
    /// lease (it will append them). Even two sequencers could not fork the log: a batch is
    /// refused unless it starts at the stored size, and a checkpoint is signed once per size.
    pub async fn sequence(&self) -> Result<u64, LedgerError> {
        let mut lease = self.lease.lock().await;
        if lease.is_none() {
            *lease = self.db.try_sequencer_lease().await?;
            if lease.is_some() {
                tracing::info!("this node is now the ledger sequencer");
            }
        }
        let Some(held) = lease.as_mut() else {
            return Ok(0);
        };
        if let Err(err) = held.check().await {
            *lease = None;
            return Err(err.into());
        }
        self.anchor_access_log().await?;
        let mut appended = 0;
        loop {
            let events = self.db.events_not_in_ledger(BATCH).await?;
            if events.is_empty() {
                break;
            }
            let size = self.db.ledger_size().await?;
            let mut entries = Vec::with_capacity(events.len());
            for (offset, event) in events.iter().enumerate() {
                let content = match (&event.submission_id, &event.object_id) {
                    (Some(submission), Some(object)) => self
                        .db
                        .commitment_inputs(submission, object)
                        .await?
                        .map(|(key, sha)| {
                            hex::encode(kenshin_crypto::hmac_sha256(&key, sha.as_bytes()))
                        }),
                    _ => None,
                };
                entries.push(NewLedgerEntry {
                    idx: size + offset as u64,
                    event_seq: event.seq,
                    entry: encode_entry(event, content),
                    submission_id: event.submission_id.clone(),
                    sender_org: event.sender_org.clone(),
                    receiver_org: event.receiver_org.clone(),
                });
            }
            let db = self.db.clone();
            let handle = tokio::runtime::Handle::current();
            let (entries, nodes) = tokio::task::spawn_blocking(move || {
                let mut store = DbNodes {
                    db: &db,
                    handle,
                    overlay: HashMap::new(),
                };
                let mut nodes = Vec::new();
                for entry in &entries {
                    let leaf = kenshin_ledger::leaf_hash(&entry.entry);
                    for (level, index, hash) in
                        kenshin_ledger::append_nodes(entry.idx, leaf, &store)
                            .map_err(|e| LedgerError::Tree(e.to_string()))?
                    {
                        store.overlay.insert((level, index), hash);
                        nodes.push((level, index, hash));
                    }
                }
                Ok::<_, LedgerError>((entries, nodes))
            })
            .await
            .map_err(|e| LedgerError::Tree(e.to_string()))??;
            self.db
                .append_ledger(&entries, &nodes, OffsetDateTime::now_utc())
                .await?;
            appended += entries.len() as u64;
        }
        let size = self.db.ledger_size().await?;
        let latest = self.db.latest_checkpoint().await?;
        if latest.as_ref().map(|c| c.size) != Some(size) {
            self.sign(size).await?;
        }
        Ok(appended)
    }

    /// Digests the access-log rows written since the last digest into an event (and so into
    /// the ledger): a hash chained from the previous digest over each row's canonical bytes.
    async fn anchor_access_log(&self) -> Result<(), LedgerError> {
        let digests = self.db.access_digests().await?;
        let (last, previous) = digests
            .last()
            .map(|(_, last, digest)| (*last, digest.clone()))
            .unwrap_or((0, String::new()));
        let max = self.db.max_access_seq().await?;
        if max <= last {
            return Ok(());
        }
        let rows = self.db.access_range(last + 1, max).await?;
        let digest = access_digest(&previous, &rows);
        self.db
            .append_access_digest(last + 1, max, &digest, OffsetDateTime::now_utc())
            .await?;
        Ok(())
    }

    /// Removes access-log rows written before `cutoff` (retention), as far as whole digested
    /// batches reach, after checking that those rows still match their digests — expiry must
    /// never launder a tampered row out of sight — and puts the `access_log_expired` event
    /// into the ledger at once. Returns the rows removed (`None`: nothing due).
    pub async fn expire_access_log(
        &self,
        cutoff: OffsetDateTime,
    ) -> Result<Option<(kenshin_store::AccessExpiryPlan, u64)>, LedgerError> {
        let _guard = self.lease.lock().await;
        self.anchor_access_log().await?;
        let Some(plan) = self.db.access_expiry_plan(cutoff).await? else {
            return Ok(None);
        };
        let mut previous = String::new();
        for (first, last, digest) in self.db.access_digests().await? {
            if last > plan.through {
                break;
            }
            if first > plan.after {
                let rows = self.db.access_range(first, last).await?;
                if access_digest(&previous, &rows) != digest {
                    return Err(LedgerError::Tree(format!(
                        "access-log rows {first}–{last} do not match their digest; \
                         refusing to expire them (run `admin ledger audit`)"
                    )));
                }
            }
            previous = digest;
        }
        let removed = self
            .db
            .expire_access_log(&plan, OffsetDateTime::now_utc())
            .await?;
        drop(_guard);
        self.sequence().await?;
        Ok(Some((plan, removed)))
    }

    /// Recomputes every access-log digest recorded *in the ledger* from the access-log rows:
    /// a deleted, inserted or edited row breaks its digest. Batches that the ledger records as
    /// expired (retention) are not recomputed — their rows are gone — but their digests still
    /// carry the chain, and the database's expiry mark must be exactly what the ledger says.
    /// Returns the problems found.
    pub async fn verify_access_log(&self) -> Result<Vec<String>, LedgerError> {
        let mut problems = Vec::new();
        let mut batches = Vec::new();
        let mut expired_through = 0;
        for entry in self
            .db
            .ledger_entries_containing("kind access_log_")
            .await?
        {
            let text = String::from_utf8_lossy(&entry.entry).into_owned();
            let expiry = text.lines().any(|l| l == "kind access_log_expired");
            match parse_access_line(&text) {
                Some((_, last, _)) if expiry => expired_through = expired_through.max(last),
                Some(batch) => batches.push((entry.idx, batch)),
                None => problems.push(format!(
                    "ledger entry {} has a missing or malformed access-log line",
                    entry.idx
                )),
            }
        }
        let mark = self.db.access_expired_through().await?;
        if mark != expired_through {
            problems.push(format!(
                "the access log's expiry mark is {mark} but the ledger records expiry through \
                 {expired_through} (rows were removed without a ledger entry)"
            ));
        }
        let mut previous = String::new();
        for (idx, (first, last, digest)) in batches {
            if last > expired_through {
                let rows = self.db.access_range(first.max(1), last).await?;
                if first <= expired_through || access_digest(&previous, &rows) != digest {
                    problems.push(format!(
                        "access-log rows {first}–{last} no longer match their digest in ledger entry {idx} (a row was deleted, added or edited)"
                    ));
                }
            }
            previous = digest;
        }
        Ok(problems)
    }

    async fn sign(&self, size: u64) -> Result<(), LedgerError> {
        let root = self.root(size).await?;
        let checkpoint = Checkpoint {
            origin: self.origin.clone(),
            size,
            root,
            extensions: Vec::new(),
        };
        let note = kenshin_ledger::sign_checkpoint(&checkpoint, &self.signer)
            .map_err(|e| LedgerError::Sign(e.to_string()))?;
        self.db
            .insert_checkpoint(size, &root, &note, OffsetDateTime::now_utc())
            .await?;
        Ok(())
    }

    async fn with_nodes<T: Send + 'static>(
        &self,
        f: impl FnOnce(&DbNodes<'_>) -> Result<T, LedgerError> + Send + 'static,
    ) -> Result<T, LedgerError> {
        let db = self.db.clone();
        let handle = tokio::runtime::Handle::current();
        tokio::task::spawn_blocking(move || {
            let store = DbNodes {
                db: &db,
                handle,
                overlay: HashMap::new(),
            };
            f(&store)
        })
        .await
        .map_err(|e| LedgerError::Tree(e.to_string()))?
    }

    pub async fn root(&self, size: u64) -> Result<Hash, LedgerError> {
        self.with_nodes(move |store| {
            kenshin_ledger::root(size, store).map_err(|e| LedgerError::Tree(e.to_string()))
        })
        .await
    }

    pub async fn inclusion_proof(&self, index: u64, size: u64) -> Result<Vec<Hash>, LedgerError> {
        self.with_nodes(move |store| {
            kenshin_ledger::inclusion_proof(index, size, store)
                .map_err(|e| LedgerError::Tree(e.to_string()))
        })
        .await
    }

    pub async fn consistency_proof(&self, from: u64, to: u64) -> Result<Vec<Hash>, LedgerError> {
        self.with_nodes(move |store| {
            kenshin_ledger::consistency_proof(from, to, store)
                .map_err(|e| LedgerError::Tree(e.to_string()))
        })
        .await
    }

    pub async fn checkpoint(&self) -> Result<Option<StoredCheckpoint>, LedgerError> {
        Ok(self.db.latest_checkpoint().await?)
    }

    /// A C2SP tlog-proof receipt for the latest event about `submission` of the given kind:
    /// the entry, its inclusion proof and the signed checkpoint, verifiable offline.
    pub async fn receipt(
        &self,
        submission: &str,
        kind: kenshin_core::EventKind,
    ) -> Result<String, LedgerError> {
        self.sequence().await?;
        let marker = format!("kind {}\n", kind.as_str());
        // On a node that is not the sequencer the entry and a checkpoint covering it appear
        // within the sequencer's next tick (a second); wait for them a little longer than that.
        let deadline = tokio::time::Instant::now() + RECEIPT_WAIT;
        let (entry, checkpoint) = loop {
            let entries = self.db.ledger_entries_for_submission(submission).await?;
            let entry = entries
                .into_iter()
                .rev()
                .find(|e| String::from_utf8_lossy(&e.entry).contains(&marker));
            let checkpoint = self.db.latest_checkpoint().await?;
            match (entry, checkpoint) {
                (Some(entry), Some(checkpoint)) if checkpoint.size > entry.idx => {
                    break (entry, checkpoint)
                }
                _ if tokio::time::Instant::now() >= deadline => {
                    return Err(LedgerError::NotInLedger)
                }
                _ => tokio::time::sleep(std::time::Duration::from_millis(50)).await,
            }
        };
        let proof = self.inclusion_proof(entry.idx, checkpoint.size).await?;
        kenshin_ledger::format_proof(entry.idx, Some(&entry.entry), &proof, &checkpoint.note)
            .map_err(|e| LedgerError::Tree(e.to_string()))
    }

    /// Re-verifies the stored log: every entry's leaf hash and every stored subtree hash are
    /// recomputed from the entries, and the root is compared with every signed checkpoint.
    pub async fn audit(&self) -> Result<AuditReport, LedgerError> {
        // The checkpoint first: a sequencer (here or on another node) may append and sign while
        // the audit reads, and every checkpoint read before the entries covers at most them.
        let latest = self.db.latest_checkpoint().await?;
        let size = self.db.ledger_size().await?;
        let mut memory = kenshin_ledger::MemoryNodeStore::new();
        let mut from = 0;
        let mut mismatched_nodes = Vec::new();
        while from < size {
            let batch = self.db.ledger_entries_range(from, from + 10_000).await?;
            if batch.is_empty() {
                break;
            }
            for entry in &batch {
                if entry.idx != memory.size() {
                    return Ok(AuditReport::broken(
                        size,
                        format!("entry {} is missing", memory.size()),
                    ));
                }
                memory
                    .append_entry(&entry.entry)
                    .map_err(|e| LedgerError::Tree(e.to_string()))?;
            }
            from += batch.len() as u64;
        }
        // Compare the stored nodes with the recomputed ones at every level.
        let memory = Arc::new(memory);
        let stored_size = size;
        let checked = {
            let memory = memory.clone();
            self.with_nodes(move |store| {
                let mut bad = Vec::new();
                for level in 0..64u8 {
                    let count = stored_size >> level;
                    if count == 0 {
                        break;
                    }
                    for index in 0..count {
                        let expected = memory.get(level, index).ok().flatten();
                        let found = store.get(level, index).map_err(LedgerError::Store)?;
                        if expected != found {
                            bad.push((level, index));
                            if bad.len() >= 20 {
                                return Ok(bad);
                            }
                        }
                    }
                }
                Ok(bad)
            })
            .await?
        };
        mismatched_nodes.extend(checked);
        let root = memory.root();
        let checkpoint_ok = match &latest {
            Some(checkpoint) if checkpoint.size == size => checkpoint.root == root,
            Some(checkpoint) => {
                let prefix_root = kenshin_ledger::root(checkpoint.size, &*memory)
                    .map_err(|e| LedgerError::Tree(e.to_string()))?;
                prefix_root == checkpoint.root
            }
            None => size == 0,
        };
        let signature_ok = match &latest {
            Some(checkpoint) => kenshin_ledger::open_checkpoint(
                &checkpoint.note,
                &self.signer.verifier(),
                &self.origin,
            )
            .is_ok(),
            None => true,
        };
        let mut problems = self.verify_access_log().await?;
        if !mismatched_nodes.is_empty() {
            problems.push(format!(
                "{} stored subtree hashes differ from the entries (first: level {}, index {})",
                mismatched_nodes.len(),
                mismatched_nodes[0].0,
                mismatched_nodes[0].1
            ));
        }
        if !checkpoint_ok {
            problems.push("the latest signed checkpoint does not match the stored entries".into());
        }
        if !signature_ok {
            problems.push(
                "the latest checkpoint's signature does not verify with this log's key".into(),
            );
        }
        Ok(AuditReport {
            size,
            root: hex::encode(root),
            checkpoint_size: latest.map(|c| c.size),
            problems,
        })
    }

    /// Runs the sequencer every second (batching the events of that second).
    pub fn spawn(self) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                if let Err(err) = self.sequence().await {
                    tracing::error!(error = %err, "ledger sequencer failed; will retry");
                }
            }
        })
    }
}

/// The `access-log FIRST-LAST DIGEST` line of a ledger entry.
fn parse_access_line(entry: &str) -> Option<(i64, i64, String)> {
    let line = entry.lines().find_map(|l| l.strip_prefix("access-log "))?;
    let (range, digest) = line.split_once(' ')?;
    let (first, last) = range.split_once('-')?;
    Some((first.parse().ok()?, last.parse().ok()?, digest.to_owned()))
}

/// SHA-256 chained from the previous digest over each row's canonical bytes (hex).
fn access_digest(previous: &str, rows: &[kenshin_store::AccessRow]) -> String {
    let mut hash = kenshin_crypto::Sha256::new();
    hash.update(previous.as_bytes());
    hash.update(b"\n");
    for row in rows {
        hash.update(&row.canonical());
        hash.update(b"\n");
    }
    hash.finish_hex()
}

/// The result of [`Ledger::audit`].
#[derive(Clone, Debug, serde::Serialize)]
pub struct AuditReport {
    pub size: u64,
    pub root: String,
    pub checkpoint_size: Option<u64>,
    /// Empty when the log is intact.
    pub problems: Vec<String>,
}

impl AuditReport {
    fn broken(size: u64, problem: String) -> AuditReport {
        AuditReport {
            size,
            root: String::new(),
            checkpoint_size: None,
            problems: vec![problem],
        }
    }

    pub fn is_intact(&self) -> bool {
        self.problems.is_empty()
    }
}

/// The canonical encoding of an event as a ledger entry (docs/LEDGER.md): UTF-8 lines
/// `<key> <value>` in a fixed order, present fields only, after a version line. Identifiers,
/// organisation codes, sizes, counts and times — never personal data, never a content hash:
/// `content` is the keyed commitment HMAC-SHA256(file's commitment key, SHA-256 hex of the
/// object), which only the file's two parties can open.
pub fn encode_entry(event: &EventRecord, content: Option<String>) -> Vec<u8> {
    let mut text = String::from("kenshin-relay ledger entry v1\n");
    let mut line = |key: &str, value: Option<String>| {
        if let Some(value) = value {
            text.push_str(key);
            text.push(' ');
            text.push_str(&value);
            text.push('\n');
        }
    };
    line("seq", Some(event.seq.to_string()));
    line("at", Some(kenshin_core::api::timestamp::format(event.at)));
    line("kind", Some(event.kind.as_str().to_owned()));
    line("actor", Some(event.actor.clone()));
    line("actor-org", event.actor_org.clone());
    line("submission", event.submission_id.clone());
    line("delivery", event.delivery_id.clone());
    line("object", event.object_id.clone());
    line("sender", event.sender_org.clone());
    line("receiver", event.receiver_org.clone());
    line("reason", event.reason.clone());
    line("size", event.size.map(|n| n.to_string()));
    line(
        "ciphertext-size",
        event.ciphertext_size.map(|n| n.to_string()),
    );
    line("content", content);
    line(
        "access-log",
        event
            .digest
            .as_ref()
            .map(|(first, last, digest)| format!("{first}-{last} {digest}")),
    );
    line(
        "records",
        event.counts.map(|c| {
            format!(
                "in={} out={} rejected={} unrouted={}",
                c.records_in, c.records_out, c.records_rejected, c.records_unrouted
            )
        }),
    );
    text.into_bytes()
}
