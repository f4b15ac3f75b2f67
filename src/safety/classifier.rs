//! The optional second opinion on a final caller transcript: one chat-completions request to an
//! OpenAI-compatible endpoint with a fixed prompt and a strict JSON schema.
//!
//! It exists to *add* flags the deterministic detector misses, never to remove one: the session
//! runs it beside the detector, acts on the detector at once, and acts on this only if it names an
//! emergency the detector did not. An answer later than `safety.classifier.timeout_ms`, a refusal,
//! a malformed answer or an unreachable endpoint is the same as "nothing to add" (logged by kind,
//! never with the transcript or the body).
//!
//! The transcript leaves the server: configure an endpoint covered by the clinic's BAA.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request, StatusCode};
use serde_json::{Value, json};

use crate::config::{ClassifierSettings, KeyedSecret};
use crate::safety::red_flag::{Category, Script};

/// Largest answer read (an answer is a few hundred bytes; a misbehaving peer is not read whole).
const MAX_RESPONSE_BYTES: usize = 64 * 1024;

/// The fixed instructions. The categories are listed so the answer maps onto ours.
const SYSTEM_PROMPT: &str = "You screen one line a caller said to a medical clinic's phone line. Decide only \
    whether the caller describes, for themselves or someone with them, a medical emergency happening now \
    (EMERGENCY_911), suicidal thoughts, self-harm or intent to harm others (CRISIS_988), or neither (NONE). \
    Denied, past, hypothetical or family-history symptoms are NONE. Idioms are NONE. Answer with the JSON \
    object only: the label and the closest category id.";

/// Why a classification gave nothing. Every kind is treated as "nothing to add".
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ClassifierError {
    /// No answer within the timeout (retryable next transcript).
    #[error("classifier timed out")]
    Timeout,
    /// The endpoint could not be reached (retryable).
    #[error("classifier unreachable")]
    Unreachable,
    /// A non-200 status (429 and 5xx are retryable; 4xx means the configuration is wrong).
    #[error("classifier answered HTTP {0}")]
    Status(u16),
    /// The answer did not follow the schema.
    #[error("classifier answer malformed")]
    Malformed,
    /// The configuration cannot make a request (bad URL, key not a header value).
    #[error("classifier misconfigured")]
    Config,
}

impl ClassifierError {
    /// Metric label.
    pub fn kind(self) -> &'static str {
        match self {
            ClassifierError::Timeout => "timeout",
            ClassifierError::Unreachable => "unreachable",
            ClassifierError::Status(_) => "status",
            ClassifierError::Malformed => "malformed",
            ClassifierError::Config => "config",
        }
    }
}

/// A configured classifier endpoint.
#[derive(Clone)]
pub struct Classifier {
    client: crate::outbound::HttpsClient,
    uri: hyper::Uri,
    model: String,
    key: Option<KeyedSecret>,
    timeout: Duration,
    /// Per call, at most this many requests in flight.
    pub max_in_flight: usize,
}

impl std::fmt::Debug for Classifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Classifier")
            .field("uri", &self.uri)
            .field("model", &self.model)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl Classifier {
    /// The classifier `settings` describe, or None when it is off. `fallback_key` (the realtime
    /// key) is used when the classifier has no key of its own.
    ///
    /// # Errors
    /// [`ClassifierError::Config`] for a URL that is not http(s) or a machine without TLS roots.
    pub fn from_settings(
        settings: &ClassifierSettings,
        fallback_key: Option<&KeyedSecret>,
    ) -> Result<Option<Classifier>, ClassifierError> {
        if !settings.enabled {
            return Ok(None);
        }
        let url = settings
            .url
            .as_deref()
            .and_then(|u| url::Url::parse(u).ok())
            .ok_or(ClassifierError::Config)?;
        let client = crate::outbound::client_for(url.scheme()).map_err(|_| ClassifierError::Config)?;
        Ok(Some(Classifier {
            client,
            uri: url.as_str().parse().map_err(|_| ClassifierError::Config)?,
            model: settings.model.clone(),
            key: settings.api_key.clone().or_else(|| fallback_key.cloned()),
            timeout: Duration::from_millis(settings.timeout_ms),
            max_in_flight: settings.max_in_flight,
        }))
    }

    /// The request body for one transcript.
    fn body(&self, transcript: &str) -> Value {
        let categories: Vec<&str> = Category::ALL.iter().map(|c| c.id()).collect();
        json!({
            "model": self.model,
            "temperature": 0,
            "max_tokens": 40,
            "messages": [
                {"role": "system", "content": SYSTEM_PROMPT},
                {"role": "user", "content": transcript},
            ],
            "response_format": {
                "type": "json_schema",
                "json_schema": {
                    "name": "red_flag",
                    "strict": true,
                    "schema": {
                        "type": "object",
                        "properties": {
                            "label": {"type": "string", "enum": ["EMERGENCY_911", "CRISIS_988", "NONE"]},
                            "category": {"type": "string", "enum": categories},
                        },
                        "required": ["label", "category"],
                        "additionalProperties": false,
                    },
                },
            },
        })
    }

    /// Classify one transcript: `Some(category)` when the endpoint names an emergency.
    ///
    /// # Errors
    /// See [`ClassifierError`]; the caller treats every error as "nothing to add".
    ///
    /// # Cancel safety
    /// Dropping the future abandons the request; nothing is left half-done on our side.
    pub async fn classify(&self, transcript: &str) -> Result<Option<Category>, ClassifierError> {
        let payload = serde_json::to_vec(&self.body(transcript)).map_err(|_| ClassifierError::Malformed)?;
        let mut request = Request::builder()
            .method(Method::POST)
            .uri(self.uri.clone())
            .header(CONTENT_TYPE, "application/json");
        if let Some(key) = &self.key {
            let mut value =
                HeaderValue::from_str(&format!("Bearer {}", secrecy::ExposeSecret::expose_secret(&key.secret)))
                    .map_err(|_| ClassifierError::Config)?;
            value.set_sensitive(true);
            request = request.header(AUTHORIZATION, value);
        }
        let request = request
            .body(Full::new(Bytes::from(payload)))
            .map_err(|_| ClassifierError::Config)?;
        let exchange = async {
            let response = self
                .client
                .request(request)
                .await
                .map_err(|_| ClassifierError::Unreachable)?;
            let status = response.status();
            let body = Limited::new(response.into_body(), MAX_RESPONSE_BYTES)
                .collect()
                .await
                .map_err(|_| ClassifierError::Malformed)?
                .to_bytes();
            if status != StatusCode::OK {
                return Err(ClassifierError::Status(status.as_u16()));
            }
            parse_answer(&body)
        };
        tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| ClassifierError::Timeout)?
    }
}

/// Read a chat-completions answer: `choices[0].message.content` holds the JSON object the schema
/// asks for. A refusal or anything off-schema is malformed.
fn parse_answer(body: &[u8]) -> Result<Option<Category>, ClassifierError> {
    let answer: Value = serde_json::from_slice(body).map_err(|_| ClassifierError::Malformed)?;
    let content = answer
        .pointer("/choices/0/message/content")
        .and_then(Value::as_str)
        .ok_or(ClassifierError::Malformed)?;
    let verdict: Value = serde_json::from_str(content).map_err(|_| ClassifierError::Malformed)?;
    let label = verdict
        .get("label")
        .and_then(Value::as_str)
        .ok_or(ClassifierError::Malformed)?;
    let category = verdict
        .get("category")
        .and_then(Value::as_str)
        .and_then(Category::from_id);
    let script = match label {
        "NONE" => return Ok(None),
        "EMERGENCY_911" => Script::Emergency911,
        "CRISIS_988" => Script::Crisis988,
        _ => return Err(ClassifierError::Malformed),
    };
    // A category of the other script (or none) still raises the label's script.
    Ok(Some(match (category, script) {
        (Some(c), s) if c.script() == s => c,
        (_, Script::Emergency911) => Category::ReportedEmergency,
        (_, Script::Crisis988) => Category::ReportedCrisis,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(content: &str) -> Vec<u8> {
        json!({
            "id": "chatcmpl-1", "object": "chat.completion", "model": "m",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        })
        .to_string()
        .into_bytes()
    }

    #[test]
    fn answers_map_onto_our_categories_and_scripts() {
        let parse = |c: &str| parse_answer(&answer(c));
        assert_eq!(
            parse(r#"{"label":"EMERGENCY_911","category":"stroke"}"#),
            Ok(Some(Category::Stroke))
        );
        assert_eq!(
            parse(r#"{"label":"CRISIS_988","category":"suicidal"}"#),
            Ok(Some(Category::Suicidal))
        );
        assert_eq!(parse(r#"{"label":"NONE","category":"stroke"}"#), Ok(None));
        assert_eq!(
            parse(r#"{"label":"EMERGENCY_911","category":"suicidal"}"#),
            Ok(Some(Category::ReportedEmergency)),
            "a mismatched category keeps the label's script"
        );
        assert_eq!(
            parse(r#"{"label":"CRISIS_988","category":"nonsense"}"#),
            Ok(Some(Category::ReportedCrisis))
        );
    }

    #[test]
    fn off_schema_answers_are_malformed() {
        for body in [
            b"not json".to_vec(),
            br#"{"choices":[]}"#.to_vec(),
            br#"{"choices":[{"message":{"role":"assistant","content":null,"refusal":"no"}}]}"#.to_vec(),
            answer("plain words"),
            answer(r#"{"category":"stroke"}"#),
            answer(r#"{"label":"MAYBE","category":"stroke"}"#),
        ] {
            assert_eq!(
                parse_answer(&body),
                Err(ClassifierError::Malformed),
                "{}",
                String::from_utf8_lossy(&body)
            );
        }
    }
}
