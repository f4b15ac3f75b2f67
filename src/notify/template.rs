//! Message templates: PHI-minimal by construction.
//!
//! A template can only say what its placeholders offer — the clinic's name and phone, the day and
//! time in the clinic's zone, and (email) the unsubscribe link. There is no placeholder for the
//! patient's name, the provider, the specialty or the reason for the visit, so no configuration
//! can put them into a message: a text or an email is read on a lock screen or by whoever shares
//! the inbox.

use jiff::Timestamp;
use jiff::tz::TimeZone;

use super::settings::TemplateOverride;
use super::{Channel, Kind, Language};
use crate::domain::words::{MONTH_NAMES, WEEKDAY_NAMES};

/// The placeholders a template may use.
const PLACEHOLDERS: &[&str] = &["clinic", "day", "time", "phone", "unsubscribe"];

/// A rendered message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// `booked.sms.en`, or the override's id (the same id: overrides replace by id).
    pub template_id: String,
    /// Email only.
    pub subject: Option<String>,
    pub body: String,
}

/// What fills the placeholders.
pub struct Fill<'a> {
    pub clinic: &'a str,
    pub phone: &'a str,
    pub start: Timestamp,
    pub time_zone: &'a TimeZone,
    pub unsubscribe_url: Option<&'a str>,
}

/// The template id for a message.
pub fn template_id(kind: Kind, channel: Channel, language: Language) -> String {
    format!("{}.{}.{}", kind.as_str(), channel.as_str(), language.as_str())
}

/// The built-in (subject, body) of a template.
fn builtin(kind: Kind, channel: Channel, language: Language) -> (Option<&'static str>, &'static str) {
    use {Channel::*, Kind::*, Language::*};
    match (channel, language, kind) {
        (Sms, En, Booked) => (
            None,
            "{clinic}: your appointment is booked for {day} at {time}. Reply C to confirm, R to reschedule. Questions: {phone}. Reply STOP to opt out.",
        ),
        (Sms, En, Rescheduled) => (
            None,
            "{clinic}: your appointment has moved to {day} at {time}. Reply C to confirm, R to reschedule. Questions: {phone}. Reply STOP to opt out.",
        ),
        (Sms, En, Cancelled) => (
            None,
            "{clinic}: your appointment on {day} at {time} is cancelled. To book again, call {phone}. Reply STOP to opt out.",
        ),
        (Sms, En, Reminder) => (
            None,
            "{clinic}: reminder of your appointment on {day} at {time}. Reply C to confirm, R to reschedule. Questions: {phone}. Reply STOP to opt out.",
        ),
        (Sms, Es, Booked) => (
            None,
            "{clinic}: su cita quedó reservada para el {day} a las {time}. Responda C para confirmar, R para cambiarla. Preguntas: {phone}. Responda STOP para no recibir mensajes.",
        ),
        (Sms, Es, Rescheduled) => (
            None,
            "{clinic}: su cita se cambió al {day} a las {time}. Responda C para confirmar, R para cambiarla. Preguntas: {phone}. Responda STOP para no recibir mensajes.",
        ),
        (Sms, Es, Cancelled) => (
            None,
            "{clinic}: su cita del {day} a las {time} quedó cancelada. Para una nueva cita llame al {phone}. Responda STOP para no recibir mensajes.",
        ),
        (Sms, Es, Reminder) => (
            None,
            "{clinic}: le recordamos su cita del {day} a las {time}. Responda C para confirmar, R para cambiarla. Preguntas: {phone}. Responda STOP para no recibir mensajes.",
        ),
        (Email, En, Booked) => (
            Some("{clinic}: appointment booked for {day}"),
            "Your appointment with {clinic} is booked for {day} at {time}.\n\nTo change or cancel it, call {phone}.\n\nTo stop these emails: {unsubscribe}\n",
        ),
        (Email, En, Rescheduled) => (
            Some("{clinic}: appointment moved to {day}"),
            "Your appointment with {clinic} has moved to {day} at {time}. The earlier time is released.\n\nTo change or cancel it, call {phone}.\n\nTo stop these emails: {unsubscribe}\n",
        ),
        (Email, En, Cancelled) => (
            Some("{clinic}: appointment cancelled"),
            "Your appointment with {clinic} on {day} at {time} is cancelled.\n\nTo book again, call {phone}.\n\nTo stop these emails: {unsubscribe}\n",
        ),
        (Email, En, Reminder) => (
            Some("{clinic}: reminder of your appointment on {day}"),
            "This is a reminder of your appointment with {clinic} on {day} at {time}.\n\nTo change or cancel it, call {phone}.\n\nTo stop these emails: {unsubscribe}\n",
        ),
        (Email, Es, Booked) => (
            Some("{clinic}: cita reservada para el {day}"),
            "Su cita con {clinic} quedó reservada para el {day} a las {time}.\n\nPara cambiarla o cancelarla, llame al {phone}.\n\nPara no recibir más correos: {unsubscribe}\n",
        ),
        (Email, Es, Rescheduled) => (
            Some("{clinic}: cita cambiada al {day}"),
            "Su cita con {clinic} se cambió al {day} a las {time}. La hora anterior quedó libre.\n\nPara cambiarla o cancelarla, llame al {phone}.\n\nPara no recibir más correos: {unsubscribe}\n",
        ),
        (Email, Es, Cancelled) => (
            Some("{clinic}: cita cancelada"),
            "Su cita con {clinic} del {day} a las {time} quedó cancelada.\n\nPara una nueva cita, llame al {phone}.\n\nPara no recibir más correos: {unsubscribe}\n",
        ),
        (Email, Es, Reminder) => (
            Some("{clinic}: recordatorio de su cita del {day}"),
            "Le recordamos su cita con {clinic} el {day} a las {time}.\n\nPara cambiarla o cancelarla, llame al {phone}.\n\nPara no recibir más correos: {unsubscribe}\n",
        ),
    }
}

/// The placeholders used in `text`, or the first malformed/unknown one.
fn placeholders(text: &str) -> Result<Vec<&str>, String> {
    let mut used = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        let close = after
            .find('}')
            .ok_or_else(|| "an unclosed `{` in a template".to_owned())?;
        let name = &after[..close];
        if !PLACEHOLDERS.contains(&name) {
            return Err(format!(
                "unknown placeholder {{{name}}}; templates may use only {{clinic}}, {{day}}, {{time}}, {{phone}}, {{unsubscribe}}"
            ));
        }
        used.push(name);
        rest = &after[close + 1..];
    }
    if rest.contains('}') {
        return Err("a stray `}` in a template".to_owned());
    }
    Ok(used)
}

/// Parse a template id into its parts.
fn parse_id(id: &str) -> Option<(Kind, Channel, Language)> {
    let mut parts = id.split('.');
    let kind = Kind::parse(parts.next()?)?;
    let channel = Channel::parse(parts.next()?)?;
    let language = Language::parse(parts.next()?)?;
    parts.next().is_none().then_some((kind, channel, language))
}

/// A clinic's replacement template is acceptable (checked at start-up).
///
/// # Errors
/// Why not, naming the template id (never its text).
pub fn check_override(t: &TemplateOverride) -> Result<(), String> {
    let id = &t.id;
    let (_, channel, _) = parse_id(id)
        .ok_or_else(|| format!("`{id}` is not a template id (kind.channel.language, e.g. reminder.sms.en)"))?;
    let body = placeholders(&t.body).map_err(|e| format!("`{id}`: {e}"))?;
    if t.body.trim().is_empty() {
        return Err(format!("`{id}`: the body is empty"));
    }
    match (channel, &t.subject) {
        (Channel::Sms, Some(_)) => return Err(format!("`{id}`: an SMS has no subject")),
        (Channel::Sms, None) if body.contains(&"unsubscribe") => {
            return Err(format!("`{id}`: SMS opt-out is by replying STOP, not a link"));
        }
        (Channel::Email, None) => return Err(format!("`{id}`: an email needs a subject")),
        (Channel::Email, Some(subject)) => {
            let used = placeholders(subject).map_err(|e| format!("`{id}` subject: {e}"))?;
            if used.contains(&"unsubscribe") {
                return Err(format!("`{id}`: the unsubscribe link belongs in the body"));
            }
            if !body.contains(&"unsubscribe") {
                return Err(format!("`{id}`: an email body must carry {{unsubscribe}}"));
            }
        }
        (Channel::Sms, None) => {}
    }
    Ok(())
}

/// The clinic's templates: built-in ones with any overrides applied.
#[derive(Debug, Clone, Default)]
pub struct Templates {
    overrides: Vec<TemplateOverride>,
}

impl Templates {
    /// Overrides must have passed [`check_override`].
    pub fn new(overrides: Vec<TemplateOverride>) -> Templates {
        Templates { overrides }
    }

    /// Render one message.
    pub fn render(&self, kind: Kind, channel: Channel, language: Language, fill: &Fill<'_>) -> Rendered {
        let id = template_id(kind, channel, language);
        let (subject, body) = match self.overrides.iter().find(|t| t.id == id) {
            Some(t) => (t.subject.clone(), t.body.clone()),
            None => {
                let (s, b) = builtin(kind, channel, language);
                (s.map(str::to_owned), b.to_owned())
            }
        };
        let (day, time) = day_and_time(fill.start, fill.time_zone, language);
        let substitute = |text: &str| {
            text.replace("{clinic}", fill.clinic)
                .replace("{day}", &day)
                .replace("{time}", &time)
                .replace("{phone}", fill.phone)
                .replace("{unsubscribe}", fill.unsubscribe_url.unwrap_or(""))
        };
        Rendered {
            template_id: id,
            subject: subject.as_deref().map(substitute),
            body: substitute(&body),
        }
    }
}

const DAYS_ES: [&str; 7] = ["lunes", "martes", "miércoles", "jueves", "viernes", "sábado", "domingo"];
const MONTHS_ES: [&str; 12] = [
    "enero",
    "febrero",
    "marzo",
    "abril",
    "mayo",
    "junio",
    "julio",
    "agosto",
    "septiembre",
    "octubre",
    "noviembre",
    "diciembre",
];

/// "Tuesday, December 8" / "2:30 PM" (English), "martes 8 de diciembre" / "14:30" (Spanish), in
/// the clinic's zone.
pub fn day_and_time(start: Timestamp, tz: &TimeZone, language: Language) -> (String, String) {
    let local = start.to_zoned_datetime(tz.clone());
    let weekday = usize::try_from(local.weekday().to_monday_zero_offset()).unwrap_or(0) % 7;
    let month = usize::try_from(local.month() - 1).unwrap_or(0) % 12;
    let (day, hour, minute) = (local.day(), local.hour(), local.minute());
    match language {
        Language::En => {
            let (h12, half) = match hour {
                0 => (12, "AM"),
                1..=11 => (hour, "AM"),
                12 => (12, "PM"),
                _ => (hour - 12, "PM"),
            };
            (
                format!("{}, {} {day}", WEEKDAY_NAMES[weekday], MONTH_NAMES[month]),
                format!("{h12}:{minute:02} {half}"),
            )
        }
        Language::Es => (
            format!("{} {day} de {}", DAYS_ES[weekday], MONTHS_ES[month]),
            format!("{hour}:{minute:02}"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fill(tz: &TimeZone) -> Fill<'_> {
        Fill {
            clinic: "Demo Family Clinic",
            phone: "+1 555 010 0000",
            // 2026-12-08T19:30:00Z = 2:30 PM in New York.
            start: "2026-12-08T19:30:00Z".parse().unwrap(),
            time_zone: tz,
            unsubscribe_url: Some("https://clinic.example/notify/unsubscribe?t=abc"),
        }
    }

    #[test]
    fn every_builtin_template_renders_in_the_clinic_zone_without_leftover_placeholders() {
        let tz = TimeZone::get("America/New_York").unwrap();
        let t = Templates::default();
        for kind in [Kind::Booked, Kind::Rescheduled, Kind::Cancelled, Kind::Reminder] {
            for channel in [Channel::Sms, Channel::Email] {
                for language in [Language::En, Language::Es] {
                    let r = t.render(kind, channel, language, &fill(&tz));
                    let all = format!("{} {}", r.subject.clone().unwrap_or_default(), r.body);
                    assert!(!all.contains('{') && !all.contains('}'), "{}: {all}", r.template_id);
                    assert!(all.contains("Demo Family Clinic"), "{all}");
                    let time = if language == Language::En { "2:30 PM" } else { "14:30" };
                    assert!(all.contains(time), "{}: {all}", r.template_id);
                    assert_eq!(r.subject.is_some(), channel == Channel::Email);
                    if channel == Channel::Email {
                        assert!(r.body.contains("unsubscribe?t=abc"), "{}", r.template_id);
                    } else {
                        assert!(r.body.contains("STOP"), "{}", r.template_id);
                    }
                    placeholders(builtin(kind, channel, language).1).unwrap();
                }
            }
        }
    }

    #[test]
    fn days_and_times_follow_the_language_and_zone() {
        let ny = TimeZone::get("America/New_York").unwrap();
        let start: Timestamp = "2026-12-08T14:05:00Z".parse().unwrap();
        assert_eq!(
            day_and_time(start, &ny, Language::En),
            ("Tuesday, December 8".into(), "9:05 AM".into())
        );
        assert_eq!(
            day_and_time(start, &ny, Language::Es),
            ("martes 8 de diciembre".into(), "9:05".into())
        );
        // Midnight and noon in 12-hour English.
        let midnight: Timestamp = "2026-12-09T05:00:00Z".parse().unwrap();
        assert_eq!(day_and_time(midnight, &ny, Language::En).1, "12:00 AM");
        let noon: Timestamp = "2026-12-08T17:00:00Z".parse().unwrap();
        assert_eq!(day_and_time(noon, &ny, Language::En).1, "12:00 PM");
        // The same instant is another day in another zone.
        let la = TimeZone::get("America/Los_Angeles").unwrap();
        assert_eq!(day_and_time(midnight, &la, Language::En).0, "Tuesday, December 8");
    }

    #[test]
    fn overrides_replace_by_id_and_cannot_reach_beyond_the_placeholders() {
        let ok = TemplateOverride {
            id: "reminder.sms.en".into(),
            subject: None,
            body: "{clinic}: see you {day} {time}. {phone}".into(),
        };
        check_override(&ok).unwrap();
        let tz = TimeZone::get("America/New_York").unwrap();
        let r = Templates::new(vec![ok]).render(Kind::Reminder, Channel::Sms, Language::En, &fill(&tz));
        assert_eq!(
            r.body,
            "Demo Family Clinic: see you Tuesday, December 8 2:30 PM. +1 555 010 0000"
        );
        assert_eq!(r.template_id, "reminder.sms.en");

        let bad = |id: &str, subject: Option<&str>, body: &str| {
            check_override(&TemplateOverride {
                id: id.into(),
                subject: subject.map(Into::into),
                body: body.into(),
            })
            .unwrap_err()
        };
        assert!(bad("reminder.sms.en", None, "Hi {patient_name}").contains("unknown placeholder"));
        assert!(bad("reminder.sms.en", None, "Dr {provider}").contains("unknown placeholder"));
        assert!(bad("reminder.sms.en", None, "oops {clinic").contains("unclosed"));
        assert!(bad("reminder.sms.en", Some("x"), "{clinic}").contains("no subject"));
        assert!(bad("reminder.email.en", None, "{unsubscribe}").contains("needs a subject"));
        assert!(bad("reminder.email.en", Some("{clinic}"), "{day}").contains("must carry"));
        assert!(bad("reminder.fax.en", None, "{day}").contains("not a template id"));
        assert!(bad("reminder.sms.fr", None, "{day}").contains("not a template id"));
        assert!(bad("reminder.sms.en", None, "   ").contains("empty"));
    }
}
