//! Providers and calendars for the built-in store: the demo clinic seeded at first start, and the
//! same insert path for tests and for a clinic's own set-up.

use jiff::tz::TimeZone;

use super::calendar::UNIT_MINUTES;
use crate::storage::sql::Arg;
use crate::storage::{Db, StorageError};

/// A location with its IANA time zone.
#[derive(Debug, Clone)]
pub struct LocationSpec {
    pub location_id: String,
    pub name: String,
    pub time_zone: String,
}

/// One provider's whole calendar.
#[derive(Debug, Clone)]
pub struct ProviderSpec {
    pub provider_id: String,
    pub display_name: String,
    pub specialty: String,
    pub location_id: String,
    pub slot_interval_min: i64,
    pub min_notice_min: i64,
    pub horizon_days: i64,
    pub buffer_before_min: i64,
    pub buffer_after_min: i64,
    pub hold_minutes: i64,
    pub insurances: Vec<String>,
    /// (ISO weekday 1 = Monday, opens minute, closes minute), local time.
    pub open_hours: Vec<(i64, i64, i64)>,
    /// ISO local dates.
    pub time_off: Vec<String>,
    /// (code, name, minutes, default).
    pub types: Vec<(String, String, i64, bool)>,
}

/// Why a spec was refused (a set-up mistake, reported before anything is written).
#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    #[error("unknown time zone {0:?}")]
    TimeZone(String),
    #[error("{0} must be a positive multiple of {UNIT_MINUTES} minutes")]
    Minutes(&'static str),
    #[error("provider {0} has no appointment type")]
    NoTypes(String),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

fn multiple_of_unit(v: i64, zero_ok: bool) -> bool {
    (v > 0 || (zero_ok && v == 0)) && v % UNIT_MINUTES == 0
}

/// Insert a location.
///
/// # Errors
/// An unknown time zone; storage failures.
pub async fn insert_location(db: &Db, l: &LocationSpec) -> Result<(), SeedError> {
    if TimeZone::get(&l.time_zone).is_err() {
        return Err(SeedError::TimeZone(l.time_zone.clone()));
    }
    db.exec(
        "INSERT INTO locations (location_id, name, time_zone) VALUES (?, ?, ?)",
        &[Arg::Text(&l.location_id), Arg::Text(&l.name), Arg::Text(&l.time_zone)],
    )
    .await?;
    Ok(())
}

/// Insert a provider with calendar, insurance and appointment types.
///
/// # Errors
/// Durations that are not multiples of the occupancy unit, no appointment type; storage failures.
pub async fn insert_provider(db: &Db, p: &ProviderSpec) -> Result<(), SeedError> {
    if !multiple_of_unit(p.slot_interval_min, false) {
        return Err(SeedError::Minutes("slot_interval_min"));
    }
    if !multiple_of_unit(p.buffer_before_min, true) || !multiple_of_unit(p.buffer_after_min, true) {
        return Err(SeedError::Minutes("buffers"));
    }
    if p.types.is_empty() {
        return Err(SeedError::NoTypes(p.provider_id.clone()));
    }
    if p.types.iter().any(|t| !multiple_of_unit(t.2, false)) {
        return Err(SeedError::Minutes("appointment type duration"));
    }
    let specialty = p.specialty.to_lowercase();
    db.exec(
        "INSERT INTO providers (provider_id, display_name, specialty, location_id, slot_interval_min, min_notice_min, \
         horizon_days, buffer_before_min, buffer_after_min, hold_minutes) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        &[
            Arg::Text(&p.provider_id),
            Arg::Text(&p.display_name),
            Arg::Text(&specialty),
            Arg::Text(&p.location_id),
            Arg::I64(p.slot_interval_min),
            Arg::I64(p.min_notice_min),
            Arg::I64(p.horizon_days),
            Arg::I64(p.buffer_before_min),
            Arg::I64(p.buffer_after_min),
            Arg::I64(p.hold_minutes),
        ],
    )
    .await?;
    for insurance in &p.insurances {
        db.exec(
            "INSERT INTO provider_insurance (provider_id, insurance) VALUES (?, ?)",
            &[Arg::Text(&p.provider_id), Arg::Text(&insurance.to_lowercase())],
        )
        .await?;
    }
    for (weekday, opens, closes) in &p.open_hours {
        db.exec(
            "INSERT INTO open_hours (provider_id, weekday, opens_min, closes_min) VALUES (?, ?, ?, ?)",
            &[
                Arg::Text(&p.provider_id),
                Arg::I64(*weekday),
                Arg::I64(*opens),
                Arg::I64(*closes),
            ],
        )
        .await?;
    }
    for day in &p.time_off {
        db.exec(
            "INSERT INTO time_off (provider_id, day) VALUES (?, ?)",
            &[Arg::Text(&p.provider_id), Arg::Text(day)],
        )
        .await?;
    }
    for (code, name, minutes, default) in &p.types {
        db.exec(
            "INSERT INTO appointment_types (provider_id, type_code, name, duration_min, is_default) VALUES (?, ?, ?, ?, ?)",
            &[
                Arg::Text(&p.provider_id),
                Arg::Text(code),
                Arg::Text(name),
                Arg::I64(*minutes),
                Arg::I64(i64::from(*default)),
            ],
        )
        .await?;
    }
    Ok(())
}

fn weekdays(days: &[i64], opens_h: i64, closes_h: i64) -> Vec<(i64, i64, i64)> {
    days.iter().map(|d| (*d, opens_h * 60, closes_h * 60)).collect()
}

/// The demo clinic: two locations in different time zones, four providers, three specialties.
pub fn demo_clinic() -> (Vec<LocationSpec>, Vec<ProviderSpec>) {
    let locations = vec![
        LocationSpec {
            location_id: "main-street".into(),
            name: "the Main Street clinic".into(),
            time_zone: "America/New_York".into(),
        },
        LocationSpec {
            location_id: "riverside".into(),
            name: "the Riverside office".into(),
            time_zone: "America/Chicago".into(),
        },
    ];
    let visit = |minutes: i64| vec![("visit".to_owned(), "Visit".to_owned(), minutes, true)];
    let provider = |id: &str, name: &str, specialty: &str, location: &str| ProviderSpec {
        provider_id: id.into(),
        display_name: name.into(),
        specialty: specialty.into(),
        location_id: location.into(),
        slot_interval_min: 30,
        min_notice_min: 120,
        horizon_days: 60,
        buffer_before_min: 0,
        buffer_after_min: 0,
        hold_minutes: 5,
        insurances: vec!["aetna".into(), "blue cross".into(), "medicare".into()],
        open_hours: weekdays(&[1, 2, 3, 4, 5], 9, 17),
        time_off: Vec::new(),
        types: visit(30),
    };
    let mut okafor = provider("okafor", "Doctor Amara Okafor", "family medicine", "main-street");
    okafor.types.push(("new".into(), "New patient visit".into(), 60, false));
    let mut patel = provider("patel", "Doctor Nikhil Patel", "family medicine", "riverside");
    patel.open_hours = weekdays(&[1, 2, 3, 4, 5], 12, 20);
    patel.insurances = vec!["aetna".into(), "medicaid".into()];
    let mut lindqvist = provider("lindqvist", "Doctor Erik Lindqvist", "dermatology", "riverside");
    lindqvist.open_hours = weekdays(&[2, 3, 4], 8, 16);
    lindqvist.types = visit(20);
    lindqvist.buffer_after_min = 10;
    let mut reyes = provider("reyes", "Doctor Sofia Reyes", "pediatrics", "main-street");
    reyes.open_hours = weekdays(&[1, 3, 5], 8, 12);
    reyes.insurances.push("medicaid".into());
    (locations, vec![okafor, patel, lindqvist, reyes])
}

/// Seed the demo clinic's providers when there are none.
///
/// # Errors
/// Storage failures.
pub async fn seed_demo_providers(db: &Db) -> Result<bool, SeedError> {
    #[derive(sqlx::FromRow)]
    struct Count {
        n: i64,
    }
    let count: Vec<Count> = db.all("SELECT COUNT(*) AS n FROM providers", &[]).await?;
    if count.first().is_some_and(|c| c.n > 0) {
        return Ok(false);
    }
    let (locations, providers) = demo_clinic();
    for l in &locations {
        insert_location(db, l).await?;
    }
    for p in &providers {
        insert_provider(db, p).await?;
    }
    Ok(true)
}
