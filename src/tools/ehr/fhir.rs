//! FHIR R4 adapter: [`FhirEhr`] implements [`EhrAdapter`] over a FHIR server's REST API (JSON).
//!
//! Owns the mapping between the EHR trait and FHIR resources:
//! - patients are `Patient`; providers are `PractitionerRole` (with its `Practitioner` for the
//!   name and its first `Location` for the place and time zone);
//! - free times are `Slot`s of the role's `Schedule`s; a booking claims the `Slot` (status
//!   `busy`, guarded by `If-Match`) and then creates an `Appointment` that references it.
//!
//! Does not own verification (the caller re-compares every field of a [`PatientCandidate`]), nor
//! holds (FHIR has no expiring hold: [`FhirEhr::hold`] answers [`EhrError::Unsupported`]), nor
//! retries (every error is returned; the tools decide what to say).
//!
//! # Concurrency
//! The only race that matters is two callers booking one slot. FHIR has no transaction that spans
//! "slot is free" and "appointment exists", so the slot is claimed first with a conditional update
//! (`PUT Slot/<id>` with `If-Match: W/"<version we read>"`): the server lets exactly one writer
//! change a version, and everyone else gets `412 Precondition Failed` → [`EhrError::SlotTaken`].
//! Steps after a successful claim that fail put the slot back (compensation).
//!
//! # PHI
//! Requests carry PHI (names, birth dates, reasons) to the EHR, which is the point; nothing else
//! does. Logs name the resource type, the HTTP status and the duration, and ids where a human must
//! repair something; never a query string, a body, or a serde error (its text can quote values).
//! Error values are the fixed [`EhrError`] variants.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, ETAG, HeaderValue, IF_MATCH, LOCATION};
use hyper::{Method, Request, StatusCode};
use jiff::Timestamp;
use jiff::tz::TimeZone;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::{Value, json};
use url::Url;

use crate::clinic::StaffActionError;
use crate::clinic::lifecycle::{self, Event, State};
use crate::domain::{DateOfBirth, PersonName, PhoneNumber};
use crate::tools::ehr::{
    Appointment, AppointmentStatus, EhrAdapter, EhrError, Hold, PatientCandidate, Provider, ProviderQuery, Slot,
    SlotQuery,
};

/// The media type FHIR servers speak; some refuse plain `application/json` on writes.
const FHIR_JSON: &str = "application/fhir+json";

/// Location extension (FHIR core) carrying the IANA time zone as `valueCode`.
const TIMEZONE_EXTENSION: &str = "http://hl7.org/fhir/StructureDefinition/timezone";

/// PractitionerRole extension (ours) listing an accepted insurance plan as `valueString`.
const INSURANCE_EXTENSION: &str = "https://voicegate.dev/fhir/StructureDefinition/accepted-insurance";

/// Identifier system for the call that booked an appointment, so staff can find the recording.
const CALL_ID_SYSTEM: &str = "https://voicegate.dev/fhir/call-id";

/// Entries asked for per search page (`_count`). Large enough that a clinic's searches fit one
/// page; servers may return fewer and page with `next` links.
const SEARCH_PAGE_SIZE: usize = 100;

/// Pages followed per search at most. A search this adapter makes (one birth date, one specialty,
/// one schedule's week) never legitimately needs more; the cap bounds a misbehaving server.
const MAX_SEARCH_PAGES: usize = 10;

/// Largest response body read. FHIR pages of 100 resources are far below this; the cap keeps a
/// broken or hostile server from exhausting memory.
const MAX_RESPONSE_BYTES: usize = 8 * 1024 * 1024;

/// Longest reason stored on an appointment (same cut as the built-in store).
const MAX_REASON_CHARS: usize = 200;

/// Longest FHIR logical id (FHIR R4 `id` datatype: `[A-Za-z0-9\-\.]{1,64}`).
const MAX_ID_CHARS: usize = 64;

/// Spoken when a role has neither a readable Practitioner name nor a display.
const UNNAMED_PROVIDER: &str = "your provider";

fn default_timeout_ms() -> u64 {
    3000
}

fn default_time_zone() -> String {
    "America/New_York".to_owned()
}

/// Settings for the FHIR adapter (`ehr: {kind: fhir, ...}` in the configuration).
#[derive(Debug, Clone, Deserialize)]
pub struct FhirSettings {
    /// The FHIR base, e.g. `https://ehr.example/fhir/R4`; resource paths are appended to it.
    pub base_url: Url,
    /// Per request, connection to last body byte. A caller is waiting on the phone: better a quick
    /// "I can't reach the schedule" than a long silence.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// Sent as `Authorization: Bearer …` when set (SMART backend services tokens are minted
    /// elsewhere; this is the static-token case).
    #[serde(default)]
    pub bearer_token: Option<SecretString>,
    /// IANA zone for locations without the FHIR time zone extension (or with an invalid one).
    #[serde(default = "default_time_zone")]
    pub default_time_zone: String,
}

/// Where the current instant comes from; replaceable so tests can pin "now".
type NowFn = Arc<dyn Fn() -> Timestamp + Send + Sync>;

/// The FHIR R4 EHR. Cheap to clone (the HTTP client and its pool are shared).
#[derive(Clone)]
pub struct FhirEhr {
    /// Pooled HTTP/1.1 client; HTTPS through rustls with the `ring` provider and the OS roots.
    client: crate::outbound::HttpsClient,
    /// The configured base URL, always ending in `/` so `join` appends instead of replacing.
    base: Url,
    /// Per-request deadline ([`FhirSettings::timeout_ms`]).
    timeout: Duration,
    /// Bearer token, shared rather than copied so clones keep one secret in memory.
    bearer: Option<Arc<SecretString>>,
    /// Zone for locations that do not say theirs.
    default_tz: TimeZone,
    /// The clock for "in the past" decisions (slot search, booking, cancelling).
    now: NowFn,
}

impl fmt::Debug for FhirEhr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FhirEhr")
            .field("base", &self.base.as_str())
            .field("timeout", &self.timeout)
            .field("bearer", &self.bearer.as_ref().map(|_| "[redacted]"))
            .finish_non_exhaustive()
    }
}

/// Why a resource from the server could not be used. Fixed texts: never the offending value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ParseError {
    /// A required element is absent or of the wrong JSON type.
    #[error("missing or malformed element `{0}`")]
    Missing(&'static str),
    /// An instant that is not RFC 3339 with an offset.
    #[error("element `{0}` is not a valid instant")]
    BadInstant(&'static str),
    /// A code outside the FHIR value set.
    #[error("element `{0}` has an unknown code")]
    UnknownCode(&'static str),
    /// The body is not the resource type that was asked for.
    #[error("unexpected resource type")]
    WrongType,
}

/// A response as the adapter needs it.
struct FhirResponse {
    /// Mapped per operation (404 means "no such thing" on a read, a failure elsewhere).
    status: StatusCode,
    /// `ETag` header, when present (the version id for optimistic locking).
    etag: Option<String>,
    /// `Location` header, when present (id of a created resource on servers that return no body).
    location: Option<String>,
    /// The whole body, at most [`MAX_RESPONSE_BYTES`].
    body: Bytes,
}

/// A resource as read, with the version its next conditional update must name.
#[derive(Debug, Clone)]
struct Versioned {
    /// The resource as the server sent it: updates send it back changed, so elements this
    /// adapter does not know survive.
    body: Value,
    /// `meta.versionId` (else the ETag), for `If-Match`.
    version: Option<String>,
}

/// The result of a conditional update.
enum Update {
    Done(Versioned),
    /// `412`/`409`: someone changed the resource since we read it.
    Conflict,
    /// `404`/`410`: it is gone.
    Gone,
}

/// The parts of a `Slot` the adapter uses.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct FhirSlot {
    pub id: String,
    /// The Schedule whose actor is the provider (PractitionerRole).
    pub schedule_id: String,
    /// Kept as text: only `free` is bookable, whatever else the server uses.
    pub status: String,
    pub start: Timestamp,
    pub end: Timestamp,
}

/// The cancellation reason a move leaves on the old appointment (the feed tells a move from a
/// cancellation by it).
const RESCHEDULED_REASON: &str = "rescheduled";

/// What a staff action did to a FHIR appointment (for the history and the patient's notice).
#[derive(Debug, Clone, PartialEq)]
pub struct StaffChange {
    pub from: State,
    pub to: State,
    pub patient_id: Option<String>,
    pub start: Timestamp,
    pub time_zone: String,
}

/// An appointment the EHR changed, as the notification feed needs it (ids, status, time, zone).
#[derive(Debug, Clone, PartialEq)]
pub struct ChangedAppointment {
    pub id: String,
    pub patient_id: String,
    pub status: AppointmentStatus,
    pub start: Timestamp,
    /// IANA name of the provider location's zone.
    pub time_zone: String,
    pub cancelled_by_move: bool,
}

/// The parts of an `Appointment` the adapter uses.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct FhirAppointment {
    pub id: String,
    /// Unknown codes are a parse error rather than a guess.
    pub status: AppointmentStatus,
    pub start: Timestamp,
    pub end: Timestamp,
    /// Ids of `Patient` participants.
    pub patient_ids: Vec<String>,
    /// Id of the first `PractitionerRole` participant.
    pub role_id: Option<String>,
    /// Ids of the referenced `Slot`s.
    pub slot_ids: Vec<String>,
    /// Free-text reason, kept so a reschedule carries it over.
    pub description: Option<String>,
}

impl FhirEhr {
    /// Builds the client. No network traffic: use [`FhirEhr::check`] at startup.
    ///
    /// # Errors
    /// [`EhrError::Unavailable`] for settings that can never work (a base URL that is not
    /// http(s), a zero timeout, an unknown default time zone, no TLS roots for an https base);
    /// the reason is logged.
    pub fn connect(settings: &FhirSettings) -> Result<FhirEhr, EhrError> {
        let mut base = settings.base_url.clone();
        if !matches!(base.scheme(), "http" | "https") || base.cannot_be_a_base() {
            tracing::error!("ehr.fhir.base_url must be an http or https URL");
            return Err(EhrError::Unavailable);
        }
        base.set_query(None);
        base.set_fragment(None);
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        if settings.timeout_ms == 0 {
            tracing::error!("ehr.fhir.timeout_ms must be positive");
            return Err(EhrError::Unavailable);
        }
        let default_tz = TimeZone::get(&settings.default_time_zone).map_err(|_| {
            tracing::error!("ehr.fhir.default_time_zone is not a known IANA time zone");
            EhrError::Unavailable
        })?;
        let client = crate::outbound::client_for(base.scheme()).map_err(|e| {
            tracing::error!(error.message = %e, "no HTTP client for the FHIR base URL");
            EhrError::Unavailable
        })?;
        Ok(FhirEhr {
            client,
            base,
            timeout: Duration::from_millis(settings.timeout_ms),
            bearer: settings.bearer_token.clone().map(Arc::new),
            default_tz,
            now: Arc::new(Timestamp::now),
        })
    }

    /// Replaces the clock (tests pin "now" so fixed slot times stay in the future).
    pub fn with_clock(mut self, now: impl Fn() -> Timestamp + Send + Sync + 'static) -> FhirEhr {
        self.now = Arc::new(now);
        self
    }

    /// Startup check: `GET metadata` answers a CapabilityStatement.
    ///
    /// # Errors
    /// [`EhrError::Timeout`], or [`EhrError::Unavailable`] for anything but a 200 with a
    /// CapabilityStatement.
    pub async fn check(&self) -> Result<(), EhrError> {
        let url = self.url("metadata", &[])?;
        let response = self.send(Method::GET, url, None, None, "CapabilityStatement").await?;
        if response.status != StatusCode::OK {
            return Err(unexpected("CapabilityStatement", response.status));
        }
        let body = parse_body(&response.body, "CapabilityStatement")?;
        if body.get("resourceType").and_then(Value::as_str) != Some("CapabilityStatement") {
            tracing::warn!(
                resource = "CapabilityStatement",
                "metadata is not a CapabilityStatement"
            );
            return Err(EhrError::Unavailable);
        }
        Ok(())
    }

    fn now(&self) -> Timestamp {
        (self.now)()
    }

    // ---- HTTP ----------------------------------------------------------------------------------

    /// `base` + `path` with query pairs (percent-encoded by `url`).
    fn url(&self, path: &str, query: &[(&str, &str)]) -> Result<Url, EhrError> {
        let mut url = self.base.join(path).map_err(|_| EhrError::Unavailable)?;
        if !query.is_empty() {
            let mut pairs = url.query_pairs_mut();
            for (k, v) in query {
                pairs.append_pair(k, v);
            }
        }
        Ok(url)
    }

    /// One request under the timeout, body fully read (and capped).
    async fn send(
        &self,
        method: Method,
        url: Url,
        body: Option<&Value>,
        if_match: Option<&str>,
        resource: &'static str,
    ) -> Result<FhirResponse, EhrError> {
        let started = Instant::now();
        let uri: hyper::Uri = url.as_str().parse().map_err(|_| EhrError::Unavailable)?;
        let mut request = Request::builder()
            .method(method.clone())
            .uri(uri)
            .header(ACCEPT, FHIR_JSON);
        if let Some(token) = &self.bearer {
            let mut value = HeaderValue::from_str(&format!("Bearer {}", token.expose_secret())).map_err(|_| {
                tracing::error!("ehr.fhir.bearer_token is not a valid header value");
                EhrError::Unavailable
            })?;
            value.set_sensitive(true);
            request = request.header(AUTHORIZATION, value);
        }
        if let Some(version) = if_match {
            let value = HeaderValue::from_str(&format!("W/\"{version}\"")).map_err(|_| EhrError::Unavailable)?;
            request = request.header(IF_MATCH, value);
        }
        let payload = match body {
            Some(body) => {
                request = request.header(CONTENT_TYPE, FHIR_JSON);
                Bytes::from(serde_json::to_vec(body).map_err(|_| EhrError::Unavailable)?)
            }
            None => Bytes::new(),
        };
        let request = request.body(Full::new(payload)).map_err(|_| EhrError::Unavailable)?;

        let exchange = async {
            let response = self.client.request(request).await.map_err(|e| {
                tracing::warn!(resource, method = %method, connect = e.is_connect(), "FHIR request failed");
                EhrError::Unavailable
            })?;
            let status = response.status();
            let header = |name| {
                response
                    .headers()
                    .get(name)
                    .and_then(|v: &HeaderValue| v.to_str().ok())
                    .map(str::to_owned)
            };
            let (etag, location) = (header(ETAG), header(LOCATION));
            let body = Limited::new(response.into_body(), MAX_RESPONSE_BYTES)
                .collect()
                .await
                .map_err(|_| {
                    tracing::warn!(resource, method = %method, status = status.as_u16(), "FHIR response body unreadable or too large");
                    EhrError::Unavailable
                })?
                .to_bytes();
            Ok(FhirResponse {
                status,
                etag,
                location,
                body,
            })
        };
        let result = tokio::time::timeout(self.timeout, exchange).await;
        let elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        match result {
            Err(_) => {
                tracing::warn!(resource, method = %method, elapsed_ms, "FHIR request timed out");
                Err(EhrError::Timeout)
            }
            Ok(Err(e)) => Err(e),
            Ok(Ok(response)) => {
                tracing::debug!(resource, method = %method, status = response.status.as_u16(), elapsed_ms, "FHIR request");
                Ok(response)
            }
        }
    }

    /// `GET <type>/<id>`: `None` for 404/410.
    async fn read(&self, resource: &'static str, id: &str) -> Result<Option<Versioned>, EhrError> {
        if !valid_id(id) {
            return Ok(None);
        }
        let url = self.url(&format!("{resource}/{id}"), &[])?;
        let response = self.send(Method::GET, url, None, None, resource).await?;
        match response.status {
            StatusCode::OK => {}
            StatusCode::NOT_FOUND | StatusCode::GONE => return Ok(None),
            other => return Err(unexpected(resource, other)),
        }
        let body = parse_body(&response.body, resource)?;
        if body.get("resourceType").and_then(Value::as_str) != Some(resource) {
            tracing::warn!(resource, "read returned another resource type");
            return Err(EhrError::Unavailable);
        }
        let version = version_of(&body, response.etag.as_deref());
        Ok(Some(Versioned { body, version }))
    }

    /// `PUT <type>/<id>` with `If-Match` on `version`.
    async fn update(&self, resource: &'static str, id: &str, body: &Value, version: &str) -> Result<Update, EhrError> {
        let url = self.url(&format!("{resource}/{id}"), &[])?;
        let response = self.send(Method::PUT, url, Some(body), Some(version), resource).await?;
        match response.status {
            StatusCode::OK | StatusCode::CREATED => {}
            StatusCode::PRECONDITION_FAILED | StatusCode::CONFLICT => return Ok(Update::Conflict),
            StatusCode::NOT_FOUND | StatusCode::GONE => return Ok(Update::Gone),
            other => return Err(unexpected(resource, other)),
        }
        // Servers may answer `Prefer: return=minimal` style (empty body); the ETag still names the version.
        let returned = if response.body.is_empty() {
            None
        } else {
            Some(parse_body(&response.body, resource)?)
        };
        let body = returned
            .filter(|b| b.get("resourceType").and_then(Value::as_str) == Some(resource))
            .unwrap_or_else(|| body.clone());
        let version = version_of(&body, response.etag.as_deref());
        Ok(Update::Done(Versioned { body, version }))
    }

    /// `POST <type>`: the new resource's id.
    async fn create(&self, resource: &'static str, body: &Value) -> Result<String, EhrError> {
        let url = self.url(resource, &[])?;
        let response = self.send(Method::POST, url, Some(body), None, resource).await?;
        if !matches!(response.status, StatusCode::CREATED | StatusCode::OK) {
            return Err(unexpected(resource, response.status));
        }
        let from_body = if response.body.is_empty() {
            None
        } else {
            parse_body(&response.body, resource)?
                .get("id")
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        let id = from_body
            .or_else(|| response.location.as_deref().and_then(|l| id_from_location(l, resource)))
            .filter(|id| valid_id(id));
        id.ok_or_else(|| {
            tracing::warn!(resource, "create returned no usable id");
            EhrError::Unavailable
        })
    }

    /// A search, following `next` links on the same origin, until `want` matches are collected.
    /// Returns the matched resources of type `resource` (included resources are dropped).
    async fn search(
        &self,
        resource: &'static str,
        query: &[(&str, &str)],
        want: usize,
    ) -> Result<Vec<Value>, EhrError> {
        let count = SEARCH_PAGE_SIZE.to_string();
        let mut params: Vec<(&str, &str)> = query.to_vec();
        params.push(("_count", &count));
        let mut url = self.url(resource, &params)?;
        let mut out = Vec::new();
        for _ in 0..MAX_SEARCH_PAGES {
            let response = self.send(Method::GET, url, None, None, resource).await?;
            if response.status != StatusCode::OK {
                return Err(unexpected(resource, response.status));
            }
            let bundle = parse_body(&response.body, resource)?;
            if bundle.get("resourceType").and_then(Value::as_str) != Some("Bundle") {
                tracing::warn!(resource, "search did not return a Bundle");
                return Err(EhrError::Unavailable);
            }
            for entry in array(&bundle, "entry") {
                let mode = entry.get("search").and_then(|s| s.get("mode")).and_then(Value::as_str);
                if matches!(mode, Some("include" | "outcome")) {
                    continue;
                }
                if let Some(r) = entry.get("resource")
                    && r.get("resourceType").and_then(Value::as_str) == Some(resource)
                {
                    out.push(r.clone());
                }
            }
            if out.len() >= want {
                return Ok(out);
            }
            let next = array(&bundle, "link")
                .iter()
                .find(|l| l.get("relation").and_then(Value::as_str) == Some("next"))
                .and_then(|l| l.get("url").and_then(Value::as_str));
            let Some(next) = next else {
                return Ok(out);
            };
            match Url::parse(next) {
                Ok(next) if next.origin() == self.base.origin() => url = next,
                _ => {
                    tracing::warn!(resource, "search paging link leaves the FHIR server; stopped");
                    return Ok(out);
                }
            }
        }
        tracing::warn!(resource, pages = MAX_SEARCH_PAGES, "search truncated at the page cap");
        Ok(out)
    }

    // ---- providers -----------------------------------------------------------------------------

    /// A Provider from a PractitionerRole: reads its Practitioner and first Location, using
    /// `location_cache` so roles sharing a location read it once per call.
    async fn provider_from_role(
        &self,
        role: &Value,
        specialty_hint: Option<&str>,
        location_cache: &mut HashMap<String, (String, TimeZone)>,
    ) -> Result<Provider, EhrError> {
        let id = str_at(role, "id").filter(|id| valid_id(id)).ok_or_else(|| {
            tracing::warn!(resource = "PractitionerRole", "role without a usable id skipped");
            EhrError::Unavailable
        })?;
        let practitioner = role.get("practitioner");
        let practitioner_display = practitioner.and_then(|p| str_at(p, "display"));
        let practitioner_id = practitioner
            .and_then(|p| str_at(p, "reference"))
            .and_then(|r| reference_id(r, "Practitioner", &self.base));
        let location_id = array(role, "location")
            .first()
            .and_then(|l| str_at(l, "reference"))
            .and_then(|r| reference_id(r, "Location", &self.base));

        let practitioner_name = match practitioner_id {
            Some(pid) => self
                .read("Practitioner", &pid)
                .await?
                .and_then(|p| doctor_name(&p.body)),
            None => None,
        };
        let display_name = practitioner_name
            .or_else(|| {
                practitioner_display
                    .map(|d| d.trim().to_owned())
                    .filter(|d| !d.is_empty())
            })
            .unwrap_or_else(|| UNNAMED_PROVIDER.to_owned());

        let (location_name, time_zone) = match location_id {
            Some(lid) => match location_cache.get(&lid) {
                Some(hit) => hit.clone(),
                None => {
                    let found = match self.read("Location", &lid).await? {
                        Some(loc) => (
                            str_at(&loc.body, "name").unwrap_or_default().to_owned(),
                            location_time_zone(&loc.body).unwrap_or_else(|| self.default_tz.clone()),
                        ),
                        None => (String::new(), self.default_tz.clone()),
                    };
                    location_cache.insert(lid, found.clone());
                    found
                }
            },
            None => (String::new(), self.default_tz.clone()),
        };

        Ok(Provider {
            id: id.to_owned(),
            display_name,
            specialty: role_specialty(role, specialty_hint).unwrap_or_default(),
            location_name,
            time_zone,
            insurances: role_insurances(role),
        })
    }

    /// The provider for a role id, or a placeholder when the role is gone (an appointment whose
    /// role was retired must still be listable and cancellable).
    async fn provider_or_placeholder(
        &self,
        role_id: Option<&str>,
        cache: &mut HashMap<String, Provider>,
    ) -> Result<Provider, EhrError> {
        let placeholder = |id: &str| Provider {
            id: id.to_owned(),
            display_name: UNNAMED_PROVIDER.to_owned(),
            specialty: String::new(),
            location_name: String::new(),
            time_zone: self.default_tz.clone(),
            insurances: Vec::new(),
        };
        let Some(role_id) = role_id else {
            return Ok(placeholder(""));
        };
        if let Some(p) = cache.get(role_id) {
            return Ok(p.clone());
        }
        let provider = match self.read("PractitionerRole", role_id).await? {
            Some(role) => self.provider_from_role(&role.body, None, &mut HashMap::new()).await?,
            None => placeholder(role_id),
        };
        cache.insert(role_id.to_owned(), provider.clone());
        Ok(provider)
    }

    /// The well-formed appointments of a search, each with its resource; malformed ones are
    /// logged (by kind of defect, never content) and skipped.
    fn parsed_appointments<'a>(&self, found: &'a [Value]) -> impl Iterator<Item = (&'a Value, FhirAppointment)> {
        let base = self.base.clone();
        found
            .iter()
            .filter_map(move |resource| match parse_appointment(resource, &base) {
                Ok(a) => Some((resource, a)),
                Err(e) => {
                    tracing::warn!(resource = "Appointment", error = %e, "malformed appointment skipped");
                    None
                }
            })
    }

    /// Appointments the EHR changed since `since` (`_lastUpdated`), whoever changed them — our
    /// tools, staff at the EHR's own screens, another system — for the notification feed. Each
    /// carries its first patient, its location's zone and whether it was cancelled by a move.
    ///
    /// # Errors
    /// The FHIR server is unavailable.
    pub async fn changed_since(&self, since: Timestamp) -> Result<Vec<ChangedAppointment>, EhrError> {
        let after = format!("ge{}", whole_seconds(since));
        let found = self
            .search(
                "Appointment",
                &[("_lastUpdated", &after), ("_sort", "_lastUpdated")],
                usize::MAX,
            )
            .await?;
        let mut cache = HashMap::new();
        let mut out = Vec::new();
        for (resource, a) in self.parsed_appointments(&found) {
            let Some(patient_id) = a.patient_ids.first().cloned() else {
                continue;
            };
            let provider = self.provider_or_placeholder(a.role_id.as_deref(), &mut cache).await?;
            let moved = resource
                .get("cancelationReason")
                .and_then(|r| str_at(r, "text"))
                .is_some_and(|t| t == RESCHEDULED_REASON);
            out.push(ChangedAppointment {
                id: a.id,
                patient_id,
                status: a.status,
                start: a.start,
                time_zone: provider.time_zone.iana_name().unwrap_or("UTC").to_owned(),
                cancelled_by_move: moved,
            });
        }
        Ok(out)
    }

    /// The PractitionerRole that owns a Schedule (its first PractitionerRole actor).
    async fn schedule_role(&self, schedule_id: &str) -> Result<Option<String>, EhrError> {
        let Some(schedule) = self.read("Schedule", schedule_id).await? else {
            return Ok(None);
        };
        Ok(array(&schedule.body, "actor")
            .iter()
            .filter_map(|a| str_at(a, "reference"))
            .find_map(|r| reference_id(r, "PractitionerRole", &self.base)))
    }

    // ---- slots and appointments ----------------------------------------------------------------

    /// Puts a claimed slot back to free (`version` is the one our claim produced). Best effort:
    /// failures are logged with ids for staff, and the caller's original error stands.
    async fn release_slot(&self, slot: &Versioned, slot_id: &str) {
        let Some(version) = slot.version.as_deref() else {
            tracing::error!(resource = "Slot", slot_id, "claimed slot has no version; left busy");
            return;
        };
        let mut body = slot.body.clone();
        set(&mut body, "status", json!("free"));
        match self.update("Slot", slot_id, &body, version).await {
            Ok(Update::Done(_)) => {}
            Ok(_) | Err(_) => tracing::error!(resource = "Slot", slot_id, "could not free a claimed slot; left busy"),
        }
    }

    /// Marks a just-created appointment entered-in-error after a failed read-back (best effort).
    async fn void_appointment(&self, appointment_id: &str) {
        let voided = async {
            let current = self
                .read("Appointment", appointment_id)
                .await?
                .ok_or(EhrError::NotFound)?;
            let version = current.version.ok_or(EhrError::Unavailable)?;
            let mut body = current.body;
            set(&mut body, "status", json!(AppointmentStatus::EnteredInError.code()));
            match self.update("Appointment", appointment_id, &body, &version).await? {
                Update::Done(_) => Ok(()),
                _ => Err(EhrError::Unavailable),
            }
        };
        if voided.await.is_err() {
            tracing::error!(
                resource = "Appointment",
                appointment_id,
                "could not void an inconsistent appointment"
            );
        }
    }

    /// Books without validating ids twice: the core of [`EhrAdapter::book`] and of reschedule.
    async fn book_slot(
        &self,
        patient_id: &str,
        call_id: &str,
        slot_id: &str,
        reason: &str,
        now: Timestamp,
    ) -> Result<Appointment, EhrError> {
        if !valid_id(patient_id) || !valid_id(slot_id) {
            return Err(EhrError::NotFound);
        }
        let read = self.read("Slot", slot_id).await?.ok_or(EhrError::NotFound)?;
        let slot = parse_slot(&read.body).map_err(|e| malformed("Slot", &e))?;
        if slot.status != "free" {
            return Err(EhrError::SlotTaken);
        }
        if slot.start <= now {
            return Err(EhrError::NotAllowed("slot is in the past"));
        }
        let Some(version) = read.version.clone() else {
            // Without a version there is no safe claim: two callers could both "win".
            tracing::error!(resource = "Slot", "server returned no version id; cannot claim safely");
            return Err(EhrError::Unavailable);
        };
        let role_id = self
            .schedule_role(&slot.schedule_id)
            .await?
            .ok_or(EhrError::NotAllowed("that time cannot be booked"))?;
        let provider = self
            .provider_or_placeholder(Some(&role_id), &mut HashMap::new())
            .await?;

        // Claim.
        let mut claim = read.body.clone();
        set(&mut claim, "status", json!("busy"));
        let claimed = match self.update("Slot", slot_id, &claim, &version).await? {
            Update::Done(v) => v,
            Update::Conflict => return Err(EhrError::SlotTaken),
            Update::Gone => return Err(EhrError::NotFound),
        };

        // Everything after the claim frees the slot on failure.
        let result = self
            .create_appointment(patient_id, call_id, &slot, &role_id, &provider, reason)
            .await;
        if result.is_err() {
            self.release_slot(&claimed, slot_id).await;
        }
        result
    }

    /// POSTs the Appointment for a claimed slot and reads it back.
    async fn create_appointment(
        &self,
        patient_id: &str,
        call_id: &str,
        slot: &FhirSlot,
        role_id: &str,
        provider: &Provider,
        reason: &str,
    ) -> Result<Appointment, EhrError> {
        let body = appointment_body(
            patient_id,
            call_id,
            slot,
            role_id,
            &provider.display_name,
            reason,
            self.now(),
        );
        let id = self.create("Appointment", &body).await?;
        let back = async {
            let read = self.read("Appointment", &id).await?.ok_or(EhrError::Unavailable)?;
            let got = parse_appointment(&read.body, &self.base).map_err(|e| malformed("Appointment", &e))?;
            let consistent = got.status == AppointmentStatus::Booked
                && got.start == slot.start
                && got.end == slot.end
                && got.patient_ids.iter().any(|p| p == patient_id)
                && got.slot_ids.contains(&slot.id);
            if consistent {
                Ok(())
            } else {
                tracing::error!(resource = "Appointment", appointment_id = %id, "read-back differs from what was written");
                Err(EhrError::Unavailable)
            }
        };
        if let Err(e) = back.await {
            self.void_appointment(&id).await;
            return Err(e);
        }
        Ok(Appointment {
            id,
            provider_id: role_id.to_owned(),
            provider_name: provider.display_name.clone(),
            start: slot.start,
            end: slot.end,
            status: AppointmentStatus::Booked,
            time_zone: provider.time_zone.clone(),
        })
    }

    /// Reads the patient's appointment and checks it can still be changed (same rules as the
    /// built-in store). Another patient's appointment is [`EhrError::NotFound`].
    async fn changeable(
        &self,
        patient_id: &str,
        appointment_id: &str,
        now: Timestamp,
    ) -> Result<(Versioned, FhirAppointment), EhrError> {
        if !valid_id(patient_id) || !valid_id(appointment_id) {
            return Err(EhrError::NotFound);
        }
        let read = self
            .read("Appointment", appointment_id)
            .await?
            .ok_or(EhrError::NotFound)?;
        let appointment = parse_appointment(&read.body, &self.base).map_err(|e| malformed("Appointment", &e))?;
        if !appointment.patient_ids.iter().any(|p| p == patient_id) {
            return Err(EhrError::NotFound);
        }
        if !matches!(
            appointment.status,
            AppointmentStatus::Booked | AppointmentStatus::Pending
        ) {
            return Err(EhrError::NotAllowed(
                "that appointment is already cancelled or completed",
            ));
        }
        if appointment.start <= now {
            return Err(EhrError::NotAllowed("that appointment is in the past"));
        }
        Ok((read, appointment))
    }

    /// A staff action on any appointment (no patient check: staff act on the clinic's schedule):
    /// the lifecycle decides from the stored status, then the new FHIR status (and the typed
    /// cancellation reason) is written under `If-Match`, once retried on a concurrent change; a
    /// cancellation frees the slots.
    ///
    /// # Errors
    /// [`StaffActionError`]: unknown appointment, a refused transition, the EHR failing.
    pub async fn staff_transition(&self, appointment_id: &str, event: &Event) -> Result<StaffChange, StaffActionError> {
        if !valid_id(appointment_id) {
            return Err(StaffActionError::NotFound);
        }
        let now = self.now();
        for _ in 0..2 {
            let read = self
                .read("Appointment", appointment_id)
                .await?
                .ok_or(StaffActionError::NotFound)?;
            let a = parse_appointment(&read.body, &self.base).map_err(|e| malformed("Appointment", &e))?;
            let moved = read
                .body
                .get("cancelationReason")
                .and_then(|r| str_at(r, "text"))
                .is_some_and(|t| t == RESCHEDULED_REASON);
            let from = State::from_fhir(a.status, moved);
            let to = lifecycle::transition(from, event, a.start.as_millisecond(), now.as_millisecond())?;
            let version = read.version.clone().ok_or(EhrError::Unavailable)?;
            let mut body = read.body;
            set(&mut body, "status", json!(to.fhir().code()));
            if let Event::Cancel { reason } = event {
                set(&mut body, "cancelationReason", json!({ "text": reason_text(reason) }));
            }
            match self.update("Appointment", appointment_id, &body, &version).await? {
                Update::Done(_) => {
                    if to == State::Cancelled {
                        for slot_id in &a.slot_ids {
                            self.free_slot(slot_id).await;
                        }
                    }
                    let provider = self
                        .provider_or_placeholder(a.role_id.as_deref(), &mut HashMap::new())
                        .await?;
                    return Ok(StaffChange {
                        from,
                        to,
                        patient_id: a.patient_ids.first().cloned(),
                        start: a.start,
                        time_zone: provider.time_zone.iana_name().unwrap_or("UTC").to_owned(),
                    });
                }
                Update::Gone => return Err(StaffActionError::NotFound),
                Update::Conflict => continue,
            }
        }
        tracing::warn!(resource = "Appointment", appointment_id, "kept changing under us");
        Err(EhrError::Unavailable.into())
    }

    /// Cancels the patient's appointment and frees its slots. One retry when the appointment
    /// changed between our read and our write (the checks run again on the fresh copy).
    async fn cancel_owned(
        &self,
        patient_id: &str,
        appointment_id: &str,
        reason: &str,
    ) -> Result<Appointment, EhrError> {
        let now = self.now();
        let mut attempt = 0;
        let appointment = loop {
            attempt += 1;
            let (read, appointment) = self.changeable(patient_id, appointment_id, now).await?;
            let version = read.version.ok_or_else(|| {
                tracing::error!(
                    resource = "Appointment",
                    "server returned no version id; cannot update safely"
                );
                EhrError::Unavailable
            })?;
            let mut body = read.body;
            set(&mut body, "status", json!(AppointmentStatus::Cancelled.code()));
            let reason = reason_text(reason);
            if !reason.is_empty() {
                set(&mut body, "cancelationReason", json!({ "text": reason }));
            }
            match self.update("Appointment", appointment_id, &body, &version).await? {
                Update::Done(_) => break appointment,
                Update::Gone => return Err(EhrError::NotFound),
                Update::Conflict if attempt < 2 => continue,
                Update::Conflict => {
                    tracing::warn!(resource = "Appointment", appointment_id, "kept changing under us");
                    return Err(EhrError::Unavailable);
                }
            }
        };
        for slot_id in &appointment.slot_ids {
            self.free_slot(slot_id).await;
        }
        let mut cache = HashMap::new();
        let provider = self
            .provider_or_placeholder(appointment.role_id.as_deref(), &mut cache)
            .await?;
        Ok(Appointment {
            id: appointment.id,
            provider_id: provider.id,
            provider_name: provider.display_name,
            start: appointment.start,
            end: appointment.end,
            status: AppointmentStatus::Cancelled,
            time_zone: provider.time_zone,
        })
    }

    /// Frees a slot a cancelled appointment held, then re-reads it to confirm. Failures only log:
    /// the appointment is already cancelled, which is what the patient asked for.
    async fn free_slot(&self, slot_id: &str) {
        for _ in 0..2 {
            let read = match self.read("Slot", slot_id).await {
                Ok(Some(read)) => read,
                Ok(None) => {
                    tracing::warn!(resource = "Slot", slot_id, "slot of a cancelled appointment is gone");
                    return;
                }
                Err(_) => break,
            };
            if str_at(&read.body, "status") == Some("free") {
                return;
            }
            let Some(version) = read.version else { break };
            let mut body = read.body;
            set(&mut body, "status", json!("free"));
            match self.update("Slot", slot_id, &body, &version).await {
                Ok(Update::Done(_)) => {
                    if let Ok(Some(check)) = self.read("Slot", slot_id).await
                        && str_at(&check.body, "status") == Some("free")
                    {
                        return;
                    }
                    break;
                }
                Ok(Update::Conflict) => continue,
                Ok(Update::Gone) | Err(_) => break,
            }
        }
        tracing::warn!(
            resource = "Slot",
            slot_id,
            "slot of a cancelled appointment is not free again"
        );
    }
}

impl EhrAdapter for FhirEhr {
    /// `GET Patient?birthdate=<iso>`, then the family name is compared locally, folded.
    ///
    /// Why not `family=`: FHIR says string search ignores case and accents, but servers differ.
    /// On the test peer (Medplum fhir-router 4.5.2) plain `family` is a case-insensitive
    /// *substring* match that does not fold accents (`family=nunez` misses "Núñez", `family=oe`
    /// finds "Doe"), and `family:exact` is case-insensitive yet accent-sensitive. A caller's
    /// spoken name rarely carries the record's accents, so the search is by birth date (exact on
    /// every server) and the family name is matched here with [`PersonName::folded`], on every
    /// `name` entry of the patient. Patients with `active: false` (merged or retired records) are
    /// left out. The caller still re-compares every field.
    async fn find_patients(
        &self,
        last: &PersonName,
        birth_date: &DateOfBirth,
    ) -> Result<Vec<PatientCandidate>, EhrError> {
        let (family, iso) = (last.folded(), birth_date.iso());
        let patients = self.search("Patient", &[("birthdate", &iso)], usize::MAX).await?;
        let mut out: Vec<PatientCandidate> = patients
            .iter()
            .filter(|p| p.get("active").and_then(Value::as_bool) != Some(false))
            .filter_map(|p| patient_candidate(p, &family))
            .filter(|c| c.birth_date == iso)
            .collect();
        out.sort_by(|a, b| a.patient_id.cmp(&b.patient_id));
        out.dedup_by(|a, b| a.patient_id == b.patient_id);
        Ok(out)
    }

    /// `GET PractitionerRole?specialty=<code>` (token search on the folded specialty; the
    /// clinic codes specialties lowercase, e.g. `dermatology`), then each role's Practitioner
    /// and first Location. Roles marked inactive are left out. Ranking: roles accepting the
    /// caller's insurance first, then those at the named location, otherwise server order.
    async fn search_providers(&self, query: &ProviderQuery) -> Result<Vec<Provider>, EhrError> {
        let code = fold_label(&query.specialty);
        if code.is_empty() {
            return Ok(Vec::new());
        }
        let roles = self
            .search("PractitionerRole", &[("specialty", &code)], usize::MAX)
            .await?;
        let mut cache = HashMap::new();
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        for role in &roles {
            let usable = role.get("active").and_then(Value::as_bool) != Some(false)
                && str_at(role, "id").is_some_and(valid_id)
                && role_has_specialty(role, &code);
            if !usable {
                continue;
            }
            let provider = self.provider_from_role(role, Some(&code), &mut cache).await?;
            if seen.insert(provider.id.clone()) {
                out.push(provider);
            }
        }
        let insurance = query.insurance.as_deref().map(fold_label).filter(|s| !s.is_empty());
        let location = query.location.as_deref().map(fold_label).filter(|s| !s.is_empty());
        out.sort_by_key(|p| {
            let insured = insurance.as_ref().is_some_and(|i| p.insurances.contains(i));
            let located = location
                .as_ref()
                .is_some_and(|l| fold_label(&p.location_name).contains(l.as_str()));
            (!insured, !located)
        });
        Ok(out)
    }

    /// `GET PractitionerRole/<id>` (404 → [`EhrError::NotFound`]).
    async fn provider(&self, provider_id: &str) -> Result<Provider, EhrError> {
        let role = self
            .read("PractitionerRole", provider_id)
            .await?
            .ok_or(EhrError::NotFound)?;
        self.provider_from_role(&role.body, None, &mut HashMap::new()).await
    }

    /// For each provider: `Schedule?actor=PractitionerRole/<id>` (the reference must be typed:
    /// a bare id matches nothing on some servers), then per schedule
    /// `Slot?schedule=Schedule/<sid>&status=free&start=ge<from>&start=lt<to>&_sort=start`.
    /// Each slot is re-checked here (free, `from <= start < to`, start after now), merged,
    /// sorted by start and cut to `limit`. Unknown provider ids yield no slots.
    async fn find_slots(&self, query: &SlotQuery) -> Result<Vec<Slot>, EhrError> {
        let now = self.now();
        if query.limit == 0 || query.from >= query.to || query.to <= now {
            return Ok(Vec::new());
        }
        // Whole seconds keep the query portable; the exact bounds are applied below.
        let ge = format!("ge{}", whole_seconds(query.from.max(now)));
        let lt = format!(
            "lt{}",
            whole_seconds(
                query
                    .to
                    .checked_add(jiff::SignedDuration::from_secs(1))
                    .unwrap_or(query.to)
            )
        );
        let mut out: Vec<Slot> = Vec::new();
        let mut seen = HashSet::new();
        for provider_id in query.provider_ids.iter().filter(|id| valid_id(id)) {
            let actor = format!("PractitionerRole/{provider_id}");
            let schedules = self.search("Schedule", &[("actor", &actor)], usize::MAX).await?;
            for schedule in &schedules {
                if schedule.get("active").and_then(Value::as_bool) == Some(false) {
                    continue;
                }
                let Some(schedule_id) = str_at(schedule, "id").filter(|id| valid_id(id)) else {
                    continue;
                };
                let reference = format!("Schedule/{schedule_id}");
                let params = [
                    ("schedule", reference.as_str()),
                    ("status", "free"),
                    ("start", ge.as_str()),
                    ("start", lt.as_str()),
                    ("_sort", "start"),
                ];
                for resource in self.search("Slot", &params, query.limit).await? {
                    let slot = match parse_slot(&resource) {
                        Ok(slot) => slot,
                        Err(e) => {
                            tracing::warn!(resource = "Slot", error = %e, "malformed slot skipped");
                            continue;
                        }
                    };
                    let usable = slot.status == "free"
                        && slot.start >= query.from
                        && slot.start < query.to
                        && slot.start > now
                        && slot.end > slot.start;
                    if usable && seen.insert(slot.id.clone()) {
                        out.push(Slot {
                            id: slot.id,
                            provider_id: provider_id.clone(),
                            start: slot.start,
                            end: slot.end,
                        });
                    }
                }
            }
        }
        out.sort_by(|a, b| a.start.cmp(&b.start).then_with(|| a.provider_id.cmp(&b.provider_id)));
        out.truncate(query.limit);
        Ok(out)
    }

    /// Always [`EhrError::Unsupported`]: a FHIR server has no hold that expires by itself. A
    /// "hold" would be a busy Slot that stays busy if the call drops before booking, blocking a
    /// real patient's time until staff notice. The tool tells the model to book directly; the
    /// booking's conditional claim already guarantees nobody else gets the slot in between.
    async fn hold(&self, _patient_id: &str, _call_id: &str, _slot_id: &str) -> Result<Hold, EhrError> {
        Err(EhrError::Unsupported)
    }

    /// Claim-then-create: read the Slot (must be free and in the future), `PUT` it busy with
    /// `If-Match` (a concurrent booker gets 412 → [`EhrError::SlotTaken`]), `POST` the
    /// Appointment and read it back. If anything after the claim fails the Slot is set free
    /// again (conditional on our claim's version) and the error is returned.
    async fn book(
        &self,
        patient_id: &str,
        call_id: &str,
        slot_id: &str,
        reason: &str,
    ) -> Result<Appointment, EhrError> {
        let now = self.now();
        self.book_slot(patient_id, call_id, slot_id, reason, now).await
    }

    /// `GET Appointment?patient=Patient/<id>&date=ge<now>` (typed reference: the test peer
    /// matches nothing for a bare id), keeping booked/pending ones that start after now and that
    /// really list this patient, earliest first.
    async fn list_appointments(&self, patient_id: &str) -> Result<Vec<Appointment>, EhrError> {
        if !valid_id(patient_id) {
            return Ok(Vec::new());
        }
        let now = self.now();
        let patient = format!("Patient/{patient_id}");
        let date = format!("ge{}", whole_seconds(now));
        let found = self
            .search("Appointment", &[("patient", &patient), ("date", &date)], usize::MAX)
            .await?;
        let mut cache = HashMap::new();
        let mut out = Vec::new();
        for (_, a) in self.parsed_appointments(&found) {
            let upcoming = matches!(a.status, AppointmentStatus::Booked | AppointmentStatus::Pending) && a.start > now;
            if !upcoming || !a.patient_ids.iter().any(|p| p == patient_id) {
                continue;
            }
            let provider = self.provider_or_placeholder(a.role_id.as_deref(), &mut cache).await?;
            out.push(Appointment {
                id: a.id,
                provider_id: provider.id,
                provider_name: provider.display_name,
                start: a.start,
                end: a.end,
                status: a.status,
                time_zone: provider.time_zone,
            });
        }
        out.sort_by(|a, b| a.start.cmp(&b.start).then_with(|| a.id.cmp(&b.id)));
        Ok(out)
    }

    /// Reads the Appointment (another patient's → [`EhrError::NotFound`], never revealing it
    /// exists), requires booked/pending and upcoming, `PUT`s it cancelled with the reason under
    /// `If-Match`, then frees each referenced Slot and confirms it reads back free (a slot that
    /// stays busy is logged by id; the cancellation still stands).
    async fn cancel(
        &self,
        patient_id: &str,
        _call_id: &str,
        appointment_id: &str,
        reason: &str,
    ) -> Result<Appointment, EhrError> {
        self.cancel_owned(patient_id, appointment_id, reason).await
    }

    /// Book-then-cancel with compensation. FHIR offers no transaction we can combine with
    /// `If-Match` across the new Slot, the new Appointment and the old Appointment, so: check the
    /// old appointment (ownership and state, as for cancel), book the new slot (if that fails the
    /// old one stands untouched), then cancel the old one; if that cancel fails, the new booking
    /// is cancelled again and the error returned. The patient never ends up with zero
    /// appointments by our doing (at worst, if the compensation also fails, with two, logged by id).
    async fn reschedule(
        &self,
        patient_id: &str,
        call_id: &str,
        appointment_id: &str,
        new_slot_id: &str,
    ) -> Result<Appointment, EhrError> {
        let now = self.now();
        let (_, old) = self.changeable(patient_id, appointment_id, now).await?;
        let reason = old.description.clone().unwrap_or_default();
        let new = self.book_slot(patient_id, call_id, new_slot_id, &reason, now).await?;
        match self.cancel_owned(patient_id, appointment_id, RESCHEDULED_REASON).await {
            Ok(_) => Ok(new),
            Err(e) => {
                if self
                    .cancel_owned(patient_id, &new.id, "reschedule failed")
                    .await
                    .is_err()
                {
                    tracing::error!(
                        resource = "Appointment",
                        old_appointment_id = appointment_id,
                        new_appointment_id = %new.id,
                        "reschedule compensation failed; patient has both appointments"
                    );
                }
                Err(e)
            }
        }
    }
}

// ---- pure helpers (unit-tested below) ----------------------------------------------------------

/// FHIR logical id syntax; anything else (including a model's invention with `/` or `?`) is
/// never put into a URL.
pub(crate) fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_ID_CHARS
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

/// Sets an element of a resource. Bodies reaching here were checked to be resources (objects);
/// anything else is left alone rather than panicking like `Value`'s `IndexMut` would.
fn set(body: &mut Value, key: &str, value: Value) {
    if let Some(object) = body.as_object_mut() {
        object.insert(key.to_owned(), value);
    }
}

fn str_at<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

fn array<'a>(v: &'a Value, key: &str) -> &'a [Value] {
    v.get(key).and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[])
}

/// Logs an unexpected status (type and code only) and maps it: every such answer means the EHR
/// cannot serve this request right now.
fn unexpected(resource: &'static str, status: StatusCode) -> EhrError {
    if status.is_server_error() {
        tracing::warn!(resource, status = status.as_u16(), "FHIR server error");
    } else {
        tracing::error!(resource, status = status.as_u16(), "unexpected FHIR status");
    }
    EhrError::Unavailable
}

/// Logs a resource the adapter cannot use (the fixed parse error text only).
fn malformed(resource: &'static str, error: &ParseError) -> EhrError {
    tracing::warn!(resource, error = %error, "malformed FHIR resource");
    EhrError::Unavailable
}

/// JSON body or [`EhrError::Unavailable`] (serde's message is not logged: it can quote values).
fn parse_body(body: &[u8], resource: &'static str) -> Result<Value, EhrError> {
    serde_json::from_slice(body).map_err(|_| {
        tracing::warn!(resource, "FHIR body is not JSON");
        EhrError::Unavailable
    })
}

/// `meta.versionId`, else the ETag's value (`W/"3"` → `3`).
pub(crate) fn version_of(body: &Value, etag: Option<&str>) -> Option<String> {
    body.get("meta")
        .and_then(|m| str_at(m, "versionId"))
        .map(str::to_owned)
        .or_else(|| etag.map(etag_version))
        .filter(|v| !v.is_empty() && !v.contains('"'))
}

/// `W/"abc"` or `"abc"` → `abc`.
pub(crate) fn etag_version(etag: &str) -> String {
    let e = etag.trim();
    let e = e.strip_prefix("W/").unwrap_or(e);
    e.trim_matches('"').to_owned()
}

/// The id in a `Location` header: `…/<type>/<id>` or `…/<type>/<id>/_history/<v>`.
fn id_from_location(location: &str, resource: &str) -> Option<String> {
    let path = location.split(['?', '#']).next()?;
    let segments: Vec<&str> = path.split('/').collect();
    let at = segments.iter().rposition(|s| *s == resource)?;
    segments.get(at + 1).map(|s| (*s).to_owned())
}

/// The id of a reference to `resource`: `Type/id`, `Type/id/_history/v`, or the same under our
/// base URL. Other servers' absolute references and contained (`#x`) ones are not ours: `None`.
pub(crate) fn reference_id(reference: &str, resource: &str, base: &Url) -> Option<String> {
    let relative = if reference.contains("://") {
        reference.strip_prefix(base.as_str())?
    } else {
        reference
    };
    let mut parts = relative.split('/');
    let (ty, id) = (parts.next()?, parts.next()?);
    match (parts.next(), parts.next(), parts.next()) {
        (None, _, _) | (Some("_history"), Some(_), None) => {}
        _ => return None,
    }
    (ty == resource && valid_id(id)).then(|| id.to_owned())
}

/// A FHIR instant/dateTime with time and offset.
fn instant(v: &Value, key: &'static str) -> Result<Timestamp, ParseError> {
    str_at(v, key)
        .ok_or(ParseError::Missing(key))?
        .parse::<Timestamp>()
        .map_err(|_| ParseError::BadInstant(key))
}

/// `2026-12-10T14:00:00Z` (sub-seconds dropped): servers parse this form reliably.
fn whole_seconds(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Lowercase, accent-folded label (specialties, insurances, locations): the name folding when
/// the text is name-like, plain lowercase otherwise ("Plan 5+" has digits).
pub(crate) fn fold_label(raw: &str) -> String {
    PersonName::parse(raw)
        .map(|n| n.folded())
        .unwrap_or_else(|_| raw.trim().to_lowercase())
}

/// Folds one name part from a record; `None` if it is not a name (digits, empty).
fn fold_name(raw: &str) -> Option<String> {
    PersonName::parse(raw).ok().map(|n| n.folded())
}

/// Builds the verification view of a Patient whose family name (any `name` entry) folds to
/// `family`; `None` if no entry does or the resource is unusable.
///
/// Of the matching `name` entries the `official` one is used, else the first; its first `given`
/// is the first name. Every `telecom` with `system: phone` that parses becomes E.164 (others are
/// dropped: a number we cannot read cannot be compared).
pub(crate) fn patient_candidate(patient: &Value, family: &str) -> Option<PatientCandidate> {
    if str_at(patient, "resourceType") != Some("Patient") {
        return None;
    }
    let id = str_at(patient, "id").filter(|id| valid_id(id))?;
    let birth_date = str_at(patient, "birthDate")?;
    let matching: Vec<&Value> = array(patient, "name")
        .iter()
        .filter(|n| str_at(n, "family").and_then(fold_name).as_deref() == Some(family))
        .collect();
    let chosen = matching
        .iter()
        .find(|n| str_at(n, "use") == Some("official"))
        .or_else(|| matching.first())?;
    let first = array(chosen, "given")
        .first()
        .and_then(Value::as_str)
        .and_then(fold_name)
        .unwrap_or_default();
    let mut phones: Vec<String> = Vec::new();
    for t in array(patient, "telecom") {
        if str_at(t, "system") != Some("phone") {
            continue;
        }
        if let Some(p) = str_at(t, "value").and_then(|v| PhoneNumber::parse(v).ok()) {
            let e164 = p.e164().to_owned();
            if !phones.contains(&e164) {
                phones.push(e164);
            }
        }
    }
    Some(PatientCandidate {
        patient_id: id.to_owned(),
        first_name_folded: first,
        last_name_folded: family.to_owned(),
        birth_date: birth_date.to_owned(),
        phones_e164: phones,
    })
}

/// "Doctor <given> <family>" from a Practitioner's official (else first) name.
pub(crate) fn doctor_name(practitioner: &Value) -> Option<String> {
    let names = array(practitioner, "name");
    let name = names
        .iter()
        .find(|n| str_at(n, "use") == Some("official"))
        .or_else(|| names.first())?;
    let given = array(name, "given").first().and_then(Value::as_str).map(str::trim);
    let family = str_at(name, "family").map(str::trim).filter(|f| !f.is_empty())?;
    Some(match given.filter(|g| !g.is_empty()) {
        Some(g) => format!("Doctor {g} {family}"),
        None => format!("Doctor {family}"),
    })
}

/// The Location's time zone extension, if it names a zone we know.
pub(crate) fn location_time_zone(location: &Value) -> Option<TimeZone> {
    array(location, "extension")
        .iter()
        .find(|e| str_at(e, "url") == Some(TIMEZONE_EXTENSION))
        .and_then(|e| str_at(e, "valueCode"))
        .and_then(|code| TimeZone::get(code).ok())
}

/// Whether any `specialty` coding of the role has this (folded) code.
fn role_has_specialty(role: &Value, code: &str) -> bool {
    array(role, "specialty")
        .iter()
        .flat_map(|s| array(s, "coding"))
        .filter_map(|c| str_at(c, "code"))
        .any(|c| fold_label(c) == code)
}

/// The role's specialty, folded: the coding matching `hint`, else the first coding's code.
fn role_specialty(role: &Value, hint: Option<&str>) -> Option<String> {
    let codes: Vec<String> = array(role, "specialty")
        .iter()
        .flat_map(|s| array(s, "coding"))
        .filter_map(|c| str_at(c, "code"))
        .map(fold_label)
        .collect();
    match hint {
        Some(h) if codes.iter().any(|c| c == h) => Some(h.to_owned()),
        _ => codes.into_iter().next(),
    }
}

/// Accepted insurances from the role's extensions, folded, deduplicated, sorted.
pub(crate) fn role_insurances(role: &Value) -> Vec<String> {
    let mut out: Vec<String> = array(role, "extension")
        .iter()
        .filter(|e| str_at(e, "url") == Some(INSURANCE_EXTENSION))
        .filter_map(|e| str_at(e, "valueString"))
        .map(fold_label)
        .filter(|s| !s.is_empty())
        .collect();
    out.sort();
    out.dedup();
    out
}

/// The Slot fields the adapter needs.
///
/// # Errors
/// [`ParseError`] for a missing id/schedule/status, a bad instant or another resource type.
pub(crate) fn parse_slot(slot: &Value) -> Result<FhirSlot, ParseError> {
    if str_at(slot, "resourceType") != Some("Slot") {
        return Err(ParseError::WrongType);
    }
    let id = str_at(slot, "id")
        .filter(|id| valid_id(id))
        .ok_or(ParseError::Missing("id"))?;
    let schedule = slot
        .get("schedule")
        .and_then(|s| str_at(s, "reference"))
        .ok_or(ParseError::Missing("schedule"))?;
    // Relative form only here: the schedule reference is always written by the EHR itself.
    let schedule_id = schedule
        .strip_prefix("Schedule/")
        .map(|s| s.split('/').next().unwrap_or(s))
        .filter(|s| valid_id(s))
        .ok_or(ParseError::Missing("schedule"))?;
    let status = str_at(slot, "status").ok_or(ParseError::Missing("status"))?;
    Ok(FhirSlot {
        id: id.to_owned(),
        schedule_id: schedule_id.to_owned(),
        status: status.to_owned(),
        start: instant(slot, "start")?,
        end: instant(slot, "end")?,
    })
}

/// The Appointment fields the adapter needs.
///
/// # Errors
/// [`ParseError`] for a missing id/start/end, an unknown status or another resource type.
pub(crate) fn parse_appointment(appointment: &Value, base: &Url) -> Result<FhirAppointment, ParseError> {
    if str_at(appointment, "resourceType") != Some("Appointment") {
        return Err(ParseError::WrongType);
    }
    let id = str_at(appointment, "id")
        .filter(|id| valid_id(id))
        .ok_or(ParseError::Missing("id"))?;
    let status = str_at(appointment, "status").ok_or(ParseError::Missing("status"))?;
    let status = AppointmentStatus::from_code(status).ok_or(ParseError::UnknownCode("status"))?;
    let actors: Vec<&str> = array(appointment, "participant")
        .iter()
        .filter_map(|p| p.get("actor").and_then(|a| str_at(a, "reference")))
        .collect();
    Ok(FhirAppointment {
        id: id.to_owned(),
        status,
        start: instant(appointment, "start")?,
        end: instant(appointment, "end")?,
        patient_ids: actors.iter().filter_map(|r| reference_id(r, "Patient", base)).collect(),
        role_id: actors.iter().find_map(|r| reference_id(r, "PractitionerRole", base)),
        slot_ids: array(appointment, "slot")
            .iter()
            .filter_map(|s| str_at(s, "reference"))
            .filter_map(|r| reference_id(r, "Slot", base))
            .collect(),
        description: str_at(appointment, "description").map(str::to_owned),
    })
}

/// The reason as stored: trimmed, capped like the built-in store's.
fn reason_text(reason: &str) -> String {
    reason.trim().chars().take(MAX_REASON_CHARS).collect()
}

/// The Appointment we create for a claimed slot.
fn appointment_body(
    patient_id: &str,
    call_id: &str,
    slot: &FhirSlot,
    role_id: &str,
    provider_name: &str,
    reason: &str,
    now: Timestamp,
) -> Value {
    let mut body = json!({
        "resourceType": "Appointment",
        "status": AppointmentStatus::Booked.code(),
        "start": slot.start.to_string(),
        "end": slot.end.to_string(),
        "created": whole_seconds(now),
        "slot": [{ "reference": format!("Slot/{}", slot.id) }],
        "participant": [
            { "actor": { "reference": format!("Patient/{patient_id}") }, "status": "accepted" },
            { "actor": { "reference": format!("PractitionerRole/{role_id}"), "display": provider_name }, "status": "accepted" },
        ],
    });
    let reason = reason_text(reason);
    if !reason.is_empty() {
        set(&mut body, "description", json!(reason));
    }
    if !call_id.trim().is_empty() {
        set(
            &mut body,
            "identifier",
            json!([{ "system": CALL_ID_SYSTEM, "value": call_id }]),
        );
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Url {
        Url::parse("https://ehr.example/fhir/R4/").unwrap()
    }

    fn patient() -> Value {
        json!({
            "resourceType": "Patient",
            "id": "p-1",
            "birthDate": "1980-02-03",
            "name": [
                { "use": "maiden", "family": "Smith", "given": ["Ana"] },
                { "family": "NÚÑEZ", "given": ["Wrong"] },
                { "use": "official", "family": "Núñez", "given": ["José", "Luis"] }
            ],
            "telecom": [
                { "system": "phone", "value": "(555) 013-2748" },
                { "system": "email", "value": "x@example.org" },
                { "system": "phone", "value": "+1 555 222 3333" },
                { "system": "phone", "value": "not a number" },
                { "system": "phone", "value": "555.013.2748" }
            ]
        })
    }

    #[test]
    fn patient_is_folded_with_official_name_and_every_phone() {
        let c = patient_candidate(&patient(), "nunez").unwrap();
        assert_eq!(c.patient_id, "p-1");
        assert_eq!(c.first_name_folded, "jose");
        assert_eq!(c.last_name_folded, "nunez");
        assert_eq!(c.birth_date, "1980-02-03");
        assert_eq!(c.phones_e164, vec!["+15550132748", "+15552223333"]);
    }

    #[test]
    fn patient_matches_on_any_name_entry_and_falls_back_to_first() {
        let c = patient_candidate(&patient(), "smith").unwrap();
        assert_eq!(c.first_name_folded, "ana");
        assert_eq!(c.last_name_folded, "smith");
        assert!(patient_candidate(&patient(), "doe").is_none());
        let mut no_official = patient();
        no_official["name"][2]["use"] = json!("usual");
        assert_eq!(
            patient_candidate(&no_official, "nunez").unwrap().first_name_folded,
            "wrong"
        );
    }

    #[test]
    fn unusable_patients_are_none_not_panics() {
        for bad in [
            json!({}),
            json!({ "resourceType": "Patient" }),
            json!({ "resourceType": "Patient", "id": "a/b", "birthDate": "1980-02-03", "name": [{ "family": "Doe" }] }),
            json!({ "resourceType": "Patient", "id": "x", "name": [{ "family": "Doe" }] }),
            json!({ "resourceType": "Patient", "id": "x", "birthDate": 5, "name": "Doe" }),
            json!({ "resourceType": "Patient", "id": "x", "birthDate": "1980", "name": [{ "family": 7 }] }),
            json!({ "resourceType": "Practitioner", "id": "x", "birthDate": "1980-01-01", "name": [{ "family": "Doe" }] }),
        ] {
            assert!(patient_candidate(&bad, "doe").is_none(), "{bad}");
        }
        let c = patient_candidate(
            &json!({ "resourceType": "Patient", "id": "x", "birthDate": "1980-01-01", "name": [{ "family": "Doe", "given": [3] }], "telecom": "x" }),
            "doe",
        )
        .unwrap();
        assert_eq!(c.first_name_folded, "", "a given name that is not a name never matches");
        assert!(c.phones_e164.is_empty());
    }

    #[test]
    fn candidate_debug_hides_phi() {
        let c = patient_candidate(&patient(), "nunez").unwrap();
        let debug = format!("{c:?}");
        assert!(
            !debug.contains("nunez") && !debug.contains("1980") && !debug.contains("555"),
            "{debug}"
        );
    }

    fn slot() -> Value {
        json!({
            "resourceType": "Slot", "id": "s1", "schedule": { "reference": "Schedule/sch1" }, "status": "free",
            "start": "2026-12-10T14:00:00.000+01:00", "end": "2026-12-10T13:30:00Z",
            "meta": { "versionId": "v-1" }
        })
    }

    #[test]
    fn slot_parses_offsets_to_utc() {
        let s = parse_slot(&slot()).unwrap();
        assert_eq!(s.id, "s1");
        assert_eq!(s.schedule_id, "sch1");
        assert_eq!(s.status, "free");
        assert_eq!(s.start, "2026-12-10T13:00:00Z".parse::<Timestamp>().unwrap());
        assert_eq!(s.end, "2026-12-10T13:30:00Z".parse::<Timestamp>().unwrap());
    }

    #[test]
    fn bad_slots_are_errors_not_panics() {
        let cases: Vec<(Value, ParseError)> = vec![
            (json!(null), ParseError::WrongType),
            (json!([1, 2]), ParseError::WrongType),
            (json!({ "resourceType": "Appointment" }), ParseError::WrongType),
            (json!({ "resourceType": "Slot" }), ParseError::Missing("id")),
            (
                json!({ "resourceType": "Slot", "id": "s", "schedule": "Schedule/x" }),
                ParseError::Missing("schedule"),
            ),
            (
                json!({ "resourceType": "Slot", "id": "s", "schedule": { "reference": "Practitioner/x" } }),
                ParseError::Missing("schedule"),
            ),
            (
                json!({ "resourceType": "Slot", "id": "s", "schedule": { "reference": "Schedule/x" } }),
                ParseError::Missing("status"),
            ),
            (
                json!({ "resourceType": "Slot", "id": "s", "schedule": { "reference": "Schedule/x" }, "status": "free", "start": "tomorrow", "end": "2026-12-10T13:30:00Z" }),
                ParseError::BadInstant("start"),
            ),
            (
                json!({ "resourceType": "Slot", "id": "s", "schedule": { "reference": "Schedule/x" }, "status": "free", "start": "2026-12-10", "end": "2026-12-10T13:30:00Z" }),
                ParseError::BadInstant("start"),
            ),
            (
                json!({ "resourceType": "Slot", "id": "s", "schedule": { "reference": "Schedule/x" }, "status": "free", "start": "2026-12-10T13:00:00Z" }),
                ParseError::Missing("end"),
            ),
            (
                json!({ "resourceType": "Slot", "id": "s", "schedule": { "reference": "Schedule/x" }, "status": "free", "start": 5, "end": 6 }),
                ParseError::Missing("start"),
            ),
        ];
        for (value, want) in cases {
            assert_eq!(parse_slot(&value), Err(want), "{value}");
        }
    }

    #[test]
    fn appointment_status_and_references() {
        let a = json!({
            "resourceType": "Appointment", "id": "a1", "status": "booked",
            "start": "2026-12-10T14:00:00Z", "end": "2026-12-10T14:30:00Z",
            "slot": [{ "reference": "Slot/s1" }, { "reference": "https://other.example/Slot/s9" }],
            "participant": [
                { "actor": { "reference": "https://ehr.example/fhir/R4/Patient/p1" } },
                { "actor": { "reference": "PractitionerRole/r1/_history/3" } },
                { "actor": { "display": "someone" } }
            ],
            "description": "rash"
        });
        let p = parse_appointment(&a, &base()).unwrap();
        assert_eq!(p.status, AppointmentStatus::Booked);
        assert_eq!(p.patient_ids, vec!["p1"]);
        assert_eq!(p.role_id.as_deref(), Some("r1"));
        assert_eq!(p.slot_ids, vec!["s1"]);
        assert_eq!(p.description.as_deref(), Some("rash"));

        for code in [
            "proposed",
            "pending",
            "booked",
            "arrived",
            "fulfilled",
            "cancelled",
            "noshow",
            "entered-in-error",
            "checked-in",
            "waitlist",
        ] {
            let mut a = a.clone();
            a["status"] = json!(code);
            assert_eq!(parse_appointment(&a, &base()).unwrap().status.code(), code);
        }
        let mut unknown = a.clone();
        unknown["status"] = json!("Booked");
        assert_eq!(
            parse_appointment(&unknown, &base()),
            Err(ParseError::UnknownCode("status"))
        );
        let mut no_start = a.clone();
        no_start.as_object_mut().unwrap().remove("start");
        assert_eq!(parse_appointment(&no_start, &base()), Err(ParseError::Missing("start")));
    }

    #[test]
    fn references_are_only_ours() {
        let b = base();
        assert_eq!(reference_id("Patient/p1", "Patient", &b).as_deref(), Some("p1"));
        assert_eq!(
            reference_id("Patient/p1/_history/2", "Patient", &b).as_deref(),
            Some("p1")
        );
        assert_eq!(
            reference_id("https://ehr.example/fhir/R4/Patient/p1", "Patient", &b).as_deref(),
            Some("p1")
        );
        for other in [
            "Patient/p1/extra",
            "https://evil.example/fhir/R4/Patient/p1",
            "Practitioner/p1",
            "#p1",
            "Patient/",
            "Patient/a b",
            "Patient",
            "",
        ] {
            assert_eq!(reference_id(other, "Patient", &b), None, "{other}");
        }
    }

    #[test]
    fn ids_are_checked_before_they_reach_a_url() {
        assert!(valid_id("abc-123.X"));
        assert!(valid_id(&"a".repeat(64)));
        for bad in ["", "a/b", "a?b", "../x", "a b", "é", &"a".repeat(65)] {
            assert!(!valid_id(bad), "{bad}");
        }
    }

    #[test]
    fn versions_from_meta_or_etag() {
        assert_eq!(
            version_of(&json!({ "meta": { "versionId": "7" } }), Some("W/\"8\"")).as_deref(),
            Some("7")
        );
        assert_eq!(version_of(&json!({}), Some("W/\"8\"")).as_deref(), Some("8"));
        assert_eq!(version_of(&json!({}), Some("\"9\"")).as_deref(), Some("9"));
        assert_eq!(version_of(&json!({}), None), None);
        assert_eq!(version_of(&json!({ "meta": { "versionId": 3 } }), None), None);
    }

    #[test]
    fn providers_parts() {
        let practitioner = json!({ "name": [{ "family": "Okafor", "given": ["Amara", "N"] }] });
        assert_eq!(doctor_name(&practitioner).as_deref(), Some("Doctor Amara Okafor"));
        assert_eq!(doctor_name(&json!({ "name": [{ "given": ["X"] }] })), None);
        assert_eq!(doctor_name(&json!({ "name": "x" })), None);

        let loc = json!({ "extension": [{ "url": TIMEZONE_EXTENSION, "valueCode": "America/Chicago" }] });
        assert_eq!(
            location_time_zone(&loc)
                .and_then(|t| t.iana_name().map(str::to_owned))
                .as_deref(),
            Some("America/Chicago")
        );
        let bad = json!({ "extension": [{ "url": TIMEZONE_EXTENSION, "valueCode": "Mars/Olympus" }] });
        assert!(location_time_zone(&bad).is_none());

        let role = json!({
            "specialty": [{ "coding": [{ "system": "https://voicegate.dev/fhir/specialty", "code": "Dermatology" }] }],
            "extension": [
                { "url": INSURANCE_EXTENSION, "valueString": "Blue Cross" },
                { "url": INSURANCE_EXTENSION, "valueString": "AETNA" },
                { "url": INSURANCE_EXTENSION, "valueString": 5 },
                { "url": "other", "valueString": "x" }
            ]
        });
        assert_eq!(role_insurances(&role), vec!["aetna", "blue cross"]);
        assert!(role_has_specialty(&role, "dermatology"));
        assert_eq!(role_specialty(&role, None).as_deref(), Some("dermatology"));
        assert!(role_insurances(&json!({})).is_empty());
    }

    #[test]
    fn appointment_body_is_what_the_peer_validates() {
        let s = parse_slot(&slot()).unwrap();
        let long = "x".repeat(500);
        let b = appointment_body("p1", "call-1", &s, "r1", "Doctor A B", &long, Timestamp::UNIX_EPOCH);
        assert_eq!(b["status"], "booked");
        assert_eq!(b["start"], "2026-12-10T13:00:00Z");
        assert_eq!(b["slot"][0]["reference"], "Slot/s1");
        assert_eq!(b["participant"][0]["actor"]["reference"], "Patient/p1");
        assert_eq!(b["participant"][1]["actor"]["reference"], "PractitionerRole/r1");
        assert_eq!(
            b["description"].as_str().map(|d| d.chars().count()),
            Some(MAX_REASON_CHARS)
        );
        assert_eq!(b["identifier"][0]["value"], "call-1");
        let quiet = appointment_body("p1", "", &s, "r1", "Doctor A B", "  ", Timestamp::UNIX_EPOCH);
        assert!(quiet.get("description").is_none() && quiet.get("identifier").is_none());
    }

    #[test]
    fn settings_defaults_and_bad_values() {
        let s: FhirSettings = serde_json::from_value(json!({ "base_url": "http://127.0.0.1:1/fhir/R4" })).unwrap();
        assert_eq!(s.timeout_ms, 3000);
        assert_eq!(s.default_time_zone, "America/New_York");
        assert!(s.bearer_token.is_none());
        let ehr = FhirEhr::connect(&s).unwrap();
        assert_eq!(ehr.base.as_str(), "http://127.0.0.1:1/fhir/R4/");
        assert_eq!(
            ehr.url("Patient", &[("family", "a&b c")]).unwrap().as_str(),
            "http://127.0.0.1:1/fhir/R4/Patient?family=a%26b+c"
        );

        let mut bad = s.clone();
        bad.default_time_zone = "Nowhere/Else".into();
        assert!(matches!(FhirEhr::connect(&bad), Err(EhrError::Unavailable)));
        let mut bad = s.clone();
        bad.timeout_ms = 0;
        assert!(matches!(FhirEhr::connect(&bad), Err(EhrError::Unavailable)));
        let mut bad = s;
        bad.base_url = Url::parse("ftp://x/").unwrap();
        assert!(matches!(FhirEhr::connect(&bad), Err(EhrError::Unavailable)));

        let with_token: FhirSettings =
            serde_json::from_value(json!({ "base_url": "https://x/fhir", "bearer_token": "s3cret-token" })).unwrap();
        let debug = format!("{with_token:?} {:?}", FhirEhr::connect(&with_token));
        assert!(!debug.contains("s3cret-token"), "{debug}");
    }

    #[test]
    fn labels_fold_like_names() {
        assert_eq!(fold_label("  Dermatología "), "dermatologia");
        assert_eq!(fold_label("Plan 5+"), "plan 5+");
        assert_eq!(
            whole_seconds("2026-12-10T14:00:00.75Z".parse().unwrap()),
            "2026-12-10T14:00:00Z"
        );
        assert_eq!(etag_version("W/\"abc\""), "abc");
        assert_eq!(
            id_from_location("http://x/fhir/R4/Appointment/a1/_history/v", "Appointment").as_deref(),
            Some("a1")
        );
    }
}
