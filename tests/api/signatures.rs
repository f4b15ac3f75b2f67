//! `X-Twilio-Signature` on the webhook and on the media upgrade, against the public URL.

use std::collections::BTreeMap;

use voicegate::config::Settings;
use voicegate::startup::Application;
use voicegate::testkit::twilio_caller::TwilioCaller;
use voicegate::testkit::webhook;
use voicegate::transport::twilio::signature;

use crate::helpers::*;

#[tokio::test]
async fn webhook_accepts_twilio_signature_and_rejects_missing_or_tampered() {
    let app = spawn_app().await;
    let params = call_params(&call_sid(1));
    assert_eq!(app.post_voice(&params, true).await.status, 200);
    assert_eq!(app.post_voice(&params, false).await.status, 403, "missing signature");

    // Signed for one `From`, sent with another.
    let good = signature::compute(
        AUTH_TOKEN.as_bytes(),
        &format!("{PUBLIC_BASE}/twilio/voice"),
        &params.clone().into_iter().collect::<Vec<_>>(),
    );
    let mut tampered = params.clone();
    tampered.insert("From".into(), "+15559999999".into());
    let body = tampered
        .iter()
        .map(|(k, v)| format!("{k}={}", v.replace('+', "%2B")))
        .collect::<Vec<_>>()
        .join("&");
    let r = webhook::request(
        &app.base,
        "POST",
        "/twilio/voice",
        &[
            ("Content-Type", "application/x-www-form-urlencoded".into()),
            ("X-Twilio-Signature", good.clone()),
        ],
        &body,
    )
    .await
    .unwrap();
    assert_eq!(r.status, 403, "tampered parameter");

    // Signed over another URL (the loopback one the server sees) is refused.
    let wrong_url = signature::compute(
        AUTH_TOKEN.as_bytes(),
        &format!("{}/twilio/voice", app.base),
        &params.clone().into_iter().collect::<Vec<_>>(),
    );
    let body = params
        .iter()
        .map(|(k, v)| format!("{k}={}", v.replace('+', "%2B")))
        .collect::<Vec<_>>()
        .join("&");
    let r = webhook::request(
        &app.base,
        "POST",
        "/twilio/voice",
        &[
            ("Content-Type", "application/x-www-form-urlencoded".into()),
            ("X-Twilio-Signature", wrong_url),
        ],
        &body,
    )
    .await
    .unwrap();
    assert_eq!(r.status, 403, "signature over the internal URL");
    // The same body with the right signature passes: only the signature differed.
    let r = webhook::request(
        &app.base,
        "POST",
        "/twilio/voice",
        &[
            ("Content-Type", "application/x-www-form-urlencoded".into()),
            ("X-Twilio-Signature", good),
        ],
        &body,
    )
    .await
    .unwrap();
    assert_eq!(r.status, 200);
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
    let pairs: Vec<(String, String)> = params.clone().into_iter().collect();
    let sig = signature::compute(
        AUTH_TOKEN.as_bytes(),
        "https://voice.test.example:443/twilio/voice",
        &pairs,
    );
    let body = params
        .iter()
        .map(|(k, v)| format!("{k}={}", v.replace('+', "%2B")))
        .collect::<Vec<_>>()
        .join("&");
    let r = webhook::request(
        &app.base,
        "POST",
        "/twilio/voice",
        &[
            ("Content-Type", "application/x-www-form-urlencoded".into()),
            ("X-Twilio-Signature", sig),
        ],
        &body,
    )
    .await
    .unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
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
