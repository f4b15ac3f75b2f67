//! The built-in EHR: patients in the project database, and the demo clinic seeded at first start.

use crate::domain::{DateOfBirth, PersonName, PhoneNumber};
use crate::storage::{Db, StorageError};

/// One patient record as the verification step sees it.
#[derive(Clone, sqlx::FromRow)]
pub struct PatientRow {
    pub patient_id: String,
    pub first_name_folded: String,
    pub phone_e164: String,
}

impl std::fmt::Debug for PatientRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PatientRow")
            .field("patient_id", &self.patient_id)
            .finish_non_exhaustive()
    }
}

/// Fictional patients of the demo clinic (no real person's data).
const DEMO_PATIENTS: &[(&str, &str, &str, &str, &str)] = &[
    ("demo-p1", "Jane", "Doe", "1980-02-14", "+15550100001"),
    ("demo-p2", "José", "Álvarez", "1975-07-30", "+15550100002"),
    ("demo-p3", "Mary-Jane", "O'Brien", "1990-12-01", "+15550100003"),
    ("demo-p4", "Lee", "Chen", "1968-05-09", "+15550100004"),
];

/// Insert a patient (demo seeding and tests).
///
/// # Errors
/// Invalid identifiers (a bug in the caller) are reported as a query error; storage failures.
pub async fn insert_patient(
    db: &Db,
    patient_id: &str,
    first: &PersonName,
    last: &PersonName,
    dob: &DateOfBirth,
    phone: &PhoneNumber,
) -> Result<(), StorageError> {
    macro_rules! insert {
        ($pool:expr, $sql:literal) => {{
            sqlx::query($sql)
                .bind(patient_id)
                .bind(first.expose())
                .bind(last.expose())
                .bind(first.folded())
                .bind(last.folded())
                .bind(dob.iso())
                .bind(phone.e164())
                .execute($pool)
                .await?;
        }};
    }
    match db {
        Db::Sqlite(pool) => insert!(
            pool,
            "INSERT INTO patients (patient_id, first_name, last_name, first_name_folded, last_name_folded, birth_date, \
             phone_e164) VALUES (?, ?, ?, ?, ?, ?, ?)"
        ),
        Db::Postgres(pool) => insert!(
            pool,
            "INSERT INTO patients (patient_id, first_name, last_name, first_name_folded, last_name_folded, birth_date, \
             phone_e164) VALUES ($1, $2, $3, $4, $5, $6, $7)"
        ),
    };
    Ok(())
}

/// Seed the demo clinic's patients when the table is empty.
///
/// # Errors
/// Storage failures.
pub async fn seed_demo(db: &Db) -> Result<bool, StorageError> {
    let (count,): (i64,) = match db {
        Db::Sqlite(pool) => sqlx::query_as("SELECT COUNT(*) FROM patients").fetch_one(pool).await?,
        Db::Postgres(pool) => sqlx::query_as("SELECT COUNT(*) FROM patients").fetch_one(pool).await?,
    };
    if count > 0 {
        return Ok(false);
    }
    for (id, first, last, dob, phone) in DEMO_PATIENTS {
        // The demo data is ours and valid; a parse failure here is a bug caught by the unit test.
        let (Ok(first), Ok(last), Ok(dob), Ok(phone)) = (
            PersonName::parse(first),
            PersonName::parse(last),
            DateOfBirth::parse(dob),
            PhoneNumber::parse(phone),
        ) else {
            continue;
        };
        insert_patient(db, id, &first, &last, &dob, &phone).await?;
    }
    Ok(true)
}

/// Records with this last name (folded) and birth date.
///
/// # Errors
/// Storage failures.
pub async fn candidates(db: &Db, last: &PersonName, dob: &DateOfBirth) -> Result<Vec<PatientRow>, StorageError> {
    let (folded, iso) = (last.folded(), dob.iso());
    Ok(match db {
        Db::Sqlite(pool) => {
            sqlx::query_as(
                "SELECT patient_id, first_name_folded, phone_e164 FROM patients \
                 WHERE last_name_folded = ? AND birth_date = ?",
            )
            .bind(folded)
            .bind(iso)
            .fetch_all(pool)
            .await?
        }
        Db::Postgres(pool) => {
            sqlx::query_as(
                "SELECT patient_id, first_name_folded, phone_e164 FROM patients \
                 WHERE last_name_folded = $1 AND birth_date = $2",
            )
            .bind(folded)
            .bind(iso)
            .fetch_all(pool)
            .await?
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_patients_are_valid() {
        for (_, first, last, dob, phone) in DEMO_PATIENTS {
            assert!(PersonName::parse(first).is_ok() && PersonName::parse(last).is_ok());
            assert!(DateOfBirth::parse(dob).is_ok() && PhoneNumber::parse(phone).is_ok());
        }
    }
}
