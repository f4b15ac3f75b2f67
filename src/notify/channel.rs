//! The two channels behind one [`Notifier`] trait: email over SMTP (lettre) and SMS through
//! Twilio's Messaging REST API.
//!
//! Each error is classified once, here: [`SendError::Transient`] (the peer may take it later: a
//! refused connection, a timeout, SMTP 4xx, HTTP 429/5xx) or [`SendError::Permanent`] (it never
//! will: SMTP 5xx, a Twilio 4xx such as an invalid number). Reasons are fixed codes plus numeric
//! status codes, never a peer's text (it may quote the address).

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request};
use lettre::message::header::{ContentType, Header, HeaderName};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::ExposeSecret;

use super::Channel;
use super::settings::{EmailSettings, SmsSettings, SmtpTls};
use crate::config::Settings;

/// One message ready to go. The address and the text are PHI-adjacent: `Debug` hides them.
pub struct Outgoing<'a> {
    /// The idempotency key: the email's Message-ID is derived from it.
    pub notification_id: &'a str,
    pub to: &'a str,
    pub subject: Option<&'a str>,
    pub body: &'a str,
    /// Email: the one-click unsubscribe URL (`List-Unsubscribe`).
    pub unsubscribe_url: Option<&'a str>,
}

impl std::fmt::Debug for Outgoing<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outgoing")
            .field("notification_id", &self.notification_id)
            .finish_non_exhaustive()
    }
}

/// The carrier took the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    /// Twilio's `SM...` sid (status callbacks name it); None for SMTP.
    pub provider_message_id: Option<String>,
}

/// Why a message did not go out; the reason is a PHI-free code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// Retry later.
    #[error("transient: {0}")]
    Transient(String),
    /// Retrying cannot help.
    #[error("permanent: {0}")]
    Permanent(String),
}

/// A channel.
pub trait Notifier {
    fn channel(&self) -> Channel;
    fn send(&self, message: &Outgoing<'_>) -> impl Future<Output = Result<Accepted, SendError>> + Send;
}

/// Why a channel could not be set up at start-up (not retryable: fix the configuration).
#[derive(Debug, thiserror::Error)]
pub enum ChannelError {
    #[error("notifications.email.ca_file could not be read")]
    CaFile(#[source] std::io::Error),
    #[error("notifications.email: TLS set-up failed")]
    Tls(#[source] lettre::transport::smtp::Error),
    #[error("notifications.email.from is not an address")]
    From,
    #[error("notifications.sms: {0}")]
    Sms(&'static str),
    #[error(transparent)]
    Client(#[from] crate::outbound::ClientError),
}

/// `List-Unsubscribe` (RFC 2369), with `List-Unsubscribe-Post` (RFC 8058) for one-click.
#[derive(Debug, Clone)]
struct ListUnsubscribe(String);

impl Header for ListUnsubscribe {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("List-Unsubscribe")
    }
    fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(ListUnsubscribe(s.to_owned()))
    }
    fn display(&self) -> lettre::message::header::HeaderValue {
        lettre::message::header::HeaderValue::new(Self::name(), self.0.clone())
    }
}

#[derive(Debug, Clone)]
struct ListUnsubscribePost;

impl Header for ListUnsubscribePost {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("List-Unsubscribe-Post")
    }
    fn parse(_: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(ListUnsubscribePost)
    }
    fn display(&self) -> lettre::message::header::HeaderValue {
        lettre::message::header::HeaderValue::new(Self::name(), "List-Unsubscribe=One-Click".to_owned())
    }
}

/// Email over SMTP submission.
#[derive(Clone)]
pub struct EmailNotifier {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: lettre::message::Mailbox,
    /// The domain of the Message-IDs we mint (the From address's).
    domain: String,
}

impl EmailNotifier {
    /// # Errors
    /// An unreadable CA file or a TLS set-up lettre refuses.
    pub fn connect(s: &EmailSettings) -> Result<EmailNotifier, ChannelError> {
        let from: lettre::message::Mailbox = s.from.parse().map_err(|_| ChannelError::From)?;
        let domain = from.email.domain().to_owned();
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(s.host.as_str())
            .port(s.port)
            .timeout(Some(Duration::from_secs(s.timeout_secs)));
        let tls_params = || -> Result<TlsParameters, ChannelError> {
            let mut params = TlsParameters::builder(s.host.clone());
            if let Some(path) = &s.ca_file {
                let pem = std::fs::read(path).map_err(ChannelError::CaFile)?;
                params = params.add_root_certificate(Certificate::from_pem(&pem).map_err(ChannelError::Tls)?);
            }
            params.build_rustls().map_err(ChannelError::Tls)
        };
        builder = match s.tls {
            SmtpTls::Starttls => builder.tls(Tls::Required(tls_params()?)),
            SmtpTls::Tls => builder.tls(Tls::Wrapper(tls_params()?)),
            SmtpTls::None => builder.tls(Tls::None),
        };
        if let (Some(user), Some(password)) = (&s.username, &s.password) {
            builder = builder.credentials(Credentials::new(
                user.clone(),
                password.secret.expose_secret().to_owned(),
            ));
        }
        Ok(EmailNotifier {
            transport: builder.build(),
            from,
            domain,
        })
    }

    fn message(&self, m: &Outgoing<'_>) -> Result<Message, SendError> {
        let to: lettre::message::Mailbox =
            m.to.parse()
                .map_err(|_| SendError::Permanent("invalid_address".into()))?;
        // The same notification always carries the same Message-ID, so a resend after a crash
        // is recognisably the same message to the receiving side.
        let id_part: String = m
            .notification_id
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '.' })
            .collect();
        let mut builder = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(m.subject.unwrap_or_default())
            .message_id(Some(format!("<{id_part}@{}>", self.domain)))
            .header(ContentType::TEXT_PLAIN);
        if let Some(url) = m.unsubscribe_url {
            builder = builder
                .header(ListUnsubscribe(format!("<{url}>")))
                .header(ListUnsubscribePost);
        }
        builder
            .body(m.body.to_owned())
            .map_err(|_| SendError::Permanent("message_build".into()))
    }
}

impl Notifier for EmailNotifier {
    fn channel(&self) -> Channel {
        Channel::Email
    }

    async fn send(&self, m: &Outgoing<'_>) -> Result<Accepted, SendError> {
        let message = self.message(m)?;
        match self.transport.send(message).await {
            Ok(_) => Ok(Accepted {
                provider_message_id: None,
            }),
            Err(e) => Err(classify_smtp(&e)),
        }
    }
}

fn classify_smtp(e: &lettre::transport::smtp::Error) -> SendError {
    let code = e.status().map(|c| c.to_string());
    if e.is_permanent() {
        SendError::Permanent(format!("smtp_{}", code.as_deref().unwrap_or("5xx")))
    } else if e.is_transient() {
        SendError::Transient(format!("smtp_{}", code.as_deref().unwrap_or("4xx")))
    } else if e.is_timeout() {
        SendError::Transient("smtp_timeout".into())
    } else if e.is_tls() {
        SendError::Transient("smtp_tls".into())
    } else {
        SendError::Transient("smtp_unreachable".into())
    }
}

/// SMS through Twilio's Messaging API (`POST /2010-04-01/Accounts/{sid}/Messages.json`).
#[derive(Clone)]
pub struct SmsNotifier {
    client: crate::outbound::HttpsClient,
    url: String,
    authorization: HeaderValue,
    sender: (&'static str, String),
    status_callback: String,
    timeout: Duration,
}

impl SmsNotifier {
    /// # Errors
    /// Missing Twilio credentials, or no HTTPS client.
    pub fn connect(settings: &Settings, s: &SmsSettings) -> Result<SmsNotifier, ChannelError> {
        let sid = settings
            .twilio
            .account_sid
            .clone()
            .ok_or(ChannelError::Sms("twilio.account_sid is required"))?;
        let token = settings
            .twilio
            .auth_token
            .as_ref()
            .ok_or(ChannelError::Sms("twilio.auth_token is required"))?;
        let base = url::Url::parse(&s.api_base).map_err(|_| ChannelError::Sms("api_base is not a URL"))?;
        let client = crate::outbound::client_for(base.scheme())?;
        use base64::Engine as _;
        let basic = base64::engine::general_purpose::STANDARD.encode(format!("{sid}:{}", token.secret.expose_secret()));
        let mut authorization =
            HeaderValue::from_str(&format!("Basic {basic}")).map_err(|_| ChannelError::Sms("invalid credentials"))?;
        authorization.set_sensitive(true);
        let sender = match (&s.from, &s.messaging_service_sid) {
            (_, Some(mg)) => ("MessagingServiceSid", mg.clone()),
            (Some(from), None) => ("From", from.clone()),
            (None, None) => return Err(ChannelError::Sms("set from or messaging_service_sid")),
        };
        Ok(SmsNotifier {
            client,
            url: format!(
                "{}/2010-04-01/Accounts/{sid}/Messages.json",
                s.api_base.trim_end_matches('/')
            ),
            authorization,
            sender,
            status_callback: format!("{}{}", settings.public_base(), crate::notify::SMS_STATUS_PATH),
            timeout: Duration::from_secs(s.timeout_secs),
        })
    }
}

/// Twilio's answer to a create: the sid (and status) on success, `code` on an error.
#[derive(serde::Deserialize)]
struct TwilioAnswer {
    sid: Option<String>,
    code: Option<i64>,
}

impl Notifier for SmsNotifier {
    fn channel(&self) -> Channel {
        Channel::Sms
    }

    async fn send(&self, m: &Outgoing<'_>) -> Result<Accepted, SendError> {
        let form = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("To", m.to)
            .append_pair(self.sender.0, &self.sender.1)
            .append_pair("Body", m.body)
            .append_pair("StatusCallback", &self.status_callback)
            .finish();
        let request = Request::builder()
            .method(Method::POST)
            .uri(&self.url)
            .header(AUTHORIZATION, self.authorization.clone())
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header("accept", "application/json")
            .body(Full::new(Bytes::from(form)))
            .map_err(|_| SendError::Permanent("request_build".into()))?;
        let exchange = async {
            let response = self
                .client
                .request(request)
                .await
                .map_err(|_| SendError::Transient("twilio_unreachable".into()))?;
            let status = response.status();
            let body = response
                .into_body()
                .collect()
                .await
                .map_err(|_| SendError::Transient("twilio_read".into()))?
                .to_bytes();
            Ok::<_, SendError>((status, body))
        };
        let (status, body) = tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| SendError::Transient("twilio_timeout".into()))??;
        let answer: Option<TwilioAnswer> = serde_json::from_slice(&body).ok();
        let code = answer
            .as_ref()
            .and_then(|a| a.code)
            .map(|c| format!("_{c}"))
            .unwrap_or_default();
        if status.is_success() {
            return match answer.and_then(|a| a.sid).filter(|s| !s.is_empty()) {
                Some(sid) => Ok(Accepted {
                    provider_message_id: Some(sid),
                }),
                // Taken, but we cannot track it: count it sent rather than send it twice.
                None => Ok(Accepted {
                    provider_message_id: None,
                }),
            };
        }
        let http = status.as_u16();
        if http == 429 || status.is_server_error() {
            Err(SendError::Transient(format!("twilio_{http}{code}")))
        } else {
            Err(SendError::Permanent(format!("twilio_{http}{code}")))
        }
    }
}

/// The channels that are on.
#[derive(Clone, Default)]
pub struct Senders {
    pub email: Option<EmailNotifier>,
    pub sms: Option<SmsNotifier>,
}

impl Senders {
    /// # Errors
    /// A channel that cannot be set up.
    pub fn from_settings(settings: &Settings) -> Result<Senders, ChannelError> {
        let n = &settings.notifications;
        Ok(Senders {
            email: n.email.as_ref().map(EmailNotifier::connect).transpose()?,
            sms: n.sms.as_ref().map(|s| SmsNotifier::connect(settings, s)).transpose()?,
        })
    }

    pub async fn send(&self, channel: Channel, m: &Outgoing<'_>) -> Result<Accepted, SendError> {
        match channel {
            Channel::Email => match &self.email {
                Some(e) => e.send(m).await,
                None => Err(SendError::Permanent("channel_off".into())),
            },
            Channel::Sms => match &self.sms {
                Some(s) => s.send(m).await,
                None => Err(SendError::Permanent("channel_off".into())),
            },
        }
    }
}
