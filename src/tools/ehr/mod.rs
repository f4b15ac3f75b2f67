//! EHR adapters behind one trait: the built-in store (the embedded default, in the project
//! database) and FHIR R4 (production).
//!
//! The tools never see which one runs. Everything that touches one patient's data takes the
//! patient id out of a [`VerifiedPatient`](crate::call::state::VerifiedPatient) — the model never
//! supplies a patient id — and every adapter re-checks that an appointment belongs to that patient
//! before it reads or changes it, so a model passing someone else's ids gets [`EhrError::NotFound`].
//!
//! Instants are UTC ([`jiff::Timestamp`]); each provider carries its location's IANA time zone so
//! the tools can speak local times.

pub mod builtin;
pub mod fhir;

use jiff::Timestamp;
use jiff::tz::TimeZone;

use crate::domain::{DateOfBirth, PersonName};
use crate::storage::StorageError;

/// What an EHR call can fail with. Each variant says whether a retry could help.
#[derive(Debug, thiserror::Error)]
pub enum EhrError {
    /// The EHR could not be reached or answered with a server error (retryable later; the agent
    /// offers a callback).
    #[error("the EHR is unavailable")]
    Unavailable,
    /// The EHR did not answer within the configured timeout (retryable later).
    #[error("the EHR timed out")]
    Timeout,
    /// Someone else has the slot (not retryable: offer another slot).
    #[error("the slot is taken")]
    SlotTaken,
    /// No such slot/appointment for this patient — including one that exists but belongs to
    /// someone else (not retryable).
    #[error("not found")]
    NotFound,
    /// The request cannot be honoured: a slot outside open hours, too soon, past the horizon, an
    /// appointment already cancelled or in the past (not retryable). The text is fixed and PHI-free.
    #[error("not allowed: {0}")]
    NotAllowed(&'static str),
    /// The adapter does not offer this operation (e.g. holds on a FHIR server).
    #[error("not supported by this EHR")]
    Unsupported,
    /// The built-in store's database failed (retryable later).
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// A patient record as verification compares it: every field already folded/normalised, so the
/// comparison is exact. The values are PHI: Debug shows the id only.
#[derive(Clone, PartialEq, Eq)]
pub struct PatientCandidate {
    pub patient_id: String,
    /// Case- and accent-folded (see [`PersonName::folded`]).
    pub first_name_folded: String,
    pub last_name_folded: String,
    /// ISO `YYYY-MM-DD`.
    pub birth_date: String,
    /// Every phone on file, E.164.
    pub phones_e164: Vec<String>,
}

impl std::fmt::Debug for PatientCandidate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PatientCandidate")
            .field("patient_id", &self.patient_id)
            .finish_non_exhaustive()
    }
}

/// A search for providers (all values as the caller said them; matched folded).
#[derive(Debug, Clone, Default)]
pub struct ProviderQuery {
    pub specialty: String,
    pub location: Option<String>,
    pub insurance: Option<String>,
}

/// A provider who sees patients (built-in: a provider row; FHIR: a PractitionerRole).
#[derive(Debug, Clone, PartialEq)]
pub struct Provider {
    /// Opaque id the model passes back to `find_slots`.
    pub id: String,
    /// How the agent names them ("Doctor Amara Okafor").
    pub display_name: String,
    pub specialty: String,
    pub location_name: String,
    /// The location's time zone: slots are spoken in it.
    pub time_zone: TimeZone,
    /// Insurance plans accepted, folded lowercase (empty = unknown).
    pub insurances: Vec<String>,
}

/// Free slots for some providers in `[from, to)`.
#[derive(Debug, Clone)]
pub struct SlotQuery {
    pub provider_ids: Vec<String>,
    pub from: Timestamp,
    pub to: Timestamp,
    /// At most this many slots in total, earliest first.
    pub limit: usize,
}

/// A bookable slot. The id is opaque to the model and re-validated at hold/book time.
#[derive(Debug, Clone, PartialEq)]
pub struct Slot {
    pub id: String,
    pub provider_id: String,
    pub start: Timestamp,
    pub end: Timestamp,
}

/// FHIR R4 `Appointment.status` values (the built-in store uses the same vocabulary).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppointmentStatus {
    Proposed,
    Pending,
    Booked,
    Arrived,
    Fulfilled,
    Cancelled,
    Noshow,
    EnteredInError,
    CheckedIn,
    Waitlist,
}

impl AppointmentStatus {
    /// The FHIR code.
    pub fn code(self) -> &'static str {
        match self {
            Self::Proposed => "proposed",
            Self::Pending => "pending",
            Self::Booked => "booked",
            Self::Arrived => "arrived",
            Self::Fulfilled => "fulfilled",
            Self::Cancelled => "cancelled",
            Self::Noshow => "noshow",
            Self::EnteredInError => "entered-in-error",
            Self::CheckedIn => "checked-in",
            Self::Waitlist => "waitlist",
        }
    }

    /// Parse a FHIR code.
    pub fn from_code(code: &str) -> Option<Self> {
        Some(match code {
            "proposed" => Self::Proposed,
            "pending" => Self::Pending,
            "booked" => Self::Booked,
            "arrived" => Self::Arrived,
            "fulfilled" => Self::Fulfilled,
            "cancelled" => Self::Cancelled,
            "noshow" => Self::Noshow,
            "entered-in-error" => Self::EnteredInError,
            "checked-in" => Self::CheckedIn,
            "waitlist" => Self::Waitlist,
            _ => return None,
        })
    }
}

/// One of the verified patient's appointments.
#[derive(Debug, Clone, PartialEq)]
pub struct Appointment {
    /// Opaque id the model passes back to cancel/reschedule.
    pub id: String,
    pub provider_id: String,
    pub provider_name: String,
    pub start: Timestamp,
    pub end: Timestamp,
    pub status: AppointmentStatus,
    /// The location's time zone, to speak the time.
    pub time_zone: TimeZone,
}

/// A slot held for a patient until `expires`.
#[derive(Debug, Clone, PartialEq)]
pub struct Hold {
    pub slot: Slot,
    pub expires: Timestamp,
}

/// The EHR this deployment uses (configuration picks it).
#[derive(Debug, Clone)]
pub enum Ehr {
    Builtin(builtin::BuiltinEhr),
    /// Boxed: the HTTP client is large and the enum is cloned into every tool run.
    Fhir(Box<fhir::FhirEhr>),
}

macro_rules! delegate {
    ($self:ident, $e:ident => $call:expr) => {
        match $self {
            Ehr::Builtin($e) => $call.await,
            Ehr::Fhir($e) => $call.await,
        }
    };
}

impl EhrAdapter for Ehr {
    async fn find_patients(
        &self,
        last: &PersonName,
        birth_date: &DateOfBirth,
    ) -> Result<Vec<PatientCandidate>, EhrError> {
        delegate!(self, e => e.find_patients(last, birth_date))
    }
    async fn search_providers(&self, query: &ProviderQuery) -> Result<Vec<Provider>, EhrError> {
        delegate!(self, e => e.search_providers(query))
    }
    async fn provider(&self, provider_id: &str) -> Result<Provider, EhrError> {
        delegate!(self, e => e.provider(provider_id))
    }
    async fn find_slots(&self, query: &SlotQuery) -> Result<Vec<Slot>, EhrError> {
        delegate!(self, e => e.find_slots(query))
    }
    async fn hold(&self, patient_id: &str, call_id: &str, slot_id: &str) -> Result<Hold, EhrError> {
        delegate!(self, e => e.hold(patient_id, call_id, slot_id))
    }
    async fn book(
        &self,
        patient_id: &str,
        call_id: &str,
        slot_id: &str,
        reason: &str,
    ) -> Result<Appointment, EhrError> {
        delegate!(self, e => e.book(patient_id, call_id, slot_id, reason))
    }
    async fn list_appointments(&self, patient_id: &str) -> Result<Vec<Appointment>, EhrError> {
        delegate!(self, e => e.list_appointments(patient_id))
    }
    async fn cancel(
        &self,
        patient_id: &str,
        call_id: &str,
        appointment_id: &str,
        reason: &str,
    ) -> Result<Appointment, EhrError> {
        delegate!(self, e => e.cancel(patient_id, call_id, appointment_id, reason))
    }
    async fn reschedule(
        &self,
        patient_id: &str,
        call_id: &str,
        appointment_id: &str,
        new_slot_id: &str,
    ) -> Result<Appointment, EhrError> {
        delegate!(self, e => e.reschedule(patient_id, call_id, appointment_id, new_slot_id))
    }
}

/// One EHR. Implemented by [`builtin::BuiltinEhr`] and the FHIR adapter; [`Ehr`] picks one from
/// configuration. `patient_id` arguments always come from a `VerifiedPatient`.
pub trait EhrAdapter {
    /// Records with this (folded) last name and birth date; the caller re-compares every field.
    fn find_patients(
        &self,
        last: &PersonName,
        birth_date: &DateOfBirth,
    ) -> impl Future<Output = Result<Vec<PatientCandidate>, EhrError>> + Send;

    /// Providers of a specialty (location and insurance are for ranking, not filtering).
    fn search_providers(&self, query: &ProviderQuery) -> impl Future<Output = Result<Vec<Provider>, EhrError>> + Send;

    /// One provider by id.
    fn provider(&self, provider_id: &str) -> impl Future<Output = Result<Provider, EhrError>> + Send;

    /// Free slots, earliest first.
    fn find_slots(&self, query: &SlotQuery) -> impl Future<Output = Result<Vec<Slot>, EhrError>> + Send;

    /// Hold a slot for this patient (replacing any hold this call already had).
    fn hold(
        &self,
        patient_id: &str,
        call_id: &str,
        slot_id: &str,
    ) -> impl Future<Output = Result<Hold, EhrError>> + Send;

    /// Book a slot for this patient.
    fn book(
        &self,
        patient_id: &str,
        call_id: &str,
        slot_id: &str,
        reason: &str,
    ) -> impl Future<Output = Result<Appointment, EhrError>> + Send;

    /// The patient's upcoming appointments (pending or booked), earliest first.
    fn list_appointments(&self, patient_id: &str) -> impl Future<Output = Result<Vec<Appointment>, EhrError>> + Send;

    /// Cancel one of the patient's upcoming appointments (`call_id`: the call asking, for the
    /// appointment's history).
    fn cancel(
        &self,
        patient_id: &str,
        call_id: &str,
        appointment_id: &str,
        reason: &str,
    ) -> impl Future<Output = Result<Appointment, EhrError>> + Send;

    /// Move one of the patient's appointments to a new slot, atomically: if the new slot cannot be
    /// booked the old appointment stands.
    fn reschedule(
        &self,
        patient_id: &str,
        call_id: &str,
        appointment_id: &str,
        new_slot_id: &str,
    ) -> impl Future<Output = Result<Appointment, EhrError>> + Send;
}
