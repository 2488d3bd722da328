//! Conversion in the store: who receives each 保険者番号, starting and completing a
//! conversion in one transaction, the sender's report, usage.

use std::collections::HashMap;

use kenshin_core::{EventKind, ObjectId, SubmissionId, SubmissionState};
use time::OffsetDateTime;

use crate::db::Scope;
use crate::events::{append, NewEvent, RecordCounts};
use crate::objects::{insert_object, shred_in_tx, NewObject, ObjectRecord, ShredList};
use crate::outputs::ConvertedOutput;
use crate::relay::SubmissionRecord;
use crate::timefmt::to_ms;
use crate::{Database, StoreError};

/// The objects a conversion keeps for the sender alone.
#[derive(Clone, Copy)]
enum SenderObject {
    Report,
    Findings,
}

/// Who receives the records of one 保険者番号.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Receiver {
    pub org_id: i64,
    pub code: String,
    /// The formats it chose and the recipients its deliveries are sealed to.
    pub settings: crate::ReceiverSettings,
}

/// A conversion to run: the submission and its (still encrypted) input.
#[derive(Clone, Debug)]
pub struct Job {
    pub submission: SubmissionRecord,
    pub input: ObjectRecord,
}

/// Everything a finished conversion records, in one transaction.
#[derive(Clone, Debug)]
pub struct CompletedConversion {
    /// The background job that ran the conversion: closed in the same transaction.
    pub job_id: String,
    pub submission_id: SubmissionId,
    pub outputs: Vec<ConvertedOutput>,
    /// Records not delivered, kept for the sender (unrouted per 保険者番号; rejected rows).
    pub held: Vec<crate::held::HeldOutput>,
    /// The sender's report (encrypted JSON).
    pub report: NewObject,
    /// Every finding (encrypted, one JSON finding per line), when there were any.
    pub findings: Option<NewObject>,
    pub counts: RecordCounts,
    pub map_label: Option<String>,
    pub profile_label: String,
    pub converter: String,
    /// True when the input was unusable: the submission is rejected.
    pub rejected: bool,
    pub actor: String,
}

impl CompletedConversion {
    /// Every object this conversion made (outputs, held batches, report): what is removed
    /// when it is not recorded.
    pub fn objects(&self) -> Vec<ObjectId> {
        self.outputs
            .iter()
            .map(|o| o.object.id)
            .chain(self.held.iter().map(|h| h.object.id))
            .chain(std::iter::once(self.report.id))
            .chain(self.findings.iter().map(|f| f.id))
            .collect()
    }
}

impl Database {
    /// For a sender: which organisation receives each 保険者番号, over its convert routes. An
    /// insurer that delegated to an agent is reached through the agent.
    pub async fn conversion_receivers(
        &self,
        sender_org_id: i64,
    ) -> Result<HashMap<String, Receiver>, StoreError> {
        // Read by the upload path and the worker for whoever sends: the system's view.
        let mut rx = self.read_transaction(Scope::System).await?;
        let rows: Vec<(String, i64, String, String)> = sqlx::query_as(
            "SELECT n.number, \
                    COALESCE(dl.agent_org_id, n.org_id) AS receiver_id, \
                    o.code AS receiver_code, o.output_formats \
             FROM insurer_numbers n \
             LEFT JOIN delegations dl ON dl.insurer_org_id = n.org_id \
             JOIN orgs o ON o.id = COALESCE(dl.agent_org_id, n.org_id) \
             JOIN routes r ON r.receiver_org_id = COALESCE(dl.agent_org_id, n.org_id) \
             WHERE r.sender_org_id = $1 AND r.mode = 'convert'",
        )
        .bind(sender_org_id)
        .fetch_all(&mut *rx)
        .await?;
        let recipients: Vec<(i64, String)> = sqlx::query_as(
            "SELECT org_id, recipient FROM org_recipients WHERE org_id IN \
             (SELECT receiver_org_id FROM routes WHERE sender_org_id = $1 AND mode = 'convert') \
             ORDER BY id",
        )
        .bind(sender_org_id)
        .fetch_all(&mut *rx)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(number, org_id, code, formats)| {
                let settings = crate::ReceiverSettings {
                    formats: crate::receivers::split_formats(&formats),
                    recipients: recipients
                        .iter()
                        .filter(|(org, _)| *org == org_id)
                        .map(|(_, r)| r.clone())
                        .collect(),
                };
                (
                    number,
                    Receiver {
                        org_id,
                        code,
                        settings,
                    },
                )
            })
            .collect())
    }

    pub async fn has_convert_route(&self, sender_org_id: i64) -> Result<bool, StoreError> {
        let mut rx = self.read_transaction(Scope::System).await?;
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM routes WHERE sender_org_id = $1 AND mode = 'convert'",
        )
        .bind(sender_org_id)
        .fetch_one(&mut *rx)
        .await?;
        Ok(n > 0)
    }

    /// Starts (or, after a failed attempt, restarts) the conversion of `id`: received →
    /// converting. `None` when it no longer waits for one (withdrawn, or finished meanwhile):
    /// there is nothing to convert.
    pub async fn begin_conversion(&self, id: SubmissionId) -> Result<Option<Job>, StoreError> {
        let mut tx = self.write_transaction().await?;
        let row: Option<(String, i64)> =
            sqlx::query_as("SELECT state, sender_org_id FROM submissions WHERE id = $1")
                .bind(id.to_string())
                .fetch_optional(&mut *tx)
                .await?;
        let Some((state, sender)) = row else {
            return Ok(None);
        };
        let state: SubmissionState = crate::timefmt::parse("submissions", state)?;
        match state {
            SubmissionState::Received => {
                let converting = state.start_conversion().map_err(crate::error::lifecycle)?;
                sqlx::query("UPDATE submissions SET state = $2 WHERE id = $1 AND state = $3")
                    .bind(id.to_string())
                    .bind(converting.as_str())
                    .bind(state.as_str())
                    .execute(&mut *tx)
                    .await?;
            }
            // A retried conversion's submission is converting already and stays so.
            SubmissionState::Converting => {}
            _ => return Ok(None),
        }
        tx.commit().await?;
        let submission = self.submission(sender, id).await?;
        let input = self.object(submission.object_id).await?;
        Ok(Some(Job { submission, input }))
    }

    /// Records a finished conversion: outputs become deliveries, the report is stored, usage
    /// counted, the job closed — and the input's key is destroyed, all in one transaction.
    /// If the submission was withdrawn or finished meanwhile, nothing is recorded and the new
    /// objects are returned for deletion.
    pub async fn complete_conversion(
        &self,
        done: &CompletedConversion,
        now: OffsetDateTime,
    ) -> Result<ShredList, StoreError> {
        let mut tx = self.write_transaction().await?;
        let state: Option<(String, String, i64)> = sqlx::query_as(
            "SELECT sub.state, sub.object_id, sub.sender_org_id FROM submissions sub WHERE sub.id = $1",
        )
        .bind(done.submission_id.to_string())
        .fetch_optional(&mut *tx)
        .await?;
        let Some((state, input_object, sender_org_id)) = state else {
            return Err(StoreError::NotFound);
        };
        let state: SubmissionState = state.parse().map_err(|e| StoreError::Corrupt {
            table: "submissions",
            detail: format!("{e}"),
        })?;
        // Records held for the sender count as an outcome: the file is not rejected because
        // no route takes its records yet.
        let Ok(finished) = state.finish_conversion(
            !done.rejected
                && (!done.outputs.is_empty()
                    || done
                        .held
                        .iter()
                        .any(|h| h.reason == kenshin_core::HeldReason::Unrouted)),
        ) else {
            // Idempotence: a second worker finishing the same job (or a file withdrawn
            // meanwhile) records nothing twice.
            drop(tx);
            return Ok(done.objects());
        };
        let sender_code: String = sqlx::query_scalar("SELECT code FROM orgs WHERE id = $1")
            .bind(sender_org_id)
            .fetch_one(&mut *tx)
            .await?;
        insert_object(&mut tx, &done.report, now).await?;
        if let Some(findings) = &done.findings {
            insert_object(&mut tx, findings, now).await?;
            sqlx::query("UPDATE submissions SET findings_object_id = $1 WHERE id = $2")
                .bind(findings.id.to_string())
                .bind(done.submission_id.to_string())
                .execute(&mut *tx)
                .await?;
        }
        let month = format!("{:04}-{:02}", now.year(), u8::from(now.month()));
        for output in &done.outputs {
            let mut event = NewEvent::new(EventKind::Delivered, &done.actor);
            event.sender_org = Some(sender_code.clone());
            event.submission_id = Some(done.submission_id);
            crate::outputs::deliver_output(&mut tx, done.submission_id, output, event, &month, now)
                .await?;
        }
        for held in &done.held {
            crate::held::insert_held_in_tx(
                &mut tx,
                done.submission_id,
                sender_org_id,
                &sender_code,
                held,
                &done.actor,
                now,
            )
            .await?;
        }
        sqlx::query(
            "UPDATE submissions SET state = $1, map_label = $2, profile_label = $3, converter = $4, \
             records_in = $5, records_out = $6, records_rejected = $7, records_unrouted = $8, \
             report_object_id = $9 WHERE id = $10",
        )
        .bind(finished.as_str())
        .bind(&done.map_label)
        .bind(&done.profile_label)
        .bind(&done.converter)
        .bind(done.counts.records_in as i64)
        .bind(done.counts.records_out as i64)
        .bind(done.counts.records_rejected as i64)
        .bind(done.counts.records_unrouted as i64)
        .bind(done.report.id.to_string())
        .bind(done.submission_id.to_string())
        .execute(&mut *tx)
        .await?;
        crate::jobs::complete_in_tx(&mut tx, &done.job_id, now).await?;
        let mut event = NewEvent::new(
            if done.rejected {
                EventKind::Rejected
            } else {
                EventKind::Converted
            },
            &done.actor,
        );
        event.sender_org = Some(sender_code.clone());
        event.submission_id = Some(done.submission_id);
        event.counts = Some(done.counts);
        append(&mut tx, &event, now).await?;
        // The input is no longer needed: destroy it (DESIGN §3).
        let input: ObjectId = input_object
            .parse()
            .map_err(|e| StoreError::corrupt("submissions", e))?;
        let mut shred = NewEvent::new(EventKind::Shredded, &done.actor);
        shred.sender_org = Some(sender_code);
        shred.submission_id = Some(done.submission_id);
        let shredded = shred_in_tx(&mut tx, input, shred, "converted", now).await?;
        tx.commit().await?;
        Ok(shredded)
    }

    /// The encrypted report of one of the sender's submissions.
    pub async fn submission_report(
        &self,
        sender_org_id: i64,
        id: SubmissionId,
    ) -> Result<Option<ObjectRecord>, StoreError> {
        self.sender_object(SenderObject::Report, sender_org_id, id)
            .await
    }

    /// Every finding of one of the sender's conversions (encrypted JSON lines), if kept.
    pub async fn submission_findings(
        &self,
        sender_org_id: i64,
        id: SubmissionId,
    ) -> Result<Option<ObjectRecord>, StoreError> {
        self.sender_object(SenderObject::Findings, sender_org_id, id)
            .await
    }

    /// An object a conversion made for the sender alone; the tenant check is in the query.
    async fn sender_object(
        &self,
        which: SenderObject,
        sender_org_id: i64,
        id: SubmissionId,
    ) -> Result<Option<ObjectRecord>, StoreError> {
        let column = match which {
            SenderObject::Report => "report_object_id",
            SenderObject::Findings => "findings_object_id",
        };
        let mut rx = self.read_transaction(Scope::System).await?;
        let object: Option<Option<String>> = sqlx::query_scalar(&format!(
            "SELECT {column} FROM submissions WHERE id = $1 AND sender_org_id = $2"
        ))
        .bind(id.to_string())
        .bind(sender_org_id)
        .fetch_optional(&mut *rx)
        .await?;
        drop(rx);
        match object {
            None => Err(StoreError::NotFound),
            Some(None) => Ok(None),
            Some(Some(object)) => Ok(Some(
                self.object(
                    object
                        .parse()
                        .map_err(|e| StoreError::corrupt("submissions", e))?,
                )
                .await?,
            )),
        }
    }
}

impl Database {
    /// Destroys the sender's reports and lists of findings (they hold values of the export)
    /// of files received before `cutoff` — the retention period, as for the files themselves —
    /// each with a ledger entry (`shredded`, reason `report_retention_elapsed`). At most 500
    /// files per call; returns how many.
    pub async fn expire_reports_due(
        &self,
        cutoff: OffsetDateTime,
        now: OffsetDateTime,
        actor: &str,
    ) -> Result<(usize, ShredList), StoreError> {
        let mut tx = self.write_transaction().await?;
        let due: Vec<(String, String, Option<String>, Option<String>)> = sqlx::query_as(
            "SELECT sub.id, o.code, sub.report_object_id, sub.findings_object_id \
             FROM submissions sub JOIN orgs o ON o.id = sub.sender_org_id \
             WHERE sub.received_at <= $1 AND ( \
               EXISTS (SELECT 1 FROM objects r WHERE r.id = sub.report_object_id AND r.wrapped_key IS NOT NULL) \
               OR EXISTS (SELECT 1 FROM objects f WHERE f.id = sub.findings_object_id AND f.wrapped_key IS NOT NULL)) \
             ORDER BY sub.received_at LIMIT 500",
        )
        .bind(to_ms(cutoff))
        .fetch_all(&mut *tx)
        .await?;
        let mut shredded = Vec::new();
        for (submission, sender, report, findings) in &due {
            let submission: SubmissionId = submission
                .parse()
                .map_err(|e| StoreError::corrupt("submissions", e))?;
            for object in report.iter().chain(findings) {
                let object: ObjectId = object
                    .parse()
                    .map_err(|e| StoreError::corrupt("submissions", e))?;
                let mut context = NewEvent::new(EventKind::Shredded, actor);
                context.sender_org = Some(sender.clone());
                context.submission_id = Some(submission);
                shredded.extend(
                    shred_in_tx(&mut tx, object, context, "report_retention_elapsed", now).await?,
                );
            }
        }
        tx.commit().await?;
        Ok((due.len(), shredded))
    }
}
