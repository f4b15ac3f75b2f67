//! `notification_contacts`: where a patient may be reached, and whether they agreed to it.
//!
//! Consent is read at send time, not at planning time, so a `STOP` or an unsubscribe takes effect
//! for every message already planned. The unsubscribe token is random (not derived from the
//! patient id): a link in an email must not carry a record number.

use crate::storage::sql::Arg;
use crate::storage::{Db, StorageError};

/// A patient's contact record. PHI: `Debug` shows only the id and the flags.
#[derive(Clone, sqlx::FromRow)]
pub struct Contact {
    pub patient_id: String,
    pub phone_e164: Option<String>,
    pub email: Option<String>,
    pub sms_consent: i64,
    pub email_consent: i64,
    pub language: String,
}

impl std::fmt::Debug for Contact {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Contact")
            .field("patient_id", &self.patient_id)
            .field("sms_consent", &self.sms_consent)
            .field("email_consent", &self.email_consent)
            .field("language", &self.language)
            .finish_non_exhaustive()
    }
}

/// What to store for a patient (staff, seeding, an EHR feed).
#[derive(Clone)]
pub struct NewContact<'a> {
    pub patient_id: &'a str,
    pub phone_e164: Option<&'a str>,
    pub email: Option<&'a str>,
    pub sms_consent: bool,
    pub email_consent: bool,
    pub language: &'a str,
    pub updated_by: &'a str,
}

/// The contact record of a patient, if any.
///
/// # Errors
/// Storage failures.
pub async fn get(db: &Db, patient_id: &str) -> Result<Option<Contact>, StorageError> {
    let rows: Vec<Contact> = db
        .all(
            "SELECT patient_id, phone_e164, email, sms_consent, email_consent, language \
             FROM notification_contacts WHERE patient_id = ?",
            &[Arg::Text(patient_id)],
        )
        .await?;
    Ok(rows.into_iter().next())
}

/// Insert or replace a patient's contact record.
///
/// # Errors
/// Storage failures.
pub async fn upsert(db: &Db, c: &NewContact<'_>, now_ms: i64) -> Result<(), StorageError> {
    db.exec(
        "INSERT INTO notification_contacts (patient_id, phone_e164, email, sms_consent, email_consent, language, \
         updated_at_ms, updated_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (patient_id) DO UPDATE SET \
         phone_e164 = excluded.phone_e164, email = excluded.email, sms_consent = excluded.sms_consent, \
         email_consent = excluded.email_consent, language = excluded.language, \
         updated_at_ms = excluded.updated_at_ms, updated_by = excluded.updated_by",
        &[
            Arg::Text(c.patient_id),
            Arg::OptText(c.phone_e164),
            Arg::OptText(c.email),
            Arg::I64(i64::from(c.sms_consent)),
            Arg::I64(i64::from(c.email_consent)),
            Arg::Text(c.language),
            Arg::I64(now_ms),
            Arg::Text(c.updated_by),
        ],
    )
    .await?;
    Ok(())
}

/// Set SMS consent for every patient whose number is `phone` (a family may share one). Returns
/// the patient ids changed.
///
/// # Errors
/// Storage failures.
pub async fn set_sms_consent(
    db: &Db,
    phone: &str,
    consent: bool,
    by: &str,
    now_ms: i64,
) -> Result<Vec<String>, StorageError> {
    #[derive(sqlx::FromRow)]
    struct Id {
        patient_id: String,
    }
    let ids: Vec<Id> = db
        .all(
            "UPDATE notification_contacts SET sms_consent = ?, updated_at_ms = ?, updated_by = ? \
             WHERE phone_e164 = ? AND sms_consent <> ? RETURNING patient_id",
            &[
                Arg::I64(i64::from(consent)),
                Arg::I64(now_ms),
                Arg::Text(by),
                Arg::Text(phone),
                Arg::I64(i64::from(consent)),
            ],
        )
        .await?;
    Ok(ids.into_iter().map(|i| i.patient_id).collect())
}

/// Whether any patient on file has this number.
///
/// # Errors
/// Storage failures.
pub async fn phone_known(db: &Db, phone: &str) -> Result<bool, StorageError> {
    #[derive(sqlx::FromRow)]
    struct One {
        n: i64,
    }
    let rows: Vec<One> = db
        .all(
            "SELECT COUNT(*) AS n FROM notification_contacts WHERE phone_e164 = ?",
            &[Arg::Text(phone)],
        )
        .await?;
    Ok(rows.first().is_some_and(|r| r.n > 0))
}

/// The patient's unsubscribe token, created on first use.
///
/// # Errors
/// Storage failures.
pub async fn unsubscribe_token(db: &Db, patient_id: &str) -> Result<String, StorageError> {
    #[derive(sqlx::FromRow)]
    struct Token {
        unsubscribe_token: Option<String>,
    }
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|_| StorageError::Entropy)?;
    let fresh = crate::config::hex(&bytes);
    db.exec(
        "UPDATE notification_contacts SET unsubscribe_token = ? WHERE patient_id = ? AND unsubscribe_token IS NULL",
        &[Arg::Text(&fresh), Arg::Text(patient_id)],
    )
    .await?;
    let rows: Vec<Token> = db
        .all(
            "SELECT unsubscribe_token FROM notification_contacts WHERE patient_id = ?",
            &[Arg::Text(patient_id)],
        )
        .await?;
    Ok(rows
        .into_iter()
        .next()
        .and_then(|t| t.unsubscribe_token)
        .unwrap_or(fresh))
}

/// Withdraw email consent for the holder of `token`. Returns the patient id, or None for an
/// unknown token.
///
/// # Errors
/// Storage failures.
pub async fn unsubscribe(db: &Db, token: &str, now_ms: i64) -> Result<Option<String>, StorageError> {
    #[derive(sqlx::FromRow)]
    struct Id {
        patient_id: String,
    }
    let ids: Vec<Id> = db
        .all(
            "UPDATE notification_contacts SET email_consent = 0, updated_at_ms = ?, updated_by = 'email:unsubscribe' \
             WHERE unsubscribe_token = ? RETURNING patient_id",
            &[Arg::I64(now_ms), Arg::Text(token)],
        )
        .await?;
    Ok(ids.into_iter().next().map(|i| i.patient_id))
}

/// Contacts for the demo clinic's fictional patients (first start only): consent to both
/// channels at addresses that exist nowhere (`.test` is reserved), José in Spanish.
///
/// # Errors
/// Storage failures.
pub async fn seed_demo(db: &Db, now_ms: i64) -> Result<(), StorageError> {
    const DEMO: &[(&str, &str, &str, &str)] = &[
        ("demo-p1", "+15550100001", "jane.doe@patients.test", "en"),
        ("demo-p2", "+15550100002", "jose.alvarez@patients.test", "es"),
        ("demo-p3", "+15550100003", "mj.obrien@patients.test", "en"),
        ("demo-p4", "+15550100004", "lee.chen@patients.test", "en"),
    ];
    for (id, phone, email, language) in DEMO {
        db.exec(
            "INSERT INTO notification_contacts (patient_id, phone_e164, email, sms_consent, email_consent, language, \
             updated_at_ms, updated_by) VALUES (?, ?, ?, 1, 1, ?, ?, 'seed') ON CONFLICT (patient_id) DO NOTHING",
            &[
                Arg::Text(id),
                Arg::Text(phone),
                Arg::Text(email),
                Arg::Text(language),
                Arg::I64(now_ms),
            ],
        )
        .await?;
    }
    Ok(())
}
