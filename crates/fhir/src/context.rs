//! What a report needs beyond the record: who reports, when, and how to number documents.

use std::collections::BTreeMap;

use time::OffsetDateTime;

use crate::FhirError;

/// The reporting institution and the circumstances of one conversion run.
///
/// Build it with [`ReportingContext::new`] and the `with_*` methods; the fields are public to
/// read. [`bundle`](crate::bundle) checks the context again on every call.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReportingContext {
    /// 10-digit 医療機関番号 (健診機関番号) of the institution that performed the checkups and
    /// writes the report. Empty: each record's `HeaderField::InstitutionNumber` is used.
    pub institution_number: String,
    /// The institution's name (`Organization.name`, required by the IG).
    pub institution_name: String,
    /// The institution's postal code (`123-4567`); written with the address only.
    pub institution_postal_code: Option<String>,
    /// The institution's address, prefecture first, without the postal code.
    pub institution_address: Option<String>,
    /// When the documents are created: `Bundle.timestamp`, `Composition.date`, `meta.lastUpdated`.
    pub created: OffsetDateTime,
    /// The author of the reports (`Practitioner.name`) when a record has no
    /// 健康診断を実施した医師の氏名 (item `9N516000000000049`).
    pub reporter_name: Option<String>,
    /// Mixed into every generated UUID, so that two runs over the same records (a resend, a
    /// second batch) can be given distinct resource ids; empty by default.
    pub batch_id: String,
    /// Document number of the first record an [`NdjsonWriter`](crate::NdjsonWriter) writes
    /// (then one more per record): the 8-digit serial of `Composition.identifier`, which the IG
    /// wants unique per institution and year. Default 1.
    pub first_sequence: u64,
    /// JLAC10 codes by item code. The profile has no JLAC10 column, so an Observation carries
    /// a JLAC10 coding beside the 特定健診項目コード only for the items listed here.
    pub jlac10: BTreeMap<String, String>,
}

impl ReportingContext {
    /// A context for `institution_name`, numbered `institution_number` (10 digits, or empty
    /// to take each record's 健診機関番号), creating documents at `created`.
    pub fn new(
        institution_number: impl Into<String>,
        institution_name: impl Into<String>,
        created: OffsetDateTime,
    ) -> Result<ReportingContext, FhirError> {
        let context = ReportingContext {
            institution_number: institution_number.into(),
            institution_name: institution_name.into(),
            institution_postal_code: None,
            institution_address: None,
            created,
            reporter_name: None,
            batch_id: String::new(),
            first_sequence: 1,
            jlac10: BTreeMap::new(),
        };
        context.check()?;
        Ok(context)
    }

    /// The institution's postal code and address (both are written, or neither).
    pub fn with_institution_address(
        mut self,
        postal_code: impl Into<String>,
        address: impl Into<String>,
    ) -> ReportingContext {
        self.institution_postal_code = Some(postal_code.into());
        self.institution_address = Some(address.into());
        self
    }

    /// The report author's name for records without a doctor's name.
    pub fn with_reporter_name(mut self, name: impl Into<String>) -> ReportingContext {
        self.reporter_name = Some(name.into());
        self
    }

    /// A batch identifier mixed into the generated UUIDs.
    pub fn with_batch_id(mut self, batch_id: impl Into<String>) -> ReportingContext {
        self.batch_id = batch_id.into();
        self
    }

    /// The document number of the first record written.
    pub fn with_first_sequence(mut self, first: u64) -> ReportingContext {
        self.first_sequence = first;
        self
    }

    /// The JLAC10 code of a profile item.
    pub fn with_jlac10(
        mut self,
        item_code: impl Into<String>,
        jlac10: impl Into<String>,
    ) -> ReportingContext {
        self.jlac10.insert(item_code.into(), jlac10.into());
        self
    }

    pub(crate) fn check(&self) -> Result<(), FhirError> {
        if !self.institution_number.is_empty() && !is_institution_number(&self.institution_number) {
            return Err(FhirError::Context(
                "the institution number must be 10 digits".into(),
            ));
        }
        if self.institution_name.trim().is_empty() {
            return Err(FhirError::Context(
                "the institution name is required (Organization.name)".into(),
            ));
        }
        if self.institution_postal_code.is_some() != self.institution_address.is_some() {
            return Err(FhirError::Context(
                "the institution's postal code and address go together".into(),
            ));
        }
        if !(0..=9999).contains(&self.created.year()) {
            return Err(FhirError::Context(
                "the creation time must fall in the years 0000-9999".into(),
            ));
        }
        for (item, code) in &self.jlac10 {
            if code.is_empty() || code.chars().any(|c| !c.is_ascii_alphanumeric()) {
                return Err(FhirError::Context(format!(
                    "the JLAC10 code given for item {item} is not alphanumeric"
                )));
            }
        }
        Ok(())
    }
}

/// 10 ASCII digits: 都道府県番号 (2), 点数表番号 (1), 医療機関コード (7).
pub(crate) fn is_institution_number(text: &str) -> bool {
    text.len() == 10 && text.bytes().all(|b| b.is_ascii_digit())
}
