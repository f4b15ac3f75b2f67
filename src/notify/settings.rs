//! `notifications:` in the configuration: what the clinic sends, over which channels, when.
//!
//! Both channels are off (`null`) in the embedded defaults: a newcomer's server never tries to
//! reach a mail server or Twilio. Turning one on is configuration alone (README, "Confirmations
//! and reminders").

use std::path::PathBuf;

use serde::Deserialize;

use crate::config::KeyedSecret;

/// The whole `notifications` section.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifySettings {
    /// How messages name the clinic ("Demo Family Clinic").
    pub clinic_name: String,
    /// The number patients call back, written into every message.
    pub clinic_phone: String,
    /// Reminders, in minutes before the appointment (24 h and 2 h by default). Empty = none.
    pub reminder_offsets_min: Vec<u32>,
    /// How often the worker looks for due messages when nothing woke it.
    pub poll_interval_ms: u64,
    /// Most messages one worker claims at a time.
    pub batch_size: u32,
    /// How long a claim lasts: another replica takes a row over only after this, so it must exceed
    /// the channels' send timeouts.
    pub claim_secs: u64,
    /// Attempts before a message is marked failed.
    pub max_attempts: u32,
    /// First retry delay; doubled per attempt up to `retry_max_secs`.
    pub retry_base_secs: u64,
    pub retry_max_secs: u64,
    /// FHIR only: how often to look for appointments changed in the EHR itself (0 = never).
    pub ehr_feed_secs: u64,
    /// Email over SMTP; null = off.
    pub email: Option<EmailSettings>,
    /// SMS through Twilio's Messaging API (account and token from `twilio`); null = off.
    pub sms: Option<SmsSettings>,
    /// Replacements for built-in templates, by id (`booked.sms.en`, `reminder.email.es`, ...).
    pub templates: Vec<TemplateOverride>,
}

/// How the SMTP connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SmtpTls {
    /// Submission with STARTTLS, required (port 587): the default.
    Starttls,
    /// Implicit TLS (port 465).
    Tls,
    /// Plain text: only for a relay on loopback (refused elsewhere by `validate`).
    None,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailSettings {
    pub host: String,
    #[serde(default = "default_smtp_port")]
    pub port: u16,
    #[serde(default = "default_tls")]
    pub tls: SmtpTls,
    pub username: Option<String>,
    pub password: Option<KeyedSecret>,
    /// `From:` ("Demo Family Clinic <appointments@clinic.example>").
    pub from: String,
    /// A PEM file of extra roots to trust (a private relay's CA).
    pub ca_file: Option<PathBuf>,
    #[serde(default = "default_timeout_secs")]
    pub timeout_secs: u64,
}

fn default_smtp_port() -> u16 {
    587
}

fn default_tls() -> SmtpTls {
    SmtpTls::Starttls
}

fn default_timeout_secs() -> u64 {
    10
}

fn default_api_base() -> String {
    "https://api.twilio.com".into()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmsSettings {
    /// Twilio's REST API base (a test peer on loopback in tests).
    #[serde(default = "default_api_base")]
    pub api_base: String,
    /// The sending number (E.164), or null with `messaging_service_sid`.
    pub from: Option<String>,
    pub messaging_service_sid: Option<String>,
    #[serde(default = "default_timeout_secs")]
    pub timeout_secs: u64,
}

/// One template replaced by the clinic. Email templates have a subject; SMS ones must not.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateOverride {
    pub id: String,
    pub subject: Option<String>,
    pub body: String,
}

/// Why the section is not acceptable: the key and a reason (no values that could be secret).
#[derive(Debug, thiserror::Error)]
#[error("{key}: {why}")]
pub struct NotifySettingsError {
    pub key: &'static str,
    pub why: String,
}

fn invalid(key: &'static str, why: impl Into<String>) -> Result<(), NotifySettingsError> {
    Err(NotifySettingsError { key, why: why.into() })
}

/// Longest reminder offset accepted: a month.
const MAX_OFFSET_MIN: u32 = 31 * 24 * 60;

impl NotifySettings {
    /// At least one channel is on.
    pub fn any_channel(&self) -> bool {
        self.email.is_some() || self.sms.is_some()
    }

    /// Checks that serde cannot express. `twilio_ready` = an account SID and auth token are set.
    ///
    /// # Errors
    /// The first bad key.
    pub fn validate(&self, twilio_ready: bool) -> Result<(), NotifySettingsError> {
        if self.clinic_name.trim().is_empty() {
            return invalid("notifications.clinic_name", "must not be empty");
        }
        if crate::domain::PhoneNumber::parse(&self.clinic_phone).is_err() {
            return invalid("notifications.clinic_phone", "must be a phone number");
        }
        let mut offsets = self.reminder_offsets_min.clone();
        offsets.sort_unstable();
        offsets.dedup();
        if offsets.len() != self.reminder_offsets_min.len() {
            return invalid("notifications.reminder_offsets_min", "offsets must be distinct");
        }
        if offsets.iter().any(|&m| m == 0 || m > MAX_OFFSET_MIN) {
            return invalid(
                "notifications.reminder_offsets_min",
                "each offset must be between 1 minute and 31 days",
            );
        }
        if self.poll_interval_ms == 0 || self.batch_size == 0 || self.max_attempts == 0 {
            return invalid(
                "notifications",
                "poll_interval_ms, batch_size and max_attempts must be positive",
            );
        }
        if self.retry_base_secs == 0 || self.retry_max_secs < self.retry_base_secs {
            return invalid(
                "notifications.retry_base_secs",
                "must be positive and at most retry_max_secs",
            );
        }
        if let Some(email) = &self.email {
            if email.host.trim().is_empty() || email.port == 0 {
                return invalid("notifications.email.host", "a host and port are required");
            }
            if email.from.parse::<lettre::message::Mailbox>().is_err() {
                return invalid("notifications.email.from", "must be an address, optionally with a name");
            }
            let loopback = matches!(email.host.as_str(), "localhost" | "127.0.0.1" | "::1");
            if email.tls == SmtpTls::None && !loopback {
                return invalid(
                    "notifications.email.tls",
                    "plain SMTP is allowed only to a relay on loopback",
                );
            }
            if email.username.is_some() != email.password.is_some() {
                return invalid("notifications.email.username", "username and password go together");
            }
            let claim = self.claim_secs;
            if email.timeout_secs == 0 || email.timeout_secs >= claim {
                return invalid(
                    "notifications.email.timeout_secs",
                    "must be positive and shorter than claim_secs",
                );
            }
        }
        if let Some(sms) = &self.sms {
            if !twilio_ready {
                return invalid("notifications.sms", "needs twilio.account_sid and twilio.auth_token");
            }
            if url::Url::parse(&sms.api_base).is_err() {
                return invalid("notifications.sms.api_base", "must be a URL");
            }
            match (&sms.from, &sms.messaging_service_sid) {
                (Some(from), None) if crate::domain::PhoneNumber::parse(from).is_ok() => {}
                (None, Some(sid)) if sid.starts_with("MG") => {}
                _ => {
                    return invalid(
                        "notifications.sms.from",
                        "set exactly one of `from` (a phone number) and `messaging_service_sid` (MG...)",
                    );
                }
            }
            if sms.timeout_secs == 0 || sms.timeout_secs >= self.claim_secs {
                return invalid(
                    "notifications.sms.timeout_secs",
                    "must be positive and shorter than claim_secs",
                );
            }
        }
        for t in &self.templates {
            super::template::check_override(t).map_err(|why| NotifySettingsError {
                key: "notifications.templates",
                why,
            })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> NotifySettings {
        crate::config::Settings::embedded().unwrap().notifications
    }

    fn email() -> EmailSettings {
        EmailSettings {
            host: "smtp.clinic.example".into(),
            port: 587,
            tls: SmtpTls::Starttls,
            username: None,
            password: None,
            from: "Clinic <appointments@clinic.example>".into(),
            ca_file: None,
            timeout_secs: 10,
        }
    }

    fn key(s: &NotifySettings, twilio: bool) -> Option<&'static str> {
        s.validate(twilio).err().map(|e| e.key)
    }

    #[test]
    fn the_embedded_defaults_are_valid_and_send_nothing() {
        let s = base();
        assert_eq!(key(&s, false), None);
        assert!(!s.any_channel());
        assert_eq!(s.reminder_offsets_min, [1440, 120]);
    }

    #[test]
    fn bad_values_are_refused_by_key() {
        let mut s = base();
        s.reminder_offsets_min = vec![120, 120];
        assert_eq!(key(&s, false), Some("notifications.reminder_offsets_min"));
        s.reminder_offsets_min = vec![0];
        assert_eq!(key(&s, false), Some("notifications.reminder_offsets_min"));
        let mut s = base();
        s.clinic_phone = "call us".into();
        assert_eq!(key(&s, false), Some("notifications.clinic_phone"));

        let mut s = base();
        s.email = Some(EmailSettings {
            tls: SmtpTls::None,
            ..email()
        });
        assert_eq!(
            key(&s, false),
            Some("notifications.email.tls"),
            "plain SMTP off loopback"
        );
        s.email = Some(EmailSettings {
            tls: SmtpTls::None,
            host: "127.0.0.1".into(),
            ..email()
        });
        assert_eq!(key(&s, false), None, "plain SMTP to a loopback relay");
        s.email = Some(EmailSettings {
            from: "not an address".into(),
            ..email()
        });
        assert_eq!(key(&s, false), Some("notifications.email.from"));
        s.email = Some(EmailSettings {
            timeout_secs: 60,
            ..email()
        });
        assert_eq!(
            key(&s, false),
            Some("notifications.email.timeout_secs"),
            "must be under the claim"
        );

        let mut s = base();
        s.sms = Some(SmsSettings {
            api_base: default_api_base(),
            from: Some("+15550109999".into()),
            messaging_service_sid: None,
            timeout_secs: 10,
        });
        assert_eq!(key(&s, false), Some("notifications.sms"), "needs Twilio credentials");
        assert_eq!(key(&s, true), None);
        s.sms = Some(SmsSettings {
            api_base: default_api_base(),
            from: Some("+15550109999".into()),
            messaging_service_sid: Some("MG123".into()),
            timeout_secs: 10,
        });
        assert_eq!(key(&s, true), Some("notifications.sms.from"), "exactly one sender");

        let mut s = base();
        s.templates = vec![TemplateOverride {
            id: "reminder.sms.en".into(),
            subject: None,
            body: "Hi {first_name}".into(),
        }];
        let e = s.validate(false).unwrap_err();
        assert_eq!(e.key, "notifications.templates");
        assert!(e.why.contains("unknown placeholder"), "{e}");
    }
}
