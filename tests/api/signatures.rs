//! `X-Twilio-Signature` on the webhook and on the media upgrade, against the public URL.

use std::collections::BTreeMap;

use voicegate::config::Settings;
use voicegate::startup::Application;
use voicegate::testkit::twilio_caller::TwilioCaller;
use voicegate::testkit::webhook;
use voicegate::transport::twilio::signature;

use crate::helpers::*;

/// Twilio's signature for `url` over `params`.
fn sign(url: &str, params: &BTreeMap<String, String>) -> String {
    let pairs: Vec<(String, String)> = params.clone().into_iter().collect();
    signature::compute(AUTH_TOKEN.as_bytes(), url, &pairs)
}

/// POST `params` to `/twilio/voice` with exactly this signature header.
async fn post_voice_signed_as(app: &TestApp, params: &BTreeMap<String, String>, sig: String) -> u16 {
    let body: Vec<(String, String)> = params.clone().into_iter().collect();
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(body)
        .finish();
    let headers = [
        ("Content-Type", "application/x-www-form-urlencoded".to_owned()),
        ("X-Twilio-Signature", sig),
    ];
    webhook::request(&app.base, "POST", "/twilio/voice", &headers, &body)
        .await
        .unwrap()
        .status
}

#[tokio::test]
async fn webhook_accepts_twilio_signature_and_rejects_missing_or_tampered() {
    let app = spawn_app().await;
    let params = call_params(&call_sid(1));
    assert_eq!(app.post_voice(&params, true).await.status, 200);
    assert_eq!(app.post_voice(&params, false).await.status, 403, "missing signature");

    // Signed for one `From`, sent with another.
    let good = sign(&format!("{PUBLIC_BASE}/twilio/voice"), &params);
    let mut tampered = params.clone();
    tampered.insert("From".into(), "+15559999999".into());
    assert_eq!(
        post_voice_signed_as(&app, &tampered, good.clone()).await,
        403,
        "tampered parameter"
    );

    // Signed over the loopback URL the server sees, not the public one Twilio uses.
    let internal = sign(&format!("{}/twilio/voice", app.base), &params);
    assert_eq!(
        post_voice_signed_as(&app, &params, internal).await,
        403,
        "signature over the internal URL"
    );

    // The same body with the right signature passes: only the signature differed.
    assert_eq!(post_voice_signed_as(&app, &params, good).await, 200);
    let metrics = app.get("/metrics").await.body;
    assert!(
        metrics.contains(r#"voicegate_calls_refused_total{reason="bad_signature"} 3"#),
        "{metrics}"
    );
}

#[tokio::test]
async fn webhook_signed_with_the_default_port_is_accepted() {
    let app = spawn_app().await;
    let params = call_params(&call_sid(2));
    let with_port = sign("https://voice.test.example:443/twilio/voice", &params);
    assert_eq!(post_voice_signed_as(&app, &params, with_port).await, 200);
}

#[tokio::test]
async fn media_upgrade_requires_the_wss_signature() {
    let app = spawn_app().await;
    let mut config = app.call_config(&call_sid(3)).await;

    config.signature = None;
    let err = TwilioCaller::connect(config.clone())
        .await
        .err()
        .expect("unsigned upgrade refused");
    assert!(err.to_string().contains("403"), "{err}");

    config.signature = Some(signature::compute(
        AUTH_TOKEN.as_bytes(),
        "https://voice.test.example/twilio/media",
        &[],
    ));
    let err = TwilioCaller::connect(config.clone())
        .await
        .err()
        .expect("https-form signature refused");
    assert!(err.to_string().contains("403"), "{err}");

    config.signature = Some(signature::compute(
        AUTH_TOKEN.as_bytes(),
        "wss://voice.test.example:443/twilio/media",
        &[],
    ));
    let mut caller = TwilioCaller::connect(config)
        .await
        .expect("wss form with default port accepted");
    caller.send_stop().await.unwrap();
}

#[tokio::test]
async fn disabling_signature_checks_is_refused_off_loopback() {
    let mut settings = Settings::embedded().unwrap();
    settings.server.port = 0;
    settings.server.data_dir = tempfile::tempdir().unwrap().keep();
    settings.twilio.validate_signatures = false;
    settings.server.host = "0.0.0.0".parse().unwrap();
    let err = Application::build(settings.clone()).await.err().expect("refused");
    assert!(format!("{err:#}").contains("validate_signatures"), "{err:#}");

    settings.server.host = "127.0.0.1".parse().unwrap();
    let app = Application::build(settings).await.expect("allowed on loopback");
    drop(app);
    assert!(logs().contents().contains("TWILIO SIGNATURE CHECKS ARE OFF"));
}

#[tokio::test]
async fn next_step_webhook_is_signed_too() {
    let app = spawn_app().await;
    let mut params = BTreeMap::new();
    params.insert("CallSid".to_owned(), call_sid(4));
    let r = webhook::post_signed(&app.base, PUBLIC_BASE, "/twilio/voice/next", &params, None)
        .await
        .unwrap();
    assert_eq!(r.status, 403);
}
